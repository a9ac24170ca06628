"""The network families of the course, as ``torch.nn.Module``s with their initializations."""

from .two_layer_relu import TwoLayerReLU as TwoLayerReLU
from .two_layer_relu import symmetric_xavier_init as symmetric_xavier_init

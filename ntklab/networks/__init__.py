"""The network families of the course: ``torch.nn.Module`` subclasses with their initializations."""

from .du import DuNetwork  # Du et al. (2019), chapter 4
from .linearize import LinearizedModel, linearize
from .mlp import MLP
from .shallow import ShallowLeCun, ShallowNTK
from .two_layer_relu import TwoLayerReLU, independent_init, symmetric_xavier_init

__all__ = [
    "MLP",
    "DuNetwork",
    "LinearizedModel",
    "ShallowLeCun",
    "ShallowNTK",
    "TwoLayerReLU",
    "independent_init",
    "linearize",
    "symmetric_xavier_init",
]

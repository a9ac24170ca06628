"""The network families of the sources as ``torch.nn.Module``\\ s, with their initializations.

Every network takes ``width`` (hidden neurons), ``seed`` or ``generator`` (never both; a CPU
generator: draws are made on the CPU in float64, then moved, so a seed gives the same network
on every device), ``dtype`` (float64 by default) and ``device``.  Forward passes refuse a
floating input of another dtype than the parameters with a ``TypeError`` naming both (numpy
arrays and Python numbers are cast).  :func:`linearize` linearizes any model.
"""

from .du import DuNetwork  # Du et al. (2019), chapter 4
from .linearize import LinearizedModel, linearize
from .mlp import MLP, PARAMETERIZATIONS
from .shallow import ShallowLeCun, ShallowNTK
from .two_layer_relu import TwoLayerReLU, independent_init, symmetric_xavier_init

__all__ = [
    "MLP",
    "PARAMETERIZATIONS",
    "DuNetwork",
    "LinearizedModel",
    "ShallowLeCun",
    "ShallowNTK",
    "TwoLayerReLU",
    "independent_init",
    "linearize",
    "symmetric_xavier_init",
]

"""The network families of the course, as ``torch.nn.Module``s with their initializations."""

from .du import DuNetwork  # Du et al. (2019), chapter 4
from .linearize import LinearizedModel, linearize
from .mlp import MLP
from .shallow import ShallowLeCun, ShallowNTK

__all__ = ["MLP", "DuNetwork", "LinearizedModel", "ShallowLeCun", "ShallowNTK", "linearize"]

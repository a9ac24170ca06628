"""The network families of the course, as ``torch.nn.Module``s with their initializations."""

from .linearize import LinearizedModel, linearize
from .mlp import MLP
from .shallow import ShallowLeCun, ShallowNTK

__all__ = ["MLP", "LinearizedModel", "ShallowLeCun", "ShallowNTK", "linearize"]

"""The network families of the course, as ``torch.nn.Module``s with their initializations."""

from .du import DuNetwork  # Du et al. (2019), chapter 4

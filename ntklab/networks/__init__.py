"""The network families of the course, as ``torch.nn.Module``s with their initializations."""

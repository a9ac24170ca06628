"""Autograd-aware elementwise updates shared by the kernel modules.

Kernels are computed in place when autograd does not record (fast, cache-friendly, no
allocation) and out of place when it does; square roots get a finite derivative at 0.
"""

from __future__ import annotations

import torch


def records_grad(*values) -> bool:
    """Whether autograd records an operation on any of ``values`` (then nothing runs in place)."""
    return torch.is_grad_enabled() and any(
        isinstance(v, torch.Tensor) and v.requires_grad for v in values
    )


def safe_sqrt(t: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(t, 0))`` whose derivative at 0 is taken as 0 (instead of infinite).

    Where the kernels take such a root (a sine of an angle 0, a standard deviation 0) the exact
    function has a cone ``|x1 - x2|``; the zero derivative drops that term, which gives the mean
    of the two one-sided derivatives.
    """
    pos = t > 0
    return torch.where(pos, torch.where(pos, t, 1).sqrt(), 0)


class Ops:
    """Elementwise updates, in place when autograd does not record (the fast path: tiles stay
    in cache and nothing is allocated) and out of place when it does (an in-place update of a
    tensor that backward needs would make backward fail)."""

    def __init__(self, grad: bool):
        self.grad = grad

    def mul(self, t, other):
        return t * other if self.grad else t.mul_(other)

    def add(self, t, other):
        return t + other if self.grad else t.add_(other)

    def sub(self, t, other):
        return t - other if self.grad else t.sub_(other)

    def addcmul(self, t, a, b, value=1):
        return torch.addcmul(t, a, b, value=value) if self.grad else t.addcmul_(a, b, value=value)

    def clamp(self, t, lo=None, hi=None):
        return t.clamp(lo, hi) if self.grad else t.clamp_(lo, hi)

    def sqrt(self, t):
        return safe_sqrt(t) if self.grad else t.clamp_(min=0).sqrt_()

    def masked_fill(self, t, mask, value):
        return t.masked_fill(mask, value) if self.grad else t.masked_fill_(mask, value)

    def put(self, t, index, values):
        if self.grad:
            return t.index_put(index, values)
        t[index] = values
        return t

    def set_diagonal(self, t, values):
        if not self.grad:
            diag = t.diagonal()
            diag.fill_(values) if isinstance(values, float) else diag.copy_(values)
            return t
        if isinstance(values, float):
            values = torch.full((min(t.shape),), values, dtype=t.dtype, device=t.device)
        return torch.diagonal_scatter(t, values)

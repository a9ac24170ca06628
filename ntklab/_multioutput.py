"""Kernels and targets over several outputs, reduced to one flat linear system.

Targets are ``(m,)`` (one output) or ``(m, O)``.  A kernel is either

* ``(N1, N2)``: the same kernel for every output (neural-tangents' ``trace_axes=(-1,)``
  convention; the kernel of the outputs is ``K (x) I_O``), applied column by column; or
* ``(N1, N2, O, O)``: the full kernel between outputs, used as is, as the ``(N1 O, N2 O)``
  matrix whose row ``(i, a)`` is ``i O + a``, acting on the targets flattened row by row.

:class:`OutputLayout` turns both into matrices ``K`` (n1, n2) acting on ``(n, c)`` columns and
back, so every solver is written once, for a 2-D kernel and a matrix of right-hand sides.
"""

from __future__ import annotations

import torch

from .validation import as_tensor


def flat_kernel(K: torch.Tensor) -> torch.Tensor:
    """``(N1, N2, O, O) -> (N1 O, N2 O)``; a 2-D kernel is returned as is."""
    if K.dim() == 2:
        return K
    n1, n2, o, _ = K.shape
    return K.permute(0, 2, 1, 3).reshape(n1 * o, n2 * o)


class OutputLayout:
    """How targets of shape ``y_shape`` and kernels of ``kernel_dim`` dimensions are flattened."""

    def __init__(self, kernel: torch.Tensor, kernel_name: str, y: torch.Tensor, y_name: str):
        if kernel.dim() not in (2, 4):
            raise ValueError(
                f"{kernel_name} must be (N1, N2) or (N1, N2, O, O), got shape {tuple(kernel.shape)}"
            )
        if y.dim() not in (1, 2):
            raise ValueError(f"{y_name} must be (m,) or (m, O), got shape {tuple(y.shape)}")
        self.full = kernel.dim() == 4
        self.vector = y.dim() == 1
        if self.full:
            self.o = kernel.shape[2]
            if kernel.shape[3] != self.o:
                raise ValueError(
                    f"{kernel_name} must be (N1, N2, O, O), got shape {tuple(kernel.shape)}"
                )
            if (y.shape[1] if y.dim() == 2 else 1) != self.o:
                raise ValueError(
                    f"{y_name} must have shape (m, {self.o}) to match the {self.o} outputs of "
                    f"{kernel_name}, got {tuple(y.shape)}"
                )
        else:
            self.o = 1 if self.vector else y.shape[1]

    def rows(self, n: int) -> int:
        """Rows of the flat system for ``n`` points."""
        return n * self.o if self.full else n

    def kernel(
        self, K: object, name: str, rows: int | None = None, cols: int | None = None
    ) -> torch.Tensor:
        """Validate a kernel of this layout (``rows`` x ``cols`` points) and flatten it."""
        K = as_tensor(K, name, ndim=4 if self.full else 2)
        want = (
            f"(N1, N2, O, O) with O = {self.o}" if self.full else "(N1, N2) like the train kernel"
        )
        if self.full and tuple(K.shape[2:]) != (self.o, self.o):
            raise ValueError(f"{name} must be {want}, got shape {tuple(K.shape)}")
        for axis, n, what in ((0, rows, "rows"), (1, cols, "columns")):
            if n is not None and K.shape[axis] != n:
                raise ValueError(
                    f"{name} must have {n} {what} (points), got shape {tuple(K.shape)}"
                )
        return flat_kernel(K)

    def targets(self, v: torch.Tensor) -> torch.Tensor:
        """User-shaped ``(m,)`` / ``(m, O)`` values as the ``(n, c)`` right-hand sides."""
        if self.full:
            return v.reshape(-1, 1)
        return v.reshape(v.shape[0], -1)

    def outputs(self, F: torch.Tensor, n: int) -> torch.Tensor:
        """``(..., rows(n), c)`` back to ``(..., n)`` or ``(..., n, O)``."""
        lead = F.shape[:-2]
        if self.vector:
            return F.reshape(*lead, n)
        return F.reshape(*lead, n, self.o)

    def covariance(self, C: torch.Tensor, n: int) -> torch.Tensor:
        """``(..., rows(n), rows(n))`` back to ``(..., n, n)`` or, full, ``(..., n, n, O, O)``."""
        if not self.full or self.vector:
            return C
        lead = C.shape[:-2]
        return C.reshape(*lead, n, self.o, n, self.o).transpose(-3, -2)

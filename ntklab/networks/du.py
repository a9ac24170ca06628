"""The two-layer ReLU network of Du, Zhai, Poczos & Singh (2019) (slides 001).

``f(x; W) = n^{-1/2} sum_r a_r relu(w_r . x)`` with ``w_r ~ N(0, I_d)`` trained and the output
signs ``a_r`` drawn uniformly from ``{-1, +1}`` and kept fixed (a buffer, not a parameter), so
its tangent kernel is ``Theta_hat(x, x') = x.x' n^{-1} sum_r 1{w_r.x >= 0} 1{w_r.x' >= 0}``, which
tends to ``H^infinity`` as the width ``n`` grows.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..validation import DEFAULT_DTYPE, check_positive_int, make_generator, resolve_device

__all__ = ["DuNetwork"]


class DuNetwork(torch.nn.Module):
    """Du et al.'s two-layer ReLU net of input dimension ``d`` and width ``n`` (first layer trained).

    ``preactivations(x)`` returns ``x W^T`` (shape (N, n)), which :func:`ntklab.dynamics.gradient_descent`
    uses to count activation-pattern changes.
    """

    def __init__(
        self,
        d: int,
        n: int,
        *,
        seed: int | None = None,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: Any = None,
    ):
        super().__init__()
        d = check_positive_int(d, "d")
        n = check_positive_int(n, "n")
        device = resolve_device(device)
        gen = make_generator(seed, None, device)
        self.W = torch.nn.Parameter(torch.randn(n, d, generator=gen, dtype=dtype, device=device))
        a = torch.randint(0, 2, (n,), generator=gen, device=device).to(dtype) * 2 - 1
        self.register_buffer("a", a)
        self.d, self.n = d, n

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.preactivations(x)) @ self.a / math.sqrt(self.n)

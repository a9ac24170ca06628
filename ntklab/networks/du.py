"""The two-layer ReLU network of Du, Zhai, Poczos & Singh (2019) (slides 001).

``f(x; W) = n^{-1/2} sum_r a_r relu(w_r . x)`` with ``w_r ~ N(0, I_d)`` trained and the output
signs ``a_r`` drawn uniformly from ``{-1, +1}`` and kept fixed (a buffer, not a parameter), so
its tangent kernel is ``Theta_hat(x, x') = x.x' n^{-1} sum_r 1{w_r.x >= 0} 1{w_r.x' >= 0}``, which
tends to ``H^infinity`` as the width ``n`` grows.

It is :class:`ntklab.networks.two_layer_relu.TwoLayerReLU` with the independent initialization
(``init="independent"``: any width, all rows and signs independent) and a forward pass without
input checks, so that ``torch.func`` transforms (``vmap`` over examples) can run it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..validation import DEFAULT_DTYPE
from .two_layer_relu import TwoLayerReLU

__all__ = ["DuNetwork"]


class DuNetwork(TwoLayerReLU):
    """Du et al.'s two-layer ReLU net, input dimension ``d``, width ``n``; first layer trained.

    The trained weights are the parameter ``w`` (shape (n, d)) of
    :class:`ntklab.networks.two_layer_relu.TwoLayerReLU`, the signs its buffer ``c``; ``W``
    and ``a`` are the names of the paper and refer to the same tensors.
    ``preactivations(x)`` returns ``x W^T`` (shape (N, n)), which
    :func:`ntklab.dynamics.gradient_descent` uses to count activation-pattern changes.
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
        super().__init__(d, n, init="independent", seed=seed, dtype=dtype, device=device)
        self._sqrt_n = math.sqrt(self.n)

    @property
    def W(self) -> torch.nn.Parameter:
        """The hidden weights ``w_r`` as rows, shape (n, d) (the parameter ``w``)."""
        return self.w

    @property
    def a(self) -> torch.Tensor:
        """The fixed output signs, shape (n,) (the buffer ``c``)."""
        return self.c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x; W)`` for ``x`` of shape (N, d); no input checks (``vmap``-safe)."""
        return self._evaluate(x)

"""Shallow (one hidden layer) networks of Petersen & Zech, chapter 11.

* :class:`ShallowLeCun` - ``f(x; w) = v^T sigma(U x + b) + c`` (11.5.1) with LeCun initialization
  (11.5.3): ``U_ij ~ D(0, 1/d)``, ``v_i ~ D(0, 1/n)``, ``b = 0``, ``c = 0``.  Its empirical tangent
  kernel divided by ``n`` tends to ``K^LC`` (Theorem 11.16, :func:`ntklab.analytic.k_lecun`).
* :class:`ShallowNTK` - ``f(x; w) = n^{-1/2} v^T sigma(d^{-1/2} U x + b) + c`` (11.6.1) with
  ``U_ij, v_i ~ N(0, 1)``, ``b = 0``, ``c = 0`` (11.6.2).  Its empirical tangent kernel tends to
  ``K^NTK`` (Theorem 11.30, :func:`ntklab.analytic.k_ntk`).

Both take inputs of shape ``(N, d)`` (or one point of shape ``(d,)``) and return shape ``(N,)``
(or a scalar).  The parameters are exactly ``U`` (n, d), ``b`` (n,), ``v`` (n,) and ``c`` (0-d).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._activations import resolve_activation
from ..validation import (
    DEFAULT_DTYPE,
    check_choice,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = ["ShallowLeCun", "ShallowNTK"]

_SQRT3 = math.sqrt(3.0)


def _draw(shape, init: str, gen: torch.Generator) -> torch.Tensor:
    """Draws from D(0, 1): standard normal or uniform on [-sqrt 3, sqrt 3] (Example 11.15)."""
    if init == "normal":
        return torch.randn(shape, generator=gen, dtype=torch.float64)
    return (2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1) * _SQRT3


class _Shallow(nn.Module):
    def __init__(self, d, n, activation, init, seed, dtype, device):
        super().__init__()
        self.d = check_positive_int(d, "d")
        self.n = check_positive_int(n, "n")
        self.init = check_choice(init, "init", ("normal", "uniform"))
        self._act = resolve_activation(activation)
        self.activation = activation
        device = resolve_device(device)
        gen = make_generator(seed)
        U, v = self._initial(gen)
        kw = {"dtype": dtype or DEFAULT_DTYPE, "device": device}
        self.U = nn.Parameter(U.to(**kw))
        self.b = nn.Parameter(torch.zeros(self.n, **kw))
        self.v = nn.Parameter(v.to(**kw))
        self.c = nn.Parameter(torch.zeros((), **kw))

    def extra_repr(self) -> str:
        return f"d={self.d}, n={self.n}, activation={self._act.name!r}, init={self.init!r}"

    @property
    def in_features(self) -> int:
        return self.d


class ShallowLeCun(_Shallow):
    """``f(x; w) = v^T sigma(U x + b) + c`` (11.5.1), LeCun initialization (11.5.3).

    Parameters: ``d`` input dimension, ``n`` width, ``activation`` a name or a callable,
    ``init`` the distribution D(0, 1) (``"normal"`` or ``"uniform"`` on [-sqrt 3, sqrt 3]),
    ``seed`` for the draw, ``dtype`` (float64 by default) and ``device``.
    """

    def __init__(
        self,
        d: int,
        n: int,
        *,
        activation: Any = "relu",
        init: str = "normal",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__(d, n, activation, init, seed, dtype, device)

    def _initial(self, gen):
        U = _draw((self.n, self.d), self.init, gen) / math.sqrt(self.d)
        v = _draw((self.n,), self.init, gen) / math.sqrt(self.n)
        return U, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._act.phi(x @ self.U.T + self.b) @ self.v + self.c

    @torch.no_grad()
    def structured_ntk(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Tangent kernel from (11.5.2): ``(x.x' + 1) g.g' + a.a' + 1``, ``g = v * sigma'(h)``."""
        h1, h2 = x1 @ self.U.T + self.b, x2 @ self.U.T + self.b
        g1, g2 = self.v * self._act.dphi(h1), self.v * self._act.dphi(h2)
        a1, a2 = self._act.phi(h1), self._act.phi(h2)
        return (x1 @ x2.T + 1) * (g1 @ g2.T) + a1 @ a2.T + 1


class ShallowNTK(_Shallow):
    """``f(x; w) = n^{-1/2} v^T sigma(d^{-1/2} U x + b) + c`` (11.6.1), initialization (11.6.2).

    ``U_ij, v_i ~ N(0, 1)``, ``b = 0``, ``c = 0``; at initialization it computes the same function
    as :class:`ShallowLeCun` with normal draws, but its gradients are scaled differently (11.6.3).
    """

    def __init__(
        self,
        d: int,
        n: int,
        *,
        activation: Any = "relu",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__(d, n, activation, "normal", seed, dtype, device)

    def _initial(self, gen):
        return _draw((self.n, self.d), "normal", gen), _draw((self.n,), "normal", gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x @ self.U.T) / math.sqrt(self.d) + self.b
        return (self._act.phi(h) @ self.v) / math.sqrt(self.n) + self.c

    @torch.no_grad()
    def structured_ntk(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Tangent kernel from (11.6.3): ``((x.x'/d + 1) g.g' + a.a') / n + 1``."""
        s = math.sqrt(self.d)
        h1, h2 = (x1 @ self.U.T) / s + self.b, (x2 @ self.U.T) / s + self.b
        g1, g2 = self.v * self._act.dphi(h1), self.v * self._act.dphi(h2)
        a1, a2 = self._act.phi(h1), self._act.phi(h2)
        return ((x1 @ x2.T / self.d + 1) * (g1 @ g2.T) + a1 @ a2.T) / self.n + 1

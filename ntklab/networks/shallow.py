"""Shallow (one hidden layer) networks of Petersen & Zech, chapter 11.

* :class:`ShallowLeCun` - ``f(x; w) = v^T sigma(U x + b) + c`` (11.5.1) with LeCun initialization
  (11.5.3): ``U_ij ~ D(0, 1/d)``, ``v_i ~ D(0, 1/n)``, ``b = 0``, ``c = 0``.  Its empirical tangent
  kernel divided by ``n`` tends to ``K^LC`` (Theorem 11.16, :func:`ntklab.analytic.k_lecun`).
* :class:`ShallowNTK` - ``f(x; w) = n^{-1/2} v^T sigma(d^{-1/2} U x + b) + c`` (11.6.1) with
  ``U_ij, v_i ~ N(0, 1)``, ``b = 0``, ``c = 0`` (11.6.2).  Its empirical tangent kernel tends to
  ``K^NTK`` (Theorem 11.30, :func:`ntklab.analytic.k_ntk`).

Both take inputs of shape ``(N, d)`` (or one point of shape ``(d,)``) and return shape ``(N,)``
(or a scalar).  The parameters are exactly ``U`` (n, d), ``b`` (n,), ``v`` (n,) and ``c`` (0-d),
with ``n = width``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._activations import resolve_activation
from ..validation import check_choice, check_positive_int, make_generator
from ._common import network_input, tensor_kwargs

__all__ = ["ShallowLeCun", "ShallowNTK"]

_SQRT3 = math.sqrt(3.0)


def _draw(shape, init: str, gen: torch.Generator) -> torch.Tensor:
    """Draws from D(0, 1): standard normal or uniform on [-sqrt 3, sqrt 3] (Example 11.15)."""
    if init == "normal":
        return torch.randn(shape, generator=gen, dtype=torch.float64)
    return (2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1) * _SQRT3


def _self_gram(a: torch.Tensor, strips: int = 8) -> torch.Tensor:
    """``a a^T`` from strips of rows against the columns right of the diagonal (about 9/16 of
    the products); the lower triangle mirrored, so only the diagonal tiles can be asymmetric
    in the last bit."""
    n = a.shape[0]
    if n < 256:  # too small for the strips to pay
        return a @ a.T
    step = -(-n // strips)
    out = a.new_empty(n, n)
    for i in range(0, n, step):
        strip = a[i : i + step] @ a[i:].T
        out[i : i + step, i:] = strip
        out[i:, i : i + step] = strip.T
    return out


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, scale: float = 1.0):
    """``scale * x w^T + b`` for ``x`` of shape ``(..., d)``, by one ``addmm``: the scale and
    the bias inside the matrix product, no further pass over ``(N, width)``."""
    flat = torch.addmm(b, x.reshape(-1, x.shape[-1]), w.T, alpha=scale)
    return flat.reshape(*x.shape[:-1], w.shape[0])


class _Shallow(nn.Module):
    def __init__(self, d, width, activation, init, seed, generator, dtype, device):
        super().__init__()
        self.d = check_positive_int(d, "d")
        self.width = check_positive_int(width, "width")
        self.init = check_choice(init, "init", ("normal", "uniform"))
        self._act = resolve_activation(activation)
        self.activation = activation
        kw = tensor_kwargs(dtype, device)
        U, v = self._initial(make_generator(seed, generator))
        self.U = nn.Parameter(U.to(**kw))
        self.b = nn.Parameter(torch.zeros(self.width, **kw))
        self.v = nn.Parameter(v.to(**kw))
        self.c = nn.Parameter(torch.zeros((), **kw))

    def extra_repr(self) -> str:
        return f"d={self.d}, width={self.width}, activation={self._act.name!r}, init={self.init!r}"

    @property
    def in_features(self) -> int:
        """The input dimension ``d``."""
        return self.d

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: Any) -> torch.Tensor:
        """The output: shape ``(N,)`` for ``x`` of shape ``(N, d)``, a scalar for ``(d,)``.

        ``x`` must have the parameters' dtype (``TypeError`` otherwise; numpy arrays are cast).
        """
        x = network_input(x, self.d, self.U)
        return self._readout(self._act.phi(self._hidden(x)))

    def structured_ntk(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Tangent kernel (N1, N2) in closed form, without Jacobians (see the class docs).

        ``x1`` (N1, d) and ``x2`` (N2, d) are not checked here; :func:`ntklab.empirical.ntk`
        checks them and calls this for ``method="structured"``; ``x2 is x1`` (K(x, x)) takes
        the features once and the Gram matrices from their upper triangle.
        """
        g1, a1 = self._features(x1)
        if x2 is x1:
            return self._combine(_self_gram(x1), _self_gram(g1), _self_gram(a1))
        g2, a2 = self._features(x2)
        return self._combine(x1 @ x2.T, g1 @ g2.T, a1 @ a2.T)

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v * sigma'(h), sigma(h))`` of the pre-activations ``h``, each (N, width)."""
        h = self._hidden(x)
        g = self._act.dphi(h)
        # in place on the fresh derivative when nothing records (one pass fewer over N x width)
        fresh = not torch.is_grad_enabled() and g is not h
        return (g.mul_(self.v) if fresh else self.v * g), self._act.phi(h)


_PARAMETERS_DOC = """
    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Number of hidden neurons (``n`` in the book).
    activation : str or callable, default "relu"
        One of ``"relu"``, ``"erf"``, ``"tanh"``, ``"sigmoid"``, ``"arctan"``, ``"identity"``, or an
        elementwise callable.
    {init}seed, generator : int or torch.Generator, optional
        Source of the draws, never both; a CPU generator (draws are made on the CPU in
        float64, then moved), so a seed gives the same network on every device.
    dtype : torch.dtype, optional
        Of the parameters (float64 by default).
    device : str, int or torch.device, optional
        Of the parameters (the CPU by default).

    Attributes
    ----------
    U, b, v, c : nn.Parameter
        Shapes ``(width, d)``, ``(width,)``, ``(width,)`` and ``()``.

    Raises
    ------
    TypeError
        ``d`` or ``width`` not an integer, ``dtype`` not floating, ``activation`` neither a
        name nor a callable.
    ValueError
        ``d`` or ``width`` below 1, an unknown ``activation`` or ``init``, both ``seed`` and
        ``generator``.
"""

_INIT_DOC = """init : {"normal", "uniform"}, default "normal"
        The distribution D(0, 1): standard normal or uniform on [-sqrt 3, sqrt 3].
    """


class ShallowLeCun(_Shallow):
    __doc__ = (
        """``f(x; w) = v^T sigma(U x + b) + c`` (11.5.1), LeCun initialization (11.5.3).

    ``U_ij ~ D(0, 1/d)``, ``v_i ~ D(0, 1/width)``, ``b = 0``, ``c = 0``; its tangent kernel
    (11.5.2) is ``(x.x' + 1) g.g' + a.a' + 1`` with ``g = v * sigma'(h)``, ``a = sigma(h)``.
"""
        + _PARAMETERS_DOC.format(init=_INIT_DOC)
        + """
    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import ShallowLeCun
    >>> net = ShallowLeCun(3, 100, seed=0)
    >>> net(torch.zeros(4, 3, dtype=torch.float64)).shape
    torch.Size([4])
"""
    )

    def __init__(
        self,
        d: int,
        width: int,
        *,
        activation: Any = "relu",
        init: str = "normal",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__(d, width, activation, init, seed, generator, dtype, device)

    def _initial(self, gen):
        U = _draw((self.width, self.d), self.init, gen) / math.sqrt(self.d)
        v = _draw((self.width,), self.init, gen) / math.sqrt(self.width)
        return U, v

    def _hidden(self, x):
        return _affine(x, self.U, self.b)

    def _readout(self, a):
        return a @ self.v + self.c

    def _combine(self, xx, gg, aa):
        # (11.5.2)
        return (xx + 1) * gg + aa + 1


class ShallowNTK(_Shallow):
    __doc__ = (
        """``f(x; w) = n^{-1/2} v^T sigma(d^{-1/2} U x + b) + c`` (11.6.1), initialization (11.6.2).

    ``U_ij, v_i ~ N(0, 1)``, ``b = 0``, ``c = 0``, ``n = width``; at initialization it computes
    the same function as :class:`ShallowLeCun` with normal draws, but its gradients are scaled
    differently: its tangent kernel (11.6.3) is ``((x.x'/d + 1) g.g' + a.a') / n + 1``.
"""
        + _PARAMETERS_DOC.format(init="")
        + """
    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import ShallowNTK
    >>> net = ShallowNTK(3, 100, seed=0)
    >>> float(net(torch.zeros(3, dtype=torch.float64)).detach())
    0.0
"""
    )

    def __init__(
        self,
        d: int,
        width: int,
        *,
        activation: Any = "relu",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__(d, width, activation, "normal", seed, generator, dtype, device)

    def _initial(self, gen):
        return _draw((self.width, self.d), "normal", gen), _draw((self.width,), "normal", gen)

    def _hidden(self, x):
        return _affine(x, self.U, self.b, 1 / math.sqrt(self.d))

    def _readout(self, a):
        return (a @ self.v) / math.sqrt(self.width) + self.c

    def _combine(self, xx, gg, aa):
        # (11.6.3)
        return ((xx / self.d + 1) * gg + aa) / self.width + 1

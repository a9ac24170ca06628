"""Two-layer ReLU network with fixed output signs (lecture notes 000, chapter 1; chapter 4).

.. math::

    f(x; w, c) = \\frac{1}{\\sqrt{n}} \\sum_{i=1}^{n} c_i \\, \\relu(w_i \\cdot x),

with hidden weights ``w`` of shape ``(n, d)`` (trained) and output signs ``c`` of shape ``(n,)``
(fixed).  The symmetric initialization draws the first half and copies it:
``w_i(0) = w_{i+n/2}(0) ~ N(0, I_d)`` i.i.d. and ``c_i = -c_{i+n/2}`` i.i.d. Rademacher, so that
``f(x; w(0), c) = 0`` for every ``x`` (Lemma 2 of chapter 1).  The lecture notes call the width
``m``; the course calls it ``n``.  ``init="independent"`` draws all ``n`` rows and signs
independently instead (:func:`independent_init`), the initialization of Du et al. (2019) that
:class:`ntklab.networks.du.DuNetwork` uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..validation import (
    DEFAULT_DTYPE,
    as_tensor,
    check_choice,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = ["TwoLayerReLU", "independent_init", "symmetric_xavier_init"]


def symmetric_xavier_init(
    d: int,
    n: int,
    *,
    batch: tuple[int, ...] = (),
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``(w(0), c)`` from the symmetric Xavier initialization of width ``n`` (even).

    Returns ``w0`` of shape ``(*batch, n, d)`` with ``w0[..., i, :] = w0[..., i + n/2, :]``
    i.i.d. ``N(0, I_d)`` for ``i < n/2``, and ``c`` of shape ``(*batch, n)`` with
    ``c[..., i] = -c[..., i + n/2]`` i.i.d. Rademacher (``+-1`` with probability 1/2 each).
    ``batch`` draws independent initializations at once (for Monte Carlo over initializations).
    """
    d = check_positive_int(d, "d")
    n = check_positive_int(n, "n", even=True)
    if not isinstance(batch, tuple) or not all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in batch
    ):
        raise TypeError(f"batch must be a tuple of positive integers, got {batch!r}")
    device = resolve_device(device)
    gen = make_generator(seed, generator)  # draw on the CPU, then move: same numbers everywhere
    half = n // 2
    w_half = torch.randn(*batch, half, d, generator=gen, dtype=dtype).to(device)
    signs = (
        torch.randint(0, 2, (*batch, half), generator=gen).to(dtype=dtype, device=device) * 2 - 1
    )
    w0 = torch.cat([w_half, w_half], dim=-2)
    c = torch.cat([signs, -signs], dim=-1)
    return w0, c


def independent_init(
    d: int,
    n: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``(w(0), c)`` with all entries independent (Du et al., 2019), any width ``n``.

    ``w0`` of shape ``(n, d)`` has i.i.d. ``N(0, 1)`` entries and ``c`` of shape ``(n,)`` i.i.d.
    Rademacher signs; the rows are drawn first, then the signs, from the same generator.
    """
    d = check_positive_int(d, "d")
    n = check_positive_int(n, "n")
    device = resolve_device(device)
    gen = make_generator(seed, generator)  # draw on the CPU, then move: same numbers everywhere
    w0 = torch.randn(n, d, generator=gen, dtype=dtype).to(device)
    c = torch.randint(0, 2, (n,), generator=gen).to(dtype=dtype, device=device) * 2 - 1
    return w0, c


_INITS = {"symmetric": symmetric_xavier_init, "independent": independent_init}


class TwoLayerReLU(nn.Module):
    """``f(x; w, c) = n^{-1/2} sum_i c_i relu(w_i . x)``, symmetric initialization by default.

    Parameters
    ----------
    d:
        Input dimension.
    n:
        Width (number of hidden neurons); must be a positive even integer for the symmetric
        initialization (the notes call it m).
    init:
        ``"symmetric"`` (default, :func:`symmetric_xavier_init`) or ``"independent"``
        (:func:`independent_init`, any ``n``).
    seed:
        Seed of the initialization (``None``: follow ``torch.manual_seed``).
    dtype, device:
        Of all tensors of the module (float64 on the CPU by default).

    Attributes
    ----------
    w:
        ``nn.Parameter`` of shape ``(n, d)``: the hidden weights, the only trained parameter.
    c:
        Buffer of shape ``(n,)``: the fixed output signs.
    w0:
        Buffer of shape ``(n, d)``: a copy of ``w`` at initialization, the point the chapter
        linearizes around.
    """

    def __init__(
        self,
        d: int,
        n: int,
        *,
        init: str = "symmetric",
        seed: int | None = None,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: Any = None,
    ) -> None:
        super().__init__()
        init = check_choice(init, "init", tuple(_INITS))
        self.d = check_positive_int(d, "d")
        self.n = check_positive_int(n, "n", even=init == "symmetric")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        w0, c = _INITS[init](self.d, self.n, seed=seed, dtype=dtype, device=device)
        self.w = nn.Parameter(w0.clone())
        self.register_buffer("c", c)
        self.register_buffer("w0", w0)
        # the output scale n^{-1/2}; DuNetwork uses math.sqrt (it differs in the last bit
        # for some n), each keeps the rounding it always had
        self._sqrt_n = self.n**0.5

    def forward(self, x: Any) -> torch.Tensor:
        """``f(x; w, c)``: shape ``(p,)`` for ``x`` of shape ``(p, d)``, a scalar for ``(d,)``."""
        x = as_tensor(x, "x", dtype=self.w.dtype, device=self.w.device, ndim=(1, 2))
        if x.shape[-1] != self.d:
            raise ValueError(
                f"x must have {self.d} entries in its last dimension (the input dimension d), "
                f"got shape {tuple(x.shape)}"
            )
        return self._evaluate(x)

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        """``x w^T`` (shape ``(p, n)``), no input checks.

        :func:`ntklab.dynamics.gradient_descent` compares its signs with those at ``w_0`` to
        count changed activation patterns.
        """
        return x @ self.w.T

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        # no data-dependent checks here: torch.func.vmap runs this per example
        return torch.relu(self.preactivations(x)) @ self.c / self._sqrt_n

    def extra_repr(self) -> str:
        return f"d={self.d}, n={self.n}"

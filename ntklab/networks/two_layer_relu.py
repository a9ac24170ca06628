"""Two-layer ReLU network with fixed output signs (lecture notes 000, chapter 1; chapter 4).

.. math::

    f(x; w, c) = \\frac{1}{\\sqrt{n}} \\sum_{i=1}^{n} c_i \\, \\relu(w_i \\cdot x),

with hidden weights ``w`` of shape ``(n, d)`` (trained) and output signs ``c`` of shape ``(n,)``
(fixed).  The symmetric initialization draws the first half and copies it:
``w_i(0) = w_{i+n/2}(0) ~ N(0, I_d)`` i.i.d. and ``c_i = -c_{i+n/2}`` i.i.d. Rademacher, so that
``f(x; w(0), c) = 0`` for every ``x`` (Lemma 2 of chapter 1).  The lecture notes call the width
``m``, the course ``n``, the code ``width``.  ``init="independent"`` draws all ``n`` rows and signs
independently instead (:func:`independent_init`), the initialization of Du et al. (2019) that
:class:`ntklab.networks.du.DuNetwork` uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..validation import DEFAULT_DTYPE, check_choice, check_positive_int, make_generator
from ._common import network_input, tensor_kwargs

__all__ = ["TwoLayerReLU", "independent_init", "symmetric_xavier_init"]


def _check_batch(batch: Any) -> tuple[int, ...]:
    if not isinstance(batch, tuple) or not all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in batch
    ):
        raise TypeError(f"batch must be a tuple of positive integers, got {batch!r}")
    return batch


def _signs(shape, gen) -> torch.Tensor:
    """I.i.d. Rademacher signs (+-1 with probability 1/2), float64 on the CPU."""
    return torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1


def symmetric_xavier_init(
    d: int,
    width: int,
    *,
    batch: tuple[int, ...] = (),
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``(w(0), c)`` from the symmetric Xavier initialization of an even ``width``.

    ``w0[..., i, :] = w0[..., i + width/2, :]`` i.i.d. ``N(0, I_d)`` for ``i < width/2`` and
    ``c[..., i] = -c[..., i + width/2]`` i.i.d. Rademacher, so the network is 0 at
    initialization (Lemma 2 of chapter 1).  The rows are drawn first, then the signs, on the
    CPU in float64, then moved to ``dtype`` and ``device``.

    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Number of hidden neurons, even.
    batch : tuple of int, default ()
        Leading shape of independent initializations (Monte Carlo over initializations).
    seed, generator : int or torch.Generator, optional
        Source of the draws, never both (a CPU generator).
    dtype : torch.dtype, default torch.float64
    device : str, int or torch.device, optional

    Returns
    -------
    w0 : torch.Tensor
        Shape ``(*batch, width, d)``.
    c : torch.Tensor
        Shape ``(*batch, width)``, entries +-1.

    Raises
    ------
    TypeError
        ``d`` or ``width`` not integers, ``batch`` not a tuple of positive integers, ``dtype``
        not floating.
    ValueError
        ``d < 1``, ``width`` odd or below 1, both ``seed`` and ``generator``.

    Examples
    --------
    >>> from ntklab.networks import symmetric_xavier_init
    >>> w0, c = symmetric_xavier_init(3, 4, seed=0)
    >>> w0.shape, bool((w0[:2] == w0[2:]).all()), bool((c[:2] == -c[2:]).all())
    (torch.Size([4, 3]), True, True)
    """
    d = check_positive_int(d, "d")
    width = check_positive_int(width, "width", even=True)
    batch = _check_batch(batch)
    kw = tensor_kwargs(dtype, device)
    gen = make_generator(seed, generator)
    half = width // 2
    w_half = torch.randn(*batch, half, d, generator=gen, dtype=torch.float64)
    signs = _signs((*batch, half), gen)
    w0 = torch.cat([w_half, w_half], dim=-2)
    c = torch.cat([signs, -signs], dim=-1)
    return w0.to(**kw), c.to(**kw)


def independent_init(
    d: int,
    width: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``(w(0), c)`` with all entries independent (Du et al., 2019), any ``width``.

    The rows are drawn first, then the signs, from the same CPU generator in float64, then
    moved to ``dtype`` and ``device``.

    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Number of hidden neurons.
    seed, generator : int or torch.Generator, optional
        Source of the draws, never both (a CPU generator).
    dtype : torch.dtype, default torch.float64
    device : str, int or torch.device, optional

    Returns
    -------
    w0 : torch.Tensor
        Shape ``(width, d)``, i.i.d. ``N(0, 1)``.
    c : torch.Tensor
        Shape ``(width,)``, i.i.d. Rademacher signs.

    Raises
    ------
    TypeError
        ``d`` or ``width`` not integers, ``dtype`` not floating.
    ValueError
        ``d`` or ``width`` below 1, both ``seed`` and ``generator``.

    Examples
    --------
    >>> from ntklab.networks import independent_init
    >>> w0, c = independent_init(3, 5, seed=0)
    >>> w0.shape, sorted(set(c.tolist())) <= [-1.0, 1.0]
    (torch.Size([5, 3]), True)
    """
    d = check_positive_int(d, "d")
    width = check_positive_int(width, "width")
    kw = tensor_kwargs(dtype, device)
    gen = make_generator(seed, generator)
    w0 = torch.randn(width, d, generator=gen, dtype=torch.float64)
    c = _signs((width,), gen)
    return w0.to(**kw), c.to(**kw)


_INITS = {"symmetric": symmetric_xavier_init, "independent": independent_init}


class TwoLayerReLU(nn.Module):
    """``f(x; w, c) = width^{-1/2} sum_i c_i relu(w_i . x)``, symmetric initialization by default.

    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Number of hidden neurons (the notes' m, the book's n); even for the symmetric
        initialization.
    init : {"symmetric", "independent"}, default "symmetric"
        :func:`symmetric_xavier_init` or :func:`independent_init` (any ``width``).
    seed, generator : int or torch.Generator, optional
        Source of the draws, never both (``None`` for both: follow ``torch.manual_seed``); a
        CPU generator, so a seed gives the same network on every device.
    dtype : torch.dtype, default torch.float64
    device : str, int or torch.device, optional

    Attributes
    ----------
    w : nn.Parameter
        Shape ``(width, d)``: the hidden weights, the only trained parameter.
    c : torch.Tensor
        Buffer of shape ``(width,)``: the fixed output signs.
    w0 : torch.Tensor
        Buffer of shape ``(width, d)``: a copy of ``w`` at initialization, the point the
        chapter linearizes around.

    Raises
    ------
    TypeError
        ``d`` or ``width`` not integers, ``dtype`` not floating.
    ValueError
        ``d < 1``, ``width`` below 1 (or odd for ``init="symmetric"``), an unknown ``init``,
        both ``seed`` and ``generator``.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import TwoLayerReLU
    >>> net = TwoLayerReLU(3, 10, seed=0)
    >>> float(net(torch.ones(2, 3, dtype=torch.float64)).abs().max().detach())  # 0 at init
    0.0
    """

    def __init__(
        self,
        d: int,
        width: int,
        *,
        init: str = "symmetric",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: Any = None,
    ) -> None:
        super().__init__()
        init = check_choice(init, "init", tuple(_INITS))
        self.d = check_positive_int(d, "d")
        self.width = check_positive_int(width, "width", even=init == "symmetric")
        w0, c = _INITS[init](
            self.d, self.width, seed=seed, generator=generator, dtype=dtype, device=device
        )
        self.w = nn.Parameter(w0.clone())
        self.register_buffer("c", c)
        self.register_buffer("w0", w0)
        # the output scale width^{-1/2}; DuNetwork uses math.sqrt (it differs in the last bit
        # for some widths), each keeps the rounding it always had
        self._sqrt_width = self.width**0.5

    @property
    def in_features(self) -> int:
        """The input dimension ``d``."""
        return self.d

    def forward(self, x: Any) -> torch.Tensor:
        """``f(x; w, c)``: shape ``(N,)`` for ``x`` of shape ``(N, d)``, a scalar for ``(d,)``.

        ``x`` must have the dtype of ``w`` (``TypeError`` otherwise; numpy arrays are cast).
        """
        return self._evaluate(network_input(x, self.d, self.w))

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        """``x w^T`` (shape ``(N, width)``), no input checks.

        :func:`ntklab.dynamics.gradient_descent` compares its signs with those at ``w_0`` to
        count changed activation patterns.
        """
        return x @ self.w.T

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.preactivations(x)) @ self.c / self._sqrt_width

    def extra_repr(self) -> str:
        return f"d={self.d}, width={self.width}"

"""The two-layer ReLU network of Du, Zhai, Poczos & Singh (2019) (slides 001).

``f(x; W) = n^{-1/2} sum_r a_r relu(w_r . x)`` (``n = width``) with ``w_r ~ N(0, I_d)`` trained
and the output signs ``a_r`` drawn uniformly from ``{-1, +1}`` and kept fixed (a buffer, not a
parameter), so its tangent kernel is
``Theta_hat(x, x') = x.x' n^{-1} sum_r 1{w_r.x >= 0} 1{w_r.x' >= 0}``, which tends to
``H^infinity`` as the width grows.

It is :class:`ntklab.networks.two_layer_relu.TwoLayerReLU` with the independent initialization
(``init="independent"``: any width, all rows and signs independent).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..validation import DEFAULT_DTYPE
from .two_layer_relu import TwoLayerReLU

__all__ = ["DuNetwork"]


class DuNetwork(TwoLayerReLU):
    """Du et al.'s two-layer ReLU net; first layer trained, output signs fixed.

    The trained weights are the parameter ``w`` (shape (width, d)) of
    :class:`ntklab.networks.two_layer_relu.TwoLayerReLU`, the signs its buffer ``c``; ``W``
    and ``a`` are the names of the paper and refer to the same tensors.
    ``preactivations(x)`` returns ``x W^T`` (shape (N, width)), which
    :func:`ntklab.dynamics.gradient_descent` uses to count activation-pattern changes.

    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Number of hidden neurons (the paper's m).
    seed, generator : int or torch.Generator, optional
        Source of the draws, never both (a CPU generator).
    dtype : torch.dtype, default torch.float64
    device : str, int or torch.device, optional

    Raises
    ------
    TypeError
        ``d`` or ``width`` not integers, ``dtype`` not floating.
    ValueError
        ``d`` or ``width`` below 1, both ``seed`` and ``generator``.

    Examples
    --------
    >>> from ntklab.networks import DuNetwork
    >>> net = DuNetwork(3, 7, seed=0)
    >>> net.W.shape, net.a.shape
    (torch.Size([7, 3]), torch.Size([7]))
    """

    def __init__(
        self,
        d: int,
        width: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: Any = None,
    ):
        super().__init__(
            d,
            width,
            init="independent",
            seed=seed,
            generator=generator,
            dtype=dtype,
            device=device,
        )
        self._sqrt_width = math.sqrt(self.width)

    @property
    def W(self) -> torch.nn.Parameter:
        """The hidden weights ``w_r`` as rows, shape (width, d) (the parameter ``w``)."""
        return self.w

    @property
    def a(self) -> torch.Tensor:
        """The fixed output signs, shape (width,) (the buffer ``c``)."""
        return self.c

"""Chapter 5: helpers of the Gaussian-process checks.

* :func:`cov_errors` - a sample covariance against a target, in standard errors;
* :func:`lecun_outputs` - many independent LeCun networks of one width, read off one wide one;
* :func:`init_11_5_11` and :func:`lecun_arctan_kernels` - the initialization (11.5.11) of
  Figure 11.3 in Petersen & Zech and the two kernels of that network.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..analytic import mlp_kernels
from ..networks import ShallowLeCun
from ..validation import check_positive_int

__all__ = ["Kernels", "cov_errors", "init_11_5_11", "lecun_arctan_kernels", "lecun_outputs"]


def cov_errors(f: torch.Tensor, target: torch.Tensor) -> float:
    """Largest ``|sample covariance of the rows of f - target|``, in standard errors.

    The standard error of entry ``(i, j)`` is ``std(f_i f_j) / sqrt(S)``, estimated from the
    ``S`` samples themselves (centred), so it holds for heavy-tailed samples too.

    Parameters
    ----------
    f : tensor, (S, k)
        ``S`` samples of a ``k``-vector.
    target : tensor, (k, k)
        The covariance they should have.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the shapes do not match or there are fewer than 2 samples.

    Examples
    --------
    >>> f = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))
    >>> cov_errors(f, torch.eye(2)) < 4.5, cov_errors(f, 2 * torch.eye(2)) > 50
    (True, True)
    """
    if f.ndim != 2 or len(f) < 2 or target.shape != (f.shape[1], f.shape[1]):
        raise ValueError("f must be (S, k) with S >= 2 and target (k, k)")
    fc = f - f.mean(0)
    se = (fc[:, :, None] * fc[:, None, :]).std(0) / math.sqrt(len(f))
    return float(((torch.cov(f.T) - target) / se).abs().max())


def lecun_outputs(x: torch.Tensor, width: int, samples: int, seed: int) -> torch.Tensor:
    """Outputs of ``samples`` independent ReLU LeCun networks of width ``width`` at ``x``.

    One :class:`ntklab.networks.ShallowLeCun` network of width ``width * samples`` is drawn;
    its hidden units are split into ``samples`` groups of ``width``, and group ``s`` with its
    readout weights scaled by ``sqrt(samples)`` (variance ``1/width``) is a network of width
    ``width``, independent of the other groups (biases are zero at initialization).

    Parameters
    ----------
    x : tensor, (k, d)
    width, samples : int >= 1
    seed : int

    Returns
    -------
    tensor, (samples, k)

    Raises
    ------
    ValueError
        If ``width`` or ``samples`` is not a positive integer.

    Examples
    --------
    >>> out = lecun_outputs(torch.eye(3, dtype=torch.float64), 4, 5, seed=0)
    >>> out.shape
    torch.Size([5, 3])
    """
    width = check_positive_int(width, "width")
    samples = check_positive_int(samples, "samples")
    big = ShallowLeCun(x.shape[1], width * samples, activation="relu", seed=seed)
    with torch.no_grad():
        hidden = torch.relu(x @ big.U.T) * big.v  # (k, width * samples)
        return hidden.reshape(len(x), samples, width).sum(-1).T * math.sqrt(samples)


def init_11_5_11(model: ShallowLeCun, seed: int) -> ShallowLeCun:
    """Re-draw the parameters of a shallow network from (11.5.11) of Petersen & Zech.

    ``U_ij ~ N(0, 3/d)``, ``v_i ~ N(0, 3/n)``, ``b_i, c ~ N(0, 2)`` (the initialization of
    their Figure 11.3), in place.

    Parameters
    ----------
    model : ShallowLeCun
    seed : int

    Returns
    -------
    ShallowLeCun
        ``model``.

    Examples
    --------
    >>> net = init_11_5_11(ShallowLeCun(1, 4000, activation="arctan"), seed=0)
    >>> round(float(net.v.detach().var() * 4000 / 3), 1)
    1.0
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p, var in (
            (model.U, 3 / model.d),
            (model.v, 3 / model.width),
            (model.b, 2.0),
            (model.c, 2.0),
        ):
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * math.sqrt(var))
    return model


class Kernels(NamedTuple):
    """A pair of kernel matrices, as the kernel functions of :mod:`ntklab.predict` return."""

    nngp: torch.Tensor
    ntk: torch.Tensor


def lecun_arctan_kernels(x1: torch.Tensor, x2: torch.Tensor | None = None) -> Kernels:
    """``Sigma`` and ``K^LC = lim hat Theta / n`` of the arctan network of (11.5.11).

    In neural-tangents' conventions the network is a depth-one MLP with ``W_std = sqrt(3)``,
    ``b_std = sqrt(2)``, whose NNGP is ``Sigma = 3 K^LC + 2``
    (:func:`ntklab.analytic.mlp_kernels`).

    Parameters
    ----------
    x1 : tensor, (N1, d)
    x2 : tensor, (N2, d), optional

    Returns
    -------
    Kernels
        ``nngp`` = ``Sigma`` and ``ntk`` = ``K^LC``, both (N1, N2).

    Examples
    --------
    >>> k = lecun_arctan_kernels(torch.zeros(1, 1, dtype=torch.float64))
    >>> round(float(k.nngp[0, 0] - 3 * k.ntk[0, 0]), 6)
    2.0
    """
    k = mlp_kernels(x1, x2, depth=1, activation="arctan", W_std=math.sqrt(3), b_std=math.sqrt(2))
    return Kernels(nngp=k.nngp, ntk=(k.nngp - 2) / 3)

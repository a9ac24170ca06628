r"""Smooth activations in Bietti & Mairal (2019), Proposition 9 (course chapter 6).

* :func:`activation_gammas` - the Gaussian moments :math:`\gamma_j = \mathbb E[\sigma^{(j)}(u)^2]`;
* :func:`lipschitz_bound_smooth` - Proposition 9's Lipschitz constant of the kernel map;
* :func:`smooth_activation_ntk` - the two-layer NTK of a smooth activation on the sphere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..spherical import _check_callable, _check_cosines
from ..validation import as_tensor, check_positive_int

__all__ = ["activation_gammas", "lipschitz_bound_smooth", "smooth_activation_ntk"]


def _hermite(quadrature_order: int):
    z, w = np.polynomial.hermite_e.hermegauss(quadrature_order)
    return z, w / w.sum()


def activation_gammas(
    derivatives: Sequence[Callable], *, quadrature_order: int = 120
) -> np.ndarray:
    r"""Gaussian moments :math:`\gamma_j = \mathbb E_{u \sim N(0,1)}[\sigma^{(j)}(u)^2]`.

    ``derivatives`` lists :math:`\sigma, \sigma', \dots`; Proposition 9 of Bietti & Mairal
    (2019) uses :math:`j = 0, 1, 2`.  The expectation is taken by
    probabilists' Gauss-Hermite quadrature.

    Parameters
    ----------
    derivatives : sequence of callable
        ``sigma, sigma', sigma'', ...``, each acting elementwise on a numpy array.
    quadrature_order : int, optional
        Number of Gauss-Hermite nodes (default 120).

    Returns
    -------
    numpy.ndarray
        ``gamma_0, gamma_1, ...``, shape ``(len(derivatives),)``.

    Raises
    ------
    TypeError
        If ``derivatives`` is not a sequence of callables.
    ValueError
        If a callable returns non-finite values or a wrong shape, or ``quadrature_order < 1``.

    Examples
    --------
    >>> activation_gammas([lambda u: u, np.ones_like]).round(12)  # E[u^2] = 1, E[1] = 1
    array([1., 1.])
    """
    quadrature_order = check_positive_int(quadrature_order, "quadrature_order")
    if isinstance(derivatives, (str, bytes)) or not isinstance(derivatives, Sequence):
        raise TypeError("derivatives must be a sequence of callables (sigma, sigma', sigma'')")
    z, w = _hermite(quadrature_order)
    out = []
    for j, fn in enumerate(derivatives):
        vals = np.asarray(_check_callable(fn, f"derivatives[{j}]")(z), dtype=float)
        if vals.shape != z.shape or not np.all(np.isfinite(vals)):
            raise ValueError(f"derivatives[{j}] must return finite values elementwise")
        out.append(float(np.sum(w * vals**2)))
    return np.array(out)


def lipschitz_bound_smooth(gammas: Any) -> float:
    r"""Proposition 9's Lipschitz constant of the kernel map.

    .. math::

       \sqrt{(\gamma_0 + \gamma_1)
       \max\Big(1, \frac{2\gamma_1 + \gamma_2}{\gamma_0 + \gamma_1}\Big)}

    Bietti & Mairal (2019): the kernel map of a two-layer network with a smooth activation is
    Lipschitz with this constant, for the moments ``(g0, g1, g2)`` of
    :func:`activation_gammas`.

    Parameters
    ----------
    gammas : array_like
        ``(gamma_0 > 0, gamma_1 >= 0, gamma_2 >= 0)``.

    Returns
    -------
    float
        The Lipschitz constant.

    Raises
    ------
    ValueError
        If ``gammas`` does not have three finite entries of the stated signs.

    Examples
    --------
    >>> lipschitz_bound_smooth([1.0, 1.0, 0.0])  # sqrt(2 max(1, 1))
    1.4142135623730951
    """
    g = np.asarray(gammas, dtype=float).ravel()
    if g.shape != (3,) or not np.all(np.isfinite(g)) or np.any(g < 0) or g[0] <= 0:
        raise ValueError(f"gammas must be (gamma_0 > 0, gamma_1 >= 0, gamma_2 >= 0), got {g}")
    s = g[0] + g[1]
    return math.sqrt(s * max(1.0, (2 * g[1] + g[2]) / s))


def smooth_activation_ntk(
    sigma: Callable, dsigma: Callable, u: Any, *, quadrature_order: int = 80
) -> torch.Tensor:
    r"""Two-layer NTK of a smooth activation on the sphere, as a function of :math:`u = x\cdot y`.

    :math:`K(u) = u\, \mathbb E[\sigma'(a) \sigma'(b)] + \mathbb E[\sigma(a) \sigma(b)]`, with
    :math:`(a, b)` standard Gaussians of correlation :math:`u` (:math:`a = w\cdot x`,
    :math:`b = w\cdot y`, :math:`w \sim N(0, I)`).  Tensor-product Gauss-Hermite with
    ``quadrature_order**2`` nodes: :math:`a = z_1`, :math:`b = u z_1 + \sqrt{1 - u^2}\, z_2`.

    Parameters
    ----------
    sigma, dsigma : callable
        The activation and its derivative, acting elementwise on numpy arrays.
    u : array_like
        Cosines ``x.y`` in ``[-1, 1]``, any shape.
    quadrature_order : int, optional
        Gauss-Hermite nodes per axis (default 80).

    Returns
    -------
    torch.Tensor
        ``K(u)``, shape, dtype and device of ``u``.

    Raises
    ------
    TypeError
        If ``sigma`` or ``dsigma`` is not callable, or ``u`` not numeric.
    ValueError
        If ``u`` leaves ``[-1, 1]`` or ``quadrature_order < 1``.

    Examples
    --------
    >>> u = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    >>> K = smooth_activation_ntk(lambda a: a, np.ones_like, u)  # linear activation: K = 2 u
    >>> [round(v, 9) + 0.0 for v in K.tolist()]
    [0.0, 1.0, 2.0]
    """
    _check_callable(sigma, "sigma")
    _check_callable(dsigma, "dsigma")
    quadrature_order = check_positive_int(quadrature_order, "quadrature_order")
    u_t = as_tensor(u, "u")
    _check_cosines(u_t, "u")
    un = u_t.detach().cpu().double().clamp(-1, 1).numpy()
    z, w = _hermite(quadrature_order)
    z1, z2 = z[:, None], z[None, :]
    W = w[:, None] * w[None, :]
    out = np.empty(un.size)
    for i, ui in enumerate(un.ravel()):
        b = ui * z1 + math.sqrt(max(1 - ui * ui, 0.0)) * z2
        a = np.broadcast_to(z1, b.shape)
        out[i] = ui * np.sum(W * dsigma(a) * dsigma(b)) + np.sum(W * sigma(a) * sigma(b))
    return torch.as_tensor(out.reshape(un.shape), dtype=u_t.dtype, device=u_t.device)

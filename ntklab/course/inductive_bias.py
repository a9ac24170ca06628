"""Chapter 6: the inductive bias of the ReLU NTK on the sphere (Bietti & Mairal, 2019).

* :func:`random_feature_ntk` - the tangent kernel of a deep ReLU network through the finite
  random features of their Lemma 1, without forming a Kronecker product;
* :func:`proposition_4_gaps` - the three bounds of their Proposition 4 on given pairs, and
  the versions the slides print;
* :func:`truncation_tradeoff` - the RKHS norms and sup errors of the truncated harmonic
  expansions of a zonal target, the picture behind their Corollary 7.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .. import spherical
from ..analytic import kappa, kappa0
from ..validation import as_tensor, check_positive_int

__all__ = ["proposition_4_gaps", "random_feature_ntk", "truncation_tradeoff"]


def random_feature_ntk(
    x1: Any, x2: Any, widths: Sequence[int], *, generator: torch.Generator
) -> torch.Tensor:
    r"""Random-feature estimate of the deep ReLU NTK, pair by pair (Bietti & Mairal, Lemma 1).

    With :math:`\Psi_0(x) = \Phi_0(x) = x` and, layer after layer,
    :math:`\Psi_\ell = \varphi_1(\Psi_{\ell-1})` and
    :math:`\Phi_\ell = (\varphi_0(\Psi_{\ell-1}) \otimes \Phi_{\ell-1},\ \varphi_1(\Psi_{\ell-1}))`,
    where :math:`\varphi_0(z) = \sqrt{2/n}\,\mathbb 1\{Wz \ge 0\}` and
    :math:`\varphi_1(z) = \sqrt{2/n}\,\mathrm{relu}(Wz)` for a Gaussian :math:`W` of
    :math:`n` rows, this returns :math:`\langle \Phi_L(x_1), \Phi_L(x_2)\rangle` for each
    row pair. The Kronecker product is never formed:
    :math:`\langle a\otimes b, a'\otimes b'\rangle = \langle a, a'\rangle\langle b, b'\rangle`.
    As the widths grow it tends to the kernel of the recursion
    :math:`K_\ell = \kappa_0(\rho_{\ell-1}) K_{\ell-1} + \Sigma_\ell`.

    Parameters
    ----------
    x1, x2 : torch.Tensor
        Inputs, shape ``(N, p)`` each; row ``i`` of ``x1`` is paired with row ``i`` of ``x2``.
    widths : sequence of int
        Number of random features per layer (``L = len(widths)`` layers).
    generator : torch.Generator
        CPU generator of the Gaussian weights.

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``, in the dtype of ``x1``.

    Raises
    ------
    ValueError
        If ``x1`` and ``x2`` differ in shape or a width is not a positive integer.

    Examples
    --------
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> random_feature_ntk(x, x, [], generator=torch.Generator().manual_seed(0))
    tensor([1., 1.], dtype=torch.float64)
    """
    x1 = as_tensor(x1, "x1", ndim=2)
    x2 = as_tensor(x2, "x2", ndim=2)
    if x1.shape != x2.shape:
        raise ValueError(
            f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    widths = [check_positive_int(n, "widths") for n in widths]
    psi1, psi2, k = x1, x2, (x1 * x2).sum(1)
    for n in widths:
        W = torch.randn(n, psi1.shape[1], generator=generator, dtype=x1.dtype)
        a1, a2 = W @ psi1.T, W @ psi2.T  # pre-activations, shape (n, N)
        # phi_0 part times <Phi_{l-1}, Phi_{l-1}'>
        k = (2 / n) * ((a1 >= 0) & (a2 >= 0)).sum(0) * k
        psi1, psi2 = [(math.sqrt(2 / n) * torch.relu(a)).T for a in (a1, a2)]
        k = k + (psi1 * psi2).sum(1)  # phi_1 part
    return k


def truncation_tradeoff(
    kernel: Callable,
    target: Callable,
    p: int,
    degrees: Sequence[int],
    *,
    kmax: int,
    breakpoints: Sequence[float] = (),
    grid_size: int = 4001,
) -> tuple[np.ndarray, np.ndarray]:
    r"""RKHS norm and sup error of the truncated harmonic expansions of a zonal target.

    For the zonal function :math:`f(x) = q(x\cdot e)` on :math:`S^{p-1}` and each ``D`` in
    ``degrees``, the truncation :math:`g_D = \sum_{k \le D} f_k` has RKHS norm
    :math:`\delta_D = (\sum_{k\le D} \lVert f_k\rVert^2/\mu_k)^{1/2}` for the dot-product
    ``kernel`` (:func:`ntklab.spherical.rkhs_norm`) and sup error
    :math:`\sup_u |q(u) - g_D(u)|` on a grid of cosines, with
    :math:`g_D(u) = \sum_{k \le D} \lambda_k N(p,k) P_k(u)` (Funk-Hecke coefficients
    :math:`\lambda_k` of ``q``). Chapter 6 compares the error-versus-norm slope with
    Bietti & Mairal's Corollary 7.

    Parameters
    ----------
    kernel : callable
        Profile of the dot-product kernel, ``torch.Tensor -> torch.Tensor`` on ``[-1, 1]``.
    target : callable
        Profile ``q`` of the zonal target.
    p : int
        Ambient dimension, ``p >= 2``.
    degrees : sequence of int
        Truncation degrees ``D``, each at most ``kmax``.
    kmax : int
        Largest degree of the eigenvalues computed.
    breakpoints : sequence of float, optional
        Where ``q`` is not smooth (e.g. ``[0.0]`` for ``|u|``), passed to the quadrature.
    grid_size : int, optional
        Number of cosines of the sup (default 4001).

    Returns
    -------
    norms : numpy.ndarray
        :math:`\delta_D`, shape ``(len(degrees),)``.
    sup_errors : numpy.ndarray
        :math:`\sup_u |q(u) - g_D(u)|`, shape ``(len(degrees),)``.

    Raises
    ------
    ValueError
        If a degree exceeds ``kmax``.

    Examples
    --------
    >>> from ntklab.analytic import kappa
    >>> norms, errors = truncation_tradeoff(kappa, lambda u: u, 3, [1], kmax=4)
    >>> round(float(norms[0]), 6), float(errors[0]) < 1e-12
    (1.0, True)
    """
    kmax = check_positive_int(kmax, "kmax")
    degrees = [check_positive_int(D, "degrees") for D in degrees]
    if max(degrees) > kmax:
        raise ValueError(f"degrees must be at most kmax = {kmax}, got {max(degrees)}")
    quad = {"breakpoints": list(breakpoints)}
    mu = spherical.mercer_eigenvalues(kernel, p, kmax)
    lam = spherical.mercer_eigenvalues(target, p, kmax, **quad)
    energy = spherical.zonal_energies(target, p, kmax, **quad)
    u = torch.linspace(-1, 1, grid_size, dtype=torch.float64)
    q = target(u)
    norms = [spherical.rkhs_norm(energy[: D + 1], mu[: D + 1]) for D in degrees]
    errors = [float((spherical.mercer_sum(lam[: D + 1], p, u) - q).abs().max()) for D in degrees]
    return np.array(norms), np.array(errors)


def proposition_4_gaps(
    x: Any, y: Any, norm_x: Any, norm_y: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Slack of Bietti & Mairal's Proposition 4 on pairs of points, and of the slides' version.

    For unit vectors :math:`x, y` at cosine :math:`u` and the points :math:`a = r_x x`,
    :math:`b = r_y y`, with :math:`\lVert\varphi_0(x) - \varphi_0(y)\rVert^2 = 2 - 2\kappa_0(u)`
    and :math:`\lVert\Phi(a) - \Phi(b)\rVert^2 = 2r_x^2 + 2r_y^2 - 2r_x r_y \kappa(u)`, the
    three items are

    1. :math:`\lVert\varphi_0(x) - \varphi_0(y)\rVert \le \sqrt{\lVert x - y\rVert}`;
    2. :math:`\lVert\varphi_0(a) - \varphi_0(b)\rVert
       \le \sqrt{\lVert a - b\rVert / \min(r_x, r_y)}`;
    3. :math:`\lVert\Phi(a) - \Phi(b)\rVert \le \sqrt{\min(r_x, r_y) \lVert a - b\rVert}
       + 2\lVert a - b\rVert`.

    The slides print items 2 and 3 without :math:`\lVert a - b\rVert` under the square root;
    on the unit pairs (:math:`r = 1`) these read
    :math:`\lVert\varphi_0(x) - \varphi_0(y)\rVert \le \lVert x - y\rVert` and
    :math:`\lVert\Phi(x) - \Phi(y)\rVert \le 3 \lVert x - y\rVert`.

    Parameters
    ----------
    x, y : torch.Tensor
        Unit vectors, shape ``(N, p)`` each; row ``i`` of ``x`` is paired with row ``i`` of
        ``y``.
    norm_x, norm_y : torch.Tensor
        Positive norms :math:`r_x, r_y` of the scaled points, shape ``(N,)``.

    Returns
    -------
    slack : torch.Tensor
        Right-hand side minus left-hand side of items 1, 2, 3, shape ``(N, 3)``: non-negative
        (up to rounding) where the proposition holds.
    printed_fails : torch.Tensor
        Boolean, shape ``(N, 2)``: the unit pair violates the slides' item 2, item 3.

    Raises
    ------
    ValueError
        If the shapes disagree.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> y = -x  # antipodal: item 1 holds with equality
    >>> slack, fails = proposition_4_gaps(x, y, torch.ones(1), torch.ones(1))
    >>> round(float(slack[0, 0]), 12), fails.tolist()
    (0.0, [[False, False]])
    """
    x = as_tensor(x, "x", ndim=2)
    y = as_tensor(y, "y", ndim=2)
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    rx = torch.as_tensor(norm_x, dtype=x.dtype)
    ry = torch.as_tensor(norm_y, dtype=x.dtype)
    if rx.shape != (x.shape[0],) or ry.shape != (x.shape[0],):
        raise ValueError(f"norm_x and norm_y must have shape ({x.shape[0]},)")
    cos = (x * y).sum(1).clamp(-1, 1)
    unit = (x - y).norm(dim=1)
    phi0 = torch.sqrt(2 - 2 * kappa0(cos))
    dab = (rx[:, None] * x - ry[:, None] * y).norm(dim=1)
    mn = torch.minimum(rx, ry)
    Phi = torch.sqrt((2 * rx**2 + 2 * ry**2 - 2 * rx * ry * kappa(cos)).clamp_min(0))
    slack = torch.stack(
        [
            torch.sqrt(unit) - phi0,
            torch.sqrt(dab / mn) - phi0,
            torch.sqrt(mn * dab) + 2 * dab - Phi,
        ],
        1,
    )
    Phi_unit = torch.sqrt((4 - 2 * kappa(cos)).clamp_min(0))
    printed_fails = torch.stack([phi0 > unit, Phi_unit > 3 * unit], 1)
    return slack, printed_fails

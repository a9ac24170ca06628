"""Infinite-width (analytic) kernels.

Arc-cosine kernels of Cho & Saul (2009) in the normalization of Bietti & Mairal (2019):

* ``kappa0(u) = (pi - arccos u) / pi``                          (degree 0),
* ``kappa1(u) = (u (pi - arccos u) + sqrt(1 - u^2)) / pi``      (degree 1),
* ``kappa(u) = u kappa0(u) + kappa1(u)``  the two-layer ReLU NTK on the sphere.

For ``w ~ N(0, I)`` and unit vectors ``x, y`` with ``u = x.y``:
``E[1{w.x >= 0} 1{w.y >= 0}] = kappa0(u) / 2`` and ``E[relu(w.x) relu(w.y)] = kappa1(u) / 2``.

Shallow kernels of Petersen & Zech, chapter 11 (:func:`k_lecun`, :func:`k_ntk`), the Gram matrix
H-infinity of Du et al. (:func:`h_infinity`) and the deep NNGP and NTK recursions of a fully
connected network in neural-tangents' conventions (:func:`mlp_kernels`).

Numerics.  ReLU kernels are functions of the angle between two (pre-activation) vectors, and
``arccos`` of a cosine near +-1 loses half the digits (``d arccos(u)/du`` is infinite at 1).
Angles of the inputs are therefore computed from the vectors, ``theta = 2 atan2(|a - b|, |a + b|)``
for unit ``a, b`` where the cosine exceeds 0.99 in absolute value, and the ReLU recursion carries
the angle from layer to layer (``theta_{l+1} = atan2(sqrt(q q' - c^2), c)`` with the determinant
``q q' - c^2`` written without cancellation), never passing through a cosine.  Kernels of a set
with itself are exactly symmetric with the exact diagonal (angle 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._activations import resolve_activation
from .validation import (
    as_tensor,
    check_matrix,
    check_nonnegative,
    check_nonnegative_int,
    check_positive_int,
)

__all__ = [
    "MLPKernels",
    "h_infinity",
    "k_lecun",
    "k_ntk",
    "kappa",
    "kappa0",
    "kappa1",
    "mlp_kernels",
]


def _cosines(u: Any) -> torch.Tensor:
    u = as_tensor(u, "u")
    # rounding can push a cosine of unit vectors slightly outside [-1, 1]
    tol = 1e-6 if u.dtype == torch.float32 else 1e-12
    if bool(((u < -1 - tol) | (u > 1 + tol)).any()):
        raise ValueError("u must lie in [-1, 1] (it is a cosine)")
    return u.clamp(-1.0, 1.0)


def kappa0(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 0: ``(pi - arccos u) / pi``, elementwise, ``u`` in [-1, 1]."""
    u = _cosines(u)
    return (math.pi - torch.arccos(u)) / math.pi


def kappa1(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 1: ``(u (pi - arccos u) + sqrt(1 - u^2)) / pi``."""
    u = _cosines(u)
    return (u * (math.pi - torch.arccos(u)) + torch.sqrt((1 - u * u).clamp_min(0))) / math.pi


def kappa(u: Any) -> torch.Tensor:
    """Two-layer ReLU NTK on the sphere: ``u kappa0(u) + kappa1(u)`` (Bietti & Mairal 2019)."""
    u = _cosines(u)
    return u * kappa0(u) + kappa1(u)


# ---------------------------------------------------------------------------------------------
# Shallow kernels, H-infinity and the deep NNGP/NTK recursions
# ---------------------------------------------------------------------------------------------

_CLOSED_FORM = ("relu", "erf", "identity")
_STABLE_COS = 0.99  # above this |cosine|, angles are recomputed from the vectors
_PAIR_CHUNK = 2**18  # pairs per chunk in the stable-angle fix-up
_TILE_ENTRIES = {"cpu": 2**16, "other": 2**24}  # entries of one tile: cache-sized on a CPU
_GH_ENTRIES = 2**22  # pair x node x node evaluations per Gauss-Hermite chunk


@dataclass(frozen=True)
class MLPKernels:
    """Infinite-width kernels of :class:`ntklab.networks.MLP`: ``nngp`` (Sigma), ``ntk`` (Theta)."""

    nngp: torch.Tensor
    ntk: torch.Tensor


def _inputs(x1: Any, x2: Any, name1: str = "x1", name2: str = "x2"):
    x1 = check_matrix(x1, name1)
    if x2 is None:
        return x1, x1, True
    x2 = check_matrix(x2, name2, dtype=x1.dtype, device=x1.device)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"{name2} must have {x1.shape[1]} columns like {name1} (the input dimension), "
            f"got shape {tuple(x2.shape)}"
        )
    return x1, x2, False


def _cos_sin(a1: torch.Tensor, a2: torch.Tensor, c: torch.Tensor, diag: bool):
    """Cosines and sines of the angles between the rows of ``a1`` and ``a2`` (``c = a1 a2^T``).

    Where ``|cos| > 0.99`` both are recomputed from the unit vectors ``p, q``:
    ``sin = |p - q| |p + q| / 2`` and ``cos = (|p + q|^2 - |p - q|^2) / 4``, which keeps the angle
    accurate to rounding near 0 and pi.  A zero row gets ``cos = sin = 0`` (every kernel term of
    such a pair carries a factor of its norm, so the angle does not matter).
    """
    n1 = a1.norm(dim=1)
    n2 = n1 if diag else a2.norm(dim=1)
    inv1 = torch.where(n1 > 0, 1 / torch.where(n1 > 0, n1, 1), 0)
    inv2 = inv1 if diag else torch.where(n2 > 0, 1 / torch.where(n2 > 0, n2, 1), 0)
    cos = (c * inv1[:, None]).mul_(inv2[None, :]).clamp_(-1, 1)
    sin = torch.sqrt((1 - cos * cos).clamp_(min=0))
    sin.masked_fill_((inv1[:, None] == 0) | (inv2[None, :] == 0), 0.0)
    near = cos.abs() > _STABLE_COS
    if bool(near.any()):
        idx = near.nonzero()
        u1, u2 = a1 * inv1[:, None], a2 * inv2[:, None]
        for k0 in range(0, idx.shape[0], _PAIR_CHUNK):
            i, j = idx[k0 : k0 + _PAIR_CHUNK].unbind(1)
            p, q = u1[i], u2[j]
            dm, dp = (p - q).norm(dim=1), (p + q).norm(dim=1)
            sin[i, j] = dm * dp / 2
            cos[i, j] = (dp * dp - dm * dm) / 4
    if diag:
        cos.diagonal().fill_(1.0)
        sin.diagonal().fill_(0.0)
    return cos, sin


def _relu_layer(q1, q2, cos, sin, w2, b2, need_next, diag):
    """One ReLU layer on centred Gaussian pairs with variances q1, q2 and angle (cos, sin).

    Returns ``Sigma_next = W_std^2 E[relu(a) relu(b)] + b_std^2``, ``E[step(a) step(b)]``, the
    next variances, and (if ``need_next``) the next angle as (cos, sin) computed from
    ``1 - J/pi`` without cancellation, ``J = sin t + (pi - t) cos t``.
    """
    theta = torch.atan2(sin, cos)
    pm = torch.sub(math.pi, theta)  # pi - theta
    jay = torch.addcmul(sin, pm, cos)  # J(theta), E[relu relu] = sqrt(q q') J / (2 pi)
    sq1, sq2 = torch.sqrt(q1), torch.sqrt(q2)
    s12 = sq1[:, None] * sq2[None, :]
    sig = (s12 * jay).mul_(w2 / (2 * math.pi))
    if b2:
        sig.add_(b2)
    dot = pm.mul_(1 / (2 * math.pi))  # E[step step] = (pi - t) / (2 pi)
    nq1 = w2 * q1 / 2 + b2
    nq2 = nq1 if diag else w2 * q2 / 2 + b2
    if diag:
        sig.diagonal().copy_(nq1)
    if not need_next:
        return sig, dot, nq1, nq2, None, None
    # 1 - cos t = sin^2 / (1 + cos) where cos > 0; sin t - t cos t is O(t^3) but only enters
    # next to pi (1 - cos t) = O(t^2), so its rounding leaves the next angle accurate to eps.
    one_minus_cos = torch.where(cos > 0, sin * sin / (1 + cos), 1 - cos)
    om = one_minus_cos.mul_(math.pi).sub_(sin).addcmul_(theta, cos).mul_(1 / math.pi)  # 1 - J/pi
    aa = s12.mul_(w2 / 2)  # sqrt(A A'), A = W_std^2 q / 2
    gap = (aa * aa).mul_(om).mul_(2 - om)
    if b2:
        ra1, ra2 = torch.sqrt(w2 * q1 / 2), torch.sqrt(w2 * q2 / 2)
        diff = ra1[:, None] - ra2[None, :]
        gap.add_((diff * diff).addcmul_(aa, om, value=2).mul_(b2))
    inv1 = torch.where(nq1 > 0, torch.rsqrt(torch.where(nq1 > 0, nq1, 1)), 0)
    inv2 = inv1 if diag else torch.where(nq2 > 0, torch.rsqrt(torch.where(nq2 > 0, nq2, 1)), 0)
    inv = inv1[:, None] * inv2[None, :]
    new_sin = gap.clamp_(min=0).sqrt_().mul_(inv)
    new_cos = (sig * inv).clamp_(-1, 1)
    if diag:
        new_cos.diagonal().fill_(1.0)
        new_sin.diagonal().fill_(0.0)
    return sig, dot, nq1, nq2, new_cos, new_sin


def _gauss_hermite(order: int, dtype, device):
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / math.sqrt(2 * math.pi)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device),
        torch.as_tensor(weights, dtype=dtype, device=device),
    )


def _gh_expectations(act, q1, q2, c, order):
    """``E[phi(a) phi(b)]`` and ``E[phi'(a) phi'(b)]`` by a tensor Gauss-Hermite rule."""
    z, w = _gauss_hermite(order, c.dtype, c.device)
    s1, s2 = torch.sqrt(q1), torch.sqrt(q2)
    rows, cols = c.shape
    e_phi, e_dphi = torch.empty_like(c), torch.empty_like(c)
    flat_c, f1, f2 = c.reshape(-1), e_phi.view(-1), e_dphi.view(-1)
    si = s1[:, None].expand(rows, cols).reshape(-1)
    sj = s2[None, :].expand(rows, cols).reshape(-1)
    chunk = max(1, _GH_ENTRIES // (order * order))
    for k0 in range(0, flat_c.numel(), chunk):
        sa, sb, cc = si[k0 : k0 + chunk], sj[k0 : k0 + chunk], flat_c[k0 : k0 + chunk]
        den = sa * sb
        rho = torch.where(den > 0, cc / torch.where(den > 0, den, 1), 0).clamp(-1, 1)
        r = torch.sqrt((1 - rho * rho).clamp_min(0))
        a = sa[:, None] * z[None, :]  # (P, K)
        b = sb[:, None, None] * (rho[:, None, None] * z[None, :, None] + r[:, None, None] * z)
        for fn, out in ((act.phi, f1), (act.dphi, f2)):
            inner = (fn(b) * w).sum(-1)  # (P, K) over z2
            out[k0 : k0 + chunk] = ((fn(a) * inner) * w).sum(-1)
    return e_phi, e_dphi


def _gh_diagonal(act, q, order):
    """``E[phi(a)^2]`` for ``a ~ N(0, q)`` by a one-dimensional Gauss-Hermite rule."""
    z, w = _gauss_hermite(order, q.dtype, q.device)
    return (act.phi(torch.sqrt(q)[:, None] * z) ** 2 * w).sum(-1)


def _smooth_layer(act, q1, q2, c, order):
    """``E[phi phi]``, ``E[phi' phi']`` and the diagonals ``E[phi(a)^2]`` for smooth activations."""
    if act.name == "identity" and act.phi is _IDENTITY.phi:
        return c.clone(), torch.ones_like(c), q1, q2
    if act.name == "erf" and act.phi is _ERF.phi:
        t1, t2 = 1 + 2 * q1, 1 + 2 * q2
        prod = t1[:, None] * t2[None, :]
        e_phi = (2 / math.pi) * torch.asin((2 * c / torch.sqrt(prod)).clamp(-1, 1))
        e_dphi = (4 / math.pi) / torch.sqrt(prod - 4 * c * c)
        d1 = (2 / math.pi) * torch.asin(2 * q1 / t1)
        d2 = d1 if q2 is q1 else (2 / math.pi) * torch.asin(2 * q2 / t2)
        return e_phi, e_dphi, d1, d2
    e_phi, e_dphi = _gh_expectations(act, q1, q2, c, order)
    d1 = _gh_diagonal(act, q1, order)
    d2 = d1 if q2 is q1 else _gh_diagonal(act, q2, order)
    return e_phi, e_dphi, d1, d2


_IDENTITY = resolve_activation("identity")
_ERF = resolve_activation("erf")
_RELU = resolve_activation("relu")


def _recursion(act, a1, a2, depth, w2, b2, diag, order, *, shallow=False):
    """NNGP and NTK of one tile from the augmented first-layer inputs ``a1``, ``a2``.

    ``a`` rows are ``(W_std x / sqrt(d), b_std)``, so ``Sigma_1 = a1 a2^T``.  ``diag`` marks a
    tile of a set with itself whose diagonal is the pairs (k, k).  With ``shallow`` it returns
    ``E[phi phi]`` and ``E[phi' phi']`` of the first layer instead.
    """
    c = a1 @ a2.T
    q1 = (a1 * a1).sum(1)
    q2 = q1 if diag else (a2 * a2).sum(1)
    if diag:
        c.diagonal().copy_(q1)
    relu = act.phi is _RELU.phi and act.dphi is _RELU.dphi
    if relu:
        cos, sin = _cos_sin(a1, a2, c, diag)
    sigma, theta_k = c, (None if shallow else c.clone())
    for layer in range(depth):
        if relu:
            need_next = layer < depth - 1
            new_c, e_dphi, nq1, nq2, cos, sin = _relu_layer(
                q1, q2, cos, sin, w2, b2, need_next, diag
            )
            if shallow:
                return new_c, e_dphi
        else:
            e_phi, e_dphi, d1, d2 = _smooth_layer(act, q1, q2, sigma, order)
            if shallow:
                return e_phi, e_dphi
            nq1 = w2 * d1 + b2
            nq2 = nq1 if diag else w2 * d2 + b2
            new_c = e_phi.mul_(w2)
            if b2:
                new_c.add_(b2)
            if diag:
                new_c.diagonal().copy_(nq1)
        theta_k.mul_(e_dphi).mul_(w2).add_(new_c)
        sigma, q1, q2 = new_c, nq1, nq2
    return sigma, theta_k


def _tiled(x1, x2, same, batch_size, compute, n_out):
    """Run ``compute(rows, cols, diag)`` over row tiles (upper triangle only when ``same``)."""
    n1, n2 = x1.shape[0], x2.shape[0]
    if batch_size is None:
        entries = _TILE_ENTRIES["cpu" if x1.device.type == "cpu" else "other"]
        batch_size = max(1, min(n1, entries // max(1, n2)))
    outs = [torch.empty(n1, n2, dtype=x1.dtype, device=x1.device) for _ in range(n_out)]
    for i0 in range(0, n1, batch_size):
        i1 = min(n1, i0 + batch_size)
        # with same: the diagonal block, then the block right of it, mirrored below the diagonal
        blocks = [(i0, i1, True), (i1, n2, False)] if same else [(0, n2, False)]
        for j0, j1, diag in blocks:
            if j1 <= j0:
                continue
            res = compute(x1[i0:i1], x2[j0:j1], diag)
            for out, r in zip(outs, res, strict=True):
                out[i0:i1, j0:j1] = r
                if same and not diag:
                    out[j0:j1, i0:i1] = r.T
    return outs


def _check_activation(activation, derivative=None):
    return resolve_activation(activation, "activation", derivative)


def mlp_kernels(
    x1: Any,
    x2: Any = None,
    *,
    depth: int,
    activation: Any = "relu",
    W_std: float = 1.0,
    b_std: float = 0.0,
    batch_size: int | None = None,
    derivative: Any = None,
    quadrature_order: int = 64,
) -> MLPKernels:
    """Infinite-width NNGP and NTK of :class:`ntklab.networks.MLP` (neural-tangents' conventions).

    The kernels of ``stax.serial(Dense(n, W_std, b_std), act, ..., Dense(1, W_std, b_std))``
    with ``depth`` activations (``depth`` hidden layers), NTK parameterization:

    * input layer: ``Sigma_1 = W_std^2 x.x'/d + b_std^2`` and ``Theta_1 = Sigma_1``;
    * each hidden layer: ``Sigma_{l+1} = W_std^2 E[phi(a) phi(b)] + b_std^2`` and
      ``Theta_{l+1} = Sigma_{l+1} + W_std^2 E[phi'(a) phi'(b)] Theta_l``, with
      ``(a, b)`` centred Gaussian of covariance ``Sigma_l`` (restricted to the pair).

    Jacot et al.'s recursion with bias scale beta is ``W_std = 1, b_std = beta``; Arora et al.'s
    with ``c_sigma = 2`` is ``W_std = sqrt(2), b_std = 0`` for ReLU.

    ``x1`` (N1, d), ``x2`` (N2, d) or ``None`` (the set with itself: exactly symmetric, computed
    on the upper triangle only).  ``activation``: ``"relu"`` and ``"erf"`` (and ``"identity"``) in
    closed form; any other name or a callable by a ``quadrature_order``-point Gauss-Hermite
    rule in each of the two Gaussian variables (derivative by autograd unless ``derivative`` is
    given).  The rule is exact for polynomial activations of degree below ``quadrature_order``.
    For bounded sigmoid-like activations it converges slowly when the pre-activation variance
    is large (they approach a step); measured against erf's closed form with ``depth=2``,
    ``W_std=1`` (variances about 1) the largest NTK error is 3e-4 at order 32 and 7e-8 at order
    64 (the default); with ``W_std=2, b_std=1`` (variances up to about 10) it is 0.3 at order 64
    and 5e-3 at order 128.  Use the closed forms where they exist.

    ``batch_size`` rows of ``x1`` are processed at a time (default: tiles of about 65,000
    entries on a CPU, which stay in cache, 16 million on a GPU), so peak memory is the two
    outputs plus a few tiles.
    Returns :class:`MLPKernels` with ``.nngp`` and ``.ntk`` of shape (N1, N2).
    """
    depth = check_nonnegative_int(depth, "depth")
    w_std = check_nonnegative(W_std, "W_std")
    b_std = check_nonnegative(b_std, "b_std")
    order = check_positive_int(quadrature_order, "quadrature_order")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    act = _check_activation(activation, derivative)
    x1, x2, same = _inputs(x1, x2)
    d = x1.shape[1]
    w2, b2 = w_std**2, b_std**2

    def augment(x):
        col = torch.full((x.shape[0], 1), b_std, dtype=x.dtype, device=x.device)
        return torch.cat([x * (w_std / math.sqrt(d)), col], dim=1)

    a1 = augment(x1)
    a2 = a1 if same else augment(x2)

    def compute(r, s, diag):
        return _recursion(act, r, s, depth, w2, b2, diag, order)

    nngp, ntk_ = _tiled(a1, a2, same, batch_size, compute, 2)
    return MLPKernels(nngp=nngp, ntk=ntk_)


def _shallow_expectations(x1, x2, same, act, order):
    """``E[phi(u.x) phi(u.z)]`` and ``E[phi'(u.x) phi'(u.z)]`` for ``u ~ N(0, I/d)``."""
    d = x1.shape[1]
    a1 = x1 / math.sqrt(d)
    a2 = a1 if same else x2 / math.sqrt(d)

    def compute(r, s, diag):
        return _recursion(act, r, s, 1, 1.0, 0.0, diag, order, shallow=True)

    return _tiled(a1, a2, same, None, compute, 2)


def k_lecun(
    x: Any, z: Any = None, *, activation: Any = "relu", quadrature_order: int = 64
) -> torch.Tensor:
    """``K^LC(x, z) = E[sigma(u.x) sigma(u.z)]``, ``u ~ N(0, I/d)`` (Theorem 11.16).

    The limit of ``hat Theta / n`` for :class:`ntklab.networks.ShallowLeCun` (Gaussian D).  For
    ReLU (Example 11.17): ``|x| |z| (sin t + (pi - t) cos t) / (2 pi d)``, ``t`` the angle.
    ``x`` (N1, d), ``z`` (N2, d) or ``None``; returns (N1, N2).
    """
    act = _check_activation(activation)
    order = check_positive_int(quadrature_order, "quadrature_order")
    x, z, same = _inputs(x, z, "x", "z")
    return _shallow_expectations(x, z, same, act, order)[0]


def k_ntk(
    x: Any, z: Any = None, *, activation: Any = "relu", quadrature_order: int = 64
) -> torch.Tensor:
    """``K^NTK(x, z) = (1 + x.z/d) E[sigma'(u.x) sigma'(u.z)] + E[sigma(u.x) sigma(u.z)] + 1``.

    Theorem 11.30, ``u ~ N(0, I/d)``: the limit of the tangent kernel of
    :class:`ntklab.networks.ShallowNTK`.  For ReLU (Example 11.31)
    ``E[sigma' sigma'] = (pi - t) / (2 pi)``.  The derivative of ReLU at 0 is taken as 0 (as in
    autograd, so the network's kernel agrees), which decides the value at a zero input, where
    the kernel has no limit.  ``x`` (N1, d), ``z`` (N2, d) or ``None``; returns (N1, N2).
    """
    act = _check_activation(activation)
    order = check_positive_int(quadrature_order, "quadrature_order")
    x, z, same = _inputs(x, z, "x", "z")
    e_phi, e_dphi = _shallow_expectations(x, z, same, act, order)
    if act.phi is _RELU.phi:
        zero1 = x.norm(dim=1) == 0
        zero2 = zero1 if same else z.norm(dim=1) == 0
        e_dphi[zero1[:, None] | zero2[None, :]] = 0.0
    return (1 + x @ z.T / x.shape[1]) * e_dphi + e_phi + 1


def h_infinity(x: Any, z: Any = None) -> torch.Tensor:
    """Du et al.'s Gram matrix ``H^inf_ij = x_i.x_j E_w[1{w.x_i >= 0} 1{w.x_j >= 0}]``.

    ``w ~ N(0, I)``, so ``H^inf_ij = x_i.x_j (pi - t_ij) / (2 pi)`` with ``t_ij`` the angle
    (computed stably).  ``x`` (m, d); ``z`` (m2, d) or ``None``; returns (m, m2).
    """
    x, z, same = _inputs(x, z, "x", "z")

    def compute(r, s, diag):
        c = r @ s.T
        if diag:
            c.diagonal().copy_((r * r).sum(1))
        cos, sin = _cos_sin(r, s, c, diag)
        return (c * (math.pi - torch.atan2(sin, cos)) / (2 * math.pi),)

    return _tiled(x, z, same, None, compute, 1)[0]

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from . import _quadrature
from ._activations import resolve_activation
from ._autograd import Ops as _Ops
from ._autograd import records_grad as _records_grad
from ._autograd import safe_sqrt as _safe_sqrt
from .validation import (
    as_tensor,
    check_matrix,
    check_nonnegative_int,
    check_positive_int,
    check_same_dtype,
    check_scalar_parameter,
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
    if bool(((u.detach() < -1 - tol) | (u.detach() > 1 + tol)).any()):
        raise ValueError("u must lie in [-1, 1] (it is a cosine)")
    return u.clamp(-1.0, 1.0)


def kappa0(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 0, ``kappa0(u) = (pi - arccos u) / pi``, elementwise.

    Cho & Saul (2009) in Bietti & Mairal's (2019) normalization: for ``w ~ N(0, I)`` and unit
    vectors ``x, y`` with ``u = x.y``, ``E[1{w.x >= 0} 1{w.y >= 0}] = kappa0(u) / 2``.

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]`` (rounding errors up to 1e-12, 1e-6 in float32, are
        clamped).

    Returns
    -------
    torch.Tensor
        ``kappa0(u)``, the shape of ``u``.  Differentiable; the derivative
        ``1 / (pi sqrt(1 - u^2))`` is infinite at ``u = +-1`` (and autograd returns ``inf``).

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> kappa0(torch.tensor([-1.0, 0.0, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    u = _cosines(u)
    return (math.pi - torch.arccos(u)) / math.pi


def _kappa1_value(u: torch.Tensor) -> torch.Tensor:
    return (u * (math.pi - torch.arccos(u)) + torch.sqrt((1 - u * u).clamp_min(0))) / math.pi


class _Kappa1(torch.autograd.Function):
    """``kappa1`` with its derivative ``kappa0`` (the formula's two infinite terms cancel)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return _kappa1_value(u)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * (math.pi - torch.arccos(u)) / math.pi


def kappa1(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 1, ``kappa1(u) = (u (pi - arccos u) + sqrt(1 - u^2)) / pi``.

    For ``w ~ N(0, I)`` and unit ``x, y`` with ``u = x.y``: ``E[relu(w.x) relu(w.y)] =
    kappa1(u) / 2`` (Cho & Saul 2009, Bietti & Mairal's normalization).

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]``.

    Returns
    -------
    torch.Tensor
        ``kappa1(u)``, the shape of ``u``.  Differentiable everywhere on ``[-1, 1]`` with
        derivative ``kappa0(u)`` (finite also at ``u = +-1``).

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> [round(v, 6) for v in kappa1(torch.tensor([-1.0, 0.0, 1.0])).tolist()]
    [0.0, 0.31831, 1.0]
    """
    return _Kappa1.apply(_cosines(u))


def kappa(u: Any) -> torch.Tensor:
    """Two-layer ReLU NTK on the sphere, ``kappa(u) = u kappa0(u) + kappa1(u)``.

    Bietti & Mairal (2019): the NTK of a two-layer ReLU network without biases at unit inputs
    with cosine ``u``, normalized so that ``kappa(1) = 2``.

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]``.

    Returns
    -------
    torch.Tensor
        ``kappa(u)``, the shape of ``u``.  Its derivative is infinite at ``u = +-1``.

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> [round(v, 6) for v in kappa(torch.tensor([0.0, 1.0])).tolist()]
    [0.31831, 2.0]
    """
    u = _cosines(u)
    return u * kappa0(u) + kappa1(u)


# ---------------------------------------------------------------------------------------------
# Shallow kernels, H-infinity and the deep NNGP/NTK recursions
# ---------------------------------------------------------------------------------------------

_STABLE_COS = 0.99  # above this |cosine|, angles are recomputed from the vectors
_PAIR_CHUNK = 2**18  # pairs per chunk in the stable-angle fix-up
_TILE_ENTRIES = {"cpu": 2**16, "other": 2**24}  # entries of one tile: cache-sized on a CPU


@dataclass(frozen=True)
class MLPKernels:
    """Infinite-width kernels of :class:`ntklab.networks.mlp.MLP`, as returned by
    :func:`mlp_kernels`.

    Parameters
    ----------
    nngp : torch.Tensor
        The NNGP kernel ``Sigma`` of the network's output, shape (N1, N2).
    ntk : torch.Tensor
        The neural tangent kernel ``Theta``, shape (N1, N2).

    Examples
    --------
    >>> import torch
    >>> k = mlp_kernels(torch.eye(2, dtype=torch.float64), depth=1)
    >>> k.nngp.shape, k.ntk.shape
    (torch.Size([2, 2]), torch.Size([2, 2]))
    """

    nngp: torch.Tensor
    ntk: torch.Tensor


def _inputs(x1: Any, x2: Any):
    check_same_dtype(x1, "x1", x2, "x2")
    x1 = check_matrix(x1, "x1")
    if x2 is None:
        return x1, x1, True
    x2 = check_matrix(x2, "x2", dtype=x1.dtype, device=x1.device)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x2 must have {x1.shape[1]} columns like x1 (the input dimension), "
            f"got shape {tuple(x2.shape)}"
        )
    return x1, x2, False


def _norms_and_units(a: torch.Tensor):
    """Row norms and unit rows without overflow or underflow (rows scaled by their max first)."""
    top = a.abs().amax(dim=1)
    safe = torch.where(top > 0, top, 1)
    scaled = a / safe[:, None]
    length = scaled.norm(dim=1)
    units = scaled / torch.where(top > 0, length, 1)[:, None]
    return top * length, units


def _cos_sin(a1: torch.Tensor, a2: torch.Tensor, diag: bool, ops: _Ops):
    """Cosines and sines of the angles between the rows of ``a1`` and ``a2``; row norms.

    Cosines come from the unit rows; where ``|cos| > 0.99`` both are recomputed from the unit
    vectors ``p, q``: ``sin = |p - q| |p + q| / 2`` and ``cos = (|p + q|^2 - |p - q|^2) / 4``,
    which keeps the angle accurate to rounding near 0 and pi.  A pair with a zero row gets the
    angle 0 (``cos = 1, sin = 0``): every kernel term of such a pair carries a factor of its
    norm, and atan2 stays differentiable.
    """
    n1, u1 = _norms_and_units(a1)
    n2, u2 = (n1, u1) if diag else _norms_and_units(a2)
    cos = u1 @ u2.T
    if diag:
        cos = (cos + cos.T) / 2  # a matrix product need not be bitwise symmetric
    cos = ops.clamp(cos, -1, 1)
    sin = ops.sqrt(1 - cos * cos)
    near = cos.detach().abs() > _STABLE_COS
    if bool(near.any()):
        idx = near.nonzero()
        for k0 in range(0, idx.shape[0], _PAIR_CHUNK):
            i, j = idx[k0 : k0 + _PAIR_CHUNK].unbind(1)
            p, q = u1[i], u2[j]
            dm, dp = (p - q).norm(dim=1), (p + q).norm(dim=1)
            sin = ops.put(sin, (i, j), dm * dp / 2)
            cos = ops.put(cos, (i, j), (dp * dp - dm * dm) / 4)
    z1, z2 = n1.detach() == 0, n2.detach() == 0
    if bool(z1.any()) or bool(z2.any()):
        zero = z1[:, None] | z2[None, :]
        cos, sin = ops.masked_fill(cos, zero, 1.0), ops.masked_fill(sin, zero, 0.0)
    if diag:
        cos, sin = ops.set_diagonal(cos, 1.0), ops.set_diagonal(sin, 0.0)
    return cos, sin, n1, n2


def _relu_layer(s1, s2, cos, sin, w2, b2, need_next, diag, ops):
    """One ReLU layer on centred Gaussian pairs with standard deviations s1, s2, angle (cos, sin).

    Returns ``Sigma_next = W_std^2 E[relu(a) relu(b)] + b_std^2``, ``E[step(a) step(b)]``, the
    next standard deviations and (if ``need_next``) the next angle as (cos, sin), computed from
    ``1 - J/pi`` without cancellation, ``J = sin t + (pi - t) cos t``.  Standard deviations,
    not variances, are carried so that tiny inputs neither underflow nor overflow.
    """
    theta = torch.atan2(sin, cos)
    pm = torch.sub(math.pi, theta)  # pi - theta
    jay = torch.addcmul(sin, pm, cos)  # J(theta), E[relu relu] = s s' J / (2 pi)
    s12 = s1[:, None] * s2[None, :]
    sig = ops.mul(s12 * jay, w2 / (2 * math.pi))
    if b2:
        sig = ops.add(sig, b2)
    dot = ops.mul(pm, 1 / (2 * math.pi))  # E[step step] = (pi - t) / (2 pi)
    half = (w2 / 2) ** 0.5
    if b2:
        ns1 = torch.sqrt(w2 * s1 * s1 / 2 + b2)
        ns2 = ns1 if diag else torch.sqrt(w2 * s2 * s2 / 2 + b2)
    else:
        ns1 = half * s1
        ns2 = ns1 if diag else half * s2
    if diag:
        sig = ops.set_diagonal(sig, ns1 * ns1)
    if not need_next:
        return sig, dot, ns1, ns2, None, None
    # 1 - cos t = sin^2 / (1 + cos) where cos > 0; sin t - t cos t is O(t^3) but only enters
    # next to pi (1 - cos t) = O(t^2), so its rounding leaves the next angle accurate to eps.
    # (1 + |cos|: the branch not taken must not divide by zero either, or its gradient is NaN.)
    one_minus_cos = torch.where(cos > 0, sin * sin / (1 + cos.abs()), 1 - cos)
    om = ops.mul(
        ops.addcmul(ops.sub(ops.mul(one_minus_cos, math.pi), sin), theta, cos), 1 / math.pi
    )
    if b2:
        # with A = W_std^2 s^2 / 2: q q' - c^2 = A A' om (2 - om) + b^2 ((sqrt A - sqrt A')^2
        # + 2 sqrt(A A') om), all terms >= 0
        aa = ops.mul(s12, w2 / 2)
        gap = ops.mul(ops.mul(aa * aa, om), 2 - om)
        diff = half * (s1[:, None] - s2[None, :])
        gap = ops.add(gap, ops.mul(ops.addcmul(diff * diff, aa, om, value=2), b2))
        inv = (1 / ns1)[:, None] * (1 / ns2)[None, :]  # ns >= b_std > 0
        new_sin = ops.mul(ops.sqrt(gap), inv)
        new_cos = ops.clamp(sig * inv, -1, 1)
    else:
        # without biases the angle map does not depend on the scale: cos' = J / pi
        new_cos = ops.clamp(ops.mul(jay, 1 / math.pi), -1, 1)
        new_sin = ops.sqrt(om * (2 - om))
        z1, z2 = s1.detach() == 0, s2.detach() == 0
        if bool(z1.any()) or bool(z2.any()):
            zero = z1[:, None] | z2[None, :]
            new_cos, new_sin = (
                ops.masked_fill(new_cos, zero, 1.0),
                ops.masked_fill(new_sin, zero, 0.0),
            )
    if diag:
        new_cos, new_sin = ops.set_diagonal(new_cos, 1.0), ops.set_diagonal(new_sin, 0.0)
    return sig, dot, ns1, ns2, new_cos, new_sin


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
    fns = (act.phi, act.dphi)
    e_phi, e_dphi = _quadrature.gauss_hermite(fns, c, q1[:, None], q2[None, :], order)
    d1 = _quadrature.gauss_hermite_second_moments(fns[:1], q1, order)[0]
    d2 = d1 if q2 is q1 else _quadrature.gauss_hermite_second_moments(fns[:1], q2, order)[0]
    return e_phi, e_dphi, d1, d2


_IDENTITY = resolve_activation("identity")
_ERF = resolve_activation("erf")
_RELU = resolve_activation("relu")


def _closed_form(act) -> bool:
    return any(act.phi is a.phi and act.dphi is a.dphi for a in (_RELU, _ERF, _IDENTITY))


def _mehler_tables(act, a, depth, w2, b2):
    """Per-point data of the quadrature path: ``a`` with, for each layer, the standard
    deviation and :func:`ntklab._quadrature.point_table` of ``phi`` and ``phi'`` appended as
    columns (so tiles slice them with the rows).  Returns the packed tensor and the layout."""
    q = (a * a).sum(1)
    cols, layout = [a], []
    for _ in range(depth):
        s = _safe_sqrt(q)
        (cf, tf, mf), (cd, td, md) = _quadrature.point_table((act.phi, act.dphi), s)
        cols += [s[:, None], cf, tf, mf[:, None], cd, td, md[:, None]]
        layout.append([1, cf.shape[1], tf.shape[1], 1, cd.shape[1], td.shape[1], 1])
        q = w2 * mf + b2
    return torch.cat(cols, 1), (a.shape[1], layout)


def _unpack(p, layout):
    width, layers = layout
    out, k = [], width
    for sizes in layers:
        parts = []
        for n in sizes:
            parts.append(p[:, k : k + n])
            k += n
        s, cf, tf, mf, cd, td, md = parts
        out.append((s[:, 0], (cf, tf, mf[:, 0]), (cd, td, md[:, 0])))
    return p[:, :width], out


def _mehler_recursion(act, p1, p2, layout, depth, w2, b2, diag, ops, *, shallow=False):
    """:func:`_recursion` for activations without a closed form, by Mehler's series on the
    per-point tables of :func:`_mehler_tables` (see :mod:`ntklab._quadrature`)."""
    a1, tab1 = _unpack(p1, layout)
    a2, tab2 = (a1, tab1) if diag else _unpack(p2, layout)
    tol = 1e-14 if a1.dtype == torch.float64 else 1e-7
    c = a1 @ a2.T
    skip = None
    if diag:
        c = ops.set_diagonal((c + c.T) / 2, (a1 * a1).sum(1))
        skip = torch.eye(c.shape[0], dtype=torch.bool, device=c.device)
    sigma, theta_k = c, (None if shallow else c.clone())
    for layer in range(depth):
        (s1, f1, d1), (s2, f2, d2) = tab1[layer], tab2[layer]
        den = s1[:, None] * s2[None, :]
        pos = den > 0
        rho = torch.where(pos, sigma / torch.where(pos, den, 1), 0).clamp(-1, 1)
        e_phi = _quadrature.pair_expectation(f1, f2, act.phi, act.phi, s1, s2, rho, ops, tol, skip)
        e_dphi = _quadrature.pair_expectation(
            d1, d2, act.dphi, act.dphi, s1, s2, rho, ops, tol, skip
        )
        if diag:
            e_phi, e_dphi = ops.set_diagonal(e_phi, f1[2]), ops.set_diagonal(e_dphi, d1[2])
        if shallow:
            return e_phi, e_dphi
        new_c = ops.mul(e_phi, w2)
        if b2:
            new_c = ops.add(new_c, b2)
        theta_k = ops.add(ops.mul(ops.mul(theta_k, e_dphi), w2), new_c)
        sigma = new_c
    return sigma, theta_k


def _recursion(act, a1, a2, depth, w2, b2, diag, order, ops, *, shallow=False):
    """NNGP and NTK of one tile from the augmented first-layer inputs ``a1``, ``a2``.

    ``a`` rows are ``(W_std x / sqrt(d), b_std)``, so ``Sigma_1 = a1 a2^T``.  ``diag`` marks a
    tile of a set with itself whose diagonal is the pairs (k, k).  With ``shallow`` it returns
    ``E[phi phi]`` and ``E[phi' phi']`` of the first layer instead.
    """
    c = a1 @ a2.T
    q1 = (a1 * a1).sum(1)
    q2 = q1 if diag else (a2 * a2).sum(1)
    if diag:
        # a matrix product need not be bitwise symmetric; everything after is elementwise
        c = ops.set_diagonal((c + c.T) / 2, q1)
    relu = act.phi is _RELU.phi and act.dphi is _RELU.dphi
    if relu:
        cos, sin, s1, s2 = _cos_sin(a1, a2, diag, ops)
    sigma, theta_k = c, (None if shallow else c.clone())
    for layer in range(depth):
        if relu:
            need_next = layer < depth - 1
            new_c, e_dphi, s1, s2, cos, sin = _relu_layer(
                s1, s2, cos, sin, w2, b2, need_next, diag, ops
            )
            if shallow:
                return new_c, e_dphi
        else:
            e_phi, e_dphi, d1, d2 = _smooth_layer(act, q1, q2, sigma, order)
            if shallow:
                return e_phi, e_dphi
            nq1 = w2 * d1 + b2
            nq2 = nq1 if diag else w2 * d2 + b2
            new_c = ops.mul(e_phi, w2)
            if b2:
                new_c = ops.add(new_c, b2)
            if diag:
                new_c = ops.set_diagonal(new_c, nq1)
            q1, q2 = nq1, nq2
        theta_k = ops.add(ops.mul(ops.mul(theta_k, e_dphi), w2), new_c)
        sigma = new_c
    return sigma, theta_k


def _tiled(x1, x2, same, batch_size, compute, n_out, grad):
    """Run ``compute(rows, cols, diag)`` over row tiles (upper triangle only when ``same``).

    On a CPU the tiles are small enough to stay in cache, and they are spread over
    ``torch.get_num_threads()`` Python threads with torch's intra-op parallelism set to one
    thread meanwhile (restored afterwards): elementwise operations on small tiles would
    otherwise pay a thread synchronisation per operation.  When autograd records (``grad``)
    the whole matrix is one tile, computed out of place.
    """
    if grad:
        res = compute(x1, x2, same)
        return [(r + r.T) / 2 if same else r for r in res]
    n1, n2 = x1.shape[0], x2.shape[0]
    cpu = x1.device.type == "cpu"
    if batch_size is None:
        entries = _TILE_ENTRIES["cpu" if cpu else "other"]
        batch_size = max(1, min(n1, entries // max(1, n2)))
    outs = [torch.empty(n1, n2, dtype=x1.dtype, device=x1.device) for _ in range(n_out)]
    jobs = []
    for i0 in range(0, n1, batch_size):
        i1 = min(n1, i0 + batch_size)
        # with same: the diagonal block, then the block right of it, mirrored below the diagonal
        blocks = [(i0, i1, True), (i1, n2, False)] if same else [(0, n2, False)]
        jobs.extend((i0, i1, j0, j1, diag) for j0, j1, diag in blocks if j1 > j0)

    def run(job):
        i0, i1, j0, j1, diag = job
        res = compute(x1[i0:i1], x2[j0:j1], diag)
        for out, r in zip(outs, res, strict=True):
            if diag:
                # vectorized transcendental functions may round an entry differently from its
                # mirror image (SIMD body versus scalar tail): average to be exactly symmetric
                r = (r + r.T) / 2
            out[i0:i1, j0:j1] = r
            if same and not diag:
                out[j0:j1, i0:i1] = r.T

    threads = torch.get_num_threads()
    if cpu and threads > 1 and len(jobs) > 1:
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, jobs))
        finally:
            torch.set_num_threads(threads)
    else:
        for job in jobs:
            run(job)
    return outs


def _check_order(quadrature_order):
    if quadrature_order is None:
        return None
    return check_positive_int(quadrature_order, "quadrature_order")


def _check_activation(activation, derivative=None):
    return resolve_activation(activation, "activation", derivative)


_DIFFERENTIABILITY = """
    Every kernel is differentiable by autograd in ``x1``, ``x2`` and in tensor-valued
    parameters (0-dim tensors with ``requires_grad``).  Where the kernel is not differentiable
    (two coinciding points ``x1_i == x2_j``, where ReLU kernels have a cone ``|x1_i - x2_j|``;
    a zero input) autograd returns the derivative with the cone term dropped, i.e. the mean of
    the two one-sided derivatives (the limit of central differences); it is finite.  A set
    with itself (``x2=None``) has its diagonal in closed form, a smooth function of the norms.
    For activations integrated by quadrature, the derivative at coinciding points also drops a
    term ``E[phi(a) phi''(b)]`` (finite, approximate there; exact elsewhere).  When autograd
    records, the kernel is computed out of place in one tile (``batch_size`` is ignored).
"""


def mlp_kernels(
    x1: Any,
    x2: Any = None,
    *,
    depth: int,
    activation: Any = "relu",
    W_std: float | torch.Tensor = 1.0,
    b_std: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    derivative: Any = None,
    quadrature_order: int | None = None,
) -> MLPKernels:
    """Infinite-width NNGP and NTK of :class:`ntklab.networks.mlp.MLP` (neural-tangents' rules).

    The kernels of ``stax.serial(Dense(n, W_std, b_std), act, ..., Dense(1, W_std, b_std))``
    with ``depth`` activations (``depth`` hidden layers), NTK parameterization:

    * input layer: ``Sigma_1 = W_std^2 x.x'/d + b_std^2`` and ``Theta_1 = Sigma_1``;
    * each hidden layer: ``Sigma_{l+1} = W_std^2 E[phi(a) phi(b)] + b_std^2`` and
      ``Theta_{l+1} = Sigma_{l+1} + W_std^2 E[phi'(a) phi'(b)] Theta_l``, with
      ``(a, b)`` centred Gaussian of covariance ``Sigma_l`` (restricted to the pair).

    Jacot et al.'s recursion with bias scale beta is ``W_std = 1, b_std = beta``; Arora et al.'s
    with ``c_sigma = 2`` is ``W_std = sqrt(2), b_std = 0`` for ReLU.

    ``"relu"`` and ``"erf"`` (and ``"identity"``) are in closed form.  Any other activation
    (bounded or growing at most polynomially) is integrated by Mehler's formula
    ``E[phi(a) phi(b)] = sum_k rho^k F_k(s) F_k(s')`` with Hermite coefficients computed once per
    point and layer by a trapezoidal rule whose step resolves ``phi`` at the point's standard
    deviation, the series cut by a Cauchy-Schwarz bound on its tail (relative ``1e-14`` of
    ``sqrt(E[phi(a)^2] E[phi(b)^2])`` in float64), and the few pairs of correlation near 1 that
    256 terms do not serve integrated directly (see :mod:`ntklab._quadrature`).  Measured
    against nested adaptive quadrature (``scipy.integrate.quad``) for a depth-3 tanh network
    with ``W_std=1.5, b_std=0.2`` and pre-activation variances up to 20 the relative error is
    below 1e-13 on and off the diagonal.  Cost: ``O(N quadrature nodes * 256)`` per layer for
    the coefficients plus at most 256 multiply-adds per pair, a few thousand activation
    evaluations for a pair the direct rule takes.  Passing ``quadrature_order``
    selects instead a fixed Gauss-Hermite rule of that many nodes per variable
    (``quadrature_order^2`` evaluations per pair), exact for polynomials of degree below it but
    slow to converge at large variances, where ``tanh``-like activations approach a step (at
    order 96 it is 18 % off for a variance of 20).

    ReLU angles are computed stably (see the module docstring); a set with itself is exactly
    symmetric with the exact diagonal.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs; ``None`` means the set ``x1`` with itself (computed on the upper triangle).
        A floating tensor must have ``x1``'s dtype.
    depth : int
        Number of hidden layers (activations), ``>= 0``.
    activation : str or callable
        ``"relu"``, ``"erf"``, ``"tanh"``, ``"sigmoid"``, ``"arctan"``, ``"identity"`` or an
        elementwise callable.
    W_std, b_std : float or 0-dim tensor
        Weight and bias standard deviations (``>= 0``); a tensor must have ``x1``'s dtype and
        may require grad.
    batch_size : int, optional
        Rows of ``x1`` per tile (default: tiles of about 65,000 entries on a CPU, which stay in
        cache, 16 million on a GPU), so peak memory is the two outputs plus a few tiles.
    derivative : callable, optional
        The activation's derivative, for a callable activation (default: autograd).
    quadrature_order : int, optional
        Nodes of a fixed Gauss-Hermite rule per variable; default ``None``: Mehler's series
        with an error bound (above).

    Returns
    -------
    MLPKernels
        ``.nngp`` and ``.ntk``, each of shape (N1, N2), dtype and device of ``x1``.

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` (or a tensor ``W_std``/``b_std`` and ``x1``) have different
        floating dtypes, or an argument has the wrong type.
    ValueError
        If the shapes disagree, an input is not finite, ``depth < 0``, ``W_std`` or ``b_std``
        is negative, or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> k = mlp_kernels(x, depth=1)
    >>> [round(v, 6) for v in k.ntk[0].tolist()]
    [0.5, 0.079577]
    >>> w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    >>> mlp_kernels(x, depth=1, W_std=w).ntk.sum().backward()
    >>> round(float(w.grad), 6)
    4.63662
    """
    depth = check_nonnegative_int(depth, "depth")
    order = _check_order(quadrature_order)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    act = _check_activation(activation, derivative)
    x1, x2, same = _inputs(x1, x2)
    w_std = check_scalar_parameter(W_std, "W_std", x1, "x1")
    b_std = check_scalar_parameter(b_std, "b_std", x1, "x1")
    grad = _records_grad(x1, x2, w_std, b_std)
    if not grad:
        w_std, b_std = float(w_std), float(b_std)
    d = x1.shape[1]
    w2, b2 = w_std**2, b_std**2
    ops = _Ops(grad)

    def augment(x):
        col = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device) * b_std
        return torch.cat([x * (w_std / math.sqrt(d)), col], dim=1)

    a1 = augment(x1)
    a2 = a1 if same else augment(x2)
    if order is None and not _closed_form(act):
        a1, layout = _mehler_tables(act, a1, depth, w2, b2)
        a2 = a1 if same else _mehler_tables(act, a2, depth, w2, b2)[0]

        def compute(r, s, diag):
            return _mehler_recursion(act, r, s, layout, depth, w2, b2, diag, ops)

    else:

        def compute(r, s, diag):
            return _recursion(act, r, s, depth, w2, b2, diag, order, ops)

    nngp, ntk_ = _tiled(a1, a2, same, batch_size, compute, 2, grad)
    return MLPKernels(nngp=nngp, ntk=ntk_)


def _shallow_expectations(x1, x2, same, act, order):
    """``E[phi(u.x1) phi(u.x2)]`` and ``E[phi'(u.x1) phi'(u.x2)]`` for ``u ~ N(0, I/d)``."""
    d = x1.shape[1]
    a1 = x1 / math.sqrt(d)
    a2 = a1 if same else x2 / math.sqrt(d)
    grad = _records_grad(x1, x2)
    ops = _Ops(grad)

    if order is None and not _closed_form(act):
        a1, layout = _mehler_tables(act, a1, 1, 1.0, 0.0)
        a2 = a1 if same else _mehler_tables(act, a2, 1, 1.0, 0.0)[0]

        def compute(r, s, diag):
            return _mehler_recursion(act, r, s, layout, 1, 1.0, 0.0, diag, ops, shallow=True)

    else:

        def compute(r, s, diag):
            return _recursion(act, r, s, 1, 1.0, 0.0, diag, order, ops, shallow=True)

    return (*_tiled(a1, a2, same, None, compute, 2, grad), ops)


def k_lecun(
    x1: Any, x2: Any = None, *, activation: Any = "relu", quadrature_order: int | None = None
) -> torch.Tensor:
    """LeCun-initialization kernel ``K^LC(x1, x2) = E[sigma(u.x1) sigma(u.x2)]``, ``u ~ N(0, I/d)``.

    Theorem 11.16 (Petersen & Zech): the limit of ``hat Theta / n`` for
    :class:`ntklab.networks.shallow.ShallowLeCun` (Gaussian D).  For ReLU (Example 11.17)
    ``|x1| |x2| (sin t + (pi - t) cos t) / (2 pi d)``, ``t`` the angle (computed stably).
    Other activations as in :func:`mlp_kernels` (closed form for erf, quadrature otherwise).
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).
    activation : str or callable
        As in :func:`mlp_kernels`.
    quadrature_order : int, optional
        As in :func:`mlp_kernels`: ``None`` (default) for Mehler's series with an error bound,
        an ``int`` for a fixed Gauss-Hermite rule of that many nodes per variable.

    Returns
    -------
    torch.Tensor
        ``K^LC``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree, an input is not finite or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in k_lecun(x)[0].tolist()]
    [0.25, 0.079577]
    """
    act = _check_activation(activation)
    order = _check_order(quadrature_order)
    x1, x2, same = _inputs(x1, x2)
    return _shallow_expectations(x1, x2, same, act, order)[0]


def k_ntk(
    x1: Any, x2: Any = None, *, activation: Any = "relu", quadrature_order: int | None = None
) -> torch.Tensor:
    """Shallow NTK ``K^NTK = (1 + x1.x2/d) E[sigma'(u.x1) sigma'(u.x2)] + E[sigma sigma] + 1``.

    Theorem 11.30 (Petersen & Zech), ``u ~ N(0, I/d)``: the limit of the tangent kernel of
    :class:`ntklab.networks.shallow.ShallowNTK`.  For ReLU (Example 11.31)
    ``E[sigma' sigma'] = (pi - t) / (2 pi)``.  The derivative of ReLU at 0 is taken as 0 (as in
    autograd, so the network's kernel agrees), which decides the value at a zero input, where
    the kernel has no limit.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).
    activation : str or callable
        As in :func:`mlp_kernels`.
    quadrature_order : int, optional
        As in :func:`mlp_kernels`: ``None`` (default) for Mehler's series with an error bound,
        an ``int`` for a fixed Gauss-Hermite rule of that many nodes per variable.

    Returns
    -------
    torch.Tensor
        ``K^NTK``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree, an input is not finite or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in k_ntk(x)[0].tolist()]
    [2.0, 1.329577]
    """
    act = _check_activation(activation)
    order = _check_order(quadrature_order)
    x1, x2, same = _inputs(x1, x2)
    e_phi, e_dphi, ops = _shallow_expectations(x1, x2, same, act, order)
    if act.phi is _RELU.phi:
        zero1 = x1.detach().norm(dim=1) == 0
        zero2 = zero1 if same else x2.detach().norm(dim=1) == 0
        e_dphi = ops.masked_fill(e_dphi, zero1[:, None] | zero2[None, :], 0.0)
    return (1 + x1 @ x2.T / x1.shape[1]) * e_dphi + e_phi + 1


def h_infinity(x1: Any, x2: Any = None) -> torch.Tensor:
    """Du et al.'s Gram matrix ``H^inf_ij = x1_i.x2_j E_w[1{w.x1_i >= 0} 1{w.x2_j >= 0}]``.

    ``w ~ N(0, I)``, so ``H^inf_ij = x1_i.x2_j (pi - t_ij) / (2 pi)`` with ``t_ij`` the angle
    (computed stably); Du et al. (2019), the Gram matrix of a two-layer ReLU network whose
    output layer is fixed.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).

    Returns
    -------
    torch.Tensor
        ``H^inf``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree or an input is not finite.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in h_infinity(x)[0].tolist()]
    [0.5, 0.375]
    """
    x1, x2, same = _inputs(x1, x2)
    grad = _records_grad(x1, x2)
    ops = _Ops(grad)

    def compute(r, s, diag):
        c = r @ s.T
        if diag:
            c = ops.set_diagonal((c + c.T) / 2, (r * r).sum(1))
        cos, sin, _, _ = _cos_sin(r, s, diag, ops)
        return (c * (math.pi - torch.atan2(sin, cos)) / (2 * math.pi),)

    return _tiled(x1, x2, same, None, compute, 1, grad)[0]


for _f in (mlp_kernels, k_lecun, k_ntk, h_infinity):
    _f.__doc__ = _f.__doc__.replace("{differentiability}", _DIFFERENTIABILITY)

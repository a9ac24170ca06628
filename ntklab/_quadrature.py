"""Gaussian expectations ``E[f(a) g(b)]`` of smooth activations, accurate at any variance.

For ``(a, b)`` centred Gaussian with standard deviations ``s1, s2`` and correlation ``rho``,
Mehler's formula gives

    E[f(a) g(b)] = sum_k rho^k F_k(s1) G_k(s2),   F_k(s) = E[f(s z) He_k(z)] / sqrt(k!),

``z ~ N(0, 1)``, ``He_k`` the probabilists' Hermite polynomials.  The coefficients belong to a
point (its variance), not to a pair, so they are computed once per point and layer, and a pair
costs ``K`` multiply-adds.  By Cauchy-Schwarz the truncated tail is at most
``|rho|^K sqrt(T_K(f, s1) T_K(g, s2))`` with ``T_K = E[f(s z)^2] - sum_{k<K} F_k^2`` (Parseval);
the order ``K`` of a tile is the smallest that brings this bound below the tolerance, and the
pairs that no ``K <= K_MAX`` serves (``|rho|`` near 1 with a near-step activation, e.g.
``tanh`` at a large variance; with one-dimensional inputs and a bias, most pairs) are
integrated directly (:func:`_direct`): conditioned on the wider variable, an inner uniform
rule over the conditional Gaussian (a few dozen nodes, its width ``s2 sqrt(1 - rho^2)`` being
small there) and an outer rule uniform in ``u`` with ``a = c sinh(u)``, dense where an
activation has its features (``|a|`` of order 1) and sparse in its flat tails: about 80 nodes
where a uniform rule needs ``90 s`` (the arctan kernel of chapter 5, 161 one-dimensional points
with variances up to 50, went from 162 s to about 6 s).  Its step-doubling error estimate sends
activations that are not flat in the tails (e.g. ``sin``) to the uniform rule.

Interface: :func:`pair_expectation` on a tile of rows and columns from per-point tables
(:func:`point_table`), :func:`expectations` elementwise for any shapes (coefficients per
distinct variance), :func:`second_moments` for the diagonal, and :func:`gauss_hermite` (with
:func:`gauss_hermite_second_moments`), the fixed rule an integer ``quadrature_order`` selects.

Why not Gauss-Hermite in ``z``: at a standard deviation ``s`` the function ``tanh(s z)`` has
poles at ``z = i pi / (2 s)``; Gauss-Hermite nodes spread over ``|z| < sqrt(4 n)``, far beyond the
Gaussian's mass, and near 0 they are too sparse to resolve the step (the NTK of a depth-3 tanh
network with ``s`` about 4.5 was 18 % off at order 96).  The trapezoidal rule on ``[-L, L]``
with step ``h`` converges like ``exp(-2 pi a / h)`` for an integrand analytic in the strip
``|Im z| < a``, so a step ``h = 0.15 / s`` leaves about ``exp(-pi^2 / 0.3)``, ``5e-15``, for
``tanh``; the Gaussian factor makes the truncation at ``|z| = L = 13`` negligible (``e^{-L^2/4}``
for the Hermite-weighted integrands).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._autograd import safe_sqrt

K_MAX = 256  # Mehler terms at most; pairs needing more are integrated directly
_CANDIDATES = (8, 16, 32, 64, 96, 128, 192, 256)
_L = 12.5  # half-width of the grid in z (the integrands carry exp(-z^2/4) at least)
_STEP = 0.2  # grid step times the largest standard deviation (at most _H_MAX)
_H_MAX = 0.15  # resolves Hermite functions up to degree K_MAX (frequency sqrt(K))
_PAIR_ENTRIES = 2**20  # pair x node x node evaluations per chunk of the direct rule
_L_DIRECT = 9.0  # the direct rule integrates against exp(-z^2/2): e^{-40} beyond
_H_GAUSS = 0.45  # with the Gaussian factor, a pole at distance a costs e^{a^2/2 - 2 pi a / h}
_H_SINH = 0.12  # step in u of the sinh-mapped outer rule


def _grid(smax: float, dtype, device):
    """Trapezoidal nodes and weights (including the Gaussian density) on ``[-L, L]``."""
    h = min(_H_MAX, _STEP / max(smax, 1e-300))
    n = math.ceil(_L / h)
    z = torch.arange(-n, n + 1, dtype=dtype, device=device) * h
    return z, torch.exp(-z * z / 2) * (h / math.sqrt(2 * math.pi))


def _hermite_functions(z: torch.Tensor, k: int) -> torch.Tensor:
    """``He_j(z) exp(-z^2/4) / sqrt(j!)`` for ``j < k``, shape (k, nodes); bounded by about 1.

    The three-term recurrence of the normalized polynomials, damped by ``exp(-z^2/4)`` from the
    start so that nothing overflows at large ``|z|``.
    """
    out = torch.empty(k, z.numel(), dtype=z.dtype, device=z.device)
    out[0] = torch.exp(-z * z / 4)
    if k > 1:
        out[1] = z * out[0]
    for j in range(1, k - 1):
        out[j + 1] = (z * out[j] - math.sqrt(j) * out[j - 1]) / math.sqrt(j + 1)
    return out


def point_table(fns, s: torch.Tensor):
    """Per-point data of each function in ``fns`` at standard deviations ``s`` (shape (N,)).

    Returns a list with, per function, ``(coef, tail, second)``: Mehler coefficients
    ``F_k(s)`` (N, K_MAX), Parseval tails ``T_k = E[f^2] - sum_{j<k} F_j^2`` (N, K_MAX + 1,
    at least ``8 eps E[f^2]``, the rounding of the difference) and the second moment
    ``E[f(s z)^2]`` (N,), all of ``s``'s dtype.  Computed in float64 whatever ``s``'s
    dtype (cheap: per point): in float32 the sums over about a thousand nodes lose 2e-5 in
    the coefficients, 1e-3 in a kernel.
    """
    dtype, s = s.dtype, s.to(torch.float64)
    smax = float(s.detach().abs().max()) if s.numel() else 1.0
    z, w = _grid(smax, s.dtype, s.device)
    herm = _hermite_functions(z, K_MAX)  # (K, nodes)
    damp = torch.exp(-z * z / 4) * (1 / math.sqrt(2 * math.pi))  # w = damp * exp(-z^2/4) * h
    h = float(z[1] - z[0])
    out = []
    for fn in fns:
        vals = fn(s[:, None] * z)  # (N, nodes)
        coef = (vals * (damp * h)) @ herm.T  # (N, K)
        second = (vals * vals * w).sum(-1)
        partial = torch.cat([torch.zeros_like(coef[:, :1]), torch.cumsum(coef * coef, 1)], 1)
        # the difference is exact only to rounding: a tail below that is not known to be 0
        floor = 8 * torch.finfo(dtype).eps * second[:, None]
        tail = torch.maximum(second[:, None] - partial, floor)
        out.append(tuple(t.to(dtype) for t in (coef, tail, second)))
    return out


def _bucket(n: torch.Tensor) -> torch.Tensor:
    """``n`` rounded up to 4 values per octave (pairs are grouped by their node counts)."""
    n = n.clamp(min=1)
    q = torch.exp2(torch.floor(torch.log2(n)) - 2).clamp(min=1)
    return (torch.ceil(n / q) * q).long()


def _groups(n1: torch.Tensor, n2: torch.Tensor):
    """Yield ``(pair indices, n1, n2)`` for each distinct pair of node counts."""
    width = int(n2.max()) + 1
    keys, group = torch.unique(n1 * width + n2, return_inverse=True)
    for key_i, key in enumerate(keys.tolist()):
        yield (group == key_i).nonzero()[:, 0], *divmod(key, width)


def _uniform_nodes(scale: torch.Tensor) -> torch.Tensor:
    """Half the number of uniform nodes on ``[-L_DIRECT, L_DIRECT]`` that resolve a function
    ``g(scale w)`` against the Gaussian weight."""
    h = (_STEP / scale.clamp_min(1e-300)).clamp(max=_H_GAUSS)
    return _bucket(torch.ceil(_L_DIRECT / h))


def _direct_grid(n: int, dtype, device):
    """``2 n + 1`` trapezoidal nodes on ``[-L_DIRECT, L_DIRECT]`` with Gaussian weights."""
    h = _L_DIRECT / n
    z = torch.arange(-n, n + 1, dtype=dtype, device=device) * h
    return z, torch.exp(-z * z / 2) * (h / math.sqrt(2 * math.pi))


def _conditional(f, g, s1, s2, rho, sinh: bool):
    """``E[f(a) g(b)]`` per pair, ``a = s1 z1`` outside and ``b | a = kappa a + tau w`` inside.

    ``kappa = rho s2 / s1``, ``tau = s2 sqrt(1 - rho^2)``; the inner rule is uniform in ``w``
    with a step resolving ``g`` at the scale ``tau``.  The outer rule is uniform in ``z1``
    (``sinh=False``, a step ``0.2 / s1``, reliable) or uniform in ``u`` with
    ``a = c sinh(u)``, ``c = min(s1, 1)`` (``sinh=True``): nodes dense where an activation
    has its features (``|a|`` of order 1) and sparse in the tails where it varies on the scale
    ``|a|``, about 80 nodes instead of ``90 s1``.  Returns the values and, for the sinh rule,
    the difference to the rule of twice the step (an error estimate; 0 for the other).
    """
    kappa = rho * s2 / s1
    tau = s2 * safe_sqrt(1 - rho * rho)
    if sinh:
        c = s1.clamp(max=1)
        u_max = torch.asinh(_L_DIRECT * s1.clamp(min=1))
        n1 = _bucket(torch.ceil(u_max.detach() / _H_SINH))
    else:
        n1 = _uniform_nodes(s1.detach())
    n2 = _uniform_nodes(tau.detach())
    value = torch.zeros_like(rho * s1 * s2)
    coarse = torch.zeros_like(value.detach())
    for idx, m1, m2 in _groups(n1, n2):
        w, ww = _direct_grid(m2, rho.dtype, rho.device)
        j = torch.arange(-m1, m1 + 1, device=rho.device)
        chunk = max(1, _PAIR_ENTRIES // ((2 * m1 + 1) * w.numel()))
        for p0 in range(0, idx.numel(), chunk):
            sel = idx[p0 : p0 + chunk]
            sa = s1[sel, None]
            if sinh:
                h = u_max[sel, None] / m1
                u = j.to(rho.dtype) * h
                a = c[sel, None] * torch.sinh(u)
                wa = torch.exp(-0.5 * (a / sa) ** 2) * (c[sel, None] * torch.cosh(u) * h)
                wa = wa / (sa * math.sqrt(2 * math.pi))
            else:
                z, wa = _direct_grid(m1, rho.dtype, rho.device)
                a = sa * z
            b = kappa[sel, None, None] * a[..., None] + tau[sel, None, None] * w
            terms = f(a) * wa * (g(b) * ww).sum(-1)  # (P, 2 m1 + 1)
            value = value.index_put((sel,), terms.sum(-1))
            if sinh:
                even = terms.detach()[:, (m1 % 2) :: 2].sum(-1) * 2
                coarse[sel] = even
    return value, (value.detach() - coarse) if sinh else None


def _direct(f, g, s1, s2, rho, tol):
    """``E[f(s1 z1) g(s2 (rho z1 + r z2))]`` per pair (all (P,)), by :func:`_conditional`.

    The larger standard deviation is conditioned on (then ``|kappa| <= 1``: the inner
    function is no sharper than the outer one).  The sinh rule is used where its error
    estimate, the difference to the rule of twice the step, is below ``sqrt(tol)`` (its
    error converges exponentially: then it is about ``tol``); the other pairs (an activation
    that is not flat in the tails, e.g. periodic) get the uniform rule.
    """
    swap = (s2 > s1).detach()
    out = torch.zeros_like(rho * s1 * s2)
    for flag, (p, q, sp, sq) in ((False, (f, g, s1, s2)), (True, (g, f, s2, s1))):
        idx = (swap == flag).nonzero()[:, 0]
        if idx.numel() == 0:
            continue
        value, err = _conditional(p, q, sp[idx], sq[idx], rho[idx], sinh=True)
        scale = value.detach().abs().clamp_min(1e-300)
        bad = (err.abs() > math.sqrt(tol) * scale).nonzero()[:, 0]
        if bad.numel():
            fix = _conditional(p, q, sp[idx[bad]], sq[idx[bad]], rho[idx[bad]], sinh=False)[0]
            value = value.index_put((bad,), fix)
        out = out.index_put((idx,), value)
    return out


def pair_expectation(tab1, tab2, f, g, s1, s2, rho, ops, tol, skip=None):
    """``E[f(a) g(b)]`` on a tile: Mehler's series where its tail bound allows, else direct.

    ``tab1`` (rows) and ``tab2`` (columns) are ``(coef, tail, second)`` of :func:`point_table`
    for ``f`` and ``g``; ``s1`` (R,), ``s2`` (C,) standard deviations; ``rho`` (R, C)
    correlations.  The series is cut where ``|rho|^K sqrt(T_K T_K')`` falls below
    ``tol sqrt(E[f^2] E[g^2])``.  Entries marked in ``skip`` (R, C) are not integrated
    directly (their values are overwritten by the caller).
    """
    (c1, t1, m1), (c2, t2, m2) = tab1, tab2
    scale = torch.sqrt(m1.detach()[:, None] * m2.detach()[None, :]) * tol
    arho = rho.detach().abs()
    serve = None
    order = K_MAX
    for k in _CANDIDATES:
        bound = arho**k * torch.sqrt(t1[:, k].detach()[:, None] * t2[:, k].detach()[None, :])
        ok = bound <= scale
        if skip is not None:
            ok = ok | skip
        if bool(ok.all()):
            order, serve = k, None
            break
        serve = ok
    acc = c1[:, order - 1 : order] * c2[None, :, order - 1]
    for k in range(order - 2, -1, -1):
        acc = ops.addcmul(ops.mul(acc, rho), c1[:, k : k + 1], c2[None, :, k])
    if serve is not None:
        i, j = (~serve).nonzero().unbind(1)
        acc = ops.put(acc, (i, j), _direct(f, g, s1[i], s2[j], rho[i, j], tol))
    return acc


_SERIES_ENTRIES = 2**20  # entry x term products per chunk of the elementwise series


def expectations(fns, c, va, vb, tol=None):
    """``E[f(u) f(v)]`` for each ``f`` in ``fns``, ``(u, v)`` centred Gaussian, elementwise.

    ``c``, ``va``, ``vb`` (broadcastable, any shape): covariance and variances.  The Mehler
    coefficients belong to a variance, so they are computed once per distinct variance; each
    entry then costs a series cut by the same tail bound as :func:`pair_expectation`, and
    entries it does not serve take the direct rule.  ``tol``: relative, by default ``1e-14``
    in float64 and ``1e-7`` otherwise.  Returns a list of tensors of the broadcast shape.
    Differentiable in ``c``, ``va``, ``vb``.
    """
    c, va, vb = torch.broadcast_tensors(c, va, vb)
    shape = c.shape
    if tol is None:
        tol = 1e-14 if c.dtype == torch.float64 else 1e-7
    sa, sb = safe_sqrt(va.reshape(-1)), safe_sqrt(vb.reshape(-1))
    both = torch.cat([sa, sb])
    uniq, inv = torch.unique(both.detach(), return_inverse=True)
    # a differentiable representative of each distinct value: its first occurrence
    first = torch.full_like(uniq, both.numel(), dtype=torch.long)
    first = first.scatter_reduce(0, inv, torch.arange(both.numel(), device=c.device), "amin")
    s = both[first]
    ia, ib = inv[: sa.numel()], inv[sa.numel() :]
    den = sa * sb
    pos = den > 0
    rho = torch.where(pos, c.reshape(-1) / torch.where(pos, den, 1), 0).clamp(-1, 1)
    arho = rho.detach().abs()
    out = []
    for fn, (coef, tail, second) in zip(fns, point_table(fns, s), strict=True):
        scale = torch.sqrt(second.detach()[ia] * second.detach()[ib]) * tol
        need = torch.full_like(ia, -1)  # index into _CANDIDATES, -1: the direct rule
        for n, k in reversed(list(enumerate(_CANDIDATES))):
            bound = arho**k * torch.sqrt(tail[ia, k].detach() * tail[ib, k].detach())
            need = torch.where(bound <= scale, n, need)
        value = torch.zeros_like(rho * s.sum())
        for n, k in enumerate(_CANDIDATES):
            idx = (need == n).nonzero()[:, 0]
            for p0 in range(0, idx.numel(), max(1, _SERIES_ENTRIES // k)):
                sel = idx[p0 : p0 + max(1, _SERIES_ENTRIES // k)]
                ca, cb, r = coef[ia[sel], :k], coef[ib[sel], :k], rho[sel, None]
                powers = torch.cumprod(torch.cat([torch.ones_like(r), r.expand(-1, k - 1)], 1), 1)
                value = value.index_put((sel,), (ca * cb * powers).sum(-1))
        idx = (need < 0).nonzero()[:, 0]
        if idx.numel():
            value = value.index_put((idx,), _direct(fn, fn, sa[idx], sb[idx], rho[idx], tol))
        out.append(value.reshape(shape))
    return out


def second_moments(fns, v):
    """``E[f(u)^2]`` for ``u ~ N(0, v)`` (any shape), for each ``f`` in ``fns``: Parseval's
    sum of the Mehler coefficients' squares, computed with them (see :func:`point_table`)."""
    s = safe_sqrt(v.reshape(-1))
    return [second.reshape(v.shape) for _, _, second in point_table(fns, s)]


_GH_ENTRIES = 2**21  # entry x node x node evaluations per chunk of the fixed rule


def gauss_hermite_nodes(order: int, dtype, device):
    """Nodes and weights of the ``order``-point Gauss-Hermite rule for ``N(0, 1)``."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / math.sqrt(2 * math.pi)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device),
        torch.as_tensor(weights, dtype=dtype, device=device),
    )


def gauss_hermite(fns, c, va, vb, order: int):
    """:func:`expectations` by a fixed ``order``-point Gauss-Hermite rule in each variable.

    ``u = s z1``, ``v = s' (rho z1 + r z2)``, ``r = sqrt(1 - rho^2)``: exact for polynomials of
    degree below ``order``, slow to converge where a sigmoid-like activation meets a large
    variance.  At ``|rho| = 1`` the derivative through ``r`` is taken as 0 (``safe_sqrt``),
    so the gradient there misses a term in ``E[f(u) f''(v)]``; it is exact where ``|rho| < 1``.
    """
    z, w = gauss_hermite_nodes(order, c.dtype, c.device)
    c, va, vb = torch.broadcast_tensors(c, va, vb)
    shape, c, va, vb = c.shape, c.reshape(-1), va.reshape(-1), vb.reshape(-1)
    chunk = max(1, _GH_ENTRIES // (order * order))
    parts = tuple([] for _ in fns)
    for k0 in range(0, c.numel(), chunk):
        cc = c[k0 : k0 + chunk]
        sa, sb = safe_sqrt(va[k0 : k0 + chunk]), safe_sqrt(vb[k0 : k0 + chunk])
        den = sa * sb
        rho = torch.where(den > 0, cc / torch.where(den > 0, den, 1), 0).clamp(-1, 1)
        r = safe_sqrt(1 - rho * rho)
        a = sa[:, None] * z  # (P, K)
        b = sb[:, None, None] * (rho[:, None, None] * z[:, None] + r[:, None, None] * z)
        for fn, out in zip(fns, parts, strict=True):
            inner = (fn(b) * w).sum(-1)  # over z2: (P, K)
            out.append((fn(a) * inner * w).sum(-1))
    return [torch.cat(p).reshape(shape) for p in parts]


def gauss_hermite_second_moments(fns, v, order: int):
    """``E[f(u)^2]``, ``u ~ N(0, v)`` (any shape), by the ``order``-point Gauss-Hermite rule."""
    z, w = gauss_hermite_nodes(order, v.dtype, v.device)
    u = safe_sqrt(v)[..., None] * z
    return [(fn(u) ** 2 * w).sum(-1) for fn in fns]

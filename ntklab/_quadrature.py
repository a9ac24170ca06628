"""Gaussian expectations ``E[f(a) g(b)]`` of smooth activations, accurate at any variance.

For ``(a, b)`` centred Gaussian with standard deviations ``s1, s2`` and correlation ``rho``,
Mehler's formula gives

    E[f(a) g(b)] = sum_k rho^k F_k(s1) G_k(s2),   F_k(s) = E[f(s z) He_k(z)] / sqrt(k!),

``z ~ N(0, 1)``, ``He_k`` the probabilists' Hermite polynomials.  The coefficients belong to a
point (its variance), not to a pair, so they are computed once per point and layer, and a pair
costs ``K`` multiply-adds.  By Cauchy-Schwarz the truncated tail is at most
``|rho|^K sqrt(T_K(f, s1) T_K(g, s2))`` with ``T_K = E[f(s z)^2] - sum_{k<K} F_k^2`` (Parseval);
the order ``K`` of a tile is the smallest that brings this bound below the tolerance, and the
few pairs that no ``K <= K_MAX`` serves (``|rho|`` near 1 with a near-step activation, e.g.
``tanh`` at a large variance) are integrated directly by a two-dimensional trapezoidal rule.

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

import torch

from ._autograd import safe_sqrt

K_MAX = 256  # Mehler terms at most; pairs needing more are integrated directly
_CANDIDATES = (8, 16, 32, 64, 96, 128, 192, 256)
_L = 12.5  # half-width of the grid in z (the integrands carry exp(-z^2/4) at least)
_STEP = 0.2  # grid step times the largest standard deviation (at most _H_MAX)
_H_MAX = 0.15  # resolves Hermite functions up to degree K_MAX (frequency sqrt(K))
_PAIR_ENTRIES = 2**22  # pair x node x node evaluations per chunk of the direct rule


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
    clamped at 0) and the second moment ``E[f(s z)^2]`` (N,).
    """
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
        tail = (second[:, None] - partial).clamp_min(0)
        out.append((coef, tail, second))
    return out


def _direct(f, g, s1, s2, rho):
    """``E[f(s1 z1) g(s2 (rho z1 + r z2))]`` per pair (all (P,)) by a 2-D trapezoidal rule."""
    r = safe_sqrt(1 - rho * rho)
    smax = max(float(s1.detach().max()), float((s2 * rho.abs()).detach().max()))
    z1, w1 = _grid(smax, s1.dtype, s1.device)
    z2, w2 = _grid(float((s2 * r).detach().max()), s1.dtype, s1.device)
    chunk = max(1, _PAIR_ENTRIES // (z1.numel() * z2.numel()))
    parts = []
    for p0 in range(0, s1.numel(), chunk):
        a, b, rr, rh = (t[p0 : p0 + chunk, None] for t in (s1, s2, r, rho))
        outer = f(a * z1) * w1  # (P, n1)
        mean = (b * rh) * z1  # (P, n1)
        inner = (g(mean[:, :, None] + (b * rr)[:, :, None] * z2) * w2).sum(-1)
        parts.append((outer * inner).sum(-1))
    return torch.cat(parts)


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
        acc = ops.put(acc, (i, j), _direct(f, g, s1[i], s2[j], rho[i, j]))
    return acc

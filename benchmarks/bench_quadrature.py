"""Kernels by quadrature (issue 16, row 2): tanh MLP, depth 3, N = 500, d = 8, W_std 1.5, b_std 0.2.

Times ``mlp_kernels`` by the default quadrature (Mehler's series with a tail bound, a direct
rule near ``|rho| = 1``; :mod:`ntklab._quadrature`) against the former default, a fixed
Gauss-Hermite rule of order 96 per variable (``quadrature_order=96``), in the same run, and
measures both against nested adaptive quadrature (``scipy.integrate.quad``, every expectation
of every layer) on a few pairs: the diagonal of the largest-norm points and pairs off it.
Goal: <= 2 s and a relative error <= 1e-8.

    python benchmarks/bench_quadrature.py [--n 500] [--pairs 6] [--skip-old]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy import integrate

from ntklab import analytic

W_STD, B_STD, DEPTH = 1.5, 0.2, 3


def _quad(fn):
    return integrate.quad(fn, -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=400)[0]


def _pdf(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _pair(f, q1, q2, c):
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    rho = max(-1.0, min(1.0, c / (s1 * s2)))
    r = math.sqrt(max(0.0, 1 - rho * rho))

    def inner(z1):
        return _quad(lambda z2: f(s2 * (rho * z1 + r * z2)) * _pdf(z2))

    return _quad(lambda z1: f(s1 * z1) * inner(z1) * _pdf(z1))


def reference(xi, xj):
    """NNGP and NTK of one pair, each Gaussian expectation by adaptive quadrature."""
    phi, dphi = math.tanh, lambda t: 1 - math.tanh(t) ** 2
    w2, b2, d = W_STD**2, B_STD**2, len(xi)
    qi, qj, c = (w2 * float(u @ v) / d + b2 for u, v in ((xi, xi), (xj, xj), (xi, xj)))
    theta = c
    for _ in range(DEPTH):
        e_phi, e_dphi = _pair(phi, qi, qj, c), _pair(dphi, qi, qj, c)
        qi, qj = (w2 * _pair(phi, q, q, q) + b2 for q in (qi, qj))
        c = w2 * e_phi + b2
        theta = c + w2 * e_dphi * theta
    return c, theta


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=6, help="pairs checked against scipy")
    parser.add_argument("--skip-old", action="store_true", help="skip the order-96 rule")
    args = parser.parse_args()
    x = torch.randn(args.n, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def run(order):
        return analytic.mlp_kernels(
            x, depth=DEPTH, activation="tanh", W_std=W_STD, b_std=B_STD, quadrature_order=order
        )

    t_new, k_new = timed(lambda: run(None))
    t_old, k_old = (None, None) if args.skip_old else timed(lambda: run(96))
    big = torch.argsort(x.norm(dim=1), descending=True).tolist()
    half = max(1, args.pairs // 2)
    pairs = [(i, i) for i in big[:half]] + [(big[k], k) for k in range(args.pairs - half)]
    err_new = err_old = 0.0
    for i, j in pairs:
        ref = reference(x[i].numpy(), x[j].numpy())
        for k, name in ((k_new, "new"), (k_old, "old")):
            if k is None:
                continue
            e = max(
                abs(float(getattr(k, f)[i, j]) - r) / abs(r)
                for f, r in zip(("nngp", "ntk"), ref, strict=True)
            )
            if name == "new":
                err_new = max(err_new, e)
            else:
                err_old = max(err_old, e)
    print(f"tanh, depth {DEPTH}, N = {args.n}, d = 8, W_std {W_STD}, b_std {B_STD}, float64")
    print(f"  default quadrature : {t_new:7.2f} s, max relative error {err_new:.1e}")
    if k_old is not None:
        print(f"  Gauss-Hermite 96   : {t_old:7.2f} s, max relative error {err_old:.1e}")
        print(f"  speed-up           : {t_old / t_new:7.1f}x")
    print(f"  ({len(pairs)} pairs against scipy.integrate.quad: {half} diagonal, largest norms)")


if __name__ == "__main__":
    main()

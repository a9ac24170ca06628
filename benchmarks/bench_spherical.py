"""Benchmark: Funk-Hecke eigenvalues of the ReLU NTK, angle variable against the plain cosine.

``ntklab.spherical.mercer_eigenvalues`` integrates in the angle ``theta = arccos t``, where the
square-root kinks of ``kappa`` at ``t = +-1`` disappear.  The baseline, measured in the same run,
is Gauss-Legendre (or Gauss-Jacobi, which absorbs the weight ``(1 - t^2)^{(p-3)/2}``) in ``t``
with the same number of nodes.  Errors are relative to the angle rule with four times as many
nodes.  Run: ``python benchmarks/bench_spherical.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import special

from ntklab import analytic, spherical


def cosine_rule(p: int, kmax: int, nodes: int) -> np.ndarray:
    """Baseline: Gauss-Jacobi in t (weight (1 - t^2)^{(p-3)/2} exact), kernel kinks untreated."""
    a = (p - 3) / 2
    t, w = special.roots_jacobi(nodes, a, a)
    w = w / w.sum()  # the weight normalized to a probability density, as c_p does
    kv = analytic.kappa(torch.as_tensor(t)).numpy()
    P = spherical.gegenbauer_all(kmax, p, torch.as_tensor(t)).numpy()
    return P @ (w * kv)


def main() -> None:
    kmax = 200
    print(f"{'p':>2} {'nodes':>6} {'k':>4} {'err angle':>10} {'err cosine':>11} {'ratio':>8}")
    for p in (3, 4):
        ref = spherical.mercer_eigenvalues(
            analytic.kappa, p, kmax, quadrature_order=4 * kmax + 400
        ).numpy()
        for nodes in (kmax + 80, 2 * kmax + 80):
            t0 = time.perf_counter()
            ang = spherical.mercer_eigenvalues(
                analytic.kappa, p, kmax, quadrature_order=nodes
            ).numpy()
            t_ang = time.perf_counter() - t0
            t0 = time.perf_counter()
            cos = cosine_rule(p, kmax, nodes)
            t_cos = time.perf_counter() - t0
            for k in (2, 50, 100, 200):
                ea, ec = abs(ang[k] / ref[k] - 1), abs(cos[k] / ref[k] - 1)
                print(f"{p:>2} {nodes:>6} {k:>4} {ea:10.1e} {ec:11.1e} {ec / max(ea, 1e-16):8.1e}")
            print(
                f"   time: angle {t_ang * 1e3:.1f} ms, cosine {t_cos * 1e3:.1f} ms, "
                f"ratio {t_ang / t_cos:.2f}"
            )


if __name__ == "__main__":
    main()

"""Benchmark of ntklab.course.lazy_relu: the contracted remainder against two baselines.

Run ``python benchmarks/bench_lazy_relu.py [--full]``.  Prints times and ratios measured in the
same run:

1. ``remainder`` (pre-activations only, O(p n d)) against the textbook route
   ``F(w) - grad F(w0) . u`` with the gradient features formed explicitly (a ``p x n x d`` tensor);
2. ``remainder`` batched over independent initializations against a Python loop over them.
"""

from __future__ import annotations

import sys
import time

import torch

from ntklab.course import lazy_relu as lr


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(full: bool = False) -> None:
    torch.manual_seed(0)
    p, n, d = (256, 20_000, 20) if full else (64, 10_000, 10)
    w0, c = lr.symmetric_xavier_init(d, n, seed=0)
    u = lr.random_perturbation(w0, 2.0, seed=1)
    x = torch.randn(p, d, dtype=torch.float64)

    def naive():
        feats = lr.gradient_features(x, w0, c)  # (p, n, d)
        return lr.network_output(x, w0 + u, c) - torch.einsum("pnd,nd->p", feats, u)

    fast = lr.remainder(x, w0 + u, w0, c)
    assert torch.allclose(fast, naive(), atol=1e-12)
    t_fast, t_naive = _best(lambda: lr.remainder(x, w0 + u, w0, c)), _best(naive)
    print(
        f"remainder, p={p}, n={n}, d={d}: contracted {t_fast * 1e3:.1f} ms, "
        f"explicit features {t_naive * 1e3:.1f} ms, speed-up x{t_naive / t_fast:.1f}"
    )

    draws, n2 = (256, 10_000) if full else (64, 4_000)
    W0, C = lr.symmetric_xavier_init(d, n2, batch=(draws,), seed=2)
    U = lr.random_perturbation(W0, 2.0, seed=3)
    x1 = x[0]

    def loop():
        return torch.stack([lr.remainder(x1, W0[k] + U[k], W0[k], C[k]) for k in range(draws)])

    assert torch.allclose(lr.remainder(x1, W0 + U, W0, C), loop(), atol=1e-13)
    t_batch, t_loop = _best(lambda: lr.remainder(x1, W0 + U, W0, C)), _best(loop)
    print(
        f"remainder over {draws} initializations, n={n2}: batched {t_batch * 1e3:.1f} ms, "
        f"loop {t_loop * 1e3:.1f} ms, speed-up x{t_loop / t_batch:.1f}"
    )


if __name__ == "__main__":
    main(full="--full" in sys.argv[1:])

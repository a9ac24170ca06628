"""Benchmark of ntklab.layers: the CNTK Gram matrix on digits-sized inputs, and the MLP path.

* CNTK: ``serial(Conv(3, same), ReLU, Conv(3, same), ReLU, GlobalAvgPool, Dense)`` on
  ``N`` random 1 x 8 x 8 images (the shape of scikit-learn's digits), float64: wall time,
  time per pair (``N (N + 1) / 2`` pairs by symmetry) and peak resident memory added by the
  call (``resource.getrusage``; torch's allocations are invisible to tracemalloc).
* MLP: ``serial(Dense, ReLU, Dense, ReLU, Dense)`` against ``analytic.mlp_kernels`` on the
  same inputs in the same run (ratio > 1: layers is slower).

Usage: ``python benchmarks/bench_layers.py [N ...]`` (default 500; the issue also asks 1797).
"""

from __future__ import annotations

import resource
import sys
import time

import torch

from ntklab import analytic
from ntklab import layers as L


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cntk(n: int) -> None:
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    arch = L.serial(
        L.Conv(kernel_size=3, padding="same", W_std=2**0.5, b_std=0.1), L.ReLU(),
        L.Conv(kernel_size=3, padding="same", W_std=2**0.5, b_std=0.1), L.ReLU(),
        L.GlobalAvgPool(), L.Dense(W_std=2**0.5, b_std=0.1),
    )  # fmt: skip
    arch.kernels(x[:8])  # warm up
    before = _peak_mib()
    start, cpu = time.perf_counter(), time.process_time()
    k = arch.kernels(x)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    pairs = n * (n + 1) // 2
    print(
        f"CNTK Gram, N={n} (1x8x8, {torch.get_num_threads()} threads): {seconds:.1f} s wall, "
        f"{cpu:.1f} s CPU, {1e3 * seconds / pairs:.3f} ms wall and {1e3 * cpu / pairs:.3f} ms "
        f"CPU per pair, peak RSS {_peak_mib():.0f} MiB "
        f"(+{_peak_mib() - before:.0f} MiB during the call), ntk[0, 1] = {float(k.ntk[0, 1]):.6f}"
    )


def mlp(n: int, repeats: int = 3) -> None:
    x = torch.randn(n, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    arch = L.serial(L.Dense(1.5, 0.1), L.ReLU(), L.Dense(1.5, 0.1), L.ReLU(), L.Dense(1.5, 0.1))

    def best(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    t_layers = best(lambda: arch.kernels(x))
    t_mlp = best(lambda: analytic.mlp_kernels(x, depth=2, W_std=1.5, b_std=0.1))
    print(
        f"MLP kernels, N={n}, d=64, depth 2: layers {1e3 * t_layers:.1f} ms, "
        f"analytic.mlp_kernels {1e3 * t_mlp:.1f} ms, ratio {t_layers / t_mlp:.2f}"
    )


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [500]
    for size in sizes:
        mlp(max(size, 2000))
        cntk(size)

"""Benchmark of ntklab.layers: the CNTK Gram matrix on digits-sized inputs, and the MLP path.

* MLP: ``serial(Dense, ReLU, Dense, ReLU, Dense)`` against ``analytic.mlp_kernels`` on the
  same inputs in the same run (ratio > 1: layers is slower), and the largest difference.
* CNTK: ``serial(Conv(3, same), ReLU, Conv(3, same), ReLU, GlobalAvgPool, Dense)`` on
  ``N`` random 1 x 8 x 8 images (the shape of scikit-learn's digits), float64, eager: wall
  time, CPU time per pair (``N (N + 1) / 2`` pairs by symmetry) and peak resident memory added
  by the call (``resource.getrusage``; torch's allocations are invisible to tracemalloc).
* The same with ``compiled=True`` (``torch.compile`` of the elementwise maps): the first call's
  compile time (less when TorchInductor's on-disk cache holds the kernels from an earlier
  run), then the Gram matrix, its ratio to eager and its largest difference from eager.

Usage: ``python benchmarks/bench_layers.py [N ...]`` (default 500; 1797 is all the digits).
``--no-compile`` skips the compiled runs.
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


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def _rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


def cntk(n: int, compile_too: bool) -> None:
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    arch = L.serial(
        L.Conv(kernel_size=3, padding="same", W_std=2**0.5, b_std=0.1), L.ReLU(),
        L.Conv(kernel_size=3, padding="same", W_std=2**0.5, b_std=0.1), L.ReLU(),
        L.GlobalAvgPool(), L.Dense(W_std=2**0.5, b_std=0.1),
    )  # fmt: skip
    pairs = n * (n + 1) // 2
    arch.kernels(x[:8], compiled=False)  # warm up
    before = _peak_mib()
    k, wall, cpu = _timed(lambda: arch.kernels(x, compiled=False))
    print(
        f"CNTK Gram, N={n} (1x8x8, {torch.get_num_threads()} threads), eager: {wall:.1f} s "
        f"wall, {cpu:.1f} s CPU, {1e3 * cpu / pairs:.3f} ms CPU per pair, peak RSS "
        f"{_peak_mib():.0f} MiB (+{_peak_mib() - before:.0f} MiB during the call)",
        flush=True,
    )
    if not compile_too:
        return
    _, first, _ = _timed(lambda: arch.kernels(x[:8], compiled=True))
    kc, wall_c, cpu_c = _timed(lambda: arch.kernels(x, compiled=True))
    print(
        f"  compiled: first call (compilation) {first:.1f} s; then {wall_c:.1f} s wall, "
        f"{cpu_c:.1f} s CPU, {1e3 * cpu_c / pairs:.3f} ms CPU per pair; eager / compiled CPU "
        f"{cpu / cpu_c:.2f}; largest relative difference "
        f"{max(_rel(kc.ntk, k.ntk), _rel(kc.nngp, k.nngp)):.1e}",
        flush=True,
    )


def mlp(n: int, repeats: int = 3) -> None:
    x = torch.randn(n, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    arch = L.serial(L.Dense(1.5, 0.1), L.ReLU(), L.Dense(1.5, 0.1), L.ReLU(), L.Dense(1.5, 0.1))

    def best(fn):
        return min(_timed(fn)[1] for _ in range(repeats))

    t_layers = best(lambda: arch.kernels(x, compiled=False))
    t_mlp = best(lambda: analytic.mlp_kernels(x, depth=2, W_std=1.5, b_std=0.1))
    k, ref = arch.kernels(x), analytic.mlp_kernels(x, depth=2, W_std=1.5, b_std=0.1)
    print(
        f"MLP kernels, N={n}, d=64, depth 2: layers {1e3 * t_layers:.1f} ms, "
        f"analytic.mlp_kernels {1e3 * t_mlp:.1f} ms, ratio {t_layers / t_mlp:.2f}, largest "
        f"difference {float((k.ntk - ref.ntk).abs().max()):.1e}",
        flush=True,
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sizes = [int(a) for a in args] or [500]
    mlp(2000)
    for size in sizes:
        cntk(size, "--no-compile" not in sys.argv)

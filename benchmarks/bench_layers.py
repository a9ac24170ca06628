"""Benchmark of ntklab.layers: the CNTK Gram matrix of scikit-learn's digits.

* CNTK: ``serial(Conv(3, same), ReLU, Conv(3, same), ReLU, GlobalAvgPool, Dense)`` on the
  first ``N`` digits (``ntklab.data.digits``, unit rows reshaped to 1 x 8 x 8), float64,
  eager: wall time, CPU time per pair (``N (N + 1) / 2`` pairs by symmetry) and peak resident
  memory added by the call (``resource.getrusage``; torch's allocations are invisible to
  tracemalloc).  Each N runs in a fresh process, so its peak is its own.
* The same with ``compiled=True`` (``torch.compile`` of the elementwise maps, opt-in for
  convolutional architectures): the first call's compile time (less when TorchInductor's
  on-disk cache holds the kernels from an earlier run), then the Gram matrix, its ratio to
  eager and its largest difference from eager.

The MLP path (``analytic.mlp_kernels``, the chain engine of ``ntklab.layers``) against the
pre-merge ``mlp_kernels`` is ``bench_mlp_kernels.py``.

Usage: ``python benchmarks/bench_layers.py [N ...]`` (default 500 1797, all the digits: about
15 min on 2 loaded cores).  ``--no-compile`` skips the compiled runs.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import torch

from ntklab import data
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
    x = data.digits()[0][:n].reshape(-1, 1, 8, 8)
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
        f"CNTK Gram, N={n} digits (1x8x8, {torch.get_num_threads()} threads), eager: {wall:.1f} s "
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


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    compile_too = "--no-compile" not in sys.argv
    if "--one" in sys.argv:
        cntk(int(args[0]), compile_too)
    else:
        for size in [int(a) for a in args] or [500, 1797]:
            flags = ["--one"] + ([] if compile_too else ["--no-compile"])
            subprocess.run([sys.executable, __file__, str(size), *flags], check=True)

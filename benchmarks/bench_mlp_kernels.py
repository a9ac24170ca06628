"""Infinite-width NTK of a depth-3 ReLU MLP: ``ntklab.analytic.mlp_kernels``.

Reference: neural-tangents' jit-compiled ``kernel_fn`` takes about 1.25 s for N = 4000
inputs of dimension 32 (float64, CPU) on these machines (figure given in the project issue;
neural-tangents cannot be installed here, so it is not re-measured).  Measured in the same run:
a plain untiled torch implementation of the same recursion (arccos of cosines, one pass over
N x N arrays per operation), the baseline the ratio is printed against.  Then the peak memory
(maximum resident set size of a fresh process) for N = 20,000 with tiling, against the size of
the two outputs.

    python benchmarks/bench_mlp_kernels.py            # N = 4000, then N = 20,000
    python benchmarks/bench_mlp_kernels.py --skip-large
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import time

import torch

from ntklab import analytic

NT_REFERENCE_S = 1.25


def plain_recursion(x, depth, w_std=1.0, b_std=0.0):
    d = x.shape[1]
    sigma = w_std**2 * x @ x.T / d + b_std**2
    theta = sigma.clone()
    for _ in range(depth):
        q = sigma.diagonal().sqrt()
        norm = torch.outer(q, q)
        t = torch.arccos((sigma / norm).clamp(-1, 1))
        e = norm * (torch.sin(t) + (math.pi - t) * torch.cos(t)) / (2 * math.pi)
        dot = (math.pi - t) / (2 * math.pi)
        sigma = w_std**2 * e + b_std**2
        theta = sigma + w_std**2 * dot * theta
    return sigma, theta


def large(n):
    x = torch.randn(n, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    k = analytic.mlp_kernels(x, depth=3)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    out = 2 * k.ntk.numel() * k.ntk.element_size()
    print(
        f"N={n}: {elapsed:.1f} s, peak RSS {peak / 2**30:.2f} GiB, outputs (nngp + ntk) "
        f"{out / 2**30:.2f} GiB, ratio {peak / out:.2f}"
    )


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--large":
        large(int(sys.argv[2]))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, CPU")
    x = torch.randn(4000, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        k = analytic.mlp_kernels(x, depth=3)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    _, theta_plain = plain_recursion(x, 3)
    t_plain = time.perf_counter() - t0
    off = ~torch.eye(4000, dtype=torch.bool)
    diff = ((k.ntk - theta_plain).abs()[off].max() / k.ntk.abs().max()).item()
    best = min(times)
    print(
        f"mlp_kernels N=4000 depth 3: {best:.3f} s (best of 3); plain torch recursion "
        f"{t_plain:.3f} s -> {t_plain / best:.1f}x; neural-tangents reference "
        f"{NT_REFERENCE_S} s -> {NT_REFERENCE_S / best:.1f}x (target 2x); "
        f"max relative off-diagonal difference {diff:.1e}"
    )
    if "--skip-large" not in sys.argv:
        subprocess.run([sys.executable, __file__, "--large", "20000"], check=True)


if __name__ == "__main__":
    main()

"""Benchmark: infinite-ensemble predictions with covariance at many times.

Setting of issue 7: 2000 training and 2000 test points, 50 times, mean and covariance on the test
set, float64 on the CPU, two-layer ReLU kernels on the unit sphere. ``ntklab.predict`` computes one
eigendecomposition of the train-train kernel (per kernel) and then two (NTK) or one (NNGP) matrix
products of size N x m x N per time. The baseline is the naive per-time computation a reader
would write from the formulas: for every t a fresh eigendecomposition, the matrix
A_t = Theta^{-1}(I - exp(-Theta t / m)), and the covariance from its definition. The baseline runs
on a few of the times (each time costs the same) and its total is extrapolated to all of them;
both are printed. Eigendecompositions are counted by wrapping ``torch.linalg.eigh``.

Run: ``PYTHONPATH=. python benchmarks/bench_predict.py [--m 2000] [--times 50]``.
"""

from __future__ import annotations

import argparse
import time
from collections import namedtuple

import numpy as np
import torch

from ntklab.analytic import kappa0, kappa1
from ntklab.predict import gradient_descent_mse_ensemble

Kernel = namedtuple("Kernel", "nngp ntk")
EIGH_CALLS = [0]
_eigh = torch.linalg.eigh


def _counting_eigh(*args, **kwargs):
    EIGH_CALLS[0] += 1
    return _eigh(*args, **kwargs)


def relu_kernels(x1, x2=None):
    """Two-layer ReLU NNGP and NTK of unit inputs (arc-cosine forms, bias variance 0.1)."""
    x2 = x1 if x2 is None else x2
    u = (x1 @ x2.T).clamp(-1, 1)
    nngp = kappa1(u) / 2 + 0.1
    return Kernel(nngp, nngp + u * kappa0(u) / 2)


def naive_covariance(kernels, x_train, x_test, t, m):
    """Per-time NTK ensemble covariance straight from the formula (fresh eigh each time)."""
    Th = kernels(x_train).ntk
    K = kernels(x_train).nngp
    kt = kernels(x_test, x_train)
    K_tt = kernels(x_test).nngp
    lam, V = torch.linalg.eigh(Th)
    A = (V * (-torch.expm1(-lam * t / m) / lam)) @ V.T  # Theta^{-1} (I - e^{-Theta t/m})
    T1 = A @ kt.ntk.T
    cross = kt.ntk @ A @ kt.nngp.T
    return K_tt + T1.T @ K @ T1 - cross - cross.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=2000, help="training points")
    parser.add_argument("--n-test", type=int, default=2000, help="test points")
    parser.add_argument("--times", type=int, default=50, help="number of times")
    parser.add_argument("--baseline-times", type=int, default=3, help="times run by the baseline")
    args = parser.parse_args()
    torch.linalg.eigh = _counting_eigh

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.m + args.n_test, 8, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    x_train, x_test = x[: args.m], x[args.m :]
    y = torch.sin(3 * x_train[:, 0])
    times = np.geomspace(1.0, 1e4, args.times)
    print(
        f"m = {args.m} training, {args.n_test} test points, {args.times} times, "
        f"threads = {torch.get_num_threads()}"
    )

    results = {}
    for get in ("ntk", "nngp"):
        EIGH_CALLS[0] = 0
        start = time.perf_counter()
        predict = gradient_descent_mse_ensemble(relu_kernels, x_train, y)
        for t in times:
            out = predict(float(t), x_test, get, compute_cov=True)
        elapsed = time.perf_counter() - start
        results[get] = out
        print(
            f"ntklab.predict, get={get!r}: {elapsed:6.1f} s for {args.times} times "
            f"({elapsed / args.times:.2f} s per time), eigendecompositions: {EIGH_CALLS[0]}"
        )
        if get == "ntk":
            fast_ntk = elapsed

    EIGH_CALLS[0] = 0
    start = time.perf_counter()
    for t in times[-args.baseline_times :]:
        cov = naive_covariance(relu_kernels, x_train, x_test, float(t), args.m)
    per_time = (time.perf_counter() - start) / args.baseline_times
    err = float((cov - results["ntk"].covariance).abs().max())
    print(
        f"naive per-time baseline (ntk): {per_time:.2f} s per time, measured on "
        f"{args.baseline_times} times ({EIGH_CALLS[0]} eigendecompositions); "
        f"extrapolated to {args.times} times: {per_time * args.times:.1f} s"
    )
    print(f"speed-up (ntk, {args.times} times): {per_time * args.times / fast_ntk:.1f}x")
    print(f"max |covariance difference| at the last time: {err:.1e}")


if __name__ == "__main__":
    main()

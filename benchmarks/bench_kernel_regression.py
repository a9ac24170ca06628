"""Kernel least squares at scale: ntklab against a SciPy baseline measured in the same run.

For each size m (default 5,000, 10,000 and 20,000 points in d = 3) it times

* ntklab: ``kernel_least_squares(x, y, rbf_kernel, ridge=...)`` (Gram matrix built in place,
  Cholesky through ``psd_solve(..., overwrite_K=True)``) and a prediction on 1,000 test points;
* baseline: the same Gram matrix from ``scipy.spatial.distance.cdist``, a Cholesky solve of
  ``(G + ridge I) alpha = y`` by ``scipy.linalg.cho_factor``/``cho_solve``, the same prediction
  with NumPy;

and prints both times, their ratio and the largest difference of the predictions.  By default
the baseline runs up to m = 10,000 and m = 20,000 times ntklab alone (about a minute and a half
on 2 idle CPU cores, dominated by the m = 20,000 Cholesky); ``--baseline-max 20000`` adds the
baseline there too (about three minutes more).

    python benchmarks/bench_kernel_regression.py [--sizes 5000 10000 20000] [--ridge 1e-3]
                                                 [--baseline-max 10000]
"""

from __future__ import annotations

import argparse
import functools
import gc
import time

import numpy as np
import scipy.linalg
import scipy.spatial.distance
import torch

from ntklab.regression import kernel_least_squares, rbf_kernel


def _target(X: np.ndarray) -> np.ndarray:
    return np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + X[:, 2] ** 2


def run(m: int, ridge: float, c: float, seed: int = 0, baseline: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(m, 3))
    y = _target(X) + 0.05 * rng.standard_normal(m)
    Z = rng.uniform(-1, 1, size=(1000, 3))

    t0 = time.perf_counter()
    fit = kernel_least_squares(
        torch.from_numpy(X), torch.from_numpy(y), functools.partial(rbf_kernel, c=c), ridge=ridge
    )
    pred = fit.predict(torch.from_numpy(Z)).numpy()
    t_ntklab = time.perf_counter() - t0
    del fit
    gc.collect()
    print(f"{m:>7} {t_ntklab:>11.2f}", end="", flush=True)
    if not baseline:
        rmse = float(np.sqrt(np.mean((pred - _target(Z)) ** 2)))
        return {"m": m, "ntklab_s": t_ntklab, "scipy_s": None, "test_rmse": rmse}

    t0 = time.perf_counter()
    G = scipy.spatial.distance.cdist(X, X, "sqeuclidean")
    np.multiply(G, -c, out=G)
    np.exp(G, out=G)
    G[np.diag_indices(m)] += ridge
    # LAPACK potrf/potrs through cho_factor/cho_solve.  At m = 20,000 scipy.linalg.solve
    # (assume_a="pos"), cho_factor and numpy.linalg.cholesky all crash on this machine (SIGSEGV
    # inside the bundled OpenBLAS dpotrf, cf. scipy/scipy#17436) while torch's Cholesky runs,
    # hence --baseline-max 10000 by default
    factor = scipy.linalg.cho_factor(G, lower=True, overwrite_a=True, check_finite=False)
    alpha = scipy.linalg.cho_solve(factor, y, check_finite=False)
    del factor
    del G
    pred_ref = np.exp(-c * scipy.spatial.distance.cdist(Z, X, "sqeuclidean")) @ alpha
    t_scipy = time.perf_counter() - t0
    gc.collect()

    rmse = float(np.sqrt(np.mean((pred - _target(Z)) ** 2)))
    return {
        "m": m,
        "ntklab_s": t_ntklab,
        "scipy_s": t_scipy,
        "ratio": t_scipy / t_ntklab,
        "max_pred_diff": float(np.abs(pred - pred_ref).max()),
        "test_rmse": rmse,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=10000,
        help="run the SciPy baseline only up to this m (it doubles the time at m = 20,000)",
    )
    parser.add_argument("--ridge", type=float, default=1e-3)
    parser.add_argument("--c", type=float, default=2.0, help="RBF parameter c in exp(-c|x-z|^2)")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; RBF c={args.c}, "
        f"ridge={args.ridge}, d=3, 1000 test points"
    )
    print(
        f"{'m':>7} {'ntklab [s]':>11} {'scipy [s]':>10} {'scipy/ntklab':>13} "
        f"{'max |pred diff|':>16} {'test RMSE':>10}"
    )
    for m in args.sizes:
        r = run(m, args.ridge, args.c, baseline=m <= args.baseline_max)
        if r["scipy_s"] is None:
            print(f" {'-':>10} {'-':>13} {'-':>16} {r['test_rmse']:>10.4f}")
            continue
        print(
            f" {r['scipy_s']:>10.2f} {r['ratio']:>13.2f} "
            f"{r['max_pred_diff']:>16.2e} {r['test_rmse']:>10.4f}"
        )
        assert r["max_pred_diff"] < 1e-6, r  # one estimator, two implementations


if __name__ == "__main__":
    main()

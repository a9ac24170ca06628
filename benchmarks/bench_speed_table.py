"""The speed table of the issue "Faster than neural-tangents, exact quadrature, ...", each row a
ratio measured in this run (float64, CPU unless ``--device``):

1. NTK of a depth-3 ReLU MLP, N = 4000, d = 32, ``K(x, x)`` (W_std 1.4, b_std 0.1):
   ``analytic.mlp_kernels(..., compiled=True)`` (the chain engine of ``ntklab.layers``)
   against neural-tangents' jit-compiled ``kernel_fn(x, None)``, run by the python given as
   ``--nt-python`` (a virtual environment with neural-tangents; the row is skipped, and says
   so, without it), asked for the NTK alone (``get="ntk"``) and for both kernels, as
   ``mlp_kernels`` returns them.  Timed after a warm-up call on both sides (the first,
   compiling, call is printed too), the median of ``--repeat`` calls; also
   ``mlp_kernels(x, x)`` (the same tensor twice) and the eager path, with its largest
   relative difference from the compiled one.
2. tanh kernel by quadrature, depth 3, N = 500, d = 8 (W_std 1.5, b_std 0.2): the default
   (Mehler's series with a tail bound) against the former default, the fixed Gauss-Hermite rule
   of order 96 (``quadrature_order=96``); both checked against nested adaptive quadrature
   (``scipy.integrate.quad``) on a few pairs, the diagonal and a large-norm point included.
3. Empirical NTK of a two-layer ReLU network (``ShallowNTK``, d = 32, width 4096, N = 500):
   ``empirical.ntk`` (``auto``: structured) against the PyTorch tutorial's Jacobian
   contraction by ``torch.func``, as ``bench_empirical_ntk.py`` measures it.
4. The same for the user's ``nn.Sequential`` Linear 32-2048-2048-1 with ReLU, N = 256.

    python benchmarks/bench_speed_table.py --nt-python /work/nt-venv/bin/python
    python benchmarks/bench_speed_table.py --rows 2 3   # a subset
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import bench_empirical_ntk
import bench_quadrature
import torch

from ntklab import analytic
from ntklab.validation import resolve_device

F64 = torch.float64

_NT_SCRIPT = """
import sys, time
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
from neural_tangents import stax
n, d = int(sys.argv[1]), int(sys.argv[2])
x = np.random.default_rng(0).standard_normal((n, d))
layers = []
for _ in range(3):
    layers += [stax.Dense(512, W_std=1.4, b_std=0.1), stax.Relu()]
_, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.4, b_std=0.1))
kernel_fn = jax.jit(kernel_fn, static_argnames="get")
for get in ("ntk", ("nngp", "ntk")):  # the NTK alone, and both kernels as ntklab returns
    jax.block_until_ready(kernel_fn(x, None, get=get))
    times = []
    for _ in range(int(sys.argv[3])):
        t0 = time.perf_counter()
        jax.block_until_ready(kernel_fn(x, None, get=get))
        times.append(time.perf_counter() - t0)
    print(sorted(times)[len(times) // 2], end=" ")
"""


def best_of(fn, repeat=3):
    """The least wall time of ``repeat`` calls (the machine is shared: the minimum is the
    least disturbed), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def median_of(fn, repeat=3):
    """The median wall time of ``repeat`` calls (the machine is shared), and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def row_relu(args):
    n, d = 4000, 32
    x = torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(0))
    x = x.to(args.device)
    # compiled=True: at this size the default compiles only once compiled in the process
    kw = dict(depth=3, W_std=1.4, b_std=0.1, compiled=True)
    first, _ = median_of(lambda: analytic.mlp_kernels(x, **kw), repeat=1)  # compiles
    ours, k = median_of(lambda: analytic.mlp_kernels(x, **kw), repeat=args.repeat)
    twice, _ = median_of(lambda: analytic.mlp_kernels(x, x, **kw), repeat=args.repeat)
    kw["compiled"] = False
    eager, e = median_of(lambda: analytic.mlp_kernels(x, **kw), repeat=1)
    pairs = ((k.nngp, e.nngp), (k.ntk, e.ntk))
    diff = max(float(((a - b).abs() / b.abs()).max()) for a, b in pairs)
    head = (
        f"1. ReLU MLP kernels N={n}: ntklab compiled {ours:.3f} s (median of {args.repeat}; x "
        f"passed twice {twice:.3f} s; eager {eager:.2f} s, max rel. difference {diff:.0e}; "
        f"first call, compiling, {first:.1f} s)"
    )
    if not args.nt_python:
        print(f"{head} (no --nt-python: neural-tangents not compared)")
        return
    if args.device != "cpu":
        print(f"{head} (neural-tangents runs on the CPU only here: not compared)")
        return
    res = subprocess.run(
        [args.nt_python, "-c", _NT_SCRIPT, str(n), str(d), str(args.repeat)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    nt_ntk, nt_both = map(float, res.stdout.split())
    print(
        f"{head}; neural-tangents jit, NTK only {nt_ntk:.3f} s, NNGP and NTK {nt_both:.3f} s: "
        f"{nt_ntk / ours:.1f}x faster than the NTK alone ({nt_ntk / twice:.1f}x with x twice), "
        f"{nt_both / ours:.1f}x than both"
    )


def row_tanh(args):
    n, d = 500, 8
    x = torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(0))
    big = int(x.norm(dim=1).argmax())
    q = bench_quadrature  # its network: the reference below is for it
    kw = dict(depth=q.DEPTH, activation="tanh", W_std=q.W_STD, b_std=q.B_STD)
    ours, k_new = best_of(lambda: analytic.mlp_kernels(x.to(args.device), **kw), repeat=2)
    old, k_old = best_of(
        lambda: analytic.mlp_kernels(x.to(args.device), quadrature_order=96, **kw), repeat=1
    )
    pairs = [(big, big), (big, 1), (0, 0), (0, 1), (2, 3)]
    err = {"new": 0.0, "old": 0.0}
    for i, j in pairs:
        ref = bench_quadrature.reference(x[i].numpy(), x[j].numpy())
        for name, k in (("new", k_new), ("old", k_old)):
            for mat, r in zip((k.nngp, k.ntk), ref, strict=True):
                err[name] = max(err[name], abs(float(mat[i, j]) / r - 1))
    print(
        f"2. tanh quadrature N={n}: Mehler {ours:.2f} s (max rel. error {err['new']:.1e}), "
        f"Gauss-Hermite order 96 {old:.1f} s (max rel. error {err['old']:.1e}): "
        f"{old / ours:.0f}x faster; errors against scipy.integrate.quad on {len(pairs)} pairs"
    )


def _empirical_row(index, args):
    """Rows 3 and 4 are the first two rows of ``bench_empirical_ntk.py``, measured its way
    (one definition of each measurement)."""
    device = resolve_device(args.device)
    name, model, x, tile, goal = bench_empirical_ntk.cases(device)[index]
    n = max(1, x.shape[0] // args.shrink)
    print(f"{index + 3}. ", end="")
    bench_empirical_ntk.measure(name, model, x[:n], tile, goal, repeats=args.repeat, device=device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nt-python", help="a python with neural-tangents installed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, nargs="*", default=[1, 2, 3, 4])
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per side (median)")
    parser.add_argument(
        "--shrink",
        type=int,
        default=1,
        help="divide N of rows 3 and 4 by this (the Jacobian baseline of row 4 holds 4.3 "
        "million parameters per point and takes minutes on a loaded 2-core machine)",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {load:.1f}")
    rows = {
        1: row_relu,
        2: row_tanh,
        3: lambda a: _empirical_row(0, a),
        4: lambda a: _empirical_row(1, a),
    }
    for r in args.rows:
        rows[r](args)
        sys.stdout.flush()


if __name__ == "__main__":
    main()

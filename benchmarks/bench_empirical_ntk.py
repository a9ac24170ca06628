"""Empirical tangent kernels: ``ntklab.empirical.ntk`` against torch.func's Jacobian contraction.

The baseline is the Jacobian contraction of PyTorch's tutorial "Neural Tangent Kernels"
(pytorch.org/tutorials/intermediate/neural_tangent_kernels.html): per-sample Jacobians by
``vmap(jacrev(fnet_single))``, then an ``einsum`` per parameter, summed.  Where all Jacobians
do not fit in memory (the 2048-wide MLP: 4.3 M parameters, 8.8 GB for 256 points) the baseline
works in tiles of points, each tile's Jacobian computed once per row of tiles, and only the
upper triangle of tiles (the kernel is symmetric): a baseline as strong as the tutorial's
method allows.  Rows (float64; each ratio measured against its baseline in the same run,
``--repeats`` times, median and spread printed; on a loaded machine read the ratios, not the
times):

* two-layer net (``ntklab.networks.ShallowNTK``, d = 32, width 4096, N = 500): goal >= 20x;
* the user's own ``nn.Sequential`` MLP (Linear 32-2048-2048-1, ReLU, N = 256): goal >= 10x,
  the same numbers to 1e-10;
* a small CNN (Conv2d, ReLU, MaxPool2d, Conv2d, AdaptiveAvgPool2d(1), Linear; N = 64 images
  of 1 x 16 x 16), for information.

    python benchmarks/bench_empirical_ntk.py [--device cuda] [--repeats 3] [--rows 1,2,3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ntklab import empirical
from ntklab.networks import ShallowNTK
from ntklab.validation import resolve_device


def tutorial_ntk(model, x, tile):
    """K(x, x) by the tutorial's Jacobian contraction, in tiles of ``tile`` points."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def fnet_single(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(1)

    def jac(xs):
        j = vmap(jacrev(fnet_single), (None, 0))(params, xs)
        return [v.reshape(v.shape[0], v.shape[1], -1) for v in j.values()]

    n = x.shape[0]
    out = torch.empty(n, n, dtype=x.dtype, device=x.device)
    for i in range(0, n, tile):
        ja = jac(x[i : i + tile])
        for j in range(i, n, tile):
            jb = ja if j == i else jac(x[j : j + tile])
            block = torch.stack(
                [torch.einsum("Naf,Mbf->NMab", a, b) for a, b in zip(ja, jb, strict=True)]
            ).sum(0)[:, :, 0, 0]
            out[i : i + tile, j : j + tile] = block
            out[j : j + tile, i : i + tile] = block.T
        del ja
    return out


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0, out


def cases(device):
    dt = torch.float64
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Linear(32, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 1)
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 1),
    )
    return [
        (
            "two-layer net (ShallowNTK), width 4096, N=500, d=32",
            ShallowNTK(32, 4096, seed=0, device=device),
            torch.randn(500, 32, dtype=dt, generator=g),
            500,
            20,
        ),
        (
            "user's nn.Sequential MLP 32-2048-2048-1 ReLU, N=256",
            mlp.to(dt),
            torch.randn(256, 32, dtype=dt, generator=g),
            32,
            10,
        ),
        (
            "user's nn.Sequential CNN (conv, max pool, adaptive avg pool), N=64, 1x16x16",
            cnn.to(dt),
            torch.randn(64, 1, 16, 16, dtype=dt, generator=g),
            64,
            None,
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", default="1,2,3", help="which rows, e.g. 1,3")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, {device}; "
        f"ratio = torch.func Jacobian contraction time / ntklab.empirical.ntk time, "
        f"median of {args.repeats} (min-max)"
    )
    rows = {int(r) for r in args.rows.split(",")}
    for row, case in enumerate(cases(device), start=1):
        if row in rows:
            measure(*case, repeats=args.repeats, device=device)


def measure(name, model, x, tile, goal, *, repeats, device):
    """Print one row: the median ratio of the two times over ``repeats`` alternating calls,
    after a warm-up call on each side (vmap's first call takes seconds)."""
    model, x = model.to(device), x.to(device)
    ratios, t_base, t_ours, err = [], [], [], 0.0
    method = empirical.choose_method(model, x)
    tutorial_ntk(model, x[: 2 * tile], tile)
    empirical.ntk(model, x[: 2 * tile])
    for _ in range(repeats):
        tb, k_base = timed(lambda m=model, x=x, t=tile: tutorial_ntk(m, x, t), device)
        to, k_ours = timed(lambda m=model, x=x: empirical.ntk(m, x), device)
        ratios.append(tb / to)
        t_base.append(tb)
        t_ours.append(to)
        rel = ((k_ours - k_base).abs().max() / k_base.abs().max()).item()
        err = max(err, rel)
        del k_base, k_ours
    target = f", goal >= {goal}x" if goal else ""
    print(
        f"{name}: {statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
        f"{target}; torch.func {statistics.median(t_base):.3f} s, ntklab auto "
        f"({method}) {statistics.median(t_ours):.4f} s; max relative difference {err:.1e}"
    )
    assert err < 1e-10


if __name__ == "__main__":
    main()

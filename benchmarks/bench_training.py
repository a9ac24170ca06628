"""Benchmark of ntklab.dynamics (chapter 4).

1. Full-batch gradient descent on a width-16384 ``ShallowLeCun`` network on m = 256 points:
   steps per second of :func:`ntklab.dynamics.gradient_descent` (which also records the loss,
   ``||w_k - w_0||`` and the outputs at every step) against a bare PyTorch loop
   (``loss.backward()`` + ``torch.optim.SGD``) measured in the same run.
2. The linearized trajectory at every one of K steps: the closed form of
   :class:`ntklab.dynamics.LinearDynamics` (one eigendecomposition) against iterating (11.5.9)
   in function space and against training ``ntklab.networks.linearize(model)`` in parameter
   space (jvp + backward per step).

Run: ``PYTHONPATH=. python benchmarks/bench_training.py [--steps 100] [--width 16384]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from ntklab import data, dynamics, empirical
from ntklab.networks import ShallowLeCun, linearize


def _timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16384)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    n, m, d, K = args.width, args.points, args.dim, args.steps
    torch.set_default_dtype(torch.float64)
    X = data.uniform_sphere(m, d, radius=d**0.5, seed=0)
    y = torch.sin(X[:, 0])
    net = ShallowLeCun(d, n, activation="relu", seed=1)
    lam_max = float(torch.linalg.eigvalsh(empirical.ntk(net, X))[-1])
    h = 0.5 / lam_max
    print(f"ShallowLeCun d={d}, n={n}, m={m}, float64, {torch.get_num_threads()} thread(s), K={K}")

    # 1. full network
    def bare():
        model = ShallowLeCun(d, n, activation="relu", seed=1)
        opt = torch.optim.SGD(model.parameters(), lr=h)
        for _ in range(K):
            opt.zero_grad()
            ((model(X) - y) ** 2).sum().backward()
            opt.step()
        return model

    t_bare, ref = _timed(bare)
    t_ntk, hist = _timed(
        lambda: dynamics.gradient_descent(net, X, y, h, K, check_step="off", patterns=None)
    )
    err = (hist.outputs[-1] - ref(X).detach()).abs().max().item()
    print(f"full GD: bare torch loop {K / t_bare:8.1f} steps/s")
    print(
        f"full GD: ntklab          {K / t_ntk:8.1f} steps/s  (ratio {t_bare / t_ntk:.2f}x; "
        f"records loss, distance, outputs; max |difference| {err:.1e})"
    )
    t_pat, _ = _timed(lambda: dynamics.gradient_descent(net, X, y, h, K, check_step="off"))
    print(f"full GD: ntklab + ReLU pattern changes {K / t_pat:8.1f} steps/s")

    # 2. linearized trajectory at every step 0..K
    t_dyn, dyn = _timed(lambda: dynamics.LinearDynamics.from_model(net, X, y))
    t_closed, closed = _timed(lambda: dyn.gradient_descent(h, list(range(K + 1))), repeat=3)
    t_iter, it = _timed(
        lambda: dynamics.linearized_gradient_descent(net, X, y, h, K, dynamics=dyn), repeat=3
    )
    lin = linearize(net)
    K_par = min(K, 10)  # slow: measured on 10 steps and scaled to K
    t_param, par = _timed(
        lambda: dynamics.gradient_descent(lin, X, y, h, K_par, check_step="off", patterns=None)
    )
    t_param *= K / K_par
    e1 = (closed.outputs - it.outputs).abs().max().item()
    e2 = (closed.outputs[: K_par + 1] - par.outputs).abs().max().item()
    print(f"linearized, kernel + eigendecomposition (once): {t_dyn * 1e3:8.1f} ms")
    print(f"linearized, closed form, all {K + 1} steps:     {t_closed * 1e3:8.2f} ms")
    print(
        f"linearized, function-space iteration:       {t_iter * 1e3:8.2f} ms "
        f"({t_iter / t_closed:.1f}x the closed form; max |difference| {e1:.1e})"
    )
    print(
        f"linearized, parameter-space GD (linearize): {t_param * 1e3:8.1f} ms (from {K_par} steps) "
        f"({t_param / t_closed:.0f}x the closed form; max |difference| {e2:.1e})"
    )
    t_far, _ = _timed(lambda: dyn.gradient_descent(h, [10**6]), repeat=3)
    print(f"closed form at k = 10^6 (one time):          {t_far * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()

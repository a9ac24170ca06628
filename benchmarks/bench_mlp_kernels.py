"""Infinite-width NTK of a depth-3 ReLU MLP: ``ntklab.analytic.mlp_kernels``, against the
pre-merge implementation (issue "Infinite-width kernels of any architecture": the MLP path's
speed is unchanged now that it is the chain engine of ``ntklab.layers``).

Measured in the same process, alternating, three repeats each, the median printed:

* ``mlp_kernels`` by default (which compiles once compiled in the process, see
  ``ntklab/layers/_chain.py``), with ``compiled=True`` and with ``compiled=False`` (eager)
  against ``old_mlp_kernels`` below, a copy of the function as it was before the merge (ReLU
  path only, no autograd), for N = 500 (a chapter-sized call), 2000 and 4000 (d = 32, depth
  3, W_std 1.4, b_std 0.1, ``K(x, x)``); the largest relative difference between them;
* the first call that compiles (in this process; less when TorchInductor's on-disk cache
  already holds the kernel);
* then (unless ``--skip-large``) the peak memory (maximum resident set size of a fresh
  process) for N = 20,000, against the size of the two outputs.

    python benchmarks/bench_mlp_kernels.py
    python benchmarks/bench_mlp_kernels.py --skip-large --sizes 500 2000
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from ntklab import analytic
from ntklab._autograd import Ops as _Ops

# ---------------------------------------------------------------------------------------------
# The baseline: mlp_kernels before the merge (ntklab/analytic.py at b2d443d), ReLU only
# ---------------------------------------------------------------------------------------------

_STABLE_COS = 0.99
_PAIR_CHUNK = 2**18
_TILE_ENTRIES = {"cpu": 2**16, "other": 2**24}


def _norms_and_units(a: torch.Tensor):
    """Row norms and unit rows without overflow or underflow (rows scaled by their max first)."""
    top = a.abs().amax(dim=1)
    safe = torch.where(top > 0, top, 1)
    scaled = a / safe[:, None]
    length = scaled.norm(dim=1)
    units = scaled / torch.where(top > 0, length, 1)[:, None]
    return top * length, units


def _cos_sin(a1: torch.Tensor, a2: torch.Tensor, diag: bool, ops: _Ops):
    """Cosines and sines of the angles between the rows of ``a1`` and ``a2``; row norms.

    Cosines come from the unit rows; where ``|cos| > 0.99`` both are recomputed from the unit
    vectors ``p, q``: ``sin = |p - q| |p + q| / 2`` and ``cos = (|p + q|^2 - |p - q|^2) / 4``,
    which keeps the angle accurate to rounding near 0 and pi.  A pair with a zero row gets the
    angle 0 (``cos = 1, sin = 0``): every kernel term of such a pair carries a factor of its
    norm, and atan2 stays differentiable.
    """
    n1, u1 = _norms_and_units(a1)
    n2, u2 = (n1, u1) if diag else _norms_and_units(a2)
    cos = u1 @ u2.T
    if diag:
        cos = (cos + cos.T) / 2  # a matrix product need not be bitwise symmetric
    cos = ops.clamp(cos, -1, 1)
    sin = ops.sqrt(1 - cos * cos)
    near = cos.detach().abs() > _STABLE_COS
    if bool(near.any()):
        idx = near.nonzero()
        for k0 in range(0, idx.shape[0], _PAIR_CHUNK):
            i, j = idx[k0 : k0 + _PAIR_CHUNK].unbind(1)
            p, q = u1[i], u2[j]
            dm, dp = (p - q).norm(dim=1), (p + q).norm(dim=1)
            sin = ops.put(sin, (i, j), dm * dp / 2)
            cos = ops.put(cos, (i, j), (dp * dp - dm * dm) / 4)
    z1, z2 = n1.detach() == 0, n2.detach() == 0
    if bool(z1.any()) or bool(z2.any()):
        zero = z1[:, None] | z2[None, :]
        cos, sin = ops.masked_fill(cos, zero, 1.0), ops.masked_fill(sin, zero, 0.0)
    if diag:
        cos, sin = ops.set_diagonal(cos, 1.0), ops.set_diagonal(sin, 0.0)
    return cos, sin, n1, n2


def _relu_layer(s1, s2, cos, sin, w2, b2, need_next, diag, ops):
    """One ReLU layer on centred Gaussian pairs with standard deviations s1, s2, angle (cos, sin).

    Returns ``Sigma_next = W_std^2 E[relu(a) relu(b)] + b_std^2``, ``E[step(a) step(b)]``, the
    next standard deviations and (if ``need_next``) the next angle as (cos, sin), computed from
    ``1 - J/pi`` without cancellation, ``J = sin t + (pi - t) cos t``.  Standard deviations,
    not variances, are carried so that tiny inputs neither underflow nor overflow.
    """
    theta = torch.atan2(sin, cos)
    pm = torch.sub(math.pi, theta)  # pi - theta
    jay = torch.addcmul(sin, pm, cos)  # J(theta), E[relu relu] = s s' J / (2 pi)
    s12 = s1[:, None] * s2[None, :]
    sig = ops.mul(s12 * jay, w2 / (2 * math.pi))
    if b2:
        sig = ops.add(sig, b2)
    dot = ops.mul(pm, 1 / (2 * math.pi))  # E[step step] = (pi - t) / (2 pi)
    half = (w2 / 2) ** 0.5
    if b2:
        ns1 = torch.sqrt(w2 * s1 * s1 / 2 + b2)
        ns2 = ns1 if diag else torch.sqrt(w2 * s2 * s2 / 2 + b2)
    else:
        ns1 = half * s1
        ns2 = ns1 if diag else half * s2
    if diag:
        sig = ops.set_diagonal(sig, ns1 * ns1)
    if not need_next:
        return sig, dot, ns1, ns2, None, None
    # 1 - cos t = sin^2 / (1 + cos) where cos > 0; sin t - t cos t is O(t^3) but only enters
    # next to pi (1 - cos t) = O(t^2), so its rounding leaves the next angle accurate to eps.
    # (1 + |cos|: the branch not taken must not divide by zero either, or its gradient is NaN.)
    one_minus_cos = torch.where(cos > 0, sin * sin / (1 + cos.abs()), 1 - cos)
    om = ops.mul(
        ops.addcmul(ops.sub(ops.mul(one_minus_cos, math.pi), sin), theta, cos), 1 / math.pi
    )
    if b2:
        # with A = W_std^2 s^2 / 2: q q' - c^2 = A A' om (2 - om) + b^2 ((sqrt A - sqrt A')^2
        # + 2 sqrt(A A') om), all terms >= 0
        aa = ops.mul(s12, w2 / 2)
        gap = ops.mul(ops.mul(aa * aa, om), 2 - om)
        diff = half * (s1[:, None] - s2[None, :])
        gap = ops.add(gap, ops.mul(ops.addcmul(diff * diff, aa, om, value=2), b2))
        inv = (1 / ns1)[:, None] * (1 / ns2)[None, :]  # ns >= b_std > 0
        new_sin = ops.mul(ops.sqrt(gap), inv)
        new_cos = ops.clamp(sig * inv, -1, 1)
    else:
        # without biases the angle map does not depend on the scale: cos' = J / pi
        new_cos = ops.clamp(ops.mul(jay, 1 / math.pi), -1, 1)
        new_sin = ops.sqrt(om * (2 - om))
        z1, z2 = s1.detach() == 0, s2.detach() == 0
        if bool(z1.any()) or bool(z2.any()):
            zero = z1[:, None] | z2[None, :]
            new_cos, new_sin = (
                ops.masked_fill(new_cos, zero, 1.0),
                ops.masked_fill(new_sin, zero, 0.0),
            )
    if diag:
        new_cos, new_sin = ops.set_diagonal(new_cos, 1.0), ops.set_diagonal(new_sin, 0.0)
    return sig, dot, ns1, ns2, new_cos, new_sin


def _tiled(x1, x2, same, batch_size, compute, n_out, grad):
    """Run ``compute(rows, cols, diag)`` over row tiles (upper triangle only when ``same``).

    On a CPU the tiles are small enough to stay in cache, and they are spread over
    ``torch.get_num_threads()`` Python threads with torch's intra-op parallelism set to one
    thread meanwhile (restored afterwards): elementwise operations on small tiles would
    otherwise pay a thread synchronisation per operation.  When autograd records (``grad``)
    the whole matrix is one tile, computed out of place.
    """
    if grad:
        res = compute(x1, x2, same)
        return [(r + r.T) / 2 if same else r for r in res]
    n1, n2 = x1.shape[0], x2.shape[0]
    cpu = x1.device.type == "cpu"
    if batch_size is None:
        entries = _TILE_ENTRIES["cpu" if cpu else "other"]
        batch_size = max(1, min(n1, entries // max(1, n2)))
    outs = [torch.empty(n1, n2, dtype=x1.dtype, device=x1.device) for _ in range(n_out)]
    jobs = []
    for i0 in range(0, n1, batch_size):
        i1 = min(n1, i0 + batch_size)
        # with same: the diagonal block, then the block right of it, mirrored below the diagonal
        blocks = [(i0, i1, True), (i1, n2, False)] if same else [(0, n2, False)]
        jobs.extend((i0, i1, j0, j1, diag) for j0, j1, diag in blocks if j1 > j0)

    def run(job):
        i0, i1, j0, j1, diag = job
        res = compute(x1[i0:i1], x2[j0:j1], diag)
        for out, r in zip(outs, res, strict=True):
            if diag:
                # vectorized transcendental functions may round an entry differently from its
                # mirror image (SIMD body versus scalar tail): average to be exactly symmetric
                r = (r + r.T) / 2
            out[i0:i1, j0:j1] = r
            if same and not diag:
                out[j0:j1, i0:i1] = r.T

    threads = torch.get_num_threads()
    if cpu and threads > 1 and len(jobs) > 1:
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, jobs))
        finally:
            torch.set_num_threads(threads)
    else:
        for job in jobs:
            run(job)
    return outs


def old_mlp_kernels(x1, *, depth, W_std=1.0, b_std=0.0):
    """``mlp_kernels(x1, depth=depth, W_std=W_std, b_std=b_std)`` as it was (ReLU, K(x, x))."""
    d = x1.shape[1]
    w2, b2 = W_std**2, b_std**2
    ops = _Ops(False)
    a1 = torch.cat([x1 * (W_std / math.sqrt(d)), torch.full_like(x1[:, :1], b_std)], dim=1)

    def compute(r, s, diag):
        c = r @ s.T
        q1 = (r * r).sum(1)
        if diag:
            c = ops.set_diagonal((c + c.T) / 2, q1)
        cos, sin, s1, s2 = _cos_sin(r, s, diag, ops)
        sigma, theta_k = c, c.clone()
        for layer in range(depth):
            new_c, e_dphi, s1, s2, cos, sin = _relu_layer(
                s1, s2, cos, sin, w2, b2, layer < depth - 1, diag, ops
            )
            theta_k = ops.add(ops.mul(ops.mul(theta_k, e_dphi), w2), new_c)
            sigma = new_c
        return sigma, theta_k

    return _tiled(a1, a1, True, None, compute, 2, False)


# ---------------------------------------------------------------------------------------------


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def compare(n, repeats):
    x = torch.randn(n, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kw = dict(depth=3, W_std=1.4, b_std=0.1)
    first, _ = _timed(lambda: analytic.mlp_kernels(x, compiled=True, **kw))  # compiles once
    runs = {
        "default": lambda: analytic.mlp_kernels(x, **kw),
        "compiled": lambda: analytic.mlp_kernels(x, compiled=True, **kw),
        "eager": lambda: analytic.mlp_kernels(x, compiled=False, **kw),
        "old": lambda: old_mlp_kernels(x, **kw),
    }
    times, outs = {key: [] for key in runs}, {}
    for _ in range(repeats):
        for key, fn in runs.items():
            t, outs[key] = _timed(fn)
            times[key].append(t)
    med = {key: statistics.median(v) for key, v in times.items()}
    nngp, ntk = outs.pop("old")
    diff = max(max(_rel(k.nngp, nngp), _rel(k.ntk, ntk)) for k in outs.values())
    ratios = ", ".join(f"{key}/old {med[key] / med['old']:.2f}" for key in outs)
    print(
        f"N={n}: " + ", ".join(f"{key} {med[key]:.3f} s" for key in runs) + f" (medians of "
        f"{repeats}; first compiled call {first:.1f} s): {ratios}; largest relative "
        f"difference {diff:.1e}",
        flush=True,
    )


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[500, 2000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--large", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.large:
        large(args.large)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, CPU")
    for n in args.sizes:
        compare(n, args.repeats)
    if not args.skip_large:
        subprocess.run([sys.executable, __file__, "--large", "20000"], check=True)


if __name__ == "__main__":
    main()

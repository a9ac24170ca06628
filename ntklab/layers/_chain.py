"""Fully connected chains on vectors, ``serial(Dense, act, Dense, ..., act, Dense)``.

:meth:`Layer.kernels` runs such an architecture (vector inputs; Dense layers alternating with
activations, an activation possibly last) here rather than through the generic tile engine:
the kernels of a pair of vectors are numbers, so the ReLU recursion can carry the *angle* of
every pair from layer to layer instead of a covariance.  :func:`ntklab.analytic.mlp_kernels`
is this path.

Numerics.  ReLU kernels are functions of the angle between two pre-activation vectors, and
``arccos`` of a cosine near +-1 loses half the digits.  The first layer's angles are computed
from the (augmented) input vectors, ``sin = |p - q| |p + q| / 2`` and
``cos = (|p + q|^2 - |p - q|^2) / 4`` for unit ``p, q`` wherever ``|cos| > 0.99``; each ReLU
layer then maps (cos, sin) to the next (cos, sin) with the determinant ``q q' - c^2`` written
without cancellation, never passing through a cosine.  Standard deviations, not variances, are
carried so that tiny inputs neither underflow nor overflow.  A set with itself is exactly
symmetric with the exact diagonal (angle 0); a zero input gives angle 0, not NaN.  Other
activations use the layers' own expectations (closed forms for Erf and Identity, the
:class:`~ntklab.layers.Activation` quadrature otherwise).

Speed.  Eagerly each elementwise operation of a layer (about twenty) is one pass over a
cache-sized tile, and tiles run on ``torch.get_num_threads()`` Python threads.  A chain of
ReLU and Dense layers can instead be compiled by ``torch.compile`` (:func:`_fused_gram`): for
a row block of about ``2^20`` pairs, the angles of the inputs, every layer and the stores
into the two outputs become one vectorized loop run with TorchInductor's own threads, which
reads one matrix product (the cosines) and the per-point standard deviations of every layer
(computed once per point, outside the loop); the mirror images below the diagonal are copied
afterwards (stored from inside the loop they cost three times as much), and the outputs sit
on transparent huge pages (:mod:`ntklab._memory`; page faults on fresh 4 KiB pages cost as
much as the recursion).  Pairs of different points with a cosine beyond 0.99 are then
recomputed alone with the stable angles (on the 1,797 digits and a noisy copy of them, most
blocks have such a pair: 0.16 s compiled, against 0.71 s when those blocks ran eagerly and
0.80 s all eager).  Measured (``benchmarks/bench_speed_table.py``,
``K(x, x)`` of 4,000 points in R^32, depth 3, float64, 2 threads on 2 idle cores, medians
of 5): 0.13 s compiled (also with the same tensor passed twice), 0.82 s eager, against
neural-tangents' jit-compiled ``kernel_fn`` 0.71 s for the NTK alone (5.4x) and 0.93 s for
both kernels (7.1x).  The first compiled call in a process compiles: 6-7 s with
TorchInductor's on-disk cache warm (4 s of which ``torch.compile`` spends on any first call,
a one-line function included), 28 s cold (and once more, 1.1 s or 5.3 s, for the first call
with two different sets), so by default (``compiled=None``) a CPU call compiles only
from :data:`COMPILE_MIN_WORK` pairs times ReLU layers (``K(x, x)`` of about 14,000 points at
depth 3, where the first call already gains with a warm cache), and from
:data:`COMPILED_MIN_WORK` once compiled in the process; the many small calls of the course's
chapters never compile.  Compiled and eager agree to about 1e-15 relative, with the same
diagonal; where compilation fails, a warning says so once and the same function runs
eagerly.  ``K(x, x)`` is computed on the upper triangle only, also when the same tensor is
passed as ``x1`` and ``x2``.  On a GPU the tiles are large and eager (not compiled).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import torch

from .. import _memory
from .._autograd import Ops, records_grad
from ..validation import check_scalar_parameter
from . import _compile
from .activations import ReLU, _Elementwise
from .linear import Dense

_STABLE_COS = 0.99  # above this |cosine|, angles are recomputed from the vectors
_PAIR_CHUNK = 2**18  # pairs per chunk in the stable-angle fix-up
_TILE_ENTRIES = {"cpu": 2**16, "other": 2**24}  # entries of one tile: cache-sized on a CPU
_FUSED_TILE_ENTRIES = 2**20  # entries of one compiled row block
COMPILE_MIN_WORK = 3 * 10**8
"""Pairs times ReLU layers from which a CPU call compiles a ReLU chain (when ``compiled`` is
left to decide): below it, the first compilation costs more than it saves."""
COMPILED_MIN_WORK = 2 * 10**6
"""The same once the chain was compiled in this process (no compilation left to pay)."""


def plan(layers):
    """``(first Dense, [(activation, Dense or None), ...])`` if ``layers`` is a chain, else None."""
    flat = []

    def walk(layer):
        inner = getattr(layer, "layers", None)
        if inner is not None and type(layer).__name__ == "_Serial":
            for sub in inner:
                walk(sub)
        else:
            flat.append(layer)

    for layer in layers:
        walk(layer)
    if len(flat) < 2 or type(flat[0]) is not Dense:
        return None  # a lone Dense is one affine map: the generic engine
    steps = []
    for i in range(1, len(flat), 2):
        act, dense = flat[i], flat[i + 1] if i + 1 < len(flat) else None
        if not isinstance(act, _Elementwise) or (dense is not None and type(dense) is not Dense):
            return None
        steps.append((act, dense))
    return flat[0], steps


def _norms_and_units(a: torch.Tensor):
    """Row norms and unit rows without overflow or underflow (rows scaled by their max first)."""
    top = a.abs().amax(dim=1)
    safe = torch.where(top > 0, top, 1)
    scaled = a / safe[:, None]
    length = scaled.norm(dim=1)
    units = scaled / torch.where(top > 0, length, 1)[:, None]
    return top * length, units


def _pair_angles(p: torch.Tensor, q: torch.Tensor):
    """``(cos, sin)`` of the angles between the unit rows ``p`` and ``q``, accurate to rounding
    near 0 and pi: ``sin = |p - q| |p + q| / 2``, ``cos = (|p + q|^2 - |p - q|^2) / 4``."""
    dm, dp = (p - q).norm(dim=1), (p + q).norm(dim=1)
    return (dp * dp - dm * dm) / 4, dm * dp / 2


def cos_sin(a1: torch.Tensor, a2: torch.Tensor, diag: bool, ops: Ops):
    """Cosines and sines of the angles between the rows of ``a1`` and ``a2``; row norms.

    Cosines come from the unit rows; where ``|cos| > 0.99`` both are recomputed from the unit
    vectors (:func:`_pair_angles`).  A pair with a zero row gets the
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
            pair_cos, pair_sin = _pair_angles(u1[i], u2[j])
            sin = ops.put(sin, (i, j), pair_sin)
            cos = ops.put(cos, (i, j), pair_cos)
    z1, z2 = n1.detach() == 0, n2.detach() == 0
    if bool(z1.any()) or bool(z2.any()):
        zero = z1[:, None] | z2[None, :]
        cos, sin = ops.masked_fill(cos, zero, 1.0), ops.masked_fill(sin, zero, 0.0)
    if diag:
        cos, sin = ops.set_diagonal(cos, 1.0), ops.set_diagonal(sin, 0.0)
    return cos, sin, n1, n2


def _relu_stds(s, params, flags):
    """Standard deviations of the pre-activations before each ReLU layer of a run and after
    the last (``s`` first), and their reciprocals where the layer has a bias (else None).

    They depend on one point only, so they are computed once per point, outside the pair loop.
    """
    stds, invs = [s], [None]
    for (w2, b2), (bias, _) in zip(params, flags, strict=True):
        s = torch.sqrt(w2 * s * s / 2 + b2) if bias else (w2 / 2) ** 0.5 * s
        stds.append(s)
        invs.append(1 / s if bias else None)  # s >= b_std > 0
    return stds, invs


def _relu_layer(rows, cols, cos, sin, w2, b2, bias, need_next, diag, ops, fused):
    """One ReLU layer on centred Gaussian pairs of angle (cos, sin), followed by a Dense layer
    with ``W_std^2 = w2``, ``b_std^2 = b2`` (``bias``: ``b2 != 0``).

    ``rows`` and ``cols`` are ``(s, s_next, 1 / s_next)`` of the two points of every pair, the
    standard deviations before and after the layer (:func:`_relu_stds`), shaped to broadcast
    against ``cos``: a column and a row for a tile, vectors like ``cos`` for a list of pairs.
    Returns ``Sigma_next = W_std^2 E[relu(a) relu(b)] + b_std^2``, ``E[step(a) step(b)]`` and (if
    ``need_next``) the next angle as (cos, sin), computed from ``1 - J/pi`` without
    cancellation, ``J = sin t + (pi - t) cos t``.
    """
    (s1, ns1, inv1), (s2, _, inv2) = rows, cols
    theta = torch.atan2(sin, cos)
    pm = torch.sub(math.pi, theta)  # pi - theta
    jay = torch.addcmul(sin, pm, cos)  # J(theta), E[relu relu] = s s' J / (2 pi)
    s12 = s1 * s2
    sig = ops.mul(s12 * jay, w2 / (2 * math.pi))
    if bias:
        sig = ops.add(sig, b2)
    dot = ops.mul(pm, 1 / (2 * math.pi))  # E[step step] = (pi - t) / (2 pi)
    if diag:
        sig = ops.set_diagonal(sig, (ns1 * ns1).reshape(-1))
    if not need_next:
        return sig, dot, None, None
    # 1 - cos t = sin^2 / (1 + cos) where cos > 0; sin t - t cos t is O(t^3) but only enters
    # next to pi (1 - cos t) = O(t^2), so its rounding leaves the next angle accurate to eps.
    # (1 + |cos|: the branch not taken must not divide by zero either, or its gradient is NaN.)
    one_minus_cos = torch.where(cos > 0, sin * sin / (1 + cos.abs()), 1 - cos)
    om = ops.mul(
        ops.addcmul(ops.sub(ops.mul(one_minus_cos, math.pi), sin), theta, cos), 1 / math.pi
    )
    if bias:
        # with A = W_std^2 s^2 / 2: q q' - c^2 = A A' om (2 - om) + b^2 ((sqrt A - sqrt A')^2
        # + 2 sqrt(A A') om), all terms >= 0
        aa = ops.mul(s12, w2 / 2)
        gap = ops.mul(ops.mul(aa * aa, om), 2 - om)
        diff = (w2 / 2) ** 0.5 * (s1 - s2)
        gap = ops.add(gap, ops.mul(ops.addcmul(diff * diff, aa, om, value=2), b2))
        inv = inv1 * inv2
        new_sin = ops.mul(ops.sqrt(gap), inv)
        new_cos = ops.clamp(sig * inv, -1, 1)
    else:
        # without biases the angle map does not depend on the scale: cos' = J / pi
        new_cos = ops.clamp(ops.mul(jay, 1 / math.pi), -1, 1)
        new_sin = ops.sqrt(om * (2 - om))
        zero = (s1 == 0) | (s2 == 0)
        if fused:
            new_cos = torch.where(zero, 1.0, new_cos)
            new_sin = torch.where(zero, 0.0, new_sin)
        elif bool(zero.any()):
            new_cos = ops.masked_fill(new_cos, zero, 1.0)
            new_sin = ops.masked_fill(new_sin, zero, 0.0)
    if diag:
        new_cos, new_sin = ops.set_diagonal(new_cos, 1.0), ops.set_diagonal(new_sin, 0.0)
    return sig, dot, new_cos, new_sin


def _oriented(t, axis, pairs):
    """A per-point vector as the column (axis 0) or row (axis 1) of a tile; for pairs as is."""
    if t is None or pairs:
        return t
    return t[:, None] if axis == 0 else t[None, :]


def _relu_run(cos, sin, rows, cols, theta, params, flags, diag, grad, fused, out=None, pairs=False):
    """A run of ReLU layers, each followed by a Dense layer (or, last, by nothing).

    ``rows`` and ``cols`` are :func:`_relu_stds` of the two sets, ``params`` holds
    ``(W_std^2, b_std^2)`` per layer and ``flags`` ``(bias, dense)``; the input ``theta`` (the
    NTK so far) is not modified.  Returns ``(Sigma, Theta, E[step step] of the last layer,
    cos, sin)``, the angle of the output for a further ReLU run (None after the last layer).
    The same function runs eagerly and compiled (``fused``), on a tile or (``pairs``) on a
    list of pairs, where ``cos``, ``sin``, ``theta`` and the standard deviations are vectors.

    The compiled fast path of a whole chain (:func:`_fused_gram`) gives ``sin=None``
    (``cos``: the cosines of the unit rows as they come), ``theta=None`` (the first layer's
    Sigma is ``s s' cos``) and ``out``, views of the outputs to write Sigma and Theta into;
    ``diag`` then says that column k of the block is row k's own point.  It returns whether a
    cosine other than those exceeds 0.99 in absolute value (then the caller recomputes those
    pairs with the stable angles).
    """
    ops = Ops(grad)
    sig = dot = near = None
    if out is not None:
        cos = cos.clamp(-1, 1)
        close = cos.abs() > _STABLE_COS
        if diag:  # a point with itself: angle 0, set exactly by the caller
            row = torch.arange(cos.shape[0], device=cos.device)[:, None]
            close = close & (row != torch.arange(cos.shape[1], device=cos.device)[None, :])
        near = close.any()
        sin = torch.sqrt((1 - cos * cos).clamp(min=0))
        theta = rows[0][0][:, None] * cols[0][0][None, :] * cos
        diag = False
    last = len(params) - 1
    for k, ((w2, b2), (bias, dense)) in enumerate(zip(params, flags, strict=True)):
        need_next = k < last
        sig, dot, cos, sin = _relu_layer(
            tuple(_oriented(t, 0, pairs) for t in (rows[0][k], rows[0][k + 1], rows[1][k + 1])),
            tuple(_oriented(t, 1, pairs) for t in (cols[0][k], cols[0][k + 1], cols[1][k + 1])),
            cos,
            sin,
            w2,
            b2,
            bias,
            need_next,
            diag,
            ops,
            fused,
        )
        theta = theta * dot if k == 0 else ops.mul(theta, dot)  # never the caller's tensor
        if dense:
            theta = ops.add(ops.mul(theta, w2), sig)
    if out is not None:
        out[0].copy_(sig)
        out[1].copy_(theta)
        return near
    return sig, theta, dot, cos, sin


def _relu_diagonal(s, q, params, flags):
    """Sigma and Theta of every point with itself after a run of ReLU layers from the first,
    given the input norms ``s`` and ``q = |a|^2``: the operations :func:`_relu_run` does on the
    diagonal of a tile (angle 0, ``E[step step] = 1/2``), so the numbers are the same."""
    stds, _ = _relu_stds(s, params, flags)
    theta = q
    dot = math.pi * (1 / (2 * math.pi))
    for k, ((w2, _), (_, dense)) in enumerate(zip(params, flags, strict=True)):
        sig = stds[k + 1] * stds[k + 1]
        theta = theta * dot
        if dense:
            theta = theta * w2 + sig
    return sig, theta


def _smooth_layer(act, q1, q2, c, same):
    """``E[phi phi]``, ``E[phi' phi']`` and the diagonals ``E[phi(a)^2]`` (the layer's maps)."""
    e_phi, e_dphi = act._expectations(c, q1[:, None], q2[None, :])
    if e_phi is c:
        e_phi = c.clone()
    d1 = act._diag(q1)[0]
    d2 = d1 if same else act._diag(q2)[0]
    return e_phi, e_dphi, d1, d2


def _tile(a1, a2, diag, steps, ops, expectations):
    """NNGP and NTK of one tile from the augmented first-layer inputs ``a1``, ``a2``, eagerly.

    ``a`` rows are ``(W_std x / sqrt(d), b_std)``, so ``Sigma_1 = a1 a2^T``.  ``diag`` marks a
    tile of a set with itself whose diagonal is the pairs (k, k).  With ``expectations`` it
    returns ``E[phi phi]`` and ``E[phi' phi']`` of the last activation instead.
    """
    c = a1 @ a2.T
    q1 = (a1 * a1).sum(1)
    q2 = q1 if diag else (a2 * a2).sum(1)
    if diag:
        # a matrix product need not be bitwise symmetric; everything after is elementwise
        c = ops.set_diagonal((c + c.T) / 2, q1)
    sigma, theta = c, (None if expectations else c)
    angle = None  # (cos, sin, s1, s2) of sigma, where a ReLU run has it
    k = 0
    while k < len(steps):
        act, dense = steps[k]
        if type(act) is ReLU:
            run = [k]
            while run[-1] + 1 < len(steps) and type(steps[run[-1] + 1][0]) is ReLU:
                run.append(run[-1] + 1)
            if angle is None:
                angle = _angle(a1, a2, sigma, q1, q2, diag, ops, first=k == 0)
            params, flags = [], []
            for i in run:
                std = steps[i][1]
                w2, b2 = (std[0] ** 2, std[1] ** 2) if std is not None else (1.0, 0.0)
                params.append((w2, b2))
                flags.append((bool(b2 != 0), std is not None))
            cos, sin, s1, s2 = angle
            if expectations:
                # E[relu relu] and E[step step]: the last layer without weights
                flags[-1] = (False, False)
                params[-1] = (1.0, 0.0)
            rows = _relu_stds(s1, params, flags)
            cols = rows if diag else _relu_stds(s2, params, flags)
            sigma, theta, dot, cos, sin = _relu_run(
                cos,
                sin,
                rows,
                cols,
                c if theta is None else theta,
                params,
                flags,
                diag,
                ops.grad,
                False,
            )
            s1, s2 = rows[0][-1], cols[0][-1]
            if expectations and run[-1] == len(steps) - 1:
                return sigma, dot
            angle = (cos, sin, s1, s2) if cos is not None else None
            q1, q2 = s1 * s1, (s1 * s1 if diag else s2 * s2)
            k = run[-1] + 1
            continue
        e_phi, e_dphi, d1, d2 = _smooth_layer(act, q1, q2, sigma, diag)
        if expectations and k == len(steps) - 1:
            return e_phi, e_dphi
        angle = None
        if dense is None:
            sigma = ops.set_diagonal(e_phi, d1) if diag else e_phi
            theta = theta * e_dphi if theta is c else ops.mul(theta, e_dphi)
            k += 1
            continue
        w2, b2 = dense[0] ** 2, dense[1] ** 2
        nq1 = w2 * d1 + b2
        nq2 = nq1 if diag else w2 * d2 + b2
        new_c = ops.mul(e_phi, w2)
        if not isinstance(b2, float) or b2:
            new_c = ops.add(new_c, b2)
        if diag:
            new_c = ops.set_diagonal(new_c, nq1)
        theta = theta * e_dphi if theta is c else ops.mul(theta, e_dphi)
        theta = ops.add(ops.mul(theta, w2), new_c)
        sigma, q1, q2 = new_c, nq1, nq2
        k += 1
    return sigma, theta


def _angle(a1, a2, sigma, q1, q2, diag, ops, first):
    """(cos, sin, s1, s2) of ``sigma``: from the input vectors (stable) or from the cosine."""
    if first:
        return cos_sin(a1, a2, diag, ops)
    s1 = ops.sqrt(q1.clone()) if not ops.grad else ops.sqrt(q1)
    s2 = s1 if diag else (ops.sqrt(q2.clone()) if not ops.grad else ops.sqrt(q2))
    den = s1[:, None] * s2[None, :]
    cos = (sigma / torch.where(den > 0, den, 1)).clamp(-1, 1)
    sin = torch.where(den > 0, torch.sqrt((1 - cos * cos).clamp(min=0)), 0)
    cos = torch.where(den > 0, cos, 1)
    if diag:
        cos, sin = ops.set_diagonal(cos, 1.0), ops.set_diagonal(sin, 0.0)
    return cos, sin, s1, s2


def chain_kernels(chain, x1, x2, same, *, batch_size=None, compiled=None, expectations=False):
    """NNGP and NTK (or the last activation's expectations) of a chain from :func:`plan`.

    ``compiled=None`` compiles the ReLU runs of a large call on a CPU (see the module
    docstring); ``True`` compiles where possible, ``False`` never.
    """
    first, layers = chain

    def stds(dense):
        if dense is None:
            return None
        return tuple(
            check_scalar_parameter(v, name, x1, "x1")
            for v, name in ((dense.W_std, "W_std"), (dense.b_std, "b_std"))
        )

    steps = [(act, stds(dense)) for act, dense in layers]
    w_std, b_std = stds(first)
    values = [w_std, b_std, *(v for _, std in steps if std is not None for v in std)]
    grad = records_grad(x1, x2, *values)
    if not grad:
        steps = [(act, None if std is None else tuple(map(float, std))) for act, std in steps]
        w_std, b_std = float(w_std), float(b_std)
    d = x1.shape[1]

    def augment(x):
        col = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device) * b_std
        return torch.cat([x * (w_std / math.sqrt(d)), col], dim=1)

    a1 = augment(x1)
    a2 = a1 if same else augment(x2)
    ops = Ops(grad)
    n1, n2 = x1.shape[0], x2.shape[0]
    relus = sum(type(act) is ReLU for act, _ in steps)
    cpu = x1.device.type == "cpu"
    pairs = n1 * (n2 + 1) // 2 if same else n1 * n2
    if compiled is None:
        least = COMPILED_MIN_WORK if _compile.compiled_before(_relu_run) else COMPILE_MIN_WORK
        compiled = cpu and relus * pairs >= least
    # the compiled path: chains of ReLU and Dense layers only (an MLP)
    relu_chain = all(type(act) is ReLU and std is not None for act, std in steps)
    fused = bool(compiled and relu_chain and not expectations and not grad)
    fused = fused and _compile.available()

    def compute(r, s, diag):
        return _tile(r, s, diag, steps, ops, expectations)

    if fused:
        return _fused_gram(a1, a2, same, steps, batch_size, compute)
    return tiled(a1, a2, same, batch_size, compute, 2, grad)


def _fused_gram(a1, a2, same, steps, batch_size, compute):
    """NNGP and NTK of a chain of ReLU and Dense layers, one compiled pass per row block.

    A block is rows ``i0:i1`` against every column from ``i0`` (a set with itself: the upper
    triangle and its mirror image) or from 0.  Everything elementwise (the first layer's
    angles, every layer, the stores into the outputs) is one compiled loop; the standard
    deviations of every point and layer come from outside it (:func:`_relu_stds`).
    Afterwards the mirror image is copied, the square of a block on the diagonal is made
    symmetric from its upper triangle and the diagonal set exactly (:func:`_relu_diagonal`).
    Pairs with a cosine beyond 0.99 (other than a point with itself) are then recomputed with
    the stable angles (:func:`_stable_pairs`); a block with a zero input, by ``compute`` (the
    eager path).
    """
    n1, n2 = a1.shape[0], a2.shape[0]
    norms1, u1 = _norms_and_units(a1)
    norms2, u2 = (norms1, u1) if same else _norms_and_units(a2)
    params = [(w**2, b**2) for _, (w, b) in steps]
    flags = tuple((b2 != 0, True) for _, b2 in params)
    rows = _relu_stds(norms1, params, flags)
    cols = rows if same else _relu_stds(norms2, params, flags)
    # weights as 0-dim tensors: compiled once for all values, not once per value
    weights = tuple(tuple(torch.tensor(v, dtype=a1.dtype) for v in p) for p in params)
    outs = [_memory.empty((n1, n2), dtype=a1.dtype, device=a1.device) for _ in range(2)]
    if batch_size is None:
        batch_size = max(16, min(n1, _FUSED_TILE_ENTRIES // max(1, n2)))

    def part(std, sl):
        return tuple([t if t is None else t[sl] for t in lst] for lst in std)

    token = _compile.ACTIVE.set(True)
    try:
        for i0 in range(0, n1, batch_size):
            i1 = min(n1, i0 + batch_size)
            r, c = slice(i0, i1), slice(i0 if same else 0, n2)
            views = [o[r, c] for o in outs]
            fast = bool(norms1[r].all()) and bool(norms2[c].all())
            if fast:
                cos = u1[r] @ u2[c].T
                args = (cos, None, part(rows, r), part(cols, c), None)
                near = _compile.call(
                    _relu_run, *args, weights, flags, same, False, True, views, distinct_sizes=True
                )
                if bool(near):
                    pairs = (cos.abs() > _STABLE_COS).nonzero()
                    i, j = pairs[:, 0] + r.start, pairs[:, 1] + c.start
                    keep = j > i if same else slice(None)  # the upper triangle, no diagonal
                    stable = (a1, a2, u1, u2, rows, cols, params, flags)
                    _stable_pairs(i[keep], j[keep], *stable, outs)
            if fast and same:
                for o in outs:
                    # mirror images outside the compiled loop: its transposed stores cost 3x
                    o[i1:, r].copy_(o[r, i1:].T)
                    square = o[r, r]
                    square.copy_(torch.triu(square) + torch.triu(square, 1).T)
            elif not fast:
                jobs = [(r, True), (slice(i1, n2), False)] if same else [(c, False)]
                for cs, diag in jobs:
                    if cs.start == cs.stop:
                        continue
                    for o, value in zip(outs, compute(a1[r], a2[cs], diag), strict=True):
                        o[r, cs] = (value + value.T) / 2 if diag else value
                        if same and not diag:
                            o[cs, r] = value.T
    finally:
        _compile.ACTIVE.reset(token)
    if same:
        diagonal = _relu_diagonal(norms1, (a1 * a1).sum(1), params, flags)
        for o, value in zip(outs, diagonal, strict=True):
            o.diagonal().copy_(value)
    return outs


def _stable_pairs(i, j, a1, a2, u1, u2, rows, cols, params, flags, outs):
    """Sigma and Theta of the pairs ``(i[k], j[k])`` from their stable angles
    (:func:`_pair_angles`), eagerly, written into ``outs``: the pairs whose cosine is beyond
    0.99 in a compiled block, where the cosine from a matrix product has lost half its digits."""
    for k0 in range(0, i.shape[0], _PAIR_CHUNK):
        ik, jk = i[k0 : k0 + _PAIR_CHUNK], j[k0 : k0 + _PAIR_CHUNK]
        cos, sin = _pair_angles(u1[ik], u2[jk])
        rp = tuple([t if t is None else t[ik] for t in lst] for lst in rows)
        cp = tuple([t if t is None else t[jk] for t in lst] for lst in cols)
        sigma_1 = (a1[ik] * a2[jk]).sum(1)
        res = _relu_run(cos, sin, rp, cp, sigma_1, params, flags, False, False, False, pairs=True)
        for out, value in zip(outs, res[:2], strict=True):
            out[ik, jk] = value


def tiled(x1, x2, same, batch_size, compute, n_out, grad):
    """Run ``compute(rows, cols, diag)`` over row tiles (upper triangle only when ``same``).

    On a CPU the tiles are small enough to stay in cache, and they are
    spread over ``torch.get_num_threads()`` Python threads with torch's intra-op parallelism
    set to one thread meanwhile (restored afterwards): elementwise operations on small tiles
    would otherwise pay a thread synchronisation per operation.  When autograd records
    (``grad``) the whole matrix is one tile, computed out of place.
    """
    if grad:
        res = compute(x1, x2, same)
        return [(r + r.T) / 2 if same else r for r in res]
    n1, n2 = x1.shape[0], x2.shape[0]
    cpu = x1.device.type == "cpu"
    if batch_size is None:
        entries = _TILE_ENTRIES["cpu" if cpu else "other"]
        batch_size = max(1, min(n1, entries // max(1, n2)))
    outs = [_memory.empty((n1, n2), dtype=x1.dtype, device=x1.device) for _ in range(n_out)]
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

    n_threads = torch.get_num_threads()
    if cpu and n_threads > 1 and len(jobs) > 1:
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(run, jobs))
        finally:
            torch.set_num_threads(n_threads)
    else:
        for job in jobs:
            run(job)
    return outs

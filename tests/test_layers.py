"""Tests of ntklab.layers against independent references.

* neural-tangents 0.6.5 (kernels stored in tests/reference/nt_reference.npz by
  tests/reference/make_nt_reference.py, run in its own virtual environment);
* a slow direct implementation written here (explicit loops over pixel pairs and offsets);
* for fully connected networks, the two engines against each other: the chain engine
  (angles carried from layer to layer; ntklab.analytic.mlp_kernels) and the generic tile
  engine (covariances), reached by a leading Identity;
* Monte Carlo over wide ``arch.network``s (empirical NTK by torch.func Jacobians, NNGP by
  averaging products of outputs over seeds).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, jacrev, vmap

from ntklab import analytic
from ntklab import layers as L

REFERENCE = Path(__file__).parent / "reference" / "nt_reference.npz"


def _conv(k=3, stride=1, padding="same", w=1.5, b=0.1):
    return L.Conv(kernel_size=k, stride=stride, padding=padding, W_std=w, b_std=b)


# the same architectures as make_nt_reference.ARCHS
ARCHS = {
    "mlp_relu": lambda: L.serial(
        L.Dense(1.5, 0.1), L.ReLU(), L.Dense(1.2, 0.3), L.ReLU(), L.Dense(1.5, 0.1)
    ),
    "mlp_erf": lambda: L.serial(L.Dense(1.2, 0.3), L.Erf(), L.Dense(0.9, 0.5)),
    "mlp_layernorm": lambda: L.serial(L.Dense(1.5, 0.1), L.LayerNorm(), L.Erf(), L.Dense(1.5, 0.1)),
    "cnn_same_flatten": lambda: L.serial(
        _conv(), L.ReLU(), _conv((2, 3)), L.ReLU(), L.Flatten(), L.Dense(1.5, 0.1)
    ),
    "cnn_valid_flatten": lambda: L.serial(
        _conv(3, 1, "valid"),
        L.ReLU(),
        _conv(2, 2, "valid", 1.1, 0.0),
        L.Erf(),
        L.Flatten(),
        L.Dense(1.5, 0.1),
    ),
    "cnn_circular_flatten": lambda: L.serial(
        _conv(3, 1, "circular"), L.ReLU(), _conv(3, 2, "circular"), L.Flatten(), L.Dense(1.5, 0.1)
    ),
    "cnn_stride_same_gap": lambda: L.serial(
        _conv(3, 2, "same"), L.ReLU(), L.GlobalAvgPool(), L.Dense(1.5, 0.1)
    ),
    "cnn_gap": lambda: L.serial(
        _conv(),
        L.ReLU(),
        _conv(3, 1, "same", 1.3, 0.2),
        L.ReLU(),
        L.GlobalAvgPool(),
        L.Dense(1.5, 0.1),
    ),
    "cnn_avgpool": lambda: L.serial(
        _conv(),
        L.ReLU(),
        L.AvgPool(2, stride=2),
        _conv(2, 1, "valid"),
        L.Erf(),
        L.AvgPool(2),
        L.Flatten(),
        L.Dense(1.5, 0.1),
    ),
    "cnn_avgpool_same_circular": lambda: L.serial(
        _conv(),
        L.ReLU(),
        L.AvgPool(3, padding="same"),
        _conv(),
        L.ReLU(),
        L.AvgPool(2, stride=2, padding="circular"),
        L.GlobalAvgPool(),
        L.Dense(1.5, 0.1),
    ),
    "resnet": lambda: L.serial(
        _conv(),
        L.FanOut(2),
        L.parallel(L.serial(L.ReLU(), _conv(), L.ReLU(), _conv()), L.Identity()),
        L.FanInSum(),
        L.ReLU(),
        L.GlobalAvgPool(),
        L.Dense(1.5, 0.1),
    ),
    "cnn_layernorm": lambda: L.serial(
        _conv(), L.LayerNorm(), L.ReLU(), _conv(), L.ReLU(), L.GlobalAvgPool(), L.Dense(1.5, 0.1)
    ),
    "cnn_layernorm_flatten": lambda: L.serial(
        _conv(), L.LayerNorm(), L.Erf(), L.Flatten(), L.Dense(1.5, 0.1)
    ),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


def _rel(a, b) -> float:
    a, b = torch.as_tensor(a), torch.as_tensor(b, dtype=a.dtype)
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_matches_neural_tangents(reference, name):
    kind = "vec" if name.startswith("mlp") else "img"
    x1 = torch.from_numpy(reference[f"{kind}_x1"])
    x2 = torch.from_numpy(reference[f"{kind}_x2"])
    arch = ARCHS[name]()
    k11, k12 = arch.kernels(x1), arch.kernels(x1, x2)
    off = ~torch.eye(x1.shape[0], dtype=torch.bool)
    for key in ("nngp", "ntk"):
        ours, theirs = getattr(k11, key), torch.from_numpy(reference[f"{name}/{key}"])
        assert _rel(ours[off], theirs[off]) < 1e-10
        # on the diagonal neural-tangents takes arccos of a cosine rounded to 1 - eps (an angle
        # of about 1e-8, so E[relu' relu'] is off by about 1e-9 without pooling); ntklab uses
        # the exact angle 0 of a point with itself
        assert _rel(ours.diagonal(), theirs.diagonal()) < 1e-8
    assert _rel(k12.nngp, reference[f"{name}/nngp12"]) < 1e-10
    assert _rel(k12.ntk, reference[f"{name}/ntk12"]) < 1e-10


def test_reference_fixture_is_small():
    assert REFERENCE.stat().st_size < 200_000


# --- fully connected networks: the chain engine (analytic.mlp_kernels) against the generic one -


def _generic(arch):
    """The same kernels by the generic tile engine: a leading Identity hides the chain."""
    return L.serial(L.Identity(), arch)


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_mlp_equals_mlp_kernels(activation, depth):
    gen = torch.Generator().manual_seed(depth)
    x1 = torch.randn(9, 6, generator=gen, dtype=torch.float64)
    x2 = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    act = {"relu": L.ReLU, "erf": L.Erf}[activation]
    body = [layer for _ in range(depth) for layer in (L.Dense(1.4, 0.3), act())]
    arch = L.serial(*body, L.Dense(1.4, 0.3))
    for a, b in ((x1, None), (x1, x2)):
        ref = analytic.mlp_kernels(a, b, depth=depth, activation=activation, W_std=1.4, b_std=0.3)
        torch.testing.assert_close(arch.kernels(a, b).ntk, ref.ntk, rtol=0, atol=0)
        k = _generic(arch).kernels(a, b)
        torch.testing.assert_close(k.nngp, ref.nngp, rtol=0, atol=1e-12)
        torch.testing.assert_close(k.ntk, ref.ntk, rtol=0, atol=1e-12)


def test_relu_zero_input_and_exact_diagonal():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [1.0, 2.0 + 1e-9]], dtype=torch.float64)
    arch = _generic(L.serial(L.Dense(1.5), L.ReLU(), L.Dense(1.5), L.ReLU(), L.Dense(1.5)))
    k = arch.kernels(x)
    assert torch.isfinite(k.ntk).all()
    assert torch.isfinite(k.nngp).all()
    assert float(k.nngp[0].abs().max()) == 0.0
    assert float(k.ntk[0].abs().max()) == 0.0
    assert torch.equal(k.ntk, k.ntk.T)
    ref = analytic.mlp_kernels(x, depth=2, W_std=1.5)
    # mlp_kernels takes the angle 4e-10 of points 1 and 2 from the input vectors; the engine
    # sees only their covariance, whose cosine 1 - 1e-19 rounds to 1 (an error of angle / 2 pi)
    torch.testing.assert_close(k.ntk, ref.ntk, rtol=1e-9, atol=0)
    copy = torch.cat([x, x[1:2]])  # an exact copy gets the exact angle 0 against its original
    k = arch.kernels(copy[:2], copy[3:])
    ref = analytic.mlp_kernels(copy[:2], copy[3:], depth=2, W_std=1.5)
    torch.testing.assert_close(k.ntk, ref.ntk, rtol=0, atol=1e-12)


def test_chain_mixed_activations_and_trailing_activation_match_generic_engine():
    gen = torch.Generator().manual_seed(11)
    x1 = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    x2 = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    arch = L.serial(
        L.Dense(1.3, 0.2), L.Erf(), L.Dense(1.1), L.ReLU(), L.Dense(1.4, 0.1), L.ReLU(),
        L.Dense(0.9, 0.3), L.Identity(), L.Dense(1.2), L.ReLU(),
    )  # fmt: skip
    for b in (None, x2):
        k, ref = arch.kernels(x1, b), _generic(arch).kernels(x1, b)
        torch.testing.assert_close(k.nngp, ref.nngp, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(k.ntk, ref.ntk, rtol=1e-10, atol=1e-12)


def test_same_tensor_twice_is_the_symmetric_path():
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    arch = L.serial(L.Dense(1.4, 0.1), L.ReLU(), L.Dense(1.4, 0.1), L.ReLU(), L.Dense(1.4, 0.1))
    twice, once = arch.kernels(x, x, batch_size=7), arch.kernels(x, batch_size=7)
    assert torch.equal(twice.ntk, once.ntk)
    assert torch.equal(twice.ntk, twice.ntk.T)
    ref = arch.kernels(x, x.clone(), batch_size=7)  # another tensor: every pair computed
    torch.testing.assert_close(twice.ntk, ref.ntk, rtol=1e-13, atol=0)


def test_dense_tensor_std_gradient():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)

    def ntk(w, b):
        arch = L.serial(L.Dense(w, b), L.ReLU(), L.Dense(w, b), L.Erf(), L.Dense(w, b))
        return arch.kernels(x).ntk

    w = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ntk, (w, b))
    with pytest.raises(TypeError, match="W_std"):
        # float32 against float64 inputs
        L.serial(L.Dense(W_std=torch.tensor(1.0)), L.ReLU(), L.Dense()).kernels(x)
    with pytest.raises(ValueError, match="W_std"):
        L.Dense(W_std=torch.tensor(-1.0))


@pytest.fixture
def no_compiler(monkeypatch):
    """``torch.compile`` that fails at the first call, as where no C++ compiler is found."""
    from ntklab.layers import _compile

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no compiler here")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(_compile, "_compiled", {})
    monkeypatch.setattr(_compile, "_broken", [])


@pytest.mark.parametrize("b_std", [0.0, 0.1])
def test_chain_compile_failure_falls_back_to_eager(no_compiler, monkeypatch, b_std):
    from ntklab.layers import _chain

    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x[20] = 0.0  # a zero input (b_std = 0: its blocks run eagerly)
    x[26] = x[25] * (1 + 1e-9)  # a near pair: recomputed alone with the stable angles
    arch = L.serial(*[L.Dense(1.4, b_std), L.ReLU()] * 2, L.Dense(1.4, b_std))
    eager_tiles, stable_pairs = [], []
    tile, pairs = _chain._tile, _chain._stable_pairs
    monkeypatch.setattr(_chain, "_tile", lambda *a: eager_tiles.append(1) or tile(*a))
    monkeypatch.setattr(
        _chain, "_stable_pairs", lambda i, j, *a: stable_pairs.append((i, j)) or pairs(i, j, *a)
    )
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        k = arch.kernels(x, compiled=True, batch_size=8)
    assert [(i.tolist(), j.tolist()) for i, j in stable_pairs] == [([25], [26])]
    assert bool(eager_tiles) == (b_std == 0)
    for x2 in (None, x[:11]):
        got_k = k if x2 is None else arch.kernels(x, x2, compiled=True, batch_size=8)
        ref = arch.kernels(x, x2, compiled=False, batch_size=8)
        # the fused blocks' function then runs eagerly: the same formulas, in its own order
        for got, want in ((got_k.nngp, ref.nngp), (got_k.ntk, ref.ntk)):
            torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
            if x2 is None:
                assert torch.equal(got, got.T)
                assert torch.equal(got.diagonal(), want.diagonal())


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("NTKLAB_COMPILE_TESTS"),
    reason="compiles with TorchInductor (about 1 min); set NTKLAB_COMPILE_TESTS=1",
)
@pytest.mark.parametrize("b_std", [0.0, 0.1])
def test_chain_compiled_equals_eager(b_std):
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(300, 6, generator=gen, dtype=torch.float64)
    x[3] = 0.0  # a zero input
    x[5] = x[4] * (1 + 1e-12)  # a tiny angle
    arch = L.serial(*[L.Dense(1.4, b_std), L.ReLU()] * 3, L.Dense(1.4, b_std))
    for b in (None, x[:17]):
        k = arch.kernels(x, b, compiled=True, batch_size=64)
        ref = arch.kernels(x, b, compiled=False, batch_size=64)
        for got, want in ((k.nngp, ref.nngp), (k.ntk, ref.ntk)):
            torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)
            assert torch.isfinite(got).all()
        if b is None:
            assert torch.equal(k.ntk, k.ntk.T)
            torch.testing.assert_close(k.ntk.diagonal(), ref.ntk.diagonal(), rtol=0, atol=0)


def test_quadrature_activation_matches_closed_form():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 4, 4, generator=gen, dtype=torch.float64)
    body = [_conv(), L.ReLU(), L.AvgPool(2)]
    closed = L.serial(*body, _conv(), L.Erf(), L.GlobalAvgPool(), L.Dense()).kernels(x)
    quad = L.serial(
        *body, _conv(), L.Activation(torch.erf, quadrature_order=48), L.GlobalAvgPool(), L.Dense()
    ).kernels(x)
    torch.testing.assert_close(quad.ntk, closed.ntk, rtol=1e-8, atol=0)
    torch.testing.assert_close(quad.nngp, closed.nngp, rtol=1e-8, atol=0)


# --- a slow direct implementation: loops over pixel pairs ------------------------------------


def _slow_padded(s, i, size, padding, before):
    """Index into an image axis after padding, or None for a zero pixel."""
    j = i - before
    if padding == "circular":
        return j % size
    return j if 0 <= j < size else None


def _slow_conv(cov, k, stride, padding, w, b):
    """Conv map on one (H, W, H, W) pixel-pair covariance, by loops."""
    h, wd = cov.shape[:2]
    geo = []
    for size in (h, wd):
        if padding == "valid":
            geo.append(((size - k) // stride + 1, 0))
        else:
            out = -(-size // stride)
            geo.append((out, max((out - 1) * stride + k - size, 0) // 2))
    (ho, bh), (wo, bw) = geo
    res = np.zeros((ho, wo, ho, wo))
    for y, x, y2, x2 in np.ndindex(ho, wo, ho, wo):
        total = 0.0
        for dy in range(k):
            for dx in range(k):
                a = _slow_padded(cov, stride * y + dy, h, padding, bh)
                c = _slow_padded(cov, stride * x + dx, wd, padding, bw)
                a2 = _slow_padded(cov, stride * y2 + dy, h, padding, bh)
                c2 = _slow_padded(cov, stride * x2 + dx, wd, padding, bw)
                if None not in (a, c, a2, c2):
                    total += cov[a, c, a2, c2]
        res[y, x, y2, x2] = total / (k * k)
    return w * w * res + b * b


def _slow_pool(cov, k, stride):
    """AvgPool map (valid padding) on a pixel-pair covariance, by loops."""
    h = cov.shape[0]
    ho = (h - k) // stride + 1
    res = np.zeros((ho, ho, ho, ho))
    for y, x, y2, x2 in np.ndindex(ho, ho, ho, ho):
        vals = [
            cov[stride * y + a, stride * x + c, stride * y2 + a2, stride * x2 + c2]
            for a, c, a2, c2 in np.ndindex(k, k, k, k)
        ]
        res[y, x, y2, x2] = np.mean(vals)
    return res


def _slow_relu(c, v1, v2):
    """Arc-cosine kernels of one entry: E[relu relu] and E[step step]."""
    s = math.sqrt(v1 * v2)
    t = math.acos(min(1.0, max(-1.0, c / s)))
    return s * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi), (math.pi - t) / (
        2 * math.pi
    )


def _slow_kernels(xa, xb, layers):
    """NNGP and NTK of one pair of images (C, H, W) through ``layers``, all by loops."""
    chans = xa.shape[0]
    cov = {
        (i, j): np.einsum("cab,cde->abde", u, v) / chans
        for (i, u), (j, v) in [((0, xa), (0, xa)), ((0, xa), (1, xb)), ((1, xb), (1, xb))]
    }
    ntk = {key: np.zeros_like(val) for key, val in cov.items()}
    for kind, *args in layers:
        if kind == "conv":
            k, stride, padding, w, b = args
            for key in cov:
                new = _slow_conv(cov[key], k, stride, padding, w, b)
                ntk[key] = new + _slow_conv(ntk[key], k, stride, padding, w, 0.0)
                cov[key] = new
        elif kind == "pool":
            for key in cov:
                cov[key], ntk[key] = _slow_pool(cov[key], *args), _slow_pool(ntk[key], *args)
        elif kind == "relu":
            var = {i: np.einsum("abab->ab", cov[(i, i)]) for i in (0, 1)}
            for (i, j), val in list(cov.items()):
                new, dot = np.zeros_like(val), np.zeros_like(val)
                for p in np.ndindex(*val.shape):
                    new[p], dot[p] = _slow_relu(val[p], var[i][p[:2]], var[j][p[2:]])
                cov[(i, j)], ntk[(i, j)] = new, ntk[(i, j)] * dot
        elif kind == "flatten":
            return {k_: np.einsum("abab->", v) / v[..., 0, 0].size for k_, v in cov.items()}, {
                k_: np.einsum("abab->", v) / v[..., 0, 0].size for k_, v in ntk.items()
            }
        elif kind == "gap":
            return {k_: v.mean() for k_, v in cov.items()}, {k_: v.mean() for k_, v in ntk.items()}
    raise AssertionError("end with flatten or gap")


SLOW_CASES = {
    "same_flatten": [("conv", 3, 1, "same", 1.5, 0.1), ("relu",), ("flatten",)],
    "valid_stride_gap": [("conv", 2, 2, "valid", 1.2, 0.3), ("relu",), ("gap",)],
    "circular_pool_gap": [
        ("conv", 3, 1, "circular", 1.5, 0.0),
        ("relu",),
        ("pool", 2, 1),
        ("conv", 3, 2, "same", 1.1, 0.2),
        ("gap",),
    ],
    "pool_first_flatten": [("pool", 2, 2), ("conv", 2, 1, "valid", 1.0, 0.5), ("flatten",)],
}


def _as_arch(spec):
    layers = []
    for kind, *args in spec:
        if kind == "conv":
            k, stride, padding, w, b = args
            layers.append(L.Conv(kernel_size=k, stride=stride, padding=padding, W_std=w, b_std=b))
        elif kind == "pool":
            layers.append(L.AvgPool(args[0], stride=args[1]))
        else:
            layers.append({"relu": L.ReLU, "flatten": L.Flatten, "gap": L.GlobalAvgPool}[kind]())
    return L.serial(*layers)


@pytest.mark.parametrize("case", sorted(SLOW_CASES))
def test_against_slow_loops(case):
    spec = SLOW_CASES[case]
    rng = np.random.default_rng(7)
    xa, xb = rng.standard_normal((2, 2, 5, 5))
    nngp, ntk = _slow_kernels(xa, xb, spec)
    k = _as_arch(spec).kernels(torch.from_numpy(np.stack([xa, xb])))
    for (i, j), val in nngp.items():
        assert float(k.nngp[i, j]) == pytest.approx(val, rel=1e-12, abs=1e-14)
        assert float(k.ntk[i, j]) == pytest.approx(ntk[(i, j)], rel=1e-12, abs=1e-14)


# --- Monte Carlo over finite networks --------------------------------------------------------


def _empirical_ntk(net, x):
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(p, xi):
        return functional_call(net, p, (xi[None],)).reshape(())

    jac = vmap(jacrev(f), (None, 0))(params, x)
    flat = torch.cat([j.reshape(x.shape[0], -1) for j in jac.values()], dim=1)
    return flat @ flat.T


MC_ARCHS = {
    "cnn_pool": lambda: L.serial(
        _conv(3, 1, "same", 1.5, 0.1),
        L.ReLU(),
        L.AvgPool(2, stride=2),
        _conv(2, 1, "valid"),
        L.Erf(),
        L.GlobalAvgPool(),
        L.Dense(1.5, 0.1),
    ),
    "resnet": lambda: L.serial(
        _conv(3, 1, "circular"),
        L.FanOut(2),
        L.parallel(L.serial(L.ReLU(), _conv(), L.LayerNorm()), L.Identity()),
        L.FanInSum(),
        L.ReLU(),
        L.Flatten(),
        L.Dense(1.5, 0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(MC_ARCHS))
def test_empirical_ntk_converges_like_inverse_sqrt_width(name):
    arch = MC_ARCHS[name]()
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ntk = arch.kernels(x).ntk
    widths, errors = [8, 32, 128], []
    for width in widths:
        errs = [
            float(
                (_empirical_ntk(arch.network((2, 6, 6), width, seed=s), x) - ntk).norm()
                / ntk.norm()
            )
            for s in range(4)
        ]
        errors.append(np.sqrt(np.mean(np.square(errs))))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert errors[-1] < 0.2, errors
    assert -0.85 < slope < -0.3, (slope, errors)


@pytest.mark.parametrize("name", sorted(MC_ARCHS))
def test_nngp_is_the_output_covariance(name):
    arch = MC_ARCHS[name]()
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    nngp = arch.kernels(x).nngp
    outs = []
    with torch.no_grad():
        for s in range(40):
            y = arch.network((2, 6, 6), 96, d_out=32, seed=s)(x)  # (4, 32)
            outs.append(y.T)
    y = torch.cat(outs)  # samples x points
    emp = y.T @ y / y.shape[0]
    assert float((emp - nngp).norm() / nngp.norm()) < 0.1


# --- properties, dtype, gradients ------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 5),
    size=st.integers(5, 6),  # big enough for two "valid" convolutions and a pooling
    padding=st.sampled_from(L.PADDINGS),
    readout=st.sampled_from(["flatten", "gap", "pool"]),
)
def test_gram_matrices_are_symmetric_psd(seed, n, size, padding, readout):
    x = torch.randn(
        n, 2, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    tail = {
        "flatten": [L.Flatten()],
        "gap": [L.GlobalAvgPool()],
        "pool": [L.AvgPool(2), L.Flatten()],
    }[readout]
    arch = L.serial(
        _conv(3, 1, padding), L.ReLU(), _conv(2, 1, padding), L.Erf(), *tail, L.Dense(1.2, 0.1)
    )
    k = arch.kernels(x, batch_size=2)
    for g in (k.nngp, k.ntk):
        assert torch.equal(g, g.T)
        assert float(torch.linalg.eigvalsh(g).min()) > -1e-10 * float(g.diagonal().max())


def test_tiles_do_not_change_the_result():
    x = torch.randn(7, 1, 5, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    arch = ARCHS["cnn_gap"]()
    whole, tiled = arch.kernels(x), arch.kernels(x, batch_size=3)
    torch.testing.assert_close(tiled.ntk, whole.ntk, rtol=1e-13, atol=0)
    cross = arch.kernels(x[:3], x, batch_size=2)
    torch.testing.assert_close(cross.ntk, whole.ntk[:3], rtol=1e-13, atol=0)


def test_inplace_relu_map_equals_the_differentiable_one():
    # the no-grad path (in place) against the autograd path, on cosines near +-1 and 0,
    # zero variances (either side), and a zero covariance against a zero variance
    gen = torch.Generator().manual_seed(4)
    va = torch.rand(5, 1, generator=gen, dtype=torch.float64) + 0.1
    vb = torch.rand(1, 7, generator=gen, dtype=torch.float64) + 0.1
    va[2], vb[0, 3] = 0.0, 0.0
    cos = torch.rand(5, 7, generator=gen, dtype=torch.float64) * 2 - 1
    cos[0, :4] = torch.tensor([1.0, -1.0, 1 - 4e-16, -1 + 3e-15], dtype=torch.float64)
    c = cos * (va * vb).sqrt()
    c[1, 3] = -0.0
    for fast, slow in zip(L.ReLU._pair_inplace(c, va, vb), L.ReLU._pair(c, va, vb), strict=True):
        torch.testing.assert_close(fast, slow, rtol=1e-15, atol=1e-16)


def test_compile_failure_falls_back_to_eager(no_compiler):
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    arch = ARCHS["cnn_gap"]()
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        k = arch.kernels(x, compiled=True)
    ref = arch.kernels(x, compiled=False)
    torch.testing.assert_close(k.ntk, ref.ntk, rtol=1e-15, atol=0)
    with pytest.raises(TypeError, match="compiled"):
        arch.kernels(x, compiled="yes")


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("NTKLAB_COMPILE_TESTS"),
    reason="compiles with TorchInductor (about 1 min); set NTKLAB_COMPILE_TESTS=1",
)
def test_compiled_maps_give_the_eager_numbers():
    x = torch.randn(9, 2, 5, 5, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    for name in ("cnn_gap", "cnn_circular_flatten", "mlp_erf"):
        arch = ARCHS[name]()
        xs = x.reshape(9, -1) if name.startswith("mlp") else x
        compiled, eager = arch.kernels(xs, compiled=True), arch.kernels(xs, compiled=False)
        torch.testing.assert_close(compiled.ntk, eager.ntk, rtol=1e-13, atol=0)
        torch.testing.assert_close(compiled.nngp, eager.nngp, rtol=1e-13, atol=0)


def test_dtype_is_kept_and_mixing_refused():
    x = torch.randn(3, 1, 4, 4)
    arch = L.serial(_conv(), L.ReLU(), L.GlobalAvgPool(), L.Dense())
    k = arch.kernels(x)
    assert k.ntk.dtype == torch.float32
    assert k.nngp.device == x.device
    with pytest.raises(TypeError, match="x1 and x2"):
        arch.kernels(x, x.double())
    assert arch.kernels(x.double().numpy()).ntk.dtype == torch.float64


def test_kernels_are_differentiable():
    gen = torch.Generator().manual_seed(5)
    x1 = torch.randn(2, 1, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(2, 1, 4, 4, generator=gen, dtype=torch.float64)
    arch = L.serial(_conv(), L.ReLU(), L.AvgPool(2), _conv(), L.Erf(), L.GlobalAvgPool(), L.Dense())
    assert torch.autograd.gradcheck(lambda a: arch.kernels(a, x2).ntk, (x1,))
    arch.kernels(x1).ntk.sum().backward()  # no in-place error on the symmetric path
    assert torch.isfinite(x1.grad).all()


def test_network_is_reproducible_and_ntk_parameterized():
    arch = L.serial(_conv(), L.ReLU(), L.Flatten(), L.Dense())
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    a = arch.network((1, 4, 4), 8, seed=3)(x)
    b = arch.network((1, 4, 4), 8, generator=torch.Generator().manual_seed(3))(x)
    assert torch.equal(a, b)
    assert a.shape == (3, 1)
    net = arch.network((1, 4, 4), 8, seed=3)
    assert all(
        float(p.detach().std()) > 0.5 for p in net.parameters() if p.numel() > 1
    )  # N(0, 1) parameters
    with pytest.raises(ValueError, match="seed or generator"):
        arch.network((1, 4, 4), 8, seed=1, generator=torch.Generator())


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "x", "error", "match"),
    [
        (lambda: L.serial(L.Conv(), L.Flatten(), L.Dense()), torch.ones(2, 3), ValueError, "Conv"),
        (lambda: L.serial(L.Dense()), torch.ones(2, 1, 4, 4), ValueError, "Flatten"),
        (
            lambda: L.serial(L.Conv(kernel_size=5, padding="valid"), L.Flatten()),
            torch.ones(2, 1, 4, 4),
            ValueError,
            "kernel_size",
        ),
        (
            lambda: L.serial(L.AvgPool(5), L.Flatten()),
            torch.ones(2, 1, 4, 4),
            ValueError,
            "kernel_size",
        ),
        (lambda: L.serial(L.Conv()), torch.ones(2, 1, 4, 4), ValueError, "end with vectors"),
        (
            lambda: L.serial(L.FanOut(2), L.parallel(L.Dense())),
            torch.ones(2, 3),
            ValueError,
            "parallel",
        ),
        (lambda: L.serial(L.Dense()), torch.ones(2, 3, 4), ValueError, "x1"),
    ],
)
def test_bad_shapes(build, x, error, match):
    with pytest.raises(error, match=match):
        build().kernels(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        L.Conv(padding="reflect")
    with pytest.raises(ValueError, match="W_std"):
        L.Dense(W_std=-1.0)
    with pytest.raises(ValueError, match="b_std"):
        L.Conv(b_std=-0.1)
    with pytest.raises(TypeError, match="kernel_size"):
        L.Conv(kernel_size=2.5)
    with pytest.raises(TypeError, match="layers"):
        L.serial(L.Dense(), "relu")
    with pytest.raises(ValueError, match="quadrature_order"):
        L.Activation(torch.tanh, quadrature_order=0)
    arch = L.serial(L.Conv(), L.Flatten(), L.Dense())
    with pytest.raises(ValueError, match="Conv"):
        arch.network((3,), 4)
    with pytest.raises(ValueError, match="x2"):
        arch.kernels(torch.ones(2, 1, 4, 4), torch.ones(2, 1, 5, 5))
    with pytest.raises(ValueError, match="width"):
        arch.network((1, 4, 4), 0)

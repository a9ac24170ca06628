"""Infinite-width kernels: closed forms, Monte Carlo, wide networks and a slow loop recursion."""

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntklab import analytic, empirical
from ntklab.networks import MLP, ShallowLeCun, ShallowNTK

F64 = torch.float64


def _slow_recursion(x, z, depth, activation, w_std, b_std):
    """Independent reference: plain Python loops over pairs and layers, math module only.

    A pair of identical points gets the angle 0 exactly (arccos would lose half the digits).
    """
    d = len(x[0])
    nngp = [[0.0] * len(z) for _ in x]
    ntk = [[0.0] * len(z) for _ in x]
    for i, xi in enumerate(x):
        for j, zj in enumerate(z):
            identical = list(xi) == list(zj)
            sxx = w_std**2 * sum(a * a for a in xi) / d + b_std**2
            szz = w_std**2 * sum(a * a for a in zj) / d + b_std**2
            sxz = w_std**2 * sum(a * b for a, b in zip(xi, zj, strict=True)) / d + b_std**2
            theta = sxz
            for _ in range(depth):
                if activation == "relu":
                    rho = max(-1.0, min(1.0, sxz / math.sqrt(sxx * szz)))
                    t = 0.0 if identical else math.acos(rho)
                    e = math.sqrt(sxx * szz) * (math.sin(t) + (math.pi - t) * math.cos(t))
                    e /= 2 * math.pi
                    edot = (math.pi - t) / (2 * math.pi)
                    nxx, nzz = sxx / 2, szz / 2
                else:  # erf (Williams 1997)
                    e = 2 / math.pi * math.asin(2 * sxz / math.sqrt((1 + 2 * sxx) * (1 + 2 * szz)))
                    edot = 4 / math.pi / math.sqrt((1 + 2 * sxx) * (1 + 2 * szz) - 4 * sxz**2)
                    nxx = 2 / math.pi * math.asin(2 * sxx / (1 + 2 * sxx))
                    nzz = 2 / math.pi * math.asin(2 * szz / (1 + 2 * szz))
                sxz = w_std**2 * e + b_std**2
                sxx, szz = w_std**2 * nxx + b_std**2, w_std**2 * nzz + b_std**2
                theta = sxz + w_std**2 * edot * theta
            nngp[i][j], ntk[i][j] = sxz, theta
    return torch.tensor(nngp, dtype=F64), torch.tensor(ntk, dtype=F64)


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize(
    ("depth", "w_std", "b_std"), [(0, 1.0, 0.0), (1, 1.0, 0.0), (3, 1.5, 0.3), (4, 2**0.5, 0.0)]
)
def test_recursion_matches_slow_loops(activation, depth, w_std, b_std):
    gen = torch.Generator().manual_seed(depth)
    x = torch.randn(6, 5, generator=gen, dtype=F64)
    z = torch.cat([torch.randn(3, 5, generator=gen, dtype=F64), x[:2]])
    slow = _slow_recursion(x.tolist(), z.tolist(), depth, activation, w_std, b_std)
    for kw in ({}, {"batch_size": 4}):
        k = analytic.mlp_kernels(
            x, z, depth=depth, activation=activation, W_std=w_std, b_std=b_std, **kw
        )
        assert torch.allclose(k.nngp, slow[0], rtol=1e-12, atol=1e-13)
        assert torch.allclose(k.ntk, slow[1], rtol=1e-12, atol=1e-13)
    same = analytic.mlp_kernels(
        x, depth=depth, activation=activation, W_std=w_std, b_std=b_std, batch_size=4
    )
    slow_same = _slow_recursion(x.tolist(), x.tolist(), depth, activation, w_std, b_std)
    assert torch.allclose(same.ntk, slow_same[1], rtol=1e-12, atol=1e-13)
    assert torch.equal(same.ntk, same.ntk.T)
    assert torch.equal(same.nngp, same.nngp.T)


def test_k_lecun_and_k_ntk_match_examples_11_17_and_11_31():
    gen = torch.Generator().manual_seed(1)
    x, z = torch.randn(5, 7, generator=gen, dtype=F64), torch.randn(4, 7, generator=gen, dtype=F64)
    d = 7
    nx, nz = x.norm(dim=1)[:, None], z.norm(dim=1)[None, :]
    theta = torch.arccos((x @ z.T / (nx * nz)).clamp(-1, 1))
    klc = nx * nz / (2 * math.pi * d) * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta))
    assert torch.allclose(analytic.k_lecun(x, z), klc, rtol=1e-12)
    kntk = (1 + x @ z.T / d) * (math.pi - theta) / (2 * math.pi) + klc + 1
    assert torch.allclose(analytic.k_ntk(x, z), kntk, rtol=1e-12)
    h = x @ z.T * (math.pi - theta) / (2 * math.pi)
    assert torch.allclose(analytic.h_infinity(x, z), h, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_shallow_kernels_match_monte_carlo(activation):
    # u ~ N(0, I/d), 400,000 draws: standard errors below 2e-3 for these bounded-variance terms
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, generator=gen, dtype=F64)
    u = torch.randn(400_000, 3, generator=gen, dtype=F64) / math.sqrt(3)
    h = u @ x.T
    phi = {"relu": torch.relu, "erf": torch.erf, "tanh": torch.tanh}[activation]
    dphi = {
        "relu": lambda t: (t > 0).double(),
        "erf": lambda t: 2 / math.sqrt(math.pi) * torch.exp(-t * t),
        "tanh": lambda t: 1 - torch.tanh(t) ** 2,
    }[activation]
    e_phi = phi(h).T @ phi(h) / u.shape[0]
    e_dphi = dphi(h).T @ dphi(h) / u.shape[0]
    assert (analytic.k_lecun(x, activation=activation) - e_phi).abs().max() < 1e-2
    mc_ntk = (1 + x @ x.T / 3) * e_dphi + e_phi + 1
    assert (analytic.k_ntk(x, activation=activation) - mc_ntk).abs().max() < 2e-2


def test_h_infinity_matches_monte_carlo():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 4, generator=gen, dtype=F64)
    w = torch.randn(400_000, 4, generator=gen, dtype=F64)
    ind = (w @ x.T >= 0).double()
    mc = (x @ x.T) * (ind.T @ ind) / w.shape[0]
    assert (analytic.h_infinity(x) - mc).abs().max() < 5e-3 * (x * x).sum(1).max()


def test_wide_shallow_networks_approach_their_kernels():
    x = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    n = 100_000
    lecun = empirical.ntk(ShallowLeCun(3, n, seed=0), x) / n
    ntk = empirical.ntk(ShallowNTK(3, n, seed=0), x)
    # fluctuations are O(n^-1/2) = 3e-3 times O(1) constants
    assert (lecun - analytic.k_lecun(x)).abs().max() < 2e-2
    assert (ntk - analytic.k_ntk(x)).abs().max() < 5e-2


@pytest.mark.parametrize(
    ("activation", "w_std", "b_std"), [("relu", 2**0.5, 0.0), ("erf", 1.2, 0.5)]
)
def test_wide_mlps_approach_mlp_kernels(activation, w_std, b_std):
    # 6 nets of width 1024: the NNGP from the last hidden layer (a mean over n units) and the
    # tangent kernel; the mean over nets must lie within 4 standard errors (estimated from the
    # same draws) plus an allowance for the O(1/n) finite-width bias
    x = torch.randn(5, 4, dtype=F64, generator=torch.Generator().manual_seed(5))
    k = analytic.mlp_kernels(x, depth=2, activation=activation, W_std=w_std, b_std=b_std)
    ntks, nngps = [], []
    for seed in range(6):
        net = MLP(4, 1024, 2, activation=activation, W_std=w_std, b_std=b_std, seed=seed)
        ntks.append(empirical.ntk(net, x))
        a = x
        for layer in range(2):
            a = net._act.phi(net._layer(layer, a))
        nngps.append(w_std**2 * a @ a.T / 1024 + b_std**2)
    for draws, limit in ((torch.stack(ntks), k.ntk), (torch.stack(nngps), k.nngp)):
        se = draws.std(0) / math.sqrt(draws.shape[0])
        bias = 5 * limit.abs().max() / 1024
        assert ((draws.mean(0) - limit).abs() <= 4 * se + bias).all()
        assert (draws.mean(0) - limit).abs().max() < 0.1 * limit.abs().max()


def test_gauss_hermite_matches_closed_forms_to_the_stated_error():
    x = torch.randn(6, 5, dtype=F64, generator=torch.Generator().manual_seed(6))
    exact = analytic.mlp_kernels(x, depth=2, activation="erf")
    quad = analytic.mlp_kernels(x, depth=2, activation=lambda t: torch.erf(t))
    assert (exact.ntk - quad.ntk).abs().max() < 1e-8  # 3e-9 measured (see the docstring)
    assert (exact.nngp - quad.nngp).abs().max() < 1e-10
    # a polynomial activation of degree 3: the rule is exact; E[a^3 b^3] = 9 q q' c + 6 c^3
    cube = analytic.mlp_kernels(x, depth=1, activation=lambda t: t**3, quadrature_order=8)
    s = x @ x.T / 5
    q = s.diagonal()
    assert torch.allclose(cube.nngp, 9 * q[:, None] * q[None, :] * s + 6 * s**3, rtol=1e-12)


def test_angles_are_accurate_for_nearly_parallel_inputs():
    # reference in 50-digit arithmetic; arccos of the rounded cosine would be off by ~1e-8
    x = torch.tensor([[1.0, 0.3, -0.2]], dtype=F64)
    z = x + torch.tensor([[0.0, 1e-9, 0.0]], dtype=F64)
    mpmath.mp.dps = 50
    xm, zm = [mpmath.mpf(float(v)) for v in x[0]], [mpmath.mpf(float(v)) for v in z[0]]
    dot = mpmath.fsum(a * b for a, b in zip(xm, zm, strict=True))
    nx = mpmath.sqrt(mpmath.fsum(a * a for a in xm))
    nz = mpmath.sqrt(mpmath.fsum(a * a for a in zm))
    t = mpmath.acos(dot / (nx * nz))
    h_ref = float(dot * (mpmath.pi - t) / (2 * mpmath.pi))
    assert abs(analytic.h_infinity(x, z).item() - h_ref) < 1e-15
    ntk_ref = (
        float((1 + dot / 3) * (mpmath.pi - t) / (2 * mpmath.pi))
        + float(nx * nz / (6 * mpmath.pi) * (mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t)))
        + 1
    )
    assert abs(analytic.k_ntk(x, z).item() - ntk_ref) < 1e-14
    # deep recursion: the kernel is Lipschitz in the inputs away from the diagonal limit
    k_near = analytic.mlp_kernels(x, z, depth=3, b_std=0.1).ntk.item()
    k_same = analytic.mlp_kernels(x, x, depth=3, b_std=0.1).ntk.item()
    assert abs(k_near - k_same) < 1e-8
    naive = math.acos(min(1.0, float(x @ z.T / (x.norm() * z.norm()))))
    assert abs(naive - float(t)) > 1e-10  # the check above would fail with a naive arccos


def test_zero_inputs_give_finite_limits():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=F64)
    for b_std in (0.0, 0.5):
        k = analytic.mlp_kernels(x, depth=3, b_std=b_std)
        assert torch.isfinite(k.ntk).all()
        assert torch.isfinite(k.nngp).all()
    k = analytic.mlp_kernels(x, depth=3)
    assert k.ntk[0].abs().max() == 0  # with no biases a zero input has a zero kernel row
    # with biases, the zero input is the limit of small inputs
    eps = torch.tensor([[1e-7, -1e-7], [1.0, 2.0]], dtype=F64)
    a, b = (
        analytic.mlp_kernels(x, depth=3, b_std=0.5),
        analytic.mlp_kernels(eps, depth=3, b_std=0.5),
    )
    assert torch.allclose(a.ntk, b.ntk, atol=1e-6)
    assert torch.isfinite(analytic.k_lecun(x)).all()
    assert torch.isfinite(analytic.k_ntk(x)).all()
    assert analytic.h_infinity(x)[0].abs().max() == 0


def test_float32_agrees_with_float64(device):
    x = torch.randn(20, 6, dtype=F64, generator=torch.Generator().manual_seed(7))
    k64 = analytic.mlp_kernels(x, depth=3, b_std=0.2)
    k32 = analytic.mlp_kernels(x.float().to(device), depth=3, b_std=0.2)
    assert k32.ntk.dtype == torch.float32
    assert k32.ntk.device.type == device.type
    assert (k32.ntk.double().cpu() - k64.ntk).abs().max() < 1e-5 * k64.ntk.abs().max()


points = st.integers(2, 7).flatmap(
    lambda m: st.integers(1, 5).flatmap(
        lambda d: st.lists(
            st.floats(-3, 3, allow_nan=False, allow_subnormal=False), min_size=m * d, max_size=m * d
        ).map(lambda v: torch.tensor(v, dtype=F64).reshape(m, d))
    )
)


@settings(max_examples=25, deadline=None)
@given(
    x=points,
    depth=st.integers(0, 3),
    b_std=st.sampled_from([0.0, 0.4]),
    act=st.sampled_from(["relu", "erf"]),
)
def test_gram_matrices_are_symmetric_and_psd(x, depth, b_std, act):
    k = analytic.mlp_kernels(x, depth=depth, activation=act, b_std=b_std)
    for gram in (k.nngp, k.ntk, analytic.k_lecun(x, activation=act), analytic.h_infinity(x)):
        assert torch.equal(gram, gram.T)
        scale = max(1.0, gram.diagonal().abs().max().item())
        assert torch.linalg.eigvalsh(gram).min() > -1e-10 * scale


@settings(max_examples=25, deadline=None)
@given(x=points, alpha=st.floats(0.1, 10), depth=st.integers(0, 3))
def test_relu_kernels_without_bias_are_positively_homogeneous(x, alpha, depth):
    z = x.flip(0)
    k, ka = analytic.mlp_kernels(x, z, depth=depth), analytic.mlp_kernels(alpha * x, z, depth=depth)
    tol = 1e-12 * max(1.0, alpha) * (1 + k.ntk.abs().max())
    assert (ka.ntk - alpha * k.ntk).abs().max() <= tol
    assert (ka.nngp - alpha * k.nngp).abs().max() <= tol
    lc = analytic.k_lecun(alpha * x, z) - alpha * analytic.k_lecun(x, z)
    assert lc.abs().max() <= tol


@settings(max_examples=20, deadline=None)
@given(x=points, seed=st.integers(0, 1000), act=st.sampled_from(["relu", "erf"]))
def test_kernels_are_invariant_under_rotations(x, seed, act):
    d = x.shape[1]
    q, _ = torch.linalg.qr(
        torch.randn(d, d, dtype=F64, generator=torch.Generator().manual_seed(seed))
    )
    k, kr = (
        analytic.mlp_kernels(x, depth=2, activation=act, b_std=0.3),
        analytic.mlp_kernels(x @ q, depth=2, activation=act, b_std=0.3),
    )
    assert torch.allclose(k.ntk, kr.ntk, rtol=1e-9, atol=1e-9)
    assert torch.allclose(
        analytic.k_ntk(x, activation=act), analytic.k_ntk(x @ q, activation=act), atol=1e-9
    )


@pytest.mark.parametrize(
    ("call", "match", "error"),
    [
        (lambda: analytic.mlp_kernels(torch.zeros(3), depth=1), "x1", ValueError),
        (
            lambda: analytic.mlp_kernels(torch.zeros(2, 3), torch.zeros(2, 4), depth=1),
            "x2",
            ValueError,
        ),
        (
            lambda: analytic.mlp_kernels(torch.tensor([[float("inf"), 0.0]]), depth=1),
            "x1",
            ValueError,
        ),
        (
            lambda: analytic.mlp_kernels(torch.zeros(2, 3), depth=1, activation="gelu2"),
            "activation",
            ValueError,
        ),
        (lambda: analytic.mlp_kernels(torch.zeros(2, 3), depth=-1), "depth", ValueError),
        (lambda: analytic.mlp_kernels(torch.zeros(2, 3), depth=1, W_std=-1.0), "W_std", ValueError),
        (lambda: analytic.mlp_kernels(torch.zeros(2, 3), depth=1, b_std=-0.1), "b_std", ValueError),
        (
            lambda: analytic.mlp_kernels(torch.zeros(2, 3), depth=1, quadrature_order=0),
            "quadrature_order",
            ValueError,
        ),
        (lambda: analytic.mlp_kernels("x", depth=1), "x1", TypeError),
        (lambda: analytic.k_lecun(torch.zeros(2, 3), torch.zeros(2, 2)), "x2", ValueError),
        (
            lambda: analytic.k_ntk(torch.zeros(2, 3), activation="softsign"),
            "activation",
            ValueError,
        ),
        (lambda: analytic.h_infinity(torch.zeros(2, 2, 2)), "x1", ValueError),
    ],
)
def test_bad_input_is_named(call, match, error):
    with pytest.raises(error, match=rf"^{match}\b"):
        call()

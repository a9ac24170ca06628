"""Kernels of activations without a closed form (Mehler series plus a direct rule) against
independent references: scipy's adaptive quadrature, erf's closed form, gradcheck."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from torch.autograd import gradcheck

from ntklab import _quadrature, analytic

F64 = torch.float64


def _quad(fn):
    return integrate.quad(fn, -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=400)[0]


def _pdf(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _pair(f, g, q1, q2, c):
    """E[f(a) g(b)] for (a, b) ~ N(0, [[q1, c], [c, q2]]) by nested adaptive quadrature."""
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    rho = max(-1.0, min(1.0, c / (s1 * s2)))
    r = math.sqrt(max(0.0, 1 - rho * rho))

    def inner(z1):
        return _quad(lambda z2: g(s2 * (rho * z1 + r * z2)) * _pdf(z2))

    return _quad(lambda z1: f(s1 * z1) * inner(z1) * _pdf(z1))


def _square(f, q):
    s = math.sqrt(q)
    return _quad(lambda z: f(s * z) ** 2 * _pdf(z))


def _reference(xi, xj, depth, w_std, b_std):
    """NNGP and NTK of one pair of a tanh MLP, every expectation by scipy.integrate.quad."""
    phi, dphi = math.tanh, lambda t: 1 - math.tanh(t) ** 2
    w2, b2, d = w_std**2, b_std**2, len(xi)
    qi, qj, c = (w2 * float(u @ v) / d + b2 for u, v in ((xi, xi), (xj, xj), (xi, xj)))
    theta = c
    for _ in range(depth):
        e_phi, e_dphi = _pair(phi, phi, qi, qj, c), _pair(dphi, dphi, qi, qj, c)
        qi, qj = (w2 * _square(phi, q) + b2 for q in (qi, qj))
        c = w2 * e_phi + b2
        theta = c + w2 * e_dphi * theta
    return c, theta


def _points():
    x = torch.randn(6, 8, dtype=F64, generator=torch.Generator().manual_seed(0))
    x[0] *= 3  # a large norm: pre-activation variance about 20, tanh nearly a step
    x[3] = x[2] + 1e-3  # a near-duplicate pair, correlation 1 - 1e-7
    return x


def test_tanh_mlp_matches_adaptive_quadrature_on_and_off_the_diagonal():
    # the former default (Gauss-Hermite of order 96 per variable) was 18 % off at (0, 0)
    x = _points()
    k = analytic.mlp_kernels(x, depth=3, activation="tanh", W_std=1.5, b_std=0.2)
    for i, j in [(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (0, 3)]:
        nngp, ntk = _reference(x[i].numpy(), x[j].numpy(), 3, 1.5, 0.2)
        assert float(k.nngp[i, j]) == pytest.approx(nngp, rel=1e-10)
        assert float(k.ntk[i, j]) == pytest.approx(ntk, rel=1e-10)


def test_coinciding_points_given_twice_use_the_direct_rule():
    x = _points()
    same = analytic.mlp_kernels(x, depth=3, activation="tanh", W_std=1.5, b_std=0.2)
    twice = analytic.mlp_kernels(x, x.clone(), depth=3, activation="tanh", W_std=1.5, b_std=0.2)
    assert torch.allclose(twice.ntk, same.ntk, rtol=1e-12, atol=0)
    assert torch.allclose(twice.nngp, same.nngp, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("w_std", "b_std"), [(1.0, 0.0), (2.0, 1.0), (4.0, 0.5)])
def test_erf_by_quadrature_matches_its_closed_form_at_large_variances(w_std, b_std):
    # a callable erf is not recognized, so it goes through the quadrature path
    x = torch.randn(7, 5, dtype=F64, generator=torch.Generator().manual_seed(1)) * 2
    closed = analytic.mlp_kernels(x, depth=2, activation="erf", W_std=w_std, b_std=b_std)
    quad = analytic.mlp_kernels(x, depth=2, activation=torch.erf, W_std=w_std, b_std=b_std)
    assert torch.allclose(quad.ntk, closed.ntk, rtol=1e-11, atol=0)
    assert torch.allclose(quad.nngp, closed.nngp, rtol=1e-11, atol=0)


def test_shallow_kernels_by_quadrature_match_erf_closed_form():
    x1 = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(2)) * 3
    x2 = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    for fn in (analytic.k_lecun, analytic.k_ntk):
        assert torch.allclose(
            fn(x1, x2, activation=torch.erf), fn(x1, x2, activation="erf"), rtol=1e-11, atol=0
        )


def test_mehler_coefficients_of_an_exponential():
    # E[exp(s z) He_k(z)] / sqrt(k!) = s^k exp(s^2 / 2) / sqrt(k!), and E[exp(s z)^2] = exp(2 s^2)
    s = torch.tensor([0.3, 0.7, 1.0], dtype=F64)  # exp grows: the grid stops at |z| = 12.5
    ((coef, tail, second),) = _quadrature.point_table((torch.exp,), s)
    k = torch.arange(_quadrature.K_MAX, dtype=F64)
    exact = torch.exp(k * s[:, None].log() + s[:, None] ** 2 / 2 - torch.lgamma(k + 1) / 2)
    assert torch.allclose(coef, exact, rtol=1e-12, atol=1e-12 * float(exact.max()))
    assert torch.allclose(second, torch.exp(2 * s * s), rtol=1e-13, atol=0)
    assert float(tail[:, -1].max()) < 1e-13 * float(second.max())


def test_default_quadrature_is_differentiable():
    x1 = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    x2 = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(5))
    w = torch.tensor(1.3, dtype=F64)

    def f(a, b, w_std):
        k = analytic.mlp_kernels(a, b, depth=2, activation="tanh", W_std=w_std, b_std=0.4)
        return k.nngp, k.ntk

    args = (x1.requires_grad_(), x2.requires_grad_(), w.requires_grad_())
    assert gradcheck(f, args, atol=1e-7, rtol=1e-6, fast_mode=True)

    def g(a):
        k = analytic.mlp_kernels(a, depth=2, activation="tanh", b_std=0.3)
        return k.nngp, k.ntk

    assert gradcheck(g, (x1,), atol=1e-7, rtol=1e-6, fast_mode=True)


def test_one_dimensional_arctan_inputs_near_correlation_one():
    # chapter 5's case: d = 1 with a bias, most pairs have |rho| near 1 and variances up to 50
    x = torch.tensor([[-4.0], [-3.95], [-1.0], [0.0], [0.05], [3.9], [4.0]], dtype=F64)
    w2, b2 = 3.0, 2.0
    k = analytic.mlp_kernels(
        x, depth=1, activation="arctan", W_std=math.sqrt(w2), b_std=math.sqrt(b2)
    )
    q = w2 * x[:, 0] ** 2 + b2
    c = w2 * x[:, 0, None] * x[None, :, 0] + b2
    for i, j in [(0, 1), (0, 0), (5, 6), (3, 4), (2, 6), (0, 6), (1, 5)]:
        ref = w2 * _pair(math.atan, math.atan, float(q[i]), float(q[j]), float(c[i, j])) + b2
        assert float(k.nngp[i, j]) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("name", ["tanh", "arctan", "sigmoid", "sin"])
def test_direct_rule_near_correlation_one_against_adaptive_quadrature(name):
    # both signs of rho, unequal variances (either larger), tiny to large; sin is not flat in
    # the tails: its sinh rule fails the error estimate and the uniform rule takes over
    fn, fm = {
        "tanh": (torch.tanh, math.tanh),
        "arctan": (torch.arctan, math.atan),
        "sigmoid": (torch.sigmoid, lambda t: 0.5 + 0.5 * math.tanh(t / 2)),
        "sin": (torch.sin, math.sin),
    }[name]
    s1 = torch.tensor([0.2, 6.0, 2.0, 9.0, 1.0], dtype=F64)
    s2 = torch.tensor([0.3, 4.0, 5.0, 9.0, 1.0], dtype=F64)
    rho = torch.tensor([0.999, -0.99, 0.9999999, 0.995, -1.0], dtype=F64)
    got = _quadrature._direct(fn, fn, s1, s2, rho, 1e-14)
    for p in range(5):
        q1, q2, c = float(s1[p]) ** 2, float(s2[p]) ** 2, float(rho[p] * s1[p] * s2[p])
        if name == "sin":  # closed form: E[sin a sin b] = exp(-(q1 + q2) / 2) sinh(c)
            ref = math.exp(-(q1 + q2) / 2) * math.sinh(c)
            scale = math.sqrt((1 - math.exp(-2 * q1)) * (1 - math.exp(-2 * q2))) / 2
        else:
            ref, scale = _pair(fm, fm, q1, q2, c), math.sqrt(_square(fm, q1) * _square(fm, q2))
        assert abs(float(got[p]) - ref) <= 1e-11 * scale


def test_layers_activation_uses_the_same_quadrature():
    from ntklab import layers as L

    x = torch.randn(7, 5, dtype=F64, generator=torch.Generator().manual_seed(6)) * 2

    def net(act):
        return L.serial(L.Dense(W_std=2.0, b_std=1.0), act, L.Dense(W_std=2.0, b_std=1.0))

    # a callable erf against its closed form, at variances up to about 30 (Gauss-Hermite of
    # order 64, the former default, is off by a factor there)
    quad, closed = net(L.Activation(torch.erf)).kernels(x), net(L.Erf()).kernels(x)
    assert torch.allclose(quad.ntk, closed.ntk, rtol=1e-10, atol=0)
    assert torch.allclose(quad.nngp, closed.nngp, rtol=1e-10, atol=0)
    # tanh against scipy: the diagonal of the largest point and a pair off it
    y = _points()
    k = net(L.Activation("tanh")).kernels(y)
    q = 4.0 * (y * y).sum(1) / y.shape[1] + 1.0
    c01 = 4.0 * float(y[0] @ y[1]) / y.shape[1] + 1.0
    e = _pair(math.tanh, math.tanh, float(q[0]), float(q[1]), c01)
    assert float(k.nngp[0, 1]) == pytest.approx(4.0 * e + 1.0, rel=1e-10)
    assert float(k.nngp[0, 0]) == pytest.approx(
        4.0 * _square(math.tanh, float(q[0])) + 1.0, rel=1e-10
    )


def test_layers_activation_is_differentiable():
    from ntklab import layers as L

    x = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(7)).requires_grad_()
    net = L.serial(L.Dense(b_std=0.3), L.Activation("tanh"), L.Dense())

    def f(a):
        k = net.kernels(a)
        return k.nngp, k.ntk

    assert gradcheck(f, (x,), atol=1e-7, rtol=1e-6, fast_mode=True)


def test_elementwise_expectations_of_erf_match_the_closed_form():
    # variances 0.01..60, correlations anywhere and near +-1; a point whose series is exhausted
    # (Parseval tail at the rounding level) next to one whose is not must not stop the series
    from ntklab.layers.activations import Erf

    g = torch.Generator().manual_seed(0)
    p = 2000

    def uniform(lo, hi):
        return torch.empty(p, dtype=F64).uniform_(lo, hi, generator=g)

    va = torch.exp(uniform(math.log(0.01), math.log(60)))
    vb = va * torch.exp(uniform(-1.5, 1.5))
    rho = uniform(-1, 1)
    near = torch.rand(p, dtype=F64, generator=g) < 0.5
    rho = torch.where(near, torch.sign(rho) * (1 - torch.exp(uniform(-20, -1))), rho)
    c = rho * (va * vb).sqrt()
    fns = (torch.erf, lambda t: 2 / math.sqrt(math.pi) * torch.exp(-t * t))
    got = _quadrature.expectations(fns, c, va, vb)
    ma, mb = _quadrature.second_moments(fns, va), _quadrature.second_moments(fns, vb)
    for e, ce, m1, m2 in zip(got, Erf._pair(c, va, vb), ma, mb, strict=True):
        assert float(((e - ce).abs() / (m1 * m2).sqrt()).max()) < 1e-12
    assert torch.allclose(ma[0], Erf._diag(va)[0], rtol=1e-13, atol=0)
    assert torch.allclose(ma[1], Erf._diag(va)[1], rtol=1e-13, atol=0)


def test_direct_rule_is_differentiable():
    s1 = torch.tensor([3.0, 0.5], dtype=F64, requires_grad=True)
    s2 = torch.tensor([2.0, 0.7], dtype=F64, requires_grad=True)
    rho = torch.tensor([0.999, -0.995], dtype=F64, requires_grad=True)

    def f(a, b, r):
        return _quadrature._direct(torch.tanh, torch.tanh, a, b, r, 1e-14)

    assert gradcheck(f, (s1, s2, rho), atol=1e-8, rtol=1e-6)


def test_float32_is_as_accurate_as_float32_allows():
    # the coefficient sums over ~1000 nodes lost 1e-3 in float32; the tables are now float64
    x = torch.linspace(-4, 4, 21)[:, None]
    kw = dict(depth=1, activation="arctan", W_std=math.sqrt(3), b_std=math.sqrt(2))
    k32, k64 = analytic.mlp_kernels(x, **kw), analytic.mlp_kernels(x.double(), **kw)
    assert k32.ntk.dtype == torch.float32
    for a, b in ((k32.ntk, k64.ntk), (k32.nngp, k64.nngp)):
        assert float(((a.double() - b).abs() / b.abs()).max()) < 2e-4

"""Analytic kernels are differentiable: gradcheck in the inputs and in W_std, b_std; finite
gradients on the diagonal and at zero inputs; mixed dtypes refused."""

import pytest
import torch
from torch.autograd import gradcheck

from ntklab import analytic

F64 = torch.float64
ACTS = ["relu", "erf", "identity", "tanh"]


def _points(n, d, seed):
    return torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _order(act):
    # a low quadrature order keeps gradcheck fast; the derivative is that of the rule itself
    return 12 if act == "tanh" else 96


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("depth", [1, 2])
def test_mlp_kernels_gradcheck_in_inputs(act, depth):
    x1 = _points(3, 4, 0).requires_grad_()
    x2 = _points(2, 4, 1).requires_grad_()
    q = _order(act)

    def f(a, b):
        k = analytic.mlp_kernels(
            a, b, depth=depth, activation=act, W_std=1.3, b_std=0.4, quadrature_order=q
        )
        return k.nngp, k.ntk

    assert gradcheck(f, (x1, x2), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("b_std", [0.0, 0.3])
def test_mlp_kernels_gradcheck_set_with_itself(act, b_std):
    # x2=None: the diagonal is computed exactly (angle 0) and is a smooth function of the norms
    x = _points(3, 3, 2).requires_grad_()

    def f(a):
        k = analytic.mlp_kernels(
            a, depth=2, activation=act, b_std=b_std, quadrature_order=_order(act)
        )
        return k.nngp, k.ntk

    assert gradcheck(f, (x,), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("act", ACTS)
def test_mlp_kernels_gradcheck_in_w_std_and_b_std(act):
    x1, x2 = _points(3, 4, 3), _points(2, 4, 4)
    w = torch.tensor(1.2, dtype=F64, requires_grad=True)
    b = torch.tensor(0.5, dtype=F64, requires_grad=True)

    def f(w_std, b_std):
        k = analytic.mlp_kernels(
            x1, x2, depth=2, activation=act, W_std=w_std, b_std=b_std, quadrature_order=_order(act)
        )
        return k.nngp, k.ntk

    assert gradcheck(f, (w, b), atol=1e-6, rtol=1e-5)
    # and the same numbers as with Python floats
    k_t = analytic.mlp_kernels(x1, x2, depth=2, activation=act, W_std=w, b_std=b)
    k_f = analytic.mlp_kernels(x1, x2, depth=2, activation=act, W_std=1.2, b_std=0.5)
    assert torch.allclose(k_t.ntk, k_f.ntk, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("act", ACTS)
def test_shallow_kernels_and_h_infinity_gradcheck(act):
    x1 = _points(3, 4, 5).requires_grad_()
    x2 = _points(2, 4, 6).requires_grad_()
    q = _order(act)
    assert gradcheck(
        lambda a, b: analytic.k_lecun(a, b, activation=act, quadrature_order=q), (x1, x2)
    )
    assert gradcheck(
        lambda a, b: analytic.k_ntk(a, b, activation=act, quadrature_order=q), (x1, x2)
    )
    if act == "relu":
        assert gradcheck(analytic.h_infinity, (x1, x2))
        assert gradcheck(analytic.h_infinity, (x1,))


def test_callable_activation_is_differentiated_twice():
    # the NTK needs E[phi' phi']; its gradient needs phi'', taken by autograd of autograd
    x1, x2 = _points(2, 3, 7).requires_grad_(), _points(2, 3, 8)

    def f(a):
        return analytic.mlp_kernels(a, x2, depth=1, activation=torch.tanh, quadrature_order=10).ntk

    assert gradcheck(f, (x1,))


@pytest.mark.parametrize("act", ACTS)
def test_gradient_at_coinciding_points_is_the_symmetric_derivative(act):
    # x1 == x2 as two tensors: the ReLU kernels have a cone |x1 - x2| there; autograd returns the
    # mean of the two one-sided derivatives, i.e. the limit of central differences
    x = _points(1, 4, 9)
    v = _points(1, 4, 10)
    q = _order(act)

    def k(a):
        return analytic.mlp_kernels(a, x, depth=2, activation=act, b_std=0.2, quadrature_order=q)

    a = x.clone().requires_grad_()
    out = k(a)
    for name in ("nngp", "ntk"):
        (g,) = torch.autograd.grad(getattr(out, name).sum(), a, retain_graph=True)
        assert torch.isfinite(g).all()
        h = 1e-6
        central = (getattr(k(x + h * v), name) - getattr(k(x - h * v), name)).sum() / (2 * h)
        if act != "tanh":  # the quadrature's derivative at |rho| = 1 is documented as approximate
            assert abs(float((g * v).sum()) - float(central)) < 1e-5 * (1 + abs(float(central)))


@pytest.mark.parametrize("b_std", [0.0, 0.5])
def test_gradients_at_zero_inputs_are_finite(b_std):
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [1.0, 2.0]], dtype=F64, requires_grad=True)
    for act in ("relu", "erf", "tanh"):
        k = analytic.mlp_kernels(x, x.detach(), depth=2, activation=act, b_std=b_std)
        (g,) = torch.autograd.grad(k.ntk.sum() + k.nngp.sum(), x)
        assert torch.isfinite(g).all()
        k = analytic.mlp_kernels(x, depth=2, activation=act, b_std=b_std)
        (g,) = torch.autograd.grad(k.ntk.sum(), x)
        assert torch.isfinite(g).all()
    for fn in (analytic.k_lecun, analytic.k_ntk, analytic.h_infinity):
        (g,) = torch.autograd.grad(fn(x).sum(), x)
        assert torch.isfinite(g).all()


def test_no_grad_path_is_unchanged_under_no_grad():
    x = _points(5, 3, 11).requires_grad_()
    with_grad = analytic.mlp_kernels(x, depth=3, b_std=0.1)
    with torch.no_grad():
        without = analytic.mlp_kernels(x, depth=3, b_std=0.1)
    assert not without.ntk.requires_grad
    assert with_grad.ntk.requires_grad
    assert torch.allclose(with_grad.ntk, without.ntk, rtol=1e-13, atol=1e-14)
    assert torch.equal(with_grad.ntk, with_grad.ntk.T)


def test_arc_cosine_kappa1_has_the_derivative_kappa0():
    u = torch.tensor([-1.0, -0.3, 0.0, 0.7, 1.0], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(analytic.kappa1(u).sum(), u)
    assert torch.allclose(g, analytic.kappa0(u.detach()), atol=1e-15)
    inner = torch.tensor([-0.4, 0.2, 0.9], dtype=F64, requires_grad=True)
    assert gradcheck(analytic.kappa, (inner,))
    assert gradcheck(analytic.kappa0, (inner,))


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: analytic.mlp_kernels(a, b, depth=1),
        lambda a, b: analytic.k_lecun(a, b),
        lambda a, b: analytic.k_ntk(a, b),
        lambda a, b: analytic.h_infinity(a, b),
    ],
)
def test_mixed_dtypes_are_refused(call):
    x32, x64 = torch.ones(2, 3), torch.ones(2, 3, dtype=F64)
    with pytest.raises(TypeError, match=r"^x1 .*x2"):
        call(x32, x64)


def test_w_std_of_another_dtype_is_refused():
    x = torch.ones(2, 3, dtype=F64)
    with pytest.raises(TypeError, match=r"^W_std .*x1"):
        analytic.mlp_kernels(x, depth=1, W_std=torch.tensor(1.0))
    with pytest.raises(TypeError, match=r"^b_std .*x1"):
        analytic.mlp_kernels(x, depth=1, b_std=torch.tensor(0.1))
    with pytest.raises(ValueError, match=r"^W_std"):
        analytic.mlp_kernels(x, depth=1, W_std=torch.tensor(-1.0, dtype=F64))

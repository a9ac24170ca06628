import math

import pytest
import torch

from ntklab import analytic, empirical
from ntklab.course.arora import ScaledOutput, kernel_regression_distance, ntk_error_by_width
from ntklab.networks import MLP

F64 = torch.float64


def _autograd_ntk(net, x):
    """Tangent kernel from per-example gradients (independent of ntklab.empirical)."""
    rows = []
    for xi in x:
        grads = torch.autograd.grad(net(xi[None]).sum(), list(net.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = torch.stack(rows)
    return J @ J.T


def test_ntk_error_by_width_matches_independent_computation():
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    err = ntk_error_by_width(x, [32], [2], seeds=2, W_std=1.5, b_std=0.2)
    limit = analytic.mlp_kernels(x, depth=2, W_std=1.5, b_std=0.2).ntk
    diffs = [
        _autograd_ntk(MLP(2, 32, 2, W_std=1.5, b_std=0.2, seed=2000 + s), x) - limit
        for s in range(2)
    ]
    expected = float(torch.stack(diffs).pow(2).mean().sqrt())
    assert abs(err[2][0] - expected) < 1e-10 * expected


def test_ntk_error_by_width_falls_like_inverse_square_root():
    x = torch.eye(3, dtype=F64)
    err = ntk_error_by_width(x, [64, 4096], [1], seeds=6)[1]
    ratio = err[0] / err[1]  # sqrt(64) = 8 expected
    assert 4 < ratio < 16


def test_scaled_output_scales_kernel_by_kappa_squared():
    net = MLP(2, 16, 1, seed=3)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    k = _autograd_ntk(ScaledOutput(net, 0.3), x)
    assert torch.allclose(k, 0.09 * _autograd_ntk(net, x), rtol=1e-12)


def test_kernel_regression_distance_start_term_explains_kappa_one():
    # with kappa = 1 a wide network ends at f_ntk plus the start term (the linear dynamics)
    x = torch.stack(
        [
            torch.cos(t)
            for t in (
                torch.arange(4, dtype=F64) * math.pi / 2 + 0.3,
                torch.arange(4, dtype=F64) * math.pi / 2 - 1.27,
            )
        ],
        dim=1,
    )
    y = torch.tensor([0.5, -0.4, 0.3, -0.6], dtype=F64)
    x_test = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=F64)
    out = kernel_regression_distance(
        x, y, x_test, [4096], kappa=1.0, seeds=2, steps=100, learning_rate=8.0
    )
    assert out["residual"][0] < 1e-8
    assert out["distance_with_start"][0] < 0.5 * out["distance"][0]


def test_bad_input():
    x = torch.eye(2, dtype=F64)
    with pytest.raises(ValueError, match="widths"):
        ntk_error_by_width(x, [], [1])
    with pytest.raises(ValueError, match="depths"):
        ntk_error_by_width(x, [8], [0])
    with pytest.raises(TypeError, match="x must"):
        ntk_error_by_width([[1.0]], [8], [1])
    with pytest.raises(ValueError, match="kappa"):
        ScaledOutput(MLP(2, 4, 1, seed=0), 0.0)
    with pytest.raises(TypeError, match="net"):
        ScaledOutput("net", 0.5)
    with pytest.raises(ValueError, match="y must"):
        kernel_regression_distance(x, torch.zeros(3, dtype=F64), x, [8], kappa=0.5)
    with pytest.raises(ValueError, match="kappa"):
        kernel_regression_distance(x, torch.zeros(2, dtype=F64), x, [8], kappa=-1.0)


def test_empirical_kernel_agrees_with_autograd_reference():
    # guards the reference used above
    net = MLP(2, 8, 1, seed=4)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    assert torch.allclose(empirical.ntk(net, x), _autograd_ntk(net, x), rtol=1e-10)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unrolled_ntk_is_the_recursion(depth):
    # Arora et al.'s normalization is mlp_kernels with W_std = sqrt(2) on inputs * sqrt(d / 2)
    from ntklab.course.arora import unrolled_ntk

    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(depth), dtype=F64)
    ref = analytic.mlp_kernels(x * math.sqrt(2), depth=depth, W_std=math.sqrt(2)).ntk
    assert torch.allclose(unrolled_ntk(x, depth), ref, rtol=1e-7)
    undotted = unrolled_ntk(x, depth, dots=False)
    assert (undotted - ref).abs().max() > 0.1 * ref.abs().max()


def test_unrolled_ntk_depth_one_closed_form():
    # Theta = x.x' kappa0 + kappa1 (c_sigma = 2) for unit inputs at angle t
    from ntklab.course.arora import unrolled_ntk

    t = 1.1
    x = torch.tensor([[1.0, 0.0], [math.cos(t), math.sin(t)]], dtype=F64)
    k0 = (math.pi - t) / math.pi
    k1 = (math.sin(t) + (math.pi - t) * math.cos(t)) / math.pi
    assert abs(float(unrolled_ntk(x, 1)[0, 1]) - (math.cos(t) * k0 + k1)) < 1e-12
    with pytest.raises(ValueError, match="depth"):
        unrolled_ntk(x, 0)

import math

import pytest
import torch

from ntklab.course.kernel_gd import random_feature_kernel_gd

F64 = torch.float64


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g, dtype=F64)
    return x, torch.randn(3, 3, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)


def test_parameter_descent_is_kernel_descent_and_cost_decays():
    x, x_test, target = _data()
    run = random_feature_kernel_gd(x, x_test, target, features=500, steps=4000)
    assert run.path_gap < 1e-12
    assert run.lambda_min > 0
    assert all(b <= a for a, b in zip(run.costs, run.costs[1:], strict=False))
    assert run.costs[-1] < 1e-3 * run.costs[0], run.costs[-1] / run.costs[0]
    assert run.limit_gap > 0.05


def test_rate_against_autograd():
    # dC/dt along kernel GD = grad C . (-K d / N), with grad C from autograd
    x, x_test, target = _data()
    run = random_feature_kernel_gd(x, x_test, target, features=200, steps=1, seed=3)
    assert abs(run.rate_measured / run.rate_formula - 1) < 1e-4
    # independent: rebuild the second start and the kernel with the same draws
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(200, 3, generator=gen, dtype=F64) / math.sqrt(3)
    torch.randn(200, generator=gen, dtype=F64)  # the first start
    theta1 = torch.randn(200, generator=gen, dtype=F64)
    feats = torch.relu(x @ A.T)
    u = (feats @ theta1 / math.sqrt(200)).requires_grad_(True)
    (g,) = torch.autograd.grad(0.5 * ((u - target) ** 2).mean(), u)
    K = feats @ feats.T / 200
    assert abs(float(g @ (-K @ (u.detach() - target) / 6)) - run.rate_formula) < 1e-10


def test_bad_input():
    x, x_test, target = _data()
    with pytest.raises(ValueError, match="target"):
        random_feature_kernel_gd(x, x_test, target[:3])
    with pytest.raises(ValueError, match="features"):
        random_feature_kernel_gd(x, x_test, target, features=0)
    with pytest.raises(TypeError, match="x_test"):
        random_feature_kernel_gd(x, [[1.0]], target)

"""ntklab.course.wide_training against closed forms, brute force and independent formulas."""

import math

import pytest
import torch

from ntklab import analytic, dynamics, empirical
from ntklab.course import wide_training as W
from ntklab.networks import MLP, DuNetwork


def test_separation_brute_force():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(7, 3, generator=g, dtype=torch.float64)
    brute = min((X[i] - X[j]).norm() for i in range(7) for j in range(7) if i != j)
    assert math.isclose(W.separation(X), float(brute), rel_tol=1e-12)
    with pytest.raises(ValueError, match="X must be"):
        W.separation(torch.ones(1, 3))
    with pytest.raises(ValueError, match="finite"):
        W.separation(torch.tensor([[0.0, math.nan], [1.0, 0.0]]))


def test_assumption_3_1_points():
    X = W.assumption_3_1_points(20, 5, 0.3, seed=1)
    torch.testing.assert_close(X.norm(dim=1), torch.ones(20, dtype=torch.float64))
    assert float((X[:, -1] - 0.3).abs().max()) == 0.0
    with pytest.raises(ValueError, match="mu"):
        W.assumption_3_1_points(3, 4, 1.0, seed=0)


def test_arc_points_separation_and_bad_input():
    X = W.arc_points(6, 0.2, d=4, mu=0.4)
    assert math.isclose(W.separation(X), 0.2, rel_tol=1e-12)
    torch.testing.assert_close(X.norm(dim=1), torch.ones(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="wrap"):
        W.arc_points(40, 0.3)
    with pytest.raises(ValueError, match="phi"):
        W.arc_points(3, 5.0)


@pytest.mark.parametrize("phi", [1e-3, 0.1, 1.0, 1.7])
def test_lambda_0_pair_against_h_infinity(phi):
    X = W.arc_points(2, phi, mu=0.5)
    lam = float(torch.linalg.eigvalsh(analytic.h_infinity(X))[0])
    assert math.isclose(W.lambda_0_pair(phi), lam, rel_tol=1e-9, abs_tol=1e-15)


def test_lambda_0_pair_small_phi_limit():
    phi = 1e-4
    assert math.isclose(W.lambda_0_pair(phi), phi / (2 * math.pi), rel_tol=1e-3)


def test_mlp_preactivations_match_forward():
    net = MLP(3, 16, 2, seed=0)
    X = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h = W.mlp_preactivations(net, X)
    a = torch.relu(h[-1])
    out = (a @ net.weights[2].T) * (1 / math.sqrt(16)) + 0.0 * net.biases[2]
    torch.testing.assert_close(out.squeeze(-1), net(X))
    with pytest.raises(TypeError, match="MLP"):
        W.mlp_preactivations(torch.nn.Linear(3, 1), X)


def test_sgd_against_gd_full_batch_is_gd():
    g = torch.Generator().manual_seed(2)
    X = torch.nn.functional.normalize(torch.randn(8, 3, generator=g, dtype=torch.float64), dim=1)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    c = W.sgd_against_gd(
        lambda: MLP(3, 32, 2, seed=3), X, y, 0.05, 4, [1, 8], patterns=W.mlp_preactivations
    )
    torch.testing.assert_close(c.sgd[8].loss, c.gd.loss, rtol=1e-10, atol=1e-14)
    assert c.patterns[0] == float(c.gd.pattern_change[-1])
    # the envelope of the last epoch is at least its final loss
    assert c.envelope[1] >= c.loss[1]
    with pytest.raises(ValueError, match="batch_sizes"):
        W.sgd_against_gd(lambda: MLP(3, 8, 1, seed=0), X, y, 0.05, 2, [])
    with pytest.raises(ValueError, match="batch_size"):
        W.sgd_against_gd(lambda: MLP(3, 8, 1, seed=0), X, y, 0.05, 2, [9])


def test_ngd_step_bound_and_condition_2():
    assert W.ngd_step_bound(0.0) == 1.0
    assert math.isclose(W.ngd_step_bound(0.1), 0.8 / 1.21)
    for bad in [-0.1, 0.5, math.nan]:
        with pytest.raises(ValueError, match="C must"):
            W.ngd_step_bound(bad)
    assert math.isclose(W.condition_2_constant([0.0, 0.2], 4.0), 0.3)
    with pytest.raises(ValueError, match="lambda_min_gram"):
        W.condition_2_constant([0.0], 0.0)
    with pytest.raises(ValueError, match="jacobian_drift"):
        W.condition_2_constant([math.inf], 1.0)


@pytest.mark.parametrize("sigma", [1.0, 0.3])
def test_fisher_direction_is_the_square_loss_update(sigma):
    g = torch.Generator().manual_seed(4)
    X = torch.nn.functional.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.randn(5, generator=g, dtype=torch.float64)
    net = DuNetwork(4, 30, seed=5)
    J = empirical.jacobian(net, X)
    with torch.no_grad():
        r = net(X) - y
    expected = J.T @ torch.linalg.solve(J @ J.T, r)
    torch.testing.assert_close(
        W.fisher_direction(net, X, y, sigma=sigma), expected, rtol=1e-7, atol=1e-9
    )
    # one NGD step of the library moves along the same direction
    step = dynamics.natural_gradient_descent(net, X, y, 0.5, 1)
    assert step.distance[1] > 0
    with pytest.raises(ValueError, match="sigma"):
        W.fisher_direction(net, X, y, sigma=0.0)

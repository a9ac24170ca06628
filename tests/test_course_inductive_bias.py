"""Tests of ntklab.course.inductive_bias (chapter 6)."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.special import eval_legendre

from ntklab import analytic, data
from ntklab.course.inductive_bias import (
    proposition_4_gaps,
    random_feature_ntk,
    truncation_tradeoff,
)


def test_random_feature_ntk_depth_zero_is_the_inner_product():
    x = data.uniform_sphere(5, 4, seed=0)
    y = data.uniform_sphere(5, 4, seed=1)
    k = random_feature_ntk(x, y, [], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(k, (x * y).sum(1), atol=0, rtol=0)


@pytest.mark.parametrize("depth", [1, 2])
def test_random_feature_ntk_tends_to_the_closed_form(depth):
    gen = torch.Generator().manual_seed(2)
    x = data.uniform_sphere(6, 3, generator=gen)
    y = data.uniform_sphere(6, 3, generator=gen)
    u = (x * y).sum(1)
    k1, k0, kappa = analytic.kappa1, analytic.kappa0, analytic.kappa
    # closed forms of the recursion (Bietti & Mairal, Lemma 1)
    exact = kappa(u) if depth == 1 else k0(k1(u)) * kappa(u) + k1(k1(u))
    draws = torch.stack(
        [random_feature_ntk(x, y, [3000] * depth, generator=gen) for _ in range(12)]
    )
    se = draws.std(0) / math.sqrt(12)
    # 0.01: the O(1/n) bias of the nonlinear second layer
    assert ((draws.mean(0) - exact).abs() <= 5 * se + 0.01).all()


def test_random_feature_ntk_bad_input():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="same shape"):
        random_feature_ntk(torch.ones(2, 3), torch.ones(3, 3), [4], generator=gen)
    with pytest.raises(ValueError, match="widths"):
        random_feature_ntk(torch.ones(2, 3), torch.ones(2, 3), [0], generator=gen)


def test_truncation_tradeoff_against_a_legendre_expansion():
    # p = 3: Funk-Hecke coefficients of |u| are (1/2) int |u| P_k(u) du (Legendre)
    degrees = [2, 6]
    norms, errors = truncation_tradeoff(
        analytic.kappa, torch.abs, 3, degrees, kmax=8, breakpoints=[0.0], grid_size=2001
    )
    u = np.linspace(-1, 1, 2001)
    coef = [
        0.5
        * (
            quad(lambda t, k=k: abs(t) * eval_legendre(k, t), -1, 0)[0]
            + quad(lambda t, k=k: abs(t) * eval_legendre(k, t), 0, 1)[0]
        )
        for k in range(9)
    ]
    for D, err in zip(degrees, errors, strict=True):
        g = sum((2 * k + 1) * coef[k] * eval_legendre(k, u) for k in range(D + 1))
        assert err == pytest.approx(np.abs(g - np.abs(u)).max(), rel=1e-8)
    assert norms[1] > norms[0] > 0
    with pytest.raises(ValueError, match="kmax"):
        truncation_tradeoff(analytic.kappa, torch.abs, 3, [9], kmax=8)


def test_proposition_4_gaps_against_the_angle_formulas():
    # unit pairs at angle theta: ||phi_0(x) - phi_0(y)||^2 = 2 theta / pi and
    # ||x - y|| = 2 sin(theta / 2), so item 1's slack is
    # sqrt(2 sin(theta/2)) - sqrt(2 theta / pi), and the printed item 2 fails
    # exactly when sqrt(2 theta / pi) > 2 sin(theta / 2), i.e. for small theta
    theta = torch.tensor([1e-4, 0.3, 2.0, math.pi], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(4, 2)
    y = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    ones = torch.ones(4, dtype=torch.float64)
    slack, fails = proposition_4_gaps(x, y, ones, ones)
    expected = torch.sqrt(2 * torch.sin(theta / 2)) - torch.sqrt(2 * theta / math.pi)
    assert torch.allclose(slack[:, 0], expected, atol=1e-12)
    lhs, rhs = torch.sqrt(2 * theta / math.pi), 2 * torch.sin(theta / 2)
    assert fails[:, 0].tolist() == (lhs > rhs).tolist() == [True, True, False, False]
    # scaled points: item 2 at norms (2, 1) and theta = 0.3 by hand
    r = torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    slack_r, _ = proposition_4_gaps(x, y, r, ones)
    a, b = 2 * x[1], y[1]
    assert float(slack_r[1, 1]) == pytest.approx(
        math.sqrt(float((a - b).norm()) / 1.0) - math.sqrt(0.6 / math.pi), rel=1e-12
    )
    with pytest.raises(ValueError, match="norm_x"):
        proposition_4_gaps(x, y, ones[:2], ones)

"""Tests of ntklab.course.inductive_bias (chapter 6)."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.special import eval_legendre

from ntklab import analytic, data
from ntklab.course.inductive_bias import random_feature_ntk, truncation_tradeoff


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

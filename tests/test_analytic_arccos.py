"""Arc-cosine kernels against Monte Carlo over Gaussian weights (Cho & Saul 2009)."""

import math

import pytest
import torch

from ntklab import analytic, data


def test_kappa_closed_forms_at_special_points():
    u = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    assert torch.allclose(analytic.kappa0(u), torch.tensor([0.0, 0.5, 1.0], dtype=u.dtype))
    assert torch.allclose(analytic.kappa1(u), torch.tensor([0.0, 1 / math.pi, 1.0], dtype=u.dtype))
    assert torch.allclose(analytic.kappa(u), u * analytic.kappa0(u) + analytic.kappa1(u))


def test_arccos_kernels_match_monte_carlo():
    # E[1{w.x>=0} 1{w.y>=0}] = kappa0(u)/2 and E[relu(w.x) relu(w.y)] = kappa1(u)/2 for unit x, y.
    gen = torch.Generator().manual_seed(0)
    x = data.uniform_sphere(6, 5, seed=2)
    w = torch.randn(400_000, 5, generator=gen, dtype=torch.float64)
    z = w @ x.T
    u = x @ x.T
    mc0 = ((z >= 0).double().T @ (z >= 0).double()) / w.shape[0]
    mc1 = (z.clamp_min(0).T @ z.clamp_min(0)) / w.shape[0]
    # standard errors are below 0.5/sqrt(4e5) < 1e-3; allow 5 of them
    assert (mc0 - analytic.kappa0(u) / 2).abs().max() < 4e-3
    assert (mc1 - analytic.kappa1(u) / 2).abs().max() < 4e-3


def test_kappa_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match="u must lie in"):
        analytic.kappa0(torch.tensor([1.5]))

import math

import numpy as np
import pytest
import torch

from ntklab import data
from ntklab.course import stats


def test_uniform_sphere_on_sphere_and_reproducible(device):
    x = data.uniform_sphere(200, 4, radius=2.0, seed=1, device=device)
    assert x.shape == (200, 4)
    assert x.device.type == device.type
    assert x.dtype == torch.float64
    assert torch.allclose(x.norm(dim=1), torch.full((200,), 2.0, dtype=x.dtype, device=device))
    assert torch.equal(x, data.uniform_sphere(200, 4, radius=2.0, seed=1, device=device))


@pytest.mark.parametrize(
    "draw",
    [
        lambda **kw: data.gaussian_inputs(5, 3, **kw),
        lambda **kw: data.uniform_sphere(5, 3, **kw),
    ],
)
def test_a_seed_gives_the_same_numbers_on_every_device(draw, device):
    # draws are made on the CPU and then moved, so the device does not change the numbers
    ref = draw(seed=7)
    assert torch.equal(draw(seed=7, device=device).cpu(), ref)
    assert torch.equal(draw(generator=torch.Generator().manual_seed(7), device=device).cpu(), ref)


def test_data_accepts_a_cuda_index(cuda):
    assert data.gaussian_inputs(2, 2, seed=0, device=0).device == torch.device("cuda", 0)


def test_data_cuda_request_without_cuda_is_a_value_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        data.gaussian_inputs(2, 2, seed=0, device="cuda")


def test_uniform_sphere_is_uniform_first_moments():
    # mean 0 and second moment I/d: each entry of x x^T / m has std about 1/sqrt(m)
    m, d = 20000, 3
    x = data.uniform_sphere(m, d, seed=0)
    assert x.mean(0).abs().max() < 5 / math.sqrt(m)
    second = x.T @ x / m
    assert (second - torch.eye(d, dtype=x.dtype) / d).abs().max() < 5 / math.sqrt(m)


def test_data_bad_input():
    with pytest.raises(ValueError, match="d must be"):
        data.uniform_sphere(3, 1)
    with pytest.raises(ValueError, match="m must be"):
        data.gaussian_inputs(0, 2)


def test_circle_points():
    x = data.circle_points([0.0, math.pi / 2])
    assert torch.allclose(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=x.dtype), atol=1e-15)


def test_fit_power_law_recovers_exact_law():
    x = np.array([10, 100, 1000, 10000.0])
    fit = stats.fit_power_law(x, 3.0 * x**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit(4.0) == pytest.approx(1.5)


def test_fit_power_law_bad_input():
    with pytest.raises(ValueError, match="positive"):
        stats.fit_power_law([1, 2], [1, -1])
    with pytest.raises(ValueError, match="at least 2"):
        stats.fit_power_law([1], [1])


def test_wilson_interval_covers_truth_at_stated_rate():
    # Coverage of the 99% interval over many binomial draws should be close to 99%.
    rng = np.random.default_rng(0)
    p, n, reps = 0.9, 200, 2000
    hits = rng.binomial(n, p, size=reps)
    covered = sum(lo <= p <= hi for lo, hi in (stats.wilson_interval(int(k), n) for k in hits))
    assert covered / reps > 0.97


def test_wilson_interval_bad_input():
    with pytest.raises(ValueError, match="successes"):
        stats.wilson_interval(5, 3)

import math

import pytest
import torch

from ntklab.analytic import k_lecun
from ntklab.course.gaussian_process import (
    cov_errors,
    init_11_5_11,
    lecun_arctan_kernels,
    lecun_outputs,
)
from ntklab.networks import ShallowLeCun

F64 = torch.float64


def test_cov_errors_accepts_truth_and_rejects_wrong_target():
    g = torch.Generator().manual_seed(0)
    A = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64)
    f = torch.randn(40000, 2, generator=g, dtype=F64) @ A.T
    assert cov_errors(f, A @ A.T) < 4.5
    assert cov_errors(f, A @ A.T + 0.1 * torch.eye(2, dtype=F64)) > 10
    with pytest.raises(ValueError, match="target"):
        cov_errors(f, torch.eye(3, dtype=F64))


def test_lecun_outputs_have_the_lecun_covariance():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]], dtype=F64)
    out = lecun_outputs(x, 8, 20000, seed=1)
    assert out.shape == (20000, 2)
    assert cov_errors(out, k_lecun(x)) < 4.5
    with pytest.raises(ValueError, match="width"):
        lecun_outputs(x, 0, 10, seed=0)


def test_init_11_5_11_variances():
    net = init_11_5_11(ShallowLeCun(2, 50000, activation="arctan"), seed=2)
    with torch.no_grad():
        assert abs(float(net.U.var()) / (3 / 2) - 1) < 0.03
        assert abs(float(net.v.var()) / (3 / 50000) - 1) < 0.03
        assert abs(float(net.b.var()) / 2 - 1) < 0.03


def test_lecun_arctan_kernel_against_monte_carlo():
    x = torch.tensor([[-1.0], [0.5]], dtype=F64)
    g = torch.Generator().manual_seed(3)
    u = torch.randn(400000, generator=g, dtype=F64) * math.sqrt(3)
    b = torch.randn(400000, generator=g, dtype=F64) * math.sqrt(2)
    feats = torch.arctan(u[:, None] * x[:, 0] + b[:, None])  # (S, 2)
    mc = feats.T @ feats / len(u)
    k = lecun_arctan_kernels(x)
    assert (k.ntk - mc).abs().max() < 0.01  # standard error about 1.5e-3
    assert torch.allclose(k.nngp, 3 * k.ntk + 2)

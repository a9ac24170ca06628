import pytest
import torch

from ntklab.course.lazy_training import training_changes
from ntklab.networks import MLP

F64 = torch.float64


def _jacobian(net, x):
    rows = []
    for xi in x:
        grads = torch.autograd.grad(net(xi[None]).sum(), list(net.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def test_against_plain_autograd_training():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, generator=g, dtype=F64)
    y = torch.randn(4, generator=g, dtype=F64)
    ch = training_changes(x, y, [16], activation="tanh", steps=7, step_size=0.5, seed=3)
    # independent: the same network trained by hand on sum (f - y)^2 / (2m)
    net = MLP(2, 16, 2, activation="tanh", b_std=0.1, seed=3)
    params = list(net.parameters())
    J0 = _jacobian(net, x)
    w0 = torch.cat([p.detach().reshape(-1) for p in params])
    for _ in range(7):
        loss = ((net(x) - y) ** 2).sum() / (2 * 4)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, gr in zip(params, grads, strict=True):
                p -= 0.5 * gr
    JT = _jacobian(net, x)
    wT = torch.cat([p.detach().reshape(-1) for p in params])
    assert abs(ch.jacobian[0] - float((JT - J0).norm() / J0.norm())) < 1e-10
    kernel = float((JT @ JT.T - J0 @ J0.T).norm() / (J0 @ J0.T).norm())
    assert abs(ch.kernel[0] - kernel) < 1e-10
    assert abs(ch.parameters[0] - float((wT - w0).norm())) < 1e-10


def test_bad_input():
    x = torch.eye(2, dtype=F64)
    with pytest.raises(ValueError, match="y must"):
        training_changes(x, torch.zeros(3, dtype=F64), [8])
    with pytest.raises(ValueError, match="widths"):
        training_changes(x, torch.zeros(2, dtype=F64), [0])
    with pytest.raises(TypeError, match="x must"):
        training_changes([[1.0]], torch.zeros(1, dtype=F64), [8])

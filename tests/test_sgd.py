"""Mini-batch SGD (ntklab.dynamics.stochastic_gradient_descent) against hand-written loops."""

import copy

import pytest
import torch

from ntklab import dynamics as D
from ntklab.networks import DuNetwork


def _net(d=3, n=16, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, n), torch.nn.Tanh(), torch.nn.Linear(n, 1)).to(
        torch.float64
    )


def _data(m=8, d=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(m, d, generator=g, dtype=torch.float64),
        torch.randn(m, generator=g, dtype=torch.float64),
    )


def _manual_sgd(net, X, y, h, epochs, batch_size, replacement, seed):
    """Reference: plain loop over the same batches, one parameter tensor at a time."""
    net = copy.deepcopy(net)
    g = torch.Generator().manual_seed(seed)
    m = X.shape[0]
    count = -(-m // batch_size)
    for _ in range(epochs):
        if replacement:
            batches = list(torch.randint(m, (count, batch_size), generator=g))
        else:
            batches = list(torch.randperm(m, generator=g).split(batch_size))
        for b in batches:
            net.zero_grad()
            loss = ((net(X[b]).squeeze(-1) - y[b]) ** 2).sum() * m / len(b)
            loss.backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= h * p.grad
    return net


@pytest.mark.parametrize(("batch_size", "replacement"), [(1, False), (3, False), (2, True)])
def test_sgd_matches_manual_loop(batch_size, replacement):
    net, (X, y) = _net(), _data()
    hist = D.stochastic_gradient_descent(
        net, X, y, 0.01, 4, batch_size=batch_size, replacement=replacement, seed=5
    )
    ref = _manual_sgd(net, X, y, 0.01, 4, batch_size, replacement, 5)
    with torch.no_grad():
        torch.testing.assert_close(hist.outputs[-1], ref(X).squeeze(-1), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(hist.loss[-1], ((ref(X).squeeze(-1) - y) ** 2).sum())
    steps = 4 * -(-8 // batch_size)
    assert hist.extra["step_loss"].shape == (steps + 1,)
    assert hist.extra["step_loss"][-1] == hist.loss[-1]


def test_full_batch_sgd_is_gradient_descent():
    net, (X, y) = _net(), _data()
    sgd = D.stochastic_gradient_descent(net, X, y, 0.01, 6, batch_size=8, seed=0)
    gd = D.gradient_descent(net, X, y, 0.01, 6)
    torch.testing.assert_close(sgd.loss, gd.loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(sgd.distance, gd.distance, rtol=1e-12, atol=1e-14)


def test_sgd_is_seeded_and_records_patterns():
    X, y = _data(m=10, d=4)
    X = torch.nn.functional.normalize(X, dim=1)
    net = DuNetwork(4, 50, seed=0)
    a = D.stochastic_gradient_descent(net, X, y, 0.05, 3, batch_size=2, seed=1)
    b = D.stochastic_gradient_descent(net, X, y, 0.05, 3, batch_size=2, seed=1)
    c = D.stochastic_gradient_descent(
        net, X, y, 0.05, 3, batch_size=2, generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(a.loss, b.loss)
    assert not torch.equal(a.loss, c.loss)
    assert a.pattern_change is not None
    assert a.pattern_change[0] == 0
    assert a.max_row_distance.shape == (4,)


def test_sgd_bad_input():
    net, (X, y) = _net(), _data()
    with pytest.raises(ValueError, match="batch_size"):
        D.stochastic_gradient_descent(net, X, y, 0.01, 2, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        D.stochastic_gradient_descent(net, X, y, 0.01, 2, batch_size=9)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x"):
        D.stochastic_gradient_descent(net, bad, y, 0.01, 2, batch_size=2)
    bad_y = y.clone()
    bad_y[1] = float("inf")
    with pytest.raises(ValueError, match="y"):
        D.stochastic_gradient_descent(net, X, bad_y, 0.01, 2, batch_size=2)
    with pytest.raises(ValueError, match="seed"):
        D.stochastic_gradient_descent(
            net, X, y, 0.01, 2, batch_size=2, seed=1, generator=torch.Generator()
        )
    with pytest.raises(TypeError, match="replacement"):
        D.stochastic_gradient_descent(net, X, y, 0.01, 2, batch_size=2, replacement="yes")
    with pytest.raises(ValueError, match="epochs"):
        D.stochastic_gradient_descent(net, X, y, 0.01, 0, batch_size=2)
    with pytest.raises(TypeError):
        D.stochastic_gradient_descent(net, X.float(), y, 0.01, 2, batch_size=2)
    with pytest.raises(D.DivergenceError):
        D.stochastic_gradient_descent(net, X, y, 50.0, 20, batch_size=1, seed=0)

"""DuNetwork is TwoLayerReLU with the independent initialization and an unchecked forward."""

import math

import pytest
import torch

from ntklab.empirical import jacobian
from ntklab.networks import DuNetwork, TwoLayerReLU, independent_init


def _old_du(d, width, seed, device):
    # the draws and the forward pass of DuNetwork before it reused TwoLayerReLU (drawn on the
    # CPU, then moved: a seed gives the same network on every device)
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(width, d, generator=gen, dtype=torch.float64).to(device)
    a = (torch.randint(0, 2, (width,), generator=gen).double() * 2 - 1).to(device)
    return W, a, lambda x: torch.relu(x @ W.T) @ a / math.sqrt(width)


@pytest.mark.parametrize("width", [7, 200, 1001])
def test_same_draws_and_outputs_as_before(width, device):
    W, a, f = _old_du(5, width, 3, device)
    net = DuNetwork(5, width, seed=3, device=device)
    x = torch.randn(9, 5, dtype=torch.float64, device=device)
    assert torch.equal(net.W.detach(), W)
    assert torch.equal(net.a, a)
    assert torch.equal(net(x).detach(), f(x))
    assert torch.equal(net.preactivations(x).detach(), x @ W.T)
    assert net.W is net.w
    assert net.a is net.c
    assert [name for name, _ in net.named_parameters()] == ["w"]
    assert isinstance(net, TwoLayerReLU)


def test_two_layer_relu_independent_init_matches_du_network():
    net = TwoLayerReLU(4, 11, init="independent", seed=5)
    du = DuNetwork(4, 11, seed=5)
    w0, c = independent_init(4, 11, seed=5)
    assert torch.equal(net.w0, w0)
    assert torch.equal(net.c, c)
    assert torch.equal(du.w0, w0)
    x = torch.randn(6, 4, dtype=torch.float64)
    # only the rounding of sqrt(n) may differ (n**0.5 against math.sqrt)
    torch.testing.assert_close(net(x), du(x), rtol=4e-16, atol=0)
    assert set(c.tolist()) <= {-1.0, 1.0}


def test_jacobian_under_vmap_matches_closed_form():
    # grad_{w_r} f(x) = n^{-1/2} a_r 1{w_r . x >= 0} x (no tie at 0 for Gaussian draws)
    net = DuNetwork(3, 40, seed=1)
    X = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    J = jacobian(net, X)
    act = (X @ net.W.detach().T > 0).double()
    ref = (act * net.a)[:, :, None] * X[:, None, :] / math.sqrt(40)
    torch.testing.assert_close(J, ref.reshape(6, -1), rtol=1e-14, atol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError, match=r"^init must be one of"):
        TwoLayerReLU(2, 4, init="xavier")
    with pytest.raises(ValueError, match=r"^width must be even"):
        TwoLayerReLU(2, 5)
    with pytest.raises(ValueError, match=r"^d must"):
        DuNetwork(0, 4)
    with pytest.raises(ValueError, match=r"^width must"):
        DuNetwork(3, 0)
    with pytest.raises(TypeError, match=r"^width must be an integer"):
        DuNetwork(3, 4.0)

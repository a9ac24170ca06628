"""Networks of chapter 3: parameters, initializations (11.5.3), (11.6.2), MLP, linearization."""

import math

import pytest
import torch
from torch.func import functional_call, jacrev

from ntklab.networks import MLP, ShallowLeCun, ShallowNTK, linearize


def test_shallow_lecun_parameters_and_initialization(device):
    d, n = 8, 4000
    net = ShallowLeCun(d, n, seed=0, device=device)
    assert [name for name, _ in net.named_parameters()] == ["U", "b", "v", "c"]
    assert net.U.shape == (n, d)
    assert net.b.shape == (n,)
    assert net.v.shape == (n,)
    assert net.c.shape == ()
    assert net.U.dtype == torch.float64
    assert net.U.device.type == device.type
    assert not net.b.any()
    assert not net.c.any()
    # variances 1/d and 1/n: relative standard error of a sample variance of k normals is
    # sqrt(2/k) = 0.004 for the 32,000 entries of U and 0.022 for the 4,000 of v; allow 4 of them
    assert abs(net.U.var().item() * d - 1) < 0.02
    assert abs(net.v.var().item() * n - 1) < 0.09


def test_shallow_lecun_uniform_draws_are_bounded_with_unit_variance():
    d, n = 5, 20000
    net = ShallowLeCun(d, n, init="uniform", seed=1)
    assert net.U.abs().max().item() <= math.sqrt(3 / d)
    assert net.v.abs().max().item() <= math.sqrt(3 / n)
    # uniform on [-sqrt 3, sqrt 3]: variance 1, relative s.e. of the sample variance sqrt(0.8/k)
    assert abs(net.U.var().item() * d - 1) < 0.02


def test_shallow_ntk_computes_the_lecun_function_at_initialization():
    # (11.6.1)-(11.6.2) with the same normal draws is the network (11.5.1)-(11.5.3)
    x = torch.randn(7, 6, dtype=torch.float64)
    lecun, ntk = ShallowLeCun(6, 50, seed=3), ShallowNTK(6, 50, seed=3)
    assert torch.allclose(lecun(x), ntk(x), rtol=1e-13, atol=1e-14)
    assert torch.allclose(ntk.U / math.sqrt(6), lecun.U)


def test_mlp_forward_matches_a_hand_written_network():
    d, width, depth, w_std, b_std = 4, 9, 2, 1.3, 0.4
    net = MLP(d, width, depth, activation="tanh", W_std=w_std, b_std=b_std, seed=2)
    x = torch.randn(5, d, dtype=torch.float64)
    a = x
    for l in range(depth):
        a = torch.tanh(w_std / math.sqrt(a.shape[1]) * a @ net.weights[l].T + b_std * net.biases[l])
    out = w_std / math.sqrt(width) * a @ net.weights[depth].T + b_std * net.biases[depth]
    assert torch.allclose(net(x), out.squeeze(-1), rtol=1e-14, atol=1e-14)
    assert net(x).shape == (5,)


def test_mlp_weights_are_standard_normal():
    net = MLP(30, 2000, 1, seed=0)
    w = net.weights[0].detach()
    assert abs(w.mean().item()) < 4 / math.sqrt(w.numel())
    assert abs(w.var().item() - 1) < 4 * math.sqrt(2 / w.numel())


def test_linearization_is_the_first_order_taylor_model(device):
    torch.manual_seed(0)
    net = MLP(3, 20, 2, activation="erf", b_std=0.5, seed=1, device=device)
    lin = linearize(net)
    x = torch.randn(6, 3, dtype=torch.float64, device=device)
    assert torch.allclose(lin(x), net(x), rtol=0, atol=1e-14)
    with torch.no_grad():
        for p in lin.parameters():
            p.add_(1e-2 * torch.randn_like(p))
    params0 = {k: v.detach() for k, v in net.named_parameters()}
    jac = jacrev(lambda p: functional_call(net, p, (x,)))(params0)
    delta = lin.displacement()
    expected = net(x) + sum(jac[k].reshape(6, -1) @ delta[k].reshape(-1) for k in params0)
    assert torch.allclose(lin(x), expected.detach(), rtol=1e-12, atol=1e-12)
    # the original model is untouched and the linearization is not the model
    assert torch.allclose(net(x), functional_call(net, params0, (x,)))
    assert (lin(x) - net(x)).abs().max() > 1e-6


def test_linearization_of_a_model_linear_in_its_parameters_is_exact():
    net = MLP(3, 10, 0, b_std=1.0, seed=0)  # no hidden layer: f = W x / sqrt d + b
    lin = linearize(net)
    with torch.no_grad():
        for p, q in zip(lin.parameters(), net.parameters(), strict=True):
            step = torch.randn_like(p)
            p.add_(step)
            q.add_(step)
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(lin(x), net(x), atol=1e-13)


def test_linearized_model_trains_with_autograd():
    net = ShallowNTK(2, 30, seed=0)
    lin = linearize(net)
    x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    opt = torch.optim.SGD(lin.parameters(), lr=0.05)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = ((lin(x) - y) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(not p.requires_grad for p in lin.base.parameters())


@pytest.mark.parametrize(
    ("factory", "match", "error"),
    [
        (lambda: ShallowLeCun(0, 5), "d", ValueError),
        (lambda: ShallowLeCun(3, -1), "n", ValueError),
        (lambda: ShallowLeCun(3, 5, init="cauchy"), "init", ValueError),
        (lambda: ShallowNTK(3, 5, activation="swish"), "activation", ValueError),
        (lambda: ShallowNTK(3, 5, activation=3), "activation", TypeError),
        (lambda: MLP(3, 5, -1), "depth", ValueError),
        (lambda: MLP(3, 0, 1), "width", ValueError),
        (lambda: MLP(3, 5, 1, W_std=-1.0), "W_std", ValueError),
        (lambda: MLP(3, 5, 1, b_std=float("nan")), "b_std", ValueError),
        (lambda: linearize("not a model"), "model", TypeError),
    ],
)
def test_bad_arguments_are_named(factory, match, error):
    with pytest.raises(error, match=rf"^{match}\b"):
        factory()

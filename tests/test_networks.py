"""Networks of chapter 3: parameters, initializations (11.5.3), (11.6.2), MLP, linearization."""

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from ntklab import analytic, empirical
from ntklab.networks import (
    MLP,
    DuNetwork,
    ShallowLeCun,
    ShallowNTK,
    TwoLayerReLU,
    independent_init,
    linearize,
    symmetric_xavier_init,
)


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
        (lambda: ShallowLeCun(3, -1), "width", ValueError),
        (lambda: ShallowLeCun(3, 5, init="cauchy"), "init", ValueError),
        (lambda: ShallowNTK(3, 5, activation="swish"), "activation", ValueError),
        (lambda: ShallowNTK(3, 5, activation=3), "activation", TypeError),
        (lambda: MLP(3, 5, -1), "depth", ValueError),
        (lambda: MLP(3, 0, 1), "width", ValueError),
        (lambda: MLP(3, 5, 1, W_std=-1.0), "W_std", ValueError),
        (lambda: MLP(3, 5, 1, b_std=float("nan")), "b_std", ValueError),
        (lambda: linearize("not a model"), "model", TypeError),
        (lambda: MLP(3, 5, 1, d_out=0), "d_out", ValueError),
        (lambda: MLP(3, 5, 1, parameterization="mup"), "parameterization", ValueError),
        (lambda: MLP(3, 5, 1, dtype=torch.int32), "dtype", TypeError),
        (lambda: ShallowNTK(3, 5, seed=1, generator=torch.Generator()), "pass either", ValueError),
    ],
)
def test_bad_arguments_are_named(factory, match, error):
    with pytest.raises(error, match=rf"^{match}\b"):
        factory()


def test_mlp_with_several_outputs_matches_a_hand_written_network():
    net = MLP(4, 9, 1, d_out=3, activation="erf", W_std=1.2, b_std=0.5, seed=2)
    x = torch.randn(5, 4, dtype=torch.float64)
    a = torch.erf(1.2 / 2 * x @ net.weights[0].T + 0.5 * net.biases[0])
    out = 1.2 / 3 * a @ net.weights[1].T + 0.5 * net.biases[1]
    assert net.weights[1].shape == (3, 9)
    assert torch.allclose(net(x), out, rtol=1e-14, atol=1e-14)


def test_standard_parameterization_is_neural_tangents_definition():
    w_std, b_std = 1.5, 0.3
    std = MLP(4, 7, 1, W_std=w_std, b_std=b_std, parameterization="standard", seed=3)
    x = torch.randn(5, 4, dtype=torch.float64)
    # forward h = W a + b with no 1/sqrt(fan_in) factor
    a = torch.relu(x @ std.weights[0].T + std.biases[0])
    assert torch.allclose(std(x), (a @ std.weights[1].T + std.biases[1]).squeeze(-1), atol=1e-14)
    # draws: W ~ N(0, W_std^2 / fan_in), b ~ N(0, b_std^2): the same N(0, 1) numbers, scaled
    ntk = MLP(4, 7, 1, W_std=w_std, b_std=b_std, seed=3)
    assert torch.allclose(std.weights[0], ntk.weights[0] * w_std / 2, atol=1e-15)
    assert torch.allclose(std.biases[1], ntk.biases[1] * b_std, atol=1e-15)
    # hence the same function for the same seed ...
    assert torch.allclose(std(x), ntk(x), atol=1e-13)


def test_standard_parameterization_scales_each_layers_tangent_kernel():
    # d f / d W_standard = sqrt(fan_in) / W_std * d f / d W_ntk and d f / d b_standard =
    # d f / d b_ntk / b_std, so each weight's kernel is fan_in / W_std^2 times the NTK one
    w_std, b_std = 1.3, 0.4
    kw = {"d_out": 2, "activation": "tanh", "W_std": w_std, "b_std": b_std, "seed": 5}
    std = MLP(3, 16, 2, parameterization="standard", **kw)
    ntk = MLP(3, 16, 2, **kw)
    x = torch.randn(4, 3, dtype=torch.float64)
    ps, pn = empirical.ntk_by_parameter(std, x), empirical.ntk_by_parameter(ntk, x)
    for l, fan_in in enumerate(std.sizes[:-1]):
        w = f"weights.{l}"
        assert torch.allclose(ps[w], pn[w] * fan_in / w_std**2, rtol=1e-10, atol=1e-12)
        b = f"biases.{l}"
        assert torch.allclose(ps[b], pn[b] / b_std**2, rtol=1e-10, atol=1e-12)
    # so the standard NTK grows with the width while the NTK-parameterized one does not
    wide = MLP(3, 256, 2, parameterization="standard", **kw)
    assert empirical.ntk(wide, x).diagonal().mean() > 8 * empirical.ntk(std, x).diagonal().mean()


def test_both_parameterizations_have_the_nngp_of_the_analytic_recursion():
    # Monte Carlo over initializations (independent seeds) of the output covariance
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]], dtype=torch.float64)
    limit = analytic.mlp_kernels(x, depth=1, W_std=1.4, b_std=0.3).nngp
    draws = 3000
    for parameterization, offset in (("ntk", 0), ("standard", 10_000)):
        f = torch.stack(
            [
                MLP(
                    2,
                    64,
                    1,
                    W_std=1.4,
                    b_std=0.3,
                    parameterization=parameterization,
                    seed=offset + s,
                )(x).detach()
                for s in range(draws)
            ]
        )
        cov = f.T @ f / draws
        # standard error of a second moment: sqrt(Var(f_i f_j) / draws) <= sqrt(3 K_ii K_jj / draws)
        se = torch.sqrt(3 * torch.outer(limit.diagonal(), limit.diagonal()) / draws)
        assert ((cov - limit).abs() < 4 * se).all(), parameterization


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: MLP(3, 8, 1, **kw),
        lambda **kw: ShallowLeCun(3, 8, **kw),
        lambda **kw: ShallowNTK(3, 8, **kw),
        lambda **kw: TwoLayerReLU(3, 8, **kw),
        lambda **kw: DuNetwork(3, 8, **kw),
    ],
)
def test_every_network_takes_seed_or_generator_and_refuses_mixed_dtypes(make):
    by_seed = make(seed=4)
    by_gen = make(generator=torch.Generator().manual_seed(4))
    for p, q in zip(by_seed.parameters(), by_gen.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="either seed or generator"):
        make(seed=4, generator=torch.Generator())
    f32 = make(seed=4, dtype=torch.float32)
    x64 = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"^x\b.*torch.float64.*torch.float32"):
        f32(x64)
    with pytest.raises(TypeError, match=r"^x\b.*torch.float32.*torch.float64"):
        by_seed(x64.float())
    # numpy arrays and nested lists become the network's dtype
    assert f32(np.ones((2, 3))).dtype == torch.float32
    assert by_seed([[1.0, 1.0, 1.0]]).dtype == torch.float64
    # draws are made in float64 on the CPU, then cast
    for p, q in zip(by_seed.parameters(), f32.parameters(), strict=True):
        assert torch.equal(p.float(), q)


def test_initializations_draw_on_the_cpu_then_move(device):
    for init in (symmetric_xavier_init, independent_init):
        w_cpu, c_cpu = init(3, 6, seed=1)
        w_dev, c_dev = init(3, 6, seed=1, device=device)
        assert w_dev.device.type == device.type
        assert torch.equal(w_dev.cpu(), w_cpu)
        assert torch.equal(c_dev.cpu(), c_cpu)
    net = MLP(3, 8, 1, seed=2, device=device)
    assert torch.equal(net.weights[0].detach().cpu(), MLP(3, 8, 1, seed=2).weights[0].detach())


def test_mlp_architecture_is_mlp_kernels():
    from ntklab import analytic
    from ntklab.networks import MLP

    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for act in ("relu", "erf"):
        net = MLP(3, 8, 2, activation=act, W_std=1.3, b_std=0.2, seed=0)
        k = net.architecture.kernels(x)
        ref = analytic.mlp_kernels(x, depth=2, activation=act, W_std=1.3, b_std=0.2)
        assert torch.equal(k.ntk, ref.ntk)
        assert torch.equal(k.nngp, ref.nngp)
    with pytest.raises(ValueError, match="standard"):
        _ = MLP(3, 8, 2, parameterization="standard", seed=0).architecture


@pytest.mark.parametrize("cls", [ShallowLeCun, ShallowNTK])
def test_shallow_networks_take_one_point_a_batch_and_vmap(cls):
    net = cls(5, 40, activation="tanh", seed=3)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    batch = net(x)
    scale = 1.0 if cls is ShallowLeCun else 1 / math.sqrt(5)  # (11.5.1), (11.6.1)
    by_hand = net._readout(torch.tanh(x @ net.U.T * scale + net.b))
    torch.testing.assert_close(batch, by_hand, rtol=1e-14, atol=1e-14)
    single = torch.stack([net(p) for p in x])
    torch.testing.assert_close(single, batch, rtol=1e-14, atol=1e-14)
    mapped = torch.func.vmap(net)(x)
    torch.testing.assert_close(mapped, batch, rtol=1e-14, atol=1e-14)

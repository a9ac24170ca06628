import pytest
import torch

from ntklab.networks import TwoLayerReLU, symmetric_xavier_init


def test_output_shapes_and_zero_at_init(device):
    net = TwoLayerReLU(4, 10, seed=0, device=device)
    x = torch.randn(7, 4, dtype=torch.float64, device=device)
    y = net(x).detach()
    assert y.shape == (7,)
    assert y.device.type == device.type
    assert net(x[0]).shape == ()
    # Lemma 2: the two halves cancel exactly up to rounding
    assert float(y.abs().max()) < 1e-14
    # hand-written reference after moving away from the initialization
    with torch.no_grad():
        net.w.add_(0.3 * torch.randn_like(net.w))
    ref = sum(net.c[i] * torch.relu(x @ net.w[i]) for i in range(10)) / 10**0.5
    torch.testing.assert_close(net(x), ref, rtol=1e-12, atol=1e-14)


def test_symmetric_structure_and_reproducibility():
    net = TwoLayerReLU(3, 8, seed=5)
    assert torch.equal(net.w0[:4], net.w0[4:])
    assert torch.equal(net.c[:4], -net.c[4:])
    assert set(net.c.tolist()) <= {-1.0, 1.0}
    assert torch.equal(net.w0, net.w.detach())
    assert torch.equal(TwoLayerReLU(3, 8, seed=5).w0, net.w0)
    assert not torch.equal(TwoLayerReLU(3, 8, seed=6).w0, net.w0)
    # only w is trained, c and w0 are buffers
    assert [name for name, _ in net.named_parameters()] == ["w"]
    assert {name for name, _ in net.named_buffers()} == {"c", "w0"}


def test_init_distribution_moments():
    # 2e5 i.i.d. N(0,1) entries: the sample variance has standard error sqrt(2/2e5) ~ 0.003
    w0, c = symmetric_xavier_init(4, 100_000, seed=1)
    half = w0[:50_000]
    assert abs(float(half.mean())) < 0.01
    assert abs(float(half.var()) - 1.0) < 0.015
    # Rademacher mean over 5e4 signs: standard error 0.0045
    assert abs(float(c[:50_000].mean())) < 0.025


def test_batch_init_shapes():
    w0, c = symmetric_xavier_init(3, 6, batch=(2, 5), seed=0)
    assert w0.shape == (2, 5, 6, 3)
    assert c.shape == (2, 5, 6)
    assert torch.equal(w0[..., :3, :], w0[..., 3:, :])


def test_dtype_kept():
    net = TwoLayerReLU(3, 4, seed=0, dtype=torch.float32)
    assert net.w.dtype == torch.float32
    assert net.c.dtype == torch.float32
    assert net(torch.ones(2, 3, dtype=torch.float32)).dtype == torch.float32
    # a float64 input is refused, not cast silently (the rule of every network)
    with pytest.raises(TypeError, match=r"^x\b.*float64.*float32"):
        net(torch.ones(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("width", [3, 0, -2])
def test_bad_width(width):
    with pytest.raises(ValueError, match=r"^width\b"):
        TwoLayerReLU(2, width)


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"^width\b"):
        TwoLayerReLU(2, 4.0)
    with pytest.raises(ValueError, match=r"^d\b"):
        TwoLayerReLU(0, 4)
    with pytest.raises(TypeError, match=r"^dtype\b"):
        TwoLayerReLU(2, 4, dtype=torch.int64)
    net = TwoLayerReLU(2, 4, seed=0)
    with pytest.raises(ValueError, match=r"^x\b"):
        net(torch.ones(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x\b"):
        net(torch.ones(1, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x\b"):
        net(torch.tensor([[float("nan"), 1.0]], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^batch\b"):
        symmetric_xavier_init(2, 4, batch=3)


def test_empirical_ntk_of_two_layer_relu_matches_autograd_jacobian():
    # the course's own network must work with the torch.func paths of ntklab.empirical
    from ntklab import empirical

    net = TwoLayerReLU(3, 10, seed=1)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def outputs(w):
        return torch.func.functional_call(net, {"w": w}, (x,))

    J = torch.autograd.functional.jacobian(outputs, net.w.detach()).reshape(4, -1)
    for method in ("jacobian", "ntk_vp"):
        K = empirical.ntk(net, x, method=method)
        assert torch.allclose(K, J @ J.T, atol=1e-12), method

"""Empirical tangent kernels: three methods against each other and against plain autograd."""

import pytest
import torch
from torch import nn

from ntklab import empirical
from ntklab.networks import MLP, ShallowLeCun, ShallowNTK


def _autograd_kernel(model, x1, x2):
    """Reference: one backward pass per point, gradients flattened and contracted."""

    def grads(x):
        rows = []
        for xi in x:
            out = model(xi.unsqueeze(0)).sum()
            g = torch.autograd.grad(out, list(model.parameters()), allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                        for gi, p in zip(g, model.parameters(), strict=True)
                    ]
                )
            )
        return torch.stack(rows)

    return grads(x1) @ grads(x2).T


MODELS = [
    lambda: ShallowLeCun(4, 40, seed=0),
    lambda: ShallowLeCun(4, 40, activation="tanh", init="uniform", seed=1),
    lambda: ShallowNTK(4, 40, activation="erf", seed=2),
    lambda: MLP(4, 30, 3, seed=3),
    lambda: MLP(4, 30, 2, activation="tanh", W_std=1.4, b_std=0.3, seed=4),
    lambda: MLP(4, 30, 0, b_std=1.0, seed=5),
]


@pytest.mark.parametrize("make", MODELS)
def test_three_methods_agree_with_autograd(make):
    model = make()
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    x2 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    reference = _autograd_kernel(model, x1, x2)
    for method in ("jacobian", "ntk_vp", "structured", "auto"):
        k = empirical.ntk(model, x1, x2, method=method)
        assert k.shape == (7, 5)
        assert (k - reference).abs().max() < 1e-10 * reference.abs().max()
    for method in ("jacobian", "ntk_vp", "structured"):
        tiled = empirical.ntk(model, x1, x2, method=method, batch_size=3)
        assert (tiled - reference).abs().max() < 1e-10 * reference.abs().max()


def test_kernel_of_a_set_with_itself_is_exactly_symmetric_and_psd():
    model = MLP(3, 25, 2, activation="erf", b_std=0.2, seed=0)
    x = torch.randn(11, 3, dtype=torch.float64)
    for method in ("jacobian", "ntk_vp", "structured"):
        for bs in (None, 4):
            k = empirical.ntk(model, x, method=method, batch_size=bs)
            assert torch.equal(k, k.T)
            assert torch.linalg.eigvalsh(k).min() > -1e-10 * k.diagonal().max()


def test_multi_output_model_full_and_traced_kernels():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    x1, x2 = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    full = empirical.ntk(net, x1, x2, method="jacobian")
    assert full.shape == (5, 4, 2, 2)
    vp = empirical.ntk(net, x1, x2, method="ntk_vp", batch_size=3)
    assert (full - vp).abs().max() < 1e-12
    # output o of the network is a scalar model: its kernel is the (o, o) block
    for o in range(2):
        ref = _autograd_kernel(_Pick(net, o), x1, x2)
        assert (full[:, :, o, o] - ref).abs().max() < 1e-12
    traced = empirical.ntk(net, x1, x2, trace=True)
    assert torch.allclose(traced, full.diagonal(dim1=2, dim2=3).sum(-1), atol=1e-13)
    sym = empirical.ntk(net, x1, batch_size=2)
    assert torch.equal(sym, sym.permute(1, 0, 3, 2))


class _Pick(nn.Module):
    def __init__(self, net, o):
        super().__init__()
        self.net, self.o = net, o

    def forward(self, x):
        return self.net(x)[..., self.o]


def test_dtype_and_device_follow_the_model(device):
    model = MLP(3, 20, 1, seed=0, dtype=torch.float32, device=device)
    x = torch.randn(4, 3, dtype=torch.float64)  # moved to the model's dtype and device
    k = empirical.ntk(model, x)
    assert k.dtype == torch.float32
    assert k.device.type == device.type
    k64 = empirical.ntk(MLP(3, 20, 1, seed=0), x)
    assert torch.allclose(k.double().cpu(), k64, rtol=1e-5, atol=1e-5)


def test_structured_path_needs_a_structured_network():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match="structured"):
        empirical.ntk(net, torch.zeros(2, 3), method="structured")


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"model": "mlp"}, "model", TypeError),
        ({"x1": torch.zeros(3)}, "x1", ValueError),
        ({"x1": torch.full((2, 3), float("nan"))}, "x1", ValueError),
        ({"x1": torch.zeros(2, 4)}, "x1", ValueError),  # the model takes d = 3
        ({"x2": torch.zeros(2, 5)}, "x2", ValueError),
        ({"method": "finite_differences"}, "method", ValueError),
        ({"batch_size": 0}, "batch_size", ValueError),
    ],
)
def test_bad_input_is_named(kwargs, match, error):
    args = {"model": MLP(3, 5, 1, seed=0), "x1": torch.zeros(2, 3), "x2": None}
    args.update(kwargs)
    with pytest.raises(error, match=rf"^{match}\b"):
        empirical.ntk(args.pop("model"), args.pop("x1"), args.pop("x2"), **args)


def test_input_width_of_a_plain_torch_model_is_checked():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match=r"^x1\b"):
        empirical.ntk(net, torch.zeros(2, 5))

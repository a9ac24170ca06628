"""Structured tangent kernels of the user's own nn.Sequential stacks with convolutions and
pooling, the cost model of ``method="auto"``, and one-pass Jacobians.

Reference: the Jacobian contraction of PyTorch's NTK tutorial, written out here with
``torch.func`` (per-sample ``jacrev`` under ``vmap``, one ``einsum`` per parameter),
independent of ntklab's code.
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ntklab import _structured, empirical


def reference_ntk(model, x1, x2):
    """(N1, N2, O, O) by torch.func: Jacobians of every trainable parameter, contracted."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}

    def single(p, x):
        return functional_call(model, p, (x[None],)).reshape(-1)

    j1 = vmap(jacrev(single), (None, 0))(params, x1)
    j2 = vmap(jacrev(single), (None, 0))(params, x2)

    def flat(j):
        return j.reshape(j.shape[0], j.shape[1], -1)  # (N, O, P_k), scalars included

    return sum(torch.einsum("aoi,bqi->aboq", flat(j1[k]), flat(j2[k])) for k in params)


def reduce(k, outputs):
    if outputs == "full":
        out = k
    else:
        out = k.diagonal(dim1=2, dim2=3)
        out = out if outputs == "diagonal" else out.mean(-1)
    if k.shape[-1] == 1:  # one output per point: (N1, N2)
        out = out.reshape(k.shape[0], k.shape[1])
    return out


@st.composite
def conv_stacks(draw):
    """A random Sequential of Conv (1d or 2d), activations, pooling, Flatten and Linear."""
    dims = draw(st.sampled_from([1, 2]))
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    size = draw(st.integers(5, 9))
    c_in = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in *= groups
    layers, c = [], c_in
    for _ in range(draw(st.integers(1, 2))):
        c_out = draw(st.integers(1, 3)) * groups
        kernel = draw(st.integers(1, 3))
        stride = draw(st.integers(1, 2))
        dilation = draw(st.integers(1, 2))
        same = stride == 1 and draw(st.booleans())
        padding = "same" if same else draw(st.integers(0, 2))
        layers.append(
            conv(
                c,
                c_out,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=draw(st.booleans()),
                padding_mode=draw(st.sampled_from(["zeros", "zeros", "reflect", "circular"])),
            )
        )
        layers.append(draw(st.sampled_from([nn.ReLU, nn.Tanh, nn.GELU, nn.Identity]))())
        c = c_out
    pool = draw(st.sampled_from(["none", "avg", "max", "adaptive_avg1", "adaptive_max"]))
    pools = {
        "avg": (nn.AvgPool1d, nn.AvgPool2d),
        "max": (nn.MaxPool1d, nn.MaxPool2d),
        "adaptive_avg1": (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d),
        "adaptive_max": (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d),
    }
    if pool != "none":
        arg = {"avg": 2, "max": 2, "adaptive_avg1": 1, "adaptive_max": 2}[pool]
        layers.append(pools[pool][dims - 1](arg))
    d_out = draw(st.sampled_from([1, 3]))
    torch.manual_seed(draw(st.integers(0, 2**16)))
    body = nn.Sequential(*layers).double()
    shape = (c_in, size) if dims == 1 else (c_in, size, size)
    with torch.no_grad():
        width = body(torch.zeros(1, *shape, dtype=torch.float64)).numel()
    if width == 0:  # the spatial size shrank to nothing: a plain conv instead
        body = nn.Sequential(conv(c_in, 2, 1)).double()
        width = 2 * size**dims
    net = nn.Sequential(body, nn.Flatten(), nn.Linear(width, d_out).double())
    return net, shape


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    stack=conv_stacks(),
    outputs=st.sampled_from(["full", "diagonal", "trace"]),
    given_x2=st.booleans(),
    gram=st.booleans(),
)
def test_conv_stacks_match_the_torch_func_jacobian_contraction(stack, outputs, given_x2, gram):
    net, shape = stack
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(4, *shape, dtype=torch.float64, generator=g)
    x2 = torch.randn(3, *shape, dtype=torch.float64, generator=g) if given_x2 else None
    ref = reduce(reference_ntk(net, x1, x1 if x2 is None else x2), outputs)
    old = _structured._ENTRIES
    try:
        if gram:  # no room for per-point gradients: the Gram order, one row at a time
            _structured._ENTRIES = 1
        got = empirical.ntk(net, x1, x2, outputs=outputs, method="structured")
    finally:
        _structured._ENTRIES = old
    assert got.shape == ref.shape
    scale = ref.abs().max()
    assert (got - ref).abs().max() <= 1e-10 * scale
    if x2 is None:
        assert torch.equal(
            got, got.transpose(0, 1) if got.dim() < 4 else got.transpose(0, 1).transpose(2, 3)
        )


def test_both_contraction_orders_are_used_and_agree():
    # a wide Linear layer takes the Gram order, a convolution over many pixels the gradient one
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 64, 2)
    ).double()
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    ref = reference_ntk(net, x, x)
    got = empirical.ntk(net, x, method="structured")
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_frozen_conv_weight_and_bias_are_left_out():
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv1d(2, 4, 3),
        nn.Tanh(),
        nn.Conv1d(4, 2, 2),
        nn.AvgPool1d(2),
        nn.Flatten(),
        nn.Linear(12, 1),
    ).double()
    net[0].weight.requires_grad_(False)
    net[2].requires_grad_(False)
    x = torch.randn(4, 2, 15, dtype=torch.float64)
    got = empirical.ntk(net, x, method="structured")
    torch.testing.assert_close(got, reduce(reference_ntk(net, x, x), "full"), rtol=1e-10, atol=0)


def test_unsupported_layer_is_named_before_any_work():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"structured.*BatchNorm2d"):
        empirical.ntk(net, x, method="structured")
    assert empirical.choose_method(net, x) in ("jacobian", "ntk_vp")  # auto falls back


@pytest.mark.parametrize(
    ("x1", "x2", "match"),
    [
        (torch.zeros(2, 1, 16), None, "x1"),  # a 2d convolution needs (N, C, H, W)
        (torch.zeros(2, 3, 4, 4), None, "x1"),  # 3 channels for a 1-channel convolution
        (torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 5, 4), "x2"),
    ],
)
def test_mismatched_image_shapes_are_named(x1, x2, match):
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 1))
    for method in ("structured", "auto", "jacobian"):
        with pytest.raises(ValueError, match=rf"^{match}\b"):
            empirical.ntk(net, x1, x2, method=method)


class TwoLayer(nn.Module):
    """Not an nn.Sequential: no structured path, so auto weighs jacobian against ntk_vp."""

    def __init__(self, d, width, d_out):
        super().__init__()
        self.a, self.b = nn.Linear(d, width), nn.Linear(width, d_out)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


@pytest.mark.parametrize(
    ("d", "width", "d_out", "n1", "n2"),
    [
        (3, 16, 1, 6, None),
        (3, 16, 8, 6, None),
        (3, 16, 2, 6, 4),
        (40, 4, 3, 5, 7),
        (4, 64, 3, 2, 9),
    ],
)
@pytest.mark.parametrize("outputs", ["full", "trace"])
def test_auto_follows_the_tutorial_cost_model(d, width, d_out, n1, n2, outputs):
    net = TwoLayer(d, width, d_out).double()
    x1 = torch.randn(n1, d, dtype=torch.float64)
    x2 = None if n2 is None else torch.randn(n2, d, dtype=torch.float64)
    # costs written out: [FP] = multiply-adds of the two matrix products for one point
    fp = d * width + width * d_out
    p = sum(v.numel() for v in net.parameters())
    o, m = d_out, (n1 if n2 is None else n2)
    q = o * o if outputs == "full" else o
    jac = (n1 + (0 if n2 is None else m)) * o * fp + n1 * m * q * p
    vp = (n1 + m) * m * o * fp
    expected = "ntk_vp" if vp < jac else "jacobian"
    assert empirical.choose_method(net, x1, x2, outputs=outputs) == expected
    k = empirical.ntk(net, x1, x2, outputs=outputs)
    assert torch.equal(k, empirical.ntk(net, x1, x2, outputs=outputs, method=expected))


def test_cost_model_takes_both_general_methods():
    picks = {
        empirical.choose_method(TwoLayer(3, 16, o).double(), torch.ones(6, 3, dtype=torch.float64))
        for o in (1, 8)
    }
    assert picks == {"jacobian", "ntk_vp"}


def test_auto_is_structured_where_recognized_but_not_with_create_graph():
    net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)).double()
    x = torch.ones(3, 1, 6, dtype=torch.float64)
    assert empirical.choose_method(net, x) == "structured"
    assert empirical.choose_method(net, x, create_graph=True) in ("jacobian", "ntk_vp")


class Counting(nn.Module):
    """Counts forward calls (vmap runs the Python forward once per tile)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("n2", [None, 4])
def test_jacobians_are_computed_once_per_tile_not_per_tile_pair(n2):
    torch.manual_seed(0)
    net = Counting().double()
    x1 = torch.randn(6, 3, dtype=torch.float64)
    x2 = None if n2 is None else torch.randn(n2, 3, dtype=torch.float64)
    k = empirical.ntk(net, x1, x2, method="jacobian", batch_size=2)
    tiles = 3 + (0 if n2 is None else 2)
    assert net.calls == 1 + tiles  # one call finds the output width
    ref = reference_ntk(net, x1, x1 if x2 is None else x2)
    torch.testing.assert_close(k, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_conv_stack_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 2)
    ).double()
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    cpu = empirical.ntk(net, x, method="structured")
    gpu = empirical.ntk(net.cuda(), x.cuda(), method="structured")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12)


def test_linear_on_feature_maps_and_outputs_with_several_axes():
    # a Linear acting on the last axis of (N, C, L) maps, outputs of shape (N, C, 3): O = 3 C
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv1d(2, 2, 3, padding=1), nn.Softplus(), nn.Linear(7, 3), nn.Tanh(), nn.Linear(3, 3)
    ).double()
    x1 = torch.randn(4, 2, 7, dtype=torch.float64)
    x2 = torch.randn(2, 2, 7, dtype=torch.float64)
    for outputs in ("full", "diagonal"):
        got = empirical.ntk(net, x1, x2, outputs=outputs, method="structured")
        ref = reduce(reference_ntk(net, x1, x2), outputs)
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_closed_form_kernel_of_a_set_with_itself_from_the_upper_triangle():
    # from 256 points on, ShallowNTK's K(x, x) takes Gram matrices from strips (upper triangle)
    from ntklab.networks import ShallowNTK

    net = ShallowNTK(3, 32, seed=0)
    x = torch.randn(261, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    got = empirical.ntk(net, x)
    ref = reduce(reference_ntk(net, x, x), "full")
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(got, got.T)

"""Empirical tangent kernels: three methods against each other and against plain autograd."""

import numpy as np
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
    # neural-tangents' trace_axes=(-1,): the mean over outputs
    traced = empirical.ntk(net, x1, x2, outputs="trace")
    assert torch.allclose(traced, full.diagonal(dim1=2, dim2=3).mean(-1), atol=1e-13)
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
    x = np.random.default_rng(0).standard_normal((4, 3))  # numpy: cast to the model's dtype
    k = empirical.ntk(model, x)
    assert k.dtype == torch.float32
    assert k.device.type == device.type
    k64 = empirical.ntk(MLP(3, 20, 1, seed=0), x)
    assert torch.allclose(k.double().cpu(), k64, rtol=1e-5, atol=1e-5)


FUNCTIONS = {
    "ntk": lambda m, x1, x2: empirical.ntk(m, x1, x2),
    "nngp": lambda m, x1, x2: empirical.nngp(m, x1, x2),
    "ntk_by_parameter": lambda m, x1, x2: empirical.ntk_by_parameter(m, x1, x2),
    "jacobian": lambda m, x1, x2: empirical.jacobian(m, x1 if x2 is None else x2),
}


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize(
    ("model_dtype", "data_dtype"), [(torch.float64, torch.float32), (torch.float32, torch.float64)]
)
def test_mixed_dtypes_are_a_type_error_naming_both(name, model_dtype, data_dtype):
    model = MLP(3, 5, 1, seed=0, dtype=model_dtype)
    good = torch.zeros(2, 3, dtype=model_dtype)
    bad = torch.zeros(2, 3, dtype=data_dtype)
    fn = FUNCTIONS[name]
    which = "x" if name == "jacobian" else "x1"
    with pytest.raises(TypeError, match=rf"^{which}\b.*{data_dtype}.*{model_dtype}"):
        fn(model, bad, None)
    if name != "jacobian":
        with pytest.raises(TypeError, match=rf"^x2\b.*{data_dtype}.*{model_dtype}"):
            fn(model, good, bad)
    fn(model, good.numpy().astype(np.float64 if data_dtype == torch.float64 else np.float32), None)


def test_structured_path_needs_a_structured_network():
    # a LayerNorm is neither Linear nor elementwise: no structured path
    net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)).double()
    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="structured"):
        empirical.ntk(net, x, method="structured")


def _stack(act, d_out, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(3, 7), act(), nn.Sequential(nn.Linear(7, 5), act()), nn.Linear(5, d_out)
    ).double()


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.GELU, nn.Softplus])
@pytest.mark.parametrize("d_out", [1, 3])
@pytest.mark.parametrize("outputs", ["full", "diagonal", "trace"])
def test_sequential_stacks_are_structured_and_match_the_jacobian_path(act, d_out, outputs):
    net = _stack(act, d_out)
    g = torch.Generator().manual_seed(1)
    x1, x2 = (
        torch.randn(5, 3, dtype=torch.float64, generator=g),
        torch.randn(4, 3, dtype=torch.float64, generator=g),
    )
    for a, b in ((x1, x2), (x1, None)):
        ref = empirical.ntk(net, a, b, outputs=outputs, method="jacobian")
        got = empirical.ntk(net, a, b, outputs=outputs, method="structured")
        assert got.shape == ref.shape
        assert torch.allclose(got, ref, rtol=1e-10, atol=1e-12)
        assert torch.equal(empirical.ntk(net, a, b, outputs=outputs), got)  # auto chooses it


def test_sequential_structured_respects_frozen_layers_and_flatten():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)
    ).double()
    net[1].weight.requires_grad_(False)  # a frozen weight, its bias trainable
    net[3].requires_grad_(False)  # a frozen layer contributes nothing
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = empirical.ntk(net, x, method="jacobian")
    got = empirical.ntk(net, x, method="structured")
    assert torch.allclose(got, ref, rtol=1e-10, atol=1e-12)


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
    args = {"model": MLP(3, 5, 1, seed=0, dtype=torch.float32), "x1": torch.zeros(2, 3), "x2": None}
    args.update(kwargs)
    with pytest.raises(error, match=rf"^{match}\b"):
        empirical.ntk(args.pop("model"), args.pop("x1"), args.pop("x2"), **args)


def test_input_width_of_a_plain_torch_model_is_checked():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match=r"^x1\b"):
        empirical.ntk(net, torch.zeros(2, 5, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# inputs of any shape, outputs of any shape
# --------------------------------------------------------------------------------------------


def _small_cnn(seed=0, outputs=3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 3 * 2, outputs)
    ).double()


def _reference_jacobian(model, x):
    """(N, O, P) by torch.autograd.functional.jacobian, one example at a time."""
    names = [k for k, _ in model.named_parameters()]
    params = tuple(p.detach() for p in model.parameters())
    rows = []
    for xi in x:

        def f(*ps, xi=xi):
            out = torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (xi[None],))
            return out.reshape(-1)

        jac = torch.autograd.functional.jacobian(f, params)
        rows.append(torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1))
    return torch.stack(rows)


def test_cnn_on_images_matches_per_example_autograd_jacobians():
    net = _small_cnn()
    gen = torch.Generator().manual_seed(1)
    x1 = torch.randn(5, 2, 5, 4, generator=gen, dtype=torch.float64)
    x2 = torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)
    j1, j2 = _reference_jacobian(net, x1), _reference_jacobian(net, x2)
    ref = torch.einsum("aop,bqp->aboq", j1, j2)
    assert torch.allclose(empirical.jacobian(net, x1), j1, rtol=0, atol=1e-12)
    for method, bs in (("jacobian", None), ("ntk_vp", 2)):
        k = empirical.ntk(net, x1, x2, method=method, batch_size=bs)
        assert k.shape == (5, 3, 3, 3)
        assert (k - ref).abs().max() < 1e-12 * ref.abs().max()
        diag = empirical.ntk(net, x1, x2, outputs="diagonal", method=method, batch_size=bs)
        assert torch.allclose(diag, torch.einsum("aop,bop->abo", j1, j2), atol=1e-12)
        tr = empirical.ntk(net, x1, x2, outputs="trace", method=method, batch_size=bs)
        assert torch.allclose(tr, torch.einsum("aop,bop->ab", j1, j2) / 3, atol=1e-12)
    sym = empirical.ntk(net, x1, batch_size=2)
    assert torch.allclose(sym, torch.einsum("aop,bqp->aboq", j1, j1), atol=1e-12)
    assert torch.equal(sym, sym.permute(1, 0, 3, 2))


def test_output_dimensions_after_the_first_are_flattened():
    class Grid(nn.Module):  # outputs of shape (N, 2, 3)
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 6).double()

        def forward(self, x):
            return torch.tanh(self.lin(x)).reshape(-1, 2, 3)

    torch.manual_seed(0)
    net = Grid()
    x = torch.randn(3, 4, dtype=torch.float64)
    j = _reference_jacobian(net, x)
    assert j.shape[1] == 6
    assert torch.allclose(empirical.ntk(net, x), torch.einsum("aop,bqp->aboq", j, j), atol=1e-12)
    assert empirical.nngp(net, x).shape == (3, 3, 6, 6)


def test_ntk_by_parameter_for_several_outputs_sums_to_the_kernel():
    net = MLP(3, 12, 2, d_out=3, b_std=0.4, seed=0)  # a reshape error before
    x1 = torch.randn(4, 3, dtype=torch.float64)
    x2 = torch.randn(2, 3, dtype=torch.float64)
    j1, j2 = _reference_jacobian(net, x1), _reference_jacobian(net, x2)
    for outputs in ("full", "diagonal", "trace"):
        parts = empirical.ntk_by_parameter(net, x1, x2, outputs=outputs)
        total = sum(parts.values())
        assert torch.allclose(total, empirical.ntk(net, x1, x2, outputs=outputs), atol=1e-12)
    parts = empirical.ntk_by_parameter(net, x1, x2)
    offset = 0
    for name, p in net.named_parameters():  # each part from its own columns of J
        cols = slice(offset, offset + p.numel())
        ref = torch.einsum("aop,bqp->aboq", j1[..., cols], j2[..., cols])
        assert torch.allclose(parts[name], ref, atol=1e-12), name
        offset += p.numel()


def test_structured_mlp_kernel_with_several_outputs_matches_autograd():
    for parameterization in ("ntk", "standard"):
        net = MLP(
            3,
            10,
            2,
            d_out=2,
            activation="tanh",
            b_std=0.3,
            seed=1,
            parameterization=parameterization,
        )
        x1, x2 = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
        j1, j2 = _reference_jacobian(net, x1), _reference_jacobian(net, x2)
        ref = torch.einsum("aop,bqp->aboq", j1, j2)
        k = empirical.ntk(net, x1, x2, method="structured")
        assert (k - ref).abs().max() < 1e-11 * ref.abs().max()


def test_empirical_nngp_is_the_outer_product_of_outputs():
    net = _small_cnn(outputs=2)
    x1 = torch.randn(4, 2, 5, 4, dtype=torch.float64)
    x2 = torch.randn(3, 2, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        f1, f2 = net(x1), net(x2)
    full = empirical.nngp(net, x1, x2)
    assert torch.allclose(full, f1[:, None, :, None] * f2[None, :, None, :], atol=1e-14)
    assert torch.allclose(
        empirical.nngp(net, x1, x2, outputs="diagonal"), f1[:, None] * f2[None], atol=1e-14
    )
    assert torch.allclose(empirical.nngp(net, x1, x2, outputs="trace"), f1 @ f2.T / 2, atol=1e-14)
    sym = empirical.nngp(net, x1)
    assert torch.equal(sym, sym.permute(1, 0, 3, 2))
    scalar = MLP(3, 8, 1, seed=0)
    x = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        f = scalar(x)
    assert torch.allclose(empirical.nngp(scalar, x), torch.outer(f, f), atol=1e-14)


# --------------------------------------------------------------------------------------------
# gradients through empirical kernels
# --------------------------------------------------------------------------------------------


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()


@pytest.mark.parametrize(("method", "outputs"), [("jacobian", "trace"), ("ntk_vp", "full")])
def test_ntk_with_create_graph_passes_gradcheck_in_inputs(method, outputs):
    net = _tiny()
    x1 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)

    def k(a, b):
        return empirical.ntk(net, a, b, outputs=outputs, method=method, create_graph=True)

    assert torch.autograd.gradcheck(k, (x1, x2), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(
        lambda a: empirical.ntk(net, a, method=method, create_graph=True),
        (x1,),
        eps=1e-6,
        atol=1e-7,
    )


def test_kernels_with_create_graph_pass_gradcheck_in_parameters():
    net = _tiny()
    x1 = torch.randn(3, 2, dtype=torch.float64)
    x2 = torch.randn(2, 2, dtype=torch.float64)
    names = [k for k, _ in net.named_parameters()]

    def with_params(fn):
        def f(*ps):
            for name, p in zip(names, ps, strict=True):  # the kernel reads the module's tensors
                mod, attr = name.rsplit(".", 1)
                net.get_submodule(mod)._parameters[attr] = p
            return fn()

        return f

    params = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())
    for fn in (
        lambda: empirical.ntk(net, x1, x2, create_graph=True),
        lambda: empirical.nngp(net, x1, x2, create_graph=True),
        lambda: empirical.ntk_by_parameter(net, x1, x2, create_graph=True)["0.weight"],
        lambda: empirical.jacobian(net, x1, create_graph=True),
    ):
        assert torch.autograd.gradcheck(with_params(fn), params, eps=1e-6, atol=1e-7)


def test_nngp_with_create_graph_passes_gradcheck_in_inputs():
    net = _tiny()
    x1 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    for outputs in ("full", "diagonal", "trace"):
        assert torch.autograd.gradcheck(
            lambda a, b, o=outputs: empirical.nngp(net, a, b, outputs=o, create_graph=True),
            (x1, x2),
        )


def test_kernels_are_detached_by_default_and_structured_is_not_differentiable():
    net = MLP(2, 4, 1, seed=0)
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert not empirical.ntk(net, x).requires_grad
    assert not empirical.nngp(net, x).requires_grad
    assert empirical.ntk(net, x, create_graph=True).requires_grad  # "auto": the Jacobian path
    with pytest.raises(ValueError, match="structured"):
        empirical.ntk(net, x, method="structured", create_graph=True)
    with pytest.raises(TypeError, match=r"^create_graph\b"):
        empirical.ntk(net, x, create_graph=1)


@pytest.mark.parametrize(
    ("call", "match", "error"),
    [
        (lambda m: empirical.ntk(m, torch.zeros(2, 3), outputs="sum"), "outputs", ValueError),
        (lambda m: empirical.nngp(m, torch.zeros(2, 3), outputs="mean"), "outputs", ValueError),
        (lambda m: empirical.ntk(m, torch.zeros(2, 3), torch.zeros(2, 3, 1)), "x2", ValueError),
        (lambda m: empirical.jacobian(m, torch.zeros(3)), "x", ValueError),
        (lambda m: empirical.ntk_by_parameter("m", torch.zeros(2, 3)), "model", TypeError),
    ],
)
def test_more_bad_input_is_named(call, match, error):
    with pytest.raises(error, match=rf"^{match}\b"):
        call(MLP(3, 5, 1, seed=0, dtype=torch.float32))


def test_frozen_layers_are_left_out_of_the_kernel_on_every_path():
    # reference: the Jacobian of the trainable parameter alone, by autograd per example
    torch.manual_seed(0)
    net = ShallowNTK(3, 16, seed=0)
    net.b.requires_grad_(False)
    net.c.requires_grad_(False)
    x = torch.randn(5, 3, dtype=torch.float64)
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert len(trainable) == 2  # U and v
    rows = []
    for xi in x:
        grads = torch.autograd.grad(net(xi[None]).sum(), trainable)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = torch.stack(rows)
    expected = J @ J.T
    for method in ("auto", "jacobian", "ntk_vp"):
        k = empirical.ntk(net, x, method=method)
        torch.testing.assert_close(k, expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="frozen parameters"):
        empirical.ntk(net, x, method="structured")

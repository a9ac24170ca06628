"""Empirical (finite-width) kernels of torch models: tangent kernel, NNGP, Jacobians.

For a model ``f(x; w)`` with parameters ``w`` and O outputs per point (the output dimensions
after the first, flattened), the empirical tangent kernel is
``hat Theta(x, x') = J(x) J(x')^T`` with ``J(x) = df(x; w)/dw`` of shape (O, P)
(Petersen & Zech (11.3.4)), and the empirical NNGP kernel is the outer product of the outputs
``f(x) f(x')^T`` (one draw of the covariance whose mean over initializations is the NNGP
kernel ``Sigma``).  Inputs have any shape ``(N, ...)``: images ``(N, C, H, W)`` included.

Outputs: ``outputs="full"`` gives the (N1, N2, O, O) kernel, ``"diagonal"`` its diagonal over
outputs (N1, N2, O), ``"trace"`` the *mean* of that diagonal (N1, N2), which is
neural-tangents' ``trace_axes=(-1,)`` (it divides the trace by O, so a network with O
i.i.d. outputs has a traced kernel that tends to the one-output kernel).  A model with one
output per point (output shape (N,) or (N, 1)) gives (N1, N2) for every choice.  The default
is ``"full"``, the kernel that drives the linearized dynamics of the network exactly
(neural-tangents defaults to ``trace_axes=(-1,)``, i.e. ``"trace"``).

:func:`ntk` computes the tangent kernel in three ways:

* ``"jacobian"``: per-sample Jacobians by ``torch.func`` (``vmap`` of ``jacrev``), concatenated
  over parameters and contracted with one matrix product;
* ``"ntk_vp"``: NTK-vector products, ``J(x1) (J(x2)^T e)`` by a ``vjp`` followed by a ``jvp``,
  for a block of basis vectors ``e`` at a time; never forms ``J(x1)``;
* ``"structured"``: for :class:`~ntklab.networks.shallow.ShallowLeCun`,
  :class:`~ntklab.networks.shallow.ShallowNTK` and :class:`~ntklab.networks.mlp.MLP` (any
  module with a ``structured_ntk(x1, x2)`` method), the closed form in which each layer
  contributes the elementwise product of two N1 x N2 Gram matrices (of layer inputs and of
  backpropagated derivatives); no per-parameter Jacobian.  The same for the user's own
  ``nn.Sequential`` stacks (nested allowed) of ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``
  (any stride, padding, padding mode, dilation, groups; bias or not), pooling (``nn.AvgPool``,
  ``nn.MaxPool``, ``nn.AdaptiveAvgPool``, ``nn.AdaptiveMaxPool``, 1d and 2d), ``nn.Flatten``
  and elementwise activations (``nn.ReLU``, ``nn.Tanh``, ``nn.GELU``, ...): one forward pass
  stores each weighted layer's input, one backward pass its output derivatives
  ``D^o = df_o/dh`` (routed through activations and pooling by autograd, so ReLU'(0) = 0 and
  max-pooling ties as in the Jacobian path), and each layer adds
  ``sum_st (P_n^T P_m)_st (D_n^o^T D_m^p)_st [weight] + (D_n^o 1).(D_m^p 1) [bias]`` with
  ``P`` the input's patches (``unfold``; for a Linear on flat inputs ``a_n . a_m``), by the
  cheaper of two contraction orders (Novak et al. 2022's structured derivatives; see
  ``ntklab/_structured.py``); a frozen weight or bias contributes nothing;
* ``"auto"``: :func:`choose_method`: ``"structured"`` where the model is recognized (and
  ``create_graph`` is off), else ``"jacobian"`` or ``"ntk_vp"`` by the cost model of PyTorch's
  NTK tutorial, ``N O [FP] + N^2 O^2 P`` against ``N^2 O [FP]``.

The Jacobian path computes every point's Jacobian once (in tiles of ``batch_size`` points)
and contracts them in one product when all Jacobians fit in about 2 GiB; otherwise it works
in tiles of ``x1`` and ``x2``, each ``x1`` tile's Jacobian computed once per row of tiles.
NTK-vector products work in tiles, so memory stays bounded by a tile's products plus the
output.

Dtypes follow :func:`ntklab.validation.as_tensor_like`: a floating tensor input must have the
dtype of the model's parameters (``TypeError`` naming both otherwise); numpy arrays and Python
numbers are cast to it.  Inputs are moved to the parameters' device.

With ``create_graph=True`` the kernels are differentiable (by ordinary autograd) in the
model's parameters and in tensor inputs ``x1``, ``x2`` that require grad, e.g. to learn
inputs (dataset distillation) or to train through a kernel; otherwise they are detached.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, vjp, vmap
from torch.utils.flop_counter import FlopCounterMode

from . import _structured
from ._activations import quiet_jvp as jvp
from .validation import as_tensor_like, check_choice, check_positive_int

__all__ = ["METHODS", "OUTPUTS", "choose_method", "jacobian", "nngp", "ntk", "ntk_by_parameter"]

METHODS = ("auto", "jacobian", "ntk_vp", "structured")
OUTPUTS = ("full", "diagonal", "trace")

# "auto" tiles the Jacobian path so one tile's Jacobian holds at most this many numbers
_AUTO_JACOBIAN_ENTRIES = 2**27  # 1 GiB of float64
# the Jacobians of all points are kept (computed once, one contraction) up to this many numbers
_ONE_PASS = 2**28  # 2 GiB of float64


# --------------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------------


def _model_input_width(model: nn.Module) -> int | None:
    width = getattr(model, "in_features", None)
    if isinstance(width, int):
        return width
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if any(True for _ in module.parameters(recurse=False)):
            return None
    return None


def _check_model(model: Any, create_graph: Any) -> dict[str, torch.Tensor]:
    """The trainable parameters by name (detached unless ``create_graph``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(create_graph, bool):
        raise TypeError(f"create_graph must be a bool, got {type(create_graph).__name__}")
    params = {
        k: (v if create_graph else v.detach())
        for k, v in model.named_parameters()
        if v.requires_grad
    }
    if not params:
        raise ValueError("model has no trainable parameters: its tangent kernel is empty")
    return params


def _inputs(model, ref, x1, x2, names=("x1", "x2")):
    """``x1`` (N1, ...) and ``x2`` (N2, ...) (``x2 = x1`` when ``None``) for ``model``."""
    n1, n2 = names
    x1 = as_tensor_like(x1, n1, ref, "the model")
    if x1.dim() < 2 or x1.shape[0] < 1:
        raise ValueError(
            f"{n1} must have shape (N, ...) with N >= 1 points and at least one more "
            f"dimension, got shape {tuple(x1.shape)}"
        )
    width = _model_input_width(model)
    if width is not None and x1.dim() == 2 and x1.shape[1] != width:
        raise ValueError(
            f"{n1} must have {width} columns (the model's input dimension), "
            f"got shape {tuple(x1.shape)}"
        )
    first = next(iter(model), None) if isinstance(model, nn.Sequential) else None
    while isinstance(first, nn.Sequential):
        first = next(iter(first), None)
    if isinstance(first, nn.Conv1d | nn.Conv2d):
        dims = 3 if isinstance(first, nn.Conv1d) else 4
        if x1.dim() != dims or x1.shape[1] != first.in_channels:
            raise ValueError(
                f"{n1} must have shape (N, {first.in_channels}, {'L' if dims == 3 else 'H, W'}) "
                f"for the model's first layer {type(first).__name__}, got shape {tuple(x1.shape)}"
            )
    if x2 is None:
        return x1, x1
    x2 = as_tensor_like(x2, n2, ref, "the model")
    if x2.dim() != x1.dim() or x2.shape[1:] != x1.shape[1:] or x2.shape[0] < 1:
        raise ValueError(
            f"{n2} must have shape (N2, {', '.join(map(str, x1.shape[1:]))}) like {n1}, "
            f"got shape {tuple(x2.shape)}"
        )
    return x1, x2


def _output_width(model, params, x) -> int:
    """O, the number of outputs per point (output dimensions after the first, flattened)."""
    with torch.no_grad():
        out = functional_call(model, params, (x[:1],))
    if out.dim() == 0 or out.shape[0] != 1:
        raise ValueError(
            f"model must return one output (row) per input point; for 1 point it returned "
            f"shape {tuple(out.shape)}"
        )
    return math.prod(out.shape[1:])


# --------------------------------------------------------------------------------------------
# contractions
# --------------------------------------------------------------------------------------------


def _contract(ja: torch.Tensor, jb: torch.Tensor, outputs: str) -> torch.Tensor:
    """``ja`` (Na, O, P) against ``jb`` (Nb, O, P), reduced over outputs as ``outputs`` says."""
    na, o, p = ja.shape
    nb = jb.shape[0]
    if outputs == "full":
        k = ja.reshape(na * o, p) @ jb.reshape(nb * o, p).T
        return k.reshape(na, o, nb, o).permute(0, 2, 1, 3)
    diag = torch.einsum("aop,bop->abo", ja, jb)
    return diag if outputs == "diagonal" else diag.mean(-1)


def _reduce(k: torch.Tensor, outputs: str) -> torch.Tensor:
    """A full (Na, Nb, O, O) block (or (Na, Nb) for one output) reduced over outputs."""
    if k.dim() == 2 or outputs == "full":
        return k
    diag = k.diagonal(dim1=2, dim2=3)
    return diag if outputs == "diagonal" else diag.mean(-1)


def _squeeze_single_output(k: torch.Tensor, o: int) -> torch.Tensor:
    if o != 1 or k.dim() == 2:
        return k
    return k[:, :, 0, 0] if k.dim() == 4 else k[:, :, 0]


def _symmetrize(k: torch.Tensor) -> torch.Tensor:
    """``(K + K^T) / 2`` with the transpose over points (and over outputs for a full kernel)."""
    kt = k.transpose(0, 1)
    if k.dim() == 4:
        kt = kt.transpose(2, 3)
    return (k + kt) / 2


def _jacobians(model, params, x) -> dict[str, torch.Tensor]:
    """Per-sample Jacobians by parameter name, each of shape (B, O, P_name)."""

    def single(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(single), (None, 0))(params, x)
    return {k: j.reshape(x.shape[0], j.shape[1], -1) for k, j in jac.items()}


def _jacobian(model, params, x) -> torch.Tensor:
    """Per-sample Jacobians, shape (B, O, P), parameters concatenated."""
    return torch.cat(list(_jacobians(model, params, x).values()), dim=2)


def _ntk_vp_block(model, params, xa, xb, outputs) -> torch.Tensor:
    def fa(p):
        return functional_call(model, p, (xa,)).reshape(xa.shape[0], -1)

    def fb(p):
        return functional_call(model, p, (xb,)).reshape(xb.shape[0], -1)

    yb, vjp_fn = vjp(fb, params)
    nb, o = yb.shape
    basis = torch.eye(nb * o, dtype=yb.dtype, device=yb.device).reshape(nb * o, nb, o)

    def column(e):
        (tangent,) = vjp_fn(e)
        return jvp(fa, (params,), (tangent,))[1]

    cols = vmap(column)(basis)  # (nb*o, na, o)
    return _reduce(cols.reshape(nb, o, xa.shape[0], o).permute(2, 0, 3, 1), outputs)


# --------------------------------------------------------------------------------------------
# the choice of method: a cost model
# --------------------------------------------------------------------------------------------


def _forward_flops(model, params, x) -> int:
    """[FP]: multiply-adds of a forward pass for one point (matrix products and convolutions,
    counted by ``torch.utils.flop_counter``; ``P`` if the counter sees none)."""
    counter = FlopCounterMode(display=False)
    detached = {k: v.detach() for k, v in params.items()}
    with torch.no_grad(), counter:
        functional_call(model, detached, (x[:1].detach(),))
    flops = counter.get_total_flops() // 2
    return flops if flops > 0 else sum(p.numel() for p in params.values())


def _method_costs(model, params, x1, x2, same, o, outputs) -> dict[str, int]:
    """The cost model of PyTorch's NTK tutorial, in multiply-adds (see :func:`choose_method`)."""
    n1, n2 = x1.shape[0], x2.shape[0]
    p = sum(v.numel() for v in params.values())
    fp = _forward_flops(model, params, x1)
    pairs = o * o if outputs == "full" else o
    return {
        "jacobian": (n1 + (0 if same else n2)) * o * fp + n1 * n2 * pairs * p,
        "ntk_vp": (n1 + n2) * n2 * o * fp,
    }


def _structured_reason(model, frozen) -> str | None:
    """Why the structured path does not apply to ``model`` (``None`` if it does)."""
    if hasattr(model, "structured_ntk"):
        return (
            "model has frozen parameters (requires_grad=False), which its closed form "
            "structured_ntk sums over"
            if frozen
            else None
        )
    return _structured.unsupported_layer(model)


def choose_method(
    model: nn.Module,
    x1: Any,
    x2: Any = None,
    *,
    outputs: str = "full",
    create_graph: bool = False,
) -> str:
    """The method ``ntk(..., method="auto")`` uses for these arguments.

    ``"structured"`` wherever it applies (a network of :mod:`ntklab.networks` with all
    parameters trainable, or a supported ``nn.Sequential``; not with ``create_graph``).
    Otherwise the cheaper of the two general methods by the cost model of PyTorch's NTK
    tutorial (pytorch.org/tutorials/intermediate/neural_tangent_kernels.html), in
    multiply-adds, with ``[FP]`` the cost of a forward pass for one point (counted by
    ``torch.utils.flop_counter``), ``P`` the number of trainable parameters and ``Q`` the
    output pairs per point pair (``O^2`` for ``"full"``, ``O`` otherwise)::

        jacobian:  (N1 + N2) O [FP] + N1 N2 Q P      (N2 dropped when x2 is None)
        ntk_vp:    (N1 + N2) N2 O [FP]

    i.e. the tutorial's ``N O [FP] + N^2 O^2 P`` against ``N^2 O [FP]``; ties go to
    ``"jacobian"``.

    Parameters
    ----------
    model, x1, x2, outputs, create_graph
        As for :func:`ntk`.

    Returns
    -------
    str
        ``"structured"``, ``"jacobian"`` or ``"ntk_vp"``.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ntk`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from ntklab import empirical
    >>> net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1))
    >>> empirical.choose_method(net.double(), torch.ones(3, 1, 4, dtype=torch.float64))
    'structured'
    >>> def normed(d_out):  # a LayerNorm: no structured path
    ...     return nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8), nn.Linear(8, d_out)).double()
    >>> x = torch.ones(3, 16, dtype=torch.float64)
    >>> empirical.choose_method(normed(1), x), empirical.choose_method(normed(16), x)
    ('jacobian', 'ntk_vp')
    """
    params = _check_model(model, create_graph)
    outputs = check_choice(outputs, "outputs", OUTPUTS)
    ref = next(iter(params.values()))
    x1, x2 = _inputs(model, ref, x1, x2)
    frozen = any(not p.requires_grad for p in model.parameters())
    if _structured_reason(model, frozen) is None and not create_graph:
        return "structured"
    o = _output_width(model, params, x1)
    costs = _method_costs(model, params, x1, x2, x2 is x1, o, outputs)
    return "ntk_vp" if costs["ntk_vp"] < costs["jacobian"] else "jacobian"


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


def _mirror(block: torch.Tensor) -> torch.Tensor:
    """The transposed block (over points, and over outputs for a full kernel)."""
    t = block.transpose(0, 1)
    return t.transpose(2, 3) if t.dim() == 4 else t


def _tiled_jacobians(model, params, x, bs) -> list[torch.Tensor]:
    return [_jacobian(model, params, x[i : i + bs]) for i in range(0, x.shape[0], bs)]


def ntk(
    model: nn.Module,
    x1: Any,
    x2: Any = None,
    *,
    outputs: str = "full",
    method: str = "auto",
    batch_size: int | None = None,
    create_graph: bool = False,
) -> torch.Tensor:
    """Empirical tangent kernel ``J(x1) J(x2)^T`` of ``model`` at its current parameters.

    Implements ``hat Theta(x, x') = sum_p df(x)/dw_p df(x')/dw_p`` (Petersen & Zech (11.3.4)),
    summed over all trainable parameters, without any normalization.

    Parameters
    ----------
    model : torch.nn.Module
        Any model mapping a batch ``(N, ...)`` to outputs ``(N, ...)``; its trainable
        parameters (``requires_grad``) are the ``w`` of the kernel.
    x1 : torch.Tensor or array_like
        Inputs, shape ``(N1, ...)`` (e.g. ``(N1, d)`` or images ``(N1, C, H, W)``).
    x2 : torch.Tensor or array_like, optional
        Inputs, shape ``(N2, ...)`` with the trailing shape of ``x1``; ``None`` means
        ``x2 = x1`` and an exactly symmetric result.
    outputs : {"full", "diagonal", "trace"}, default "full"
        How O outputs per point enter (see the module docs; ``"trace"`` is the mean over
        outputs, neural-tangents' ``trace_axes=(-1,)``).
    method : {"auto", "jacobian", "ntk_vp", "structured"}, default "auto"
        See the module docs; ``"auto"`` takes :func:`choose_method`'s choice.
    batch_size : int, optional
        Points of ``x1`` and of ``x2`` per tile of the Jacobian and NTK-vector-product
        methods (``None``: tiles of bounded Jacobian size).  The Jacobians of all tiles are
        computed once and kept when they fit in about 2 GiB of float64, else each tile of
        ``x1`` once per row of tiles.  ``"structured"`` works in one pass.
    create_graph : bool, default False
        Keep the autograd graph, so the kernel is differentiable in the model's parameters
        and in ``x1``, ``x2`` (``"structured"`` is then refused and ``"auto"`` chooses between
        ``"jacobian"`` and ``"ntk_vp"``).

    Returns
    -------
    torch.Tensor
        ``(N1, N2, O, O)`` for ``"full"``, ``(N1, N2, O)`` for ``"diagonal"``, ``(N1, N2)``
        for ``"trace"`` and for every model with one output per point; the dtype and device
        of the model's parameters.

    Raises
    ------
    TypeError
        ``model`` not a module; a floating tensor input of another dtype than the model's
        parameters; ``create_graph`` not a bool.
    ValueError
        Inputs of the wrong shape or not finite, an unknown ``outputs`` or ``method``,
        ``"structured"`` for a model that is neither a network with ``structured_ntk`` (all
        parameters trainable) nor a supported ``nn.Sequential`` (the message names the
        first unsupported layer), or with ``create_graph``, ``batch_size < 1``, a model
        without trainable parameters or with no output row per point.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from ntklab import empirical
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)).double()
    >>> x = torch.ones(4, 1, 4, 4, dtype=torch.float64)
    >>> empirical.ntk(net, x).shape
    torch.Size([4, 4, 3, 3])
    >>> empirical.ntk(net, x, outputs="trace").shape
    torch.Size([4, 4])
    >>> _ = torch.manual_seed(0)
    >>> mlp = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    >>> x = torch.randn(5, 3, dtype=torch.float64)
    >>> fast = empirical.ntk(mlp, x)  # "auto": structured, layer by layer
    >>> bool(torch.allclose(fast, empirical.ntk(mlp, x, method="jacobian"), rtol=1e-12))
    True
    """
    params = _check_model(model, create_graph)
    outputs = check_choice(outputs, "outputs", OUTPUTS)
    method = check_choice(method, "method", METHODS)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    frozen = any(not p.requires_grad for p in model.parameters())
    if method == "structured":
        reason = _structured_reason(model, frozen)
        if reason is not None:
            raise ValueError(
                "method='structured' needs a network of ntklab.networks (a structured_ntk "
                "method, all parameters trainable) or an nn.Sequential of nn.Linear, "
                "nn.Conv1d/2d, pooling, nn.Flatten and elementwise activations; "
                f"{reason}: use 'jacobian' or 'ntk_vp'"
            )
        if create_graph:
            raise ValueError(
                "method='structured' is not differentiable: with create_graph=True use "
                "'jacobian' or 'ntk_vp'"
            )
    ref = next(iter(params.values()))
    x1, x2 = _inputs(model, ref, x1, x2)
    same = x2 is x1
    if method == "auto":
        method = choose_method(
            model, x1, None if same else x2, outputs=outputs, create_graph=create_graph
        )

    n1, n2 = x1.shape[0], x2.shape[0]
    o = _output_width(model, params, x1)
    if method == "structured" and not hasattr(model, "structured_ntk"):
        with torch.no_grad():
            k = _structured.sequential_ntk(
                _structured.sequential_layers(model), x1, x2, same, outputs, o
            )
        k = _squeeze_single_output(k, o)
        return _symmetrize(k) if same else k
    n_params = sum(p.numel() for p in params.values())
    if method == "structured":
        bs = batch_size or max(n1, n2)
    elif batch_size is None:
        bs = max(1, min(max(n1, n2), _AUTO_JACOBIAN_ENTRIES // max(1, n_params * o)))
    else:
        bs = batch_size
    shape = {"full": (n1, n2, o, o), "diagonal": (n1, n2, o), "trace": (n1, n2)}[outputs]
    out = torch.empty(shape if o > 1 else (n1, n2), dtype=ref.dtype, device=ref.device)
    with torch.enable_grad() if create_graph else torch.no_grad():
        if method == "jacobian" and (n1 + (0 if same else n2)) * o * n_params <= _ONE_PASS:
            # one pass: every point's Jacobian once, then one contraction
            j1 = torch.cat(_tiled_jacobians(model, params, x1, bs))
            j2 = j1 if same else torch.cat(_tiled_jacobians(model, params, x2, bs))
            out = _squeeze_single_output(_contract(j1, j2, outputs), o)
        else:
            for i0 in range(0, n1, bs):
                xa = x1[i0 : i0 + bs]
                ja = _jacobian(model, params, xa) if method == "jacobian" else None
                for j0 in range(i0 if same else 0, n2, bs):
                    xb = x2[j0 : j0 + bs]
                    diag = same and j0 == i0
                    if method == "structured":
                        block = _reduce(model.structured_ntk(xa, xa if diag else xb), outputs)
                    elif method == "jacobian":
                        jb = ja if diag else _jacobian(model, params, xb)
                        block = _contract(ja, jb, outputs)
                    else:
                        block = _ntk_vp_block(model, params, xa, xb, outputs)
                    block = _squeeze_single_output(block, o)
                    out[i0 : i0 + bs, j0 : j0 + bs] = block
                    if same and not diag:
                        out[j0 : j0 + bs, i0 : i0 + bs] = _mirror(block)
        if same:
            out = _symmetrize(out)  # exact symmetry, also within the diagonal tiles
    return out if create_graph else out.detach()


def ntk_by_parameter(
    model: nn.Module,
    x1: Any,
    x2: Any = None,
    *,
    outputs: str = "full",
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """The tangent kernel split over named parameters: ``{name: J_name(x1) J_name(x2)^T}``.

    The kernels sum to :func:`ntk` (same ``outputs``); the diagonal of each is the squared
    norm of that parameter's gradient.  Computed by the Jacobian method, in one tile.

    Parameters
    ----------
    model, x1, x2, outputs, create_graph
        As for :func:`ntk`.

    Returns
    -------
    dict of str to torch.Tensor
        One kernel per trainable parameter (in ``named_parameters`` order), each of the shape
        :func:`ntk` returns for ``outputs``.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ntk`.

    Examples
    --------
    >>> import torch
    >>> from ntklab import empirical
    >>> from ntklab.networks import MLP
    >>> net = MLP(2, 16, 1, d_out=3, seed=0)
    >>> parts = empirical.ntk_by_parameter(net, torch.eye(2, dtype=torch.float64))
    >>> list(parts), tuple(parts["weights.0"].shape)
    (['weights.0', 'weights.1', 'biases.0', 'biases.1'], (2, 2, 3, 3))
    """
    params = _check_model(model, create_graph)
    outputs = check_choice(outputs, "outputs", OUTPUTS)
    ref = next(iter(params.values()))
    x1, x2 = _inputs(model, ref, x1, x2)
    o = _output_width(model, params, x1)
    with torch.enable_grad() if create_graph else torch.no_grad():
        j1 = _jacobians(model, params, x1)
        j2 = j1 if x2 is x1 else _jacobians(model, params, x2)
        parts = {k: _squeeze_single_output(_contract(j1[k], j2[k], outputs), o) for k in params}
    return parts if create_graph else {k: v.detach() for k, v in parts.items()}


def jacobian(model: nn.Module, x: Any, *, create_graph: bool = False) -> torch.Tensor:
    """The Jacobian of the outputs with respect to all trainable parameters, per point.

    Parameters are flattened and concatenated in ``named_parameters`` order, so
    ``ntk(model, x1, x2)`` is the contraction of ``jacobian(model, x1)`` with
    ``jacobian(model, x2)`` over the last axis.  Computed by ``torch.func`` (``vmap`` of
    ``jacrev``).

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`ntk`.
    x : torch.Tensor or array_like
        Inputs, shape ``(N, ...)``.
    create_graph : bool, default False
        Keep the autograd graph (differentiable in the parameters and in ``x``).

    Returns
    -------
    torch.Tensor
        ``(N, P)`` for a model with one output per point, else ``(N, O, P)``.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ntk`, for the argument ``x``.

    Examples
    --------
    >>> import torch
    >>> from ntklab import empirical
    >>> from ntklab.networks import MLP
    >>> net = MLP(2, 4, 1, seed=0)  # P = 4*2 + 4 + 1*4 + 1 = 17
    >>> empirical.jacobian(net, torch.ones(3, 2, dtype=torch.float64)).shape
    torch.Size([3, 17])
    """
    params = _check_model(model, create_graph)
    ref = next(iter(params.values()))
    x, _ = _inputs(model, ref, x, None, names=("x", "x"))
    o = _output_width(model, params, x)
    with torch.enable_grad() if create_graph else torch.no_grad():
        jac = _jacobian(model, params, x)
    jac = jac[:, 0, :] if o == 1 else jac
    return jac if create_graph else jac.detach()


def nngp(
    model: nn.Module,
    x1: Any,
    x2: Any = None,
    *,
    outputs: str = "full",
    create_graph: bool = False,
) -> torch.Tensor:
    """Empirical NNGP kernel: the outer product of the outputs ``f(x1) f(x2)^T``.

    One draw (the model at its current parameters) of the output covariance; its mean over
    initializations is the NNGP kernel ``Sigma`` (neural-tangents' ``empirical_nngp_fn``,
    with the same ``trace_axes=(-1,)`` normalization for ``outputs="trace"``: the mean
    ``f(x1).f(x2) / O``).

    Parameters
    ----------
    model, x1, x2, outputs
        As for :func:`ntk`.
    create_graph : bool, default False
        Keep the autograd graph (differentiable in the parameters and in ``x1``, ``x2``).

    Returns
    -------
    torch.Tensor
        ``(N1, N2, O, O)``, ``(N1, N2, O)`` or ``(N1, N2)`` as for :func:`ntk`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`ntk`.

    Examples
    --------
    >>> import torch
    >>> from ntklab import empirical
    >>> from ntklab.networks import MLP
    >>> net = MLP(2, 8, 1, d_out=2, seed=0)
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> k = empirical.nngp(net, x)
    >>> k.shape, bool(torch.allclose(k[0, 1], torch.outer(net(x)[0], net(x)[1])))
    (torch.Size([2, 2, 2, 2]), True)
    """
    params = _check_model(model, create_graph)
    outputs = check_choice(outputs, "outputs", OUTPUTS)
    ref = next(iter(params.values()))
    x1, x2 = _inputs(model, ref, x1, x2)
    o = _output_width(model, params, x1)
    with torch.enable_grad() if create_graph else torch.no_grad():
        f1 = functional_call(model, params, (x1,)).reshape(x1.shape[0], o)
        f2 = f1 if x2 is x1 else functional_call(model, params, (x2,)).reshape(x2.shape[0], o)
        if outputs == "full":
            k = f1[:, None, :, None] * f2[None, :, None, :]
        else:
            k = f1[:, None, :] * f2[None, :, :]
            k = k if outputs == "diagonal" else k.mean(-1)
        k = _squeeze_single_output(k, o)
        if x2 is x1:
            k = _symmetrize(k)
    return k if create_graph else k.detach()

"""Empirical (finite-width) tangent kernels of torch models.

For a model ``f(x; w)`` with parameters ``w`` the empirical tangent kernel is
``hat Theta(x, x') = J(x) J(x')^T`` with ``J(x) = df(x; w)/dw`` (Petersen & Zech (11.3.4)).
:func:`ntk` computes it for a set of inputs ``x1`` (N1, d) against ``x2`` (N2, d) in three ways:

* ``"jacobian"``: per-sample Jacobians by ``torch.func`` (``vmap`` of ``jacrev``), concatenated
  over parameters and contracted with one matrix product;
* ``"ntk_vp"``: NTK-vector products, ``J(x1) (J(x2)^T e)`` by a ``vjp`` followed by a ``jvp``,
  for a block of basis vectors ``e`` at a time; never forms ``J(x1)``;
* ``"structured"``: for :class:`~ntklab.networks.ShallowLeCun`, :class:`~ntklab.networks.ShallowNTK`
  and :class:`~ntklab.networks.MLP` (any module with a ``structured_ntk(x1, x2)`` method), the
  closed form in which each layer contributes the elementwise product of two N1 x N2 Gram
  matrices (of layer inputs and of backpropagated derivatives); no per-parameter Jacobian;
* ``"auto"``: ``"structured"`` where available, else ``"jacobian"``.

Work is tiled over inputs (``batch_size`` points of ``x1`` and of ``x2`` at a time), so memory
stays bounded by the tile's Jacobians plus the output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from .validation import check_choice, check_matrix, check_positive_int

__all__ = ["METHODS", "ntk"]

METHODS = ("auto", "jacobian", "ntk_vp", "structured")

# "auto" tiles the Jacobian path so one tile's Jacobian holds at most this many numbers
_AUTO_JACOBIAN_ENTRIES = 2**25


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


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}


def _as_outputs(y: torch.Tensor, batch: int) -> torch.Tensor:
    """Outputs as (batch, O)."""
    return y.reshape(batch, -1)


def _jacobian(model, params, x) -> torch.Tensor:
    """Per-sample Jacobians, shape (B, O, P), parameters concatenated."""

    def single(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(single), (None, 0))(params, x)
    return torch.cat([j.reshape(x.shape[0], j.shape[1], -1) for j in jac.values()], dim=2)


def _ntk_jacobian_block(model, params, xa, xb, same) -> torch.Tensor:
    ja = _jacobian(model, params, xa)
    jb = ja if same else _jacobian(model, params, xb)
    na, o, p = ja.shape
    nb = jb.shape[0]
    k = ja.reshape(na * o, p) @ jb.reshape(nb * o, p).T
    return k.reshape(na, o, nb, o).permute(0, 2, 1, 3)


def _ntk_vp_block(model, params, xa, xb, same) -> torch.Tensor:
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
    return cols.reshape(nb, o, xa.shape[0], o).permute(2, 0, 3, 1)


def _output_width(model, params, x) -> int:
    with torch.no_grad():
        return functional_call(model, params, (x[:1],)).reshape(1, -1).shape[1]


def ntk(
    model: nn.Module,
    x1: Any,
    x2: Any = None,
    *,
    method: str = "auto",
    batch_size: int | None = None,
    trace: bool = False,
) -> torch.Tensor:
    """Empirical tangent kernel ``J(x1) J(x2)^T`` of ``model`` at its current parameters.

    ``x1`` (N1, d), ``x2`` (N2, d) or ``None`` (then ``x2 = x1`` and the result is exactly
    symmetric).  Inputs are moved to the model's dtype and device.  Returns (N1, N2) for a model
    with one output per point (shape (N,) or (N, 1)); for O outputs the full (N1, N2, O, O)
    kernel, or its trace over outputs (N1, N2) with ``trace=True``.  ``method`` is one of
    :data:`METHODS` (see the module docs); ``batch_size`` tiles the inputs (``None``: one tile
    for ``"structured"``, tiles of bounded Jacobian size for the others).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    method = check_choice(method, "method", METHODS)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(trace, bool):
        raise TypeError(f"trace must be a bool, got {type(trace).__name__}")
    params = _params(model)
    if not params:
        raise ValueError("model has no trainable parameters: its tangent kernel is empty")
    ref = next(iter(params.values()))
    width = _model_input_width(model)
    x1 = check_matrix(x1, "x1", cols=width, dtype=ref.dtype, device=ref.device)
    same = x2 is None
    if not same:
        x2 = check_matrix(x2, "x2", cols=x1.shape[1], dtype=ref.dtype, device=ref.device)
    else:
        x2 = x1
    structured = hasattr(model, "structured_ntk")
    if method == "structured" and not structured:
        raise ValueError(
            f"method='structured' needs a network of ntklab.networks (a structured_ntk method); "
            f"got {type(model).__name__}: use 'jacobian' or 'ntk_vp'"
        )
    if method == "auto":
        method = "structured" if structured else "jacobian"

    n1, n2 = x1.shape[0], x2.shape[0]
    if method == "structured":
        out_width = 1
        bs = batch_size or max(n1, n2)
    else:
        out_width = _output_width(model, params, x1)
        if batch_size is None:
            n_params = sum(p.numel() for p in params.values())
            bs = max(1, min(max(n1, n2), _AUTO_JACOBIAN_ENTRIES // max(1, n_params * out_width)))
        else:
            bs = batch_size
    full = torch.empty(
        (n1, n2) if out_width == 1 or trace else (n1, n2, out_width, out_width),
        dtype=ref.dtype,
        device=ref.device,
    )
    for i0 in range(0, n1, bs):
        xa = x1[i0 : i0 + bs]
        for j0 in range(i0 if same else 0, n2, bs):
            xb = x2[j0 : j0 + bs]
            diag = same and j0 == i0
            if method == "structured":
                block = model.structured_ntk(xa, xa if diag else xb)
            else:
                fn = _ntk_jacobian_block if method == "jacobian" else _ntk_vp_block
                block = fn(model, params, xa, xb, diag)
                block = block.diagonal(dim1=2, dim2=3).sum(-1) if trace or out_width == 1 else block
            full[i0 : i0 + bs, j0 : j0 + bs] = block
            if same and not diag:
                full[j0 : j0 + bs, i0 : i0 + bs] = (
                    block.transpose(0, 1).transpose(-2, -1) if (block.dim() == 4) else block.T
                )
    if same:
        # exact symmetry: average the diagonal tiles with their transposes
        sym = full.transpose(0, 1)
        if full.dim() == 4:
            sym = sym.transpose(2, 3)
        full = (full + sym) / 2
    return full.detach()

"""Structured tangent kernels of the user's own ``nn.Sequential`` stacks (no Jacobians).

A weighted layer (``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``) maps its input's patches
``P_n`` (I, S) -- I = inputs per patch (``C_in k`` for a convolution, ``n_in`` for a Linear),
S = positions (output pixels; the leading feature axes for a Linear) -- to ``h_n = W P_n + b``
(C, S).  With ``D_n^o = df_o/dh_n`` (C, S) the layer's derivatives backpropagated from the
output ``o``, the chain rule gives ``df_o/dW = D_n^o P_n^T`` and so the layer's share of the
tangent kernel (Novak et al. 2022, "structured derivatives")::

    Theta_nm^op = sum_{s,t} (P_n^T P_m)_st (D_n^o^T D_m^p)_st + sum_c (D_n^o 1)_c (D_m^p 1)_c
                  [weight]                                         [bias]

Two orders of contraction give it; the cheaper (in multiply-adds, memory allowing) is taken
per layer: the *Gram* order (pairs of positions, ``N1 N2 S^2 (I + Q C)`` with Q = O^2 output
pairs, O for the diagonal) and the *gradient* order (``D_n^o P_n^T`` once per point and output,
then one matrix product: ``(N1 + N2) O C I S + N1 N2 Q C I``).  For a Linear layer on flat
inputs (S = 1) the Gram order is ``(a_n . a_m)(delta_n^o . delta_m^p)``.  Groups split ``I``
and ``C`` into independent blocks.

One forward pass stores each weighted layer's input; one backward pass (autograd, on the
points repeated O times, copy o seeded with the unit vector e_o) gives its ``D``: parameter-free
layers (``nn.Flatten``, average and max pooling, adaptive pooling, elementwise activations) route
the derivatives as autograd does, so ``ReLU'(0) = 0`` and max-pooling ties go where the Jacobian
path sends them.
A frozen weight or bias (``requires_grad=False``) contributes nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["sequential_layers", "sequential_ntk", "unsupported_layer"]

# elementwise activations (no parameters): their Jacobian is diagonal
ELEMENTWISE = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.ELU,
    nn.SiLU,
    nn.Softplus,
    nn.LeakyReLU,
    nn.Identity,
    nn.Hardtanh,
    nn.Mish,
    nn.SELU,
    nn.CELU,
    nn.Tanhshrink,
    nn.Softsign,
)
# parameter-free layers acting on each point alone; their derivative routing comes from vjp
_ROUTING = (
    nn.Flatten,
    nn.Unflatten,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
)
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d)

# the most numbers one intermediate of a layer's contraction may hold (1 GiB of float64)
_ENTRIES = 2**27


def _supported(m: nn.Module) -> bool:
    if isinstance(m, WEIGHTED):
        return True
    if any(True for _ in m.parameters()):
        return False
    if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.AdaptiveMaxPool1d | nn.AdaptiveMaxPool2d):
        return not m.return_indices  # a tuple output is not a layer of a stack
    return isinstance(m, ELEMENTWISE + _ROUTING)


def _flat(model: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for m in model:
        layers += _flat(m) if isinstance(m, nn.Sequential) else [m]
    return layers


def unsupported_layer(model: nn.Module) -> str | None:
    """Why ``model`` is not a stack the structured path handles (``None`` if it is)."""
    if not isinstance(model, nn.Sequential):
        return f"model is a {type(model).__name__}, not an nn.Sequential"
    layers = _flat(model)
    for i, m in enumerate(layers):
        if not _supported(m):
            return f"layer {i} of the flattened stack is an unsupported {type(m).__name__}"
    if not any(isinstance(m, WEIGHTED) for m in layers):
        return "the stack has no Linear or Conv layer"
    return None


def sequential_layers(model: nn.Module) -> list[nn.Module] | None:
    """The flat list of layers of a supported ``nn.Sequential`` (nested allowed), else None."""
    return None if unsupported_layer(model) else _flat(model)


def _pass(layers, x, o):
    """Inputs of the weighted layers (N, *in) and ``df_o/dh`` at their outputs (N, O, *out).

    One forward pass of every point repeated O times and one backward pass that sends the
    unit vector ``e_o`` down from the o-th copy: autograd routes the derivatives through
    every layer (no ``vmap``, whose first call costs seconds).
    """
    n = x.shape[0]
    with torch.enable_grad():
        h = x.detach()[:, None].expand(n, o, *x.shape[1:]).reshape(n * o, *x.shape[1:])
        h.requires_grad_(True)  # a graph even when the first layers are frozen
        inputs, outs = {}, {}
        for i, m in enumerate(layers):
            if isinstance(m, WEIGHTED):
                inputs[i] = h.detach().reshape(n, o, *h.shape[1:])[:, 0]
            h = m(h)
            if isinstance(m, WEIGHTED):
                outs[i] = h
        basis = torch.eye(o, dtype=h.dtype, device=h.device).repeat(n, 1)
        grads = torch.autograd.grad(h.reshape(n * o, o), list(outs.values()), basis)
    derivs = {i: g.reshape(n, o, *g.shape[1:]) for i, g in zip(outs, grads, strict=True)}
    return inputs, derivs


def _patches(m: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """The layer's input as patches, (N, G, I, S)."""
    n = h.shape[0]
    if isinstance(m, nn.Linear):  # acts on the last axis; the others are positions
        return h.reshape(n, -1, h.shape[-1]).transpose(1, 2)[:, None]
    pad = m._reversed_padding_repeated_twice
    if any(pad):
        mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
        h = F.pad(h, pad, mode=mode)
    if isinstance(m, nn.Conv1d):  # a 1 x L image
        h = h[:, :, None, :]
        kernel, dilation, stride = (1, *m.kernel_size), (1, *m.dilation), (1, *m.stride)
    else:
        kernel, dilation, stride = m.kernel_size, m.dilation, m.stride
    p = F.unfold(h, kernel, dilation=dilation, stride=stride)  # (N, C_in k, S), channel-major
    return p.reshape(n, m.groups, -1, p.shape[-1])


def _derivs(m: nn.Module, d: torch.Tensor) -> torch.Tensor:
    """``df_o/dh`` at the layer's output as (N, O, G, C, S)."""
    n, o = d.shape[:2]
    if isinstance(m, nn.Linear):
        return d.reshape(n, o, -1, d.shape[-1]).transpose(2, 3)[:, :, None]
    return d.reshape(n, o, m.groups, d.shape[2] // m.groups, -1)


def _pair_product(ga, gb, full):
    """``ga`` (Na, O, q) against ``gb`` (Nb, O, q): (Na, Nb, O, O) or the diagonal (Na, Nb, O)."""
    if full:
        na, o, q = ga.shape
        k = ga.reshape(na * o, q) @ gb.reshape(-1, q).T
        return k.reshape(na, o, gb.shape[0], o).permute(0, 2, 1, 3)
    return torch.einsum("aoq,boq->abo", ga, gb)


def _weight_gram(pa, pb, da, db, full):
    """The weight's share in the Gram order, in chunks of rows of bounded size."""
    na, nb, s = pa.shape[0], pb.shape[0], pa.shape[-1]
    o = da.shape[1]
    per_row = nb * s * s * (o * o if full else o) * pa.shape[1]
    step = max(1, _ENTRIES // max(1, per_row))
    parts = []
    for i in range(0, na, step):
        pp = torch.einsum("ngis,mgit->nmgst", pa[i : i + step], pb)
        if full:
            dd = torch.einsum("nogcs,mpgct->nmopgst", da[i : i + step], db)
            parts.append(torch.einsum("nmgst,nmopgst->nmop", pp, dd))
        else:
            dd = torch.einsum("nogcs,mogct->nmogst", da[i : i + step], db)
            parts.append(torch.einsum("nmgst,nmogst->nmo", pp, dd))
    return torch.cat(parts)


def _layer_ntk(m, in_a, in_b, d_a, d_b, full, same):
    """One weighted layer's share of the kernel, (Na, Nb, O, O) or (Na, Nb, O); None if frozen."""
    w_on = m.weight.requires_grad
    b_on = m.bias is not None and m.bias.requires_grad
    if not (w_on or b_on):
        return None
    da = _derivs(m, d_a)
    db = da if same else _derivs(m, d_b)
    out = 0
    if w_on:
        pa = _patches(m, in_a)
        pb = pa if same else _patches(m, in_b)
        na, nb = pa.shape[0], pb.shape[0]
        o, (g, c, s), i = da.shape[1], da.shape[2:], pa.shape[2]
        q = o * o if full else o
        gram_cost = na * nb * g * s * s * (i + q * c)
        grad_cost = (na + nb) * o * g * c * i * s + na * nb * q * g * c * i
        if grad_cost < gram_cost and (na + nb) * o * g * c * i <= _ENTRIES:
            ga = torch.einsum("nogcs,ngis->nogci", da, pa).reshape(na, o, -1)
            gb = ga if same else torch.einsum("nogcs,ngis->nogci", db, pb).reshape(nb, o, -1)
            out = _pair_product(ga, gb, full)
        else:
            out = _weight_gram(pa, pb, da, db, full)
    if b_on:
        ba = da.sum(-1).flatten(2)
        out = out + _pair_product(ba, ba if same else db.sum(-1).flatten(2), full)
    return out


def sequential_ntk(layers, xa, xb, same: bool, outputs: str, o: int) -> torch.Tensor:
    """The tangent kernel of a supported stack with O = ``o`` outputs per point, summed over
    its weighted layers.

    Returns (Na, Nb, O, O), (Na, Nb, O) or (Na, Nb) as ``outputs`` says (O kept when 1).
    """
    in_a, de_a = _pass(layers, xa, o)
    in_b, de_b = (in_a, de_a) if same else _pass(layers, xb, o)
    full = outputs == "full"
    out = None
    for i, m in enumerate(layers):
        if i in in_a:
            part = _layer_ntk(m, in_a[i], in_b[i], de_a[i], de_b[i], full, same)
            if part is not None:
                out = part if out is None else out + part
    if out is None:
        raise ValueError("model has no trainable parameters: its tangent kernel is empty")
    return out.mean(-1) if outputs == "trace" else out

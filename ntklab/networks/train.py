"""Full-batch gradient descent on the course's loss, for the experiments of chapter 3.

``L(w) = sum_i (f(x_i; w) - y_i)^2`` (a plain sum, as in Petersen & Zech) or, with
``loss="half_mean"``, neural-tangents' and Jacot et al.'s ``sum_i (f(x_i; w) - y_i)^2 / (2 m)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..validation import check_choice, check_matrix, check_nonnegative_int, check_positive

__all__ = ["gradient_descent"]


def gradient_descent(
    model: nn.Module,
    x: Any,
    y: Any,
    *,
    steps: int,
    h: float,
    loss: str = "sum",
) -> list[float]:
    """Run ``steps`` full-batch gradient steps of size ``h`` on ``model`` in place.

    ``x`` (m, d), ``y`` (m,).  Returns the loss before each step and after the last one
    (``steps + 1`` numbers).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    steps = check_nonnegative_int(steps, "steps")
    h = check_positive(h, "h")
    loss = check_choice(loss, "loss", ("sum", "half_mean"))
    ref = next(model.parameters())
    x = check_matrix(x, "x", dtype=ref.dtype, device=ref.device)
    y = torch.as_tensor(y, dtype=ref.dtype, device=ref.device).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have {x.shape[0]} entries (one per row of x), got {y.shape[0]}")
    scale = 1.0 if loss == "sum" else 1.0 / (2 * x.shape[0])
    params = [p for p in model.parameters() if p.requires_grad]
    history = []
    for k in range(steps + 1):
        value = scale * ((model(x).reshape(-1) - y) ** 2).sum()
        history.append(value.item())
        if k == steps:
            break
        grads = torch.autograd.grad(value, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(h * g)
    return history

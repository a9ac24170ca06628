"""What every network of :mod:`ntklab.networks` does the same way: draws, dtypes, inputs.

Draws are made on the CPU with a CPU generator (from ``seed`` or ``generator``, never both)
in float64 and then moved to ``dtype`` and ``device``, so a seed gives the same numbers on
every device.  Inputs follow :func:`ntklab.validation.as_tensor_like`: a floating tensor of
another dtype than the parameters is a ``TypeError``; numpy arrays and numbers are cast.
"""

from __future__ import annotations

from typing import Any

import torch

from ..validation import DEFAULT_DTYPE, as_tensor_like, resolve_device


def tensor_kwargs(dtype: Any, device: Any) -> dict[str, Any]:
    """``{"dtype": ..., "device": ...}`` after checking both (float64 on the CPU by default)."""
    dtype = DEFAULT_DTYPE if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return {"dtype": dtype, "device": resolve_device(device)}


def network_input(x: Any, d: int, ref: torch.Tensor) -> torch.Tensor:
    """``x`` of shape (N, d) or (d,) with the dtype of the parameter ``ref``, on its device.

    The checks are shape/dtype checks (and a finiteness check skipped inside ``torch.func``
    transforms), so a forward pass that calls this still runs under ``vmap``.
    """
    x = as_tensor_like(x, "x", ref, "the model", ndim=(1, 2))
    if x.shape[-1] != d:
        raise ValueError(
            f"x must have {d} entries in its last dimension (the input dimension d), "
            f"got shape {tuple(x.shape)}"
        )
    return x

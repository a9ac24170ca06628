"""Synthetic data sets used across the chapters.

All generators take ``seed`` or ``generator`` (see :func:`ntklab.validation.make_generator`)
and return float64 tensors unless ``dtype`` says otherwise.  Inputs are matrices with one row
per point, shape ``(m, d)``.
"""

from __future__ import annotations

from typing import Any

import torch

from .validation import (
    DEFAULT_DTYPE,
    as_tensor,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = ["circle_points", "gaussian_inputs", "uniform_sphere"]


def gaussian_inputs(
    m: int,
    d: int,
    *,
    scale: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> torch.Tensor:
    """``m`` i.i.d. points ``N(0, scale^2 I_d)``; shape ``(m, d)``."""
    m = check_positive_int(m, "m")
    d = check_positive_int(d, "d")
    device = resolve_device(device)
    gen = make_generator(seed, generator, device)
    return scale * torch.randn(m, d, generator=gen, dtype=dtype, device=device)


def uniform_sphere(
    m: int,
    d: int,
    *,
    radius: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> torch.Tensor:
    """``m`` points drawn uniformly from the sphere of radius ``radius`` in ``R^d``.

    Normalizes standard Gaussian vectors (the Gaussian is rotation invariant, so the direction
    is uniform on ``S^{d-1}``).  Shape ``(m, d)``; needs ``d >= 2``.
    """
    d = check_positive_int(d, "d", minimum=2)
    x = gaussian_inputs(m, d, seed=seed, generator=generator, dtype=dtype, device=device)
    return radius * x / x.norm(dim=1, keepdim=True)


def circle_points(angles: Any, *, dtype: torch.dtype | None = None, device: Any = None):
    """Points ``(cos g, sin g)`` on the unit circle for the angles ``g``; shape ``(len(g), 2)``."""
    g = as_tensor(angles, "angles", dtype=dtype, device=device, ndim=(0, 1)).reshape(-1)
    return torch.stack([torch.cos(g), torch.sin(g)], dim=1)

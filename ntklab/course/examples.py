"""Data sets of the sources' worked examples (course chapter 2).

* :func:`example_11_5_data` - the two labelled point clouds of Petersen & Zech, Example 11.5.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..validation import check_positive_int, make_generator, resolve_device

__all__ = ["example_11_5_data"]


# --------------------------------------------------------------------------------------------
def example_11_5_data(
    m: int = 60,
    *,
    kind: str = "ring",
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labelled points in the plane like the two data sets of Example 11.5.

    ``kind="blobs"``: two Gaussian clouds (label +1 around (1, 1), -1 around (-1, -1), standard
    deviation 0.45), separable by a line.  ``kind="ring"``: label +1 inside the disc of radius
    0.5, -1 on the annulus of radii 1 to 1.5 (no line separates them; the circle of radius 0.75
    does).  Returns ``X`` (m, 2) and labels ``y`` (m,) in ``{-1, +1}``, half of each.
    """
    m = check_positive_int(m, "m", even=True, minimum=2)
    if kind not in ("blobs", "ring"):
        raise ValueError(f"kind must be 'blobs' or 'ring', got {kind!r}")
    device = resolve_device(device)
    gen = make_generator(seed, generator, device)
    half = m // 2
    y = torch.cat([torch.ones(half), -torch.ones(half)]).to(dtype=dtype, device=device)
    if kind == "blobs":
        X = 0.45 * torch.randn(m, 2, generator=gen, dtype=dtype, device=device)
        return X + y.unsqueeze(1), y
    angle = 2 * math.pi * torch.rand(m, generator=gen, dtype=dtype, device=device)
    u = torch.rand(m, generator=gen, dtype=dtype, device=device)
    radius = torch.where(y > 0, 0.5 * u.sqrt(), (1.0 + (1.5**2 - 1.0) * u).sqrt())
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1), y

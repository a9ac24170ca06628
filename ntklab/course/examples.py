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
    """Labelled points in the plane like the two data sets of Petersen & Zech, Example 11.5.

    Parameters
    ----------
    m : int, optional
        Number of points, even (half of each label); default 60.
    kind : {"ring", "blobs"}, optional
        ``"blobs"``: two Gaussian clouds (label +1 around (1, 1), -1 around (-1, -1), standard
        deviation 0.45), separable by a line.  ``"ring"`` (default): label +1 uniform in the
        disc of radius 0.5, -1 uniform on the annulus of radii 1 to 1.5 (no line separates
        them; the circle of radius 0.75 does).
    seed : int, optional
        Seed of a fresh CPU generator; pass ``seed`` or ``generator``, not both.
    generator : torch.Generator, optional
        A CPU generator to draw from.
    dtype : torch.dtype, optional
        Default float64.
    device : None, str, int or torch.device, optional
        Where the result lives (drawn on the CPU, then moved, so a seed gives the same points
        on every device).

    Returns
    -------
    X : torch.Tensor
        Points, shape ``(m, 2)``: the first ``m/2`` labelled +1, the rest -1.
    y : torch.Tensor
        Labels in ``{-1, +1}``, shape ``(m,)``.

    Raises
    ------
    TypeError
        If ``m`` or ``seed`` is not an integer.
    ValueError
        If ``m`` is odd or ``< 2``, ``kind`` is unknown, both ``seed`` and ``generator`` are
        given, or ``device`` cannot be used.

    Examples
    --------
    >>> X, y = example_11_5_data(8, kind="ring", seed=0)
    >>> X.shape, y.tolist()
    (torch.Size([8, 2]), [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0])
    >>> bool((X[:4].norm(dim=1) <= 0.5).all())
    True
    """
    m = check_positive_int(m, "m", even=True, minimum=2)
    if kind not in ("blobs", "ring"):
        raise ValueError(f"kind must be 'blobs' or 'ring', got {kind!r}")
    device = resolve_device(device)
    gen = make_generator(seed, generator)  # CPU draws, then moved to device
    half = m // 2
    y = torch.cat([torch.ones(half), -torch.ones(half)]).to(dtype=dtype)
    if kind == "blobs":
        X = 0.45 * torch.randn(m, 2, generator=gen, dtype=dtype)
        return (X + y.unsqueeze(1)).to(device), y.to(device)
    angle = 2 * math.pi * torch.rand(m, generator=gen, dtype=dtype)
    u = torch.rand(m, generator=gen, dtype=dtype)
    radius = torch.where(y > 0, 0.5 * u.sqrt(), (1.0 + (1.5**2 - 1.0) * u).sqrt())
    X = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
    return X.to(device), y.to(device)

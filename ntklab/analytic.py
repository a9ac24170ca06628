"""Infinite-width (analytic) kernels.

Arc-cosine kernels of Cho & Saul (2009) in the normalization of Bietti & Mairal (2019):

* ``kappa0(u) = (pi - arccos u) / pi``                          (degree 0),
* ``kappa1(u) = (u (pi - arccos u) + sqrt(1 - u^2)) / pi``      (degree 1),
* ``kappa(u) = u kappa0(u) + kappa1(u)``  the two-layer ReLU NTK on the sphere.

For ``w ~ N(0, I)`` and unit vectors ``x, y`` with ``u = x.y``:
``E[1{w.x >= 0} 1{w.y >= 0}] = kappa0(u) / 2`` and ``E[relu(w.x) relu(w.y)] = kappa1(u) / 2``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .validation import as_tensor

__all__ = ["kappa", "kappa0", "kappa1"]


def _cosines(u: Any) -> torch.Tensor:
    u = as_tensor(u, "u")
    # rounding can push a cosine of unit vectors slightly outside [-1, 1]
    tol = 1e-6 if u.dtype == torch.float32 else 1e-12
    if bool(((u < -1 - tol) | (u > 1 + tol)).any()):
        raise ValueError("u must lie in [-1, 1] (it is a cosine)")
    return u.clamp(-1.0, 1.0)


def kappa0(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 0: ``(pi - arccos u) / pi``, elementwise, ``u`` in [-1, 1]."""
    u = _cosines(u)
    return (math.pi - torch.arccos(u)) / math.pi


def kappa1(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 1: ``(u (pi - arccos u) + sqrt(1 - u^2)) / pi``."""
    u = _cosines(u)
    return (u * (math.pi - torch.arccos(u)) + torch.sqrt((1 - u * u).clamp_min(0))) / math.pi


def kappa(u: Any) -> torch.Tensor:
    """Two-layer ReLU NTK on the sphere: ``u kappa0(u) + kappa1(u)`` (Bietti & Mairal 2019)."""
    u = _cosines(u)
    return u * kappa0(u) + kappa1(u)

"""Synthetic data sets used across the chapters.

All generators take ``seed`` or ``generator`` (see :func:`ntklab.validation.make_generator`):
the numbers are drawn on the CPU and then moved to ``device``, so a seed gives the same data
on every device.  They return float64 tensors unless ``dtype`` says otherwise.  Inputs are
matrices with one row per point, shape ``(m, d)``.
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
    """Draw ``m`` i.i.d. points from ``N(0, scale^2 I_d)``.

    Parameters
    ----------
    m : int
        Number of points.
    d : int
        Dimension.
    scale : float, optional
        Standard deviation of each coordinate (default 1).
    seed : int, optional
        Seed of a fresh CPU generator; pass ``seed`` or ``generator``, not both.
    generator : torch.Generator, optional
        A CPU generator to draw from.
    dtype : torch.dtype, optional
        Default float64.
    device : None, str, int or torch.device, optional
        Where the result lives (drawn on the CPU, then moved).

    Returns
    -------
    torch.Tensor
        Shape ``(m, d)``.

    Raises
    ------
    TypeError
        If ``m``, ``d`` or ``seed`` is not an integer.
    ValueError
        If ``m < 1`` or ``d < 1``, both ``seed`` and ``generator`` are given, or ``device``
        asks for CUDA on a machine without it.

    Examples
    --------
    >>> x = gaussian_inputs(4, 3, seed=0)
    >>> x.shape, x.dtype
    (torch.Size([4, 3]), torch.float64)
    """
    m = check_positive_int(m, "m")
    d = check_positive_int(d, "d")
    device = resolve_device(device)
    gen = make_generator(seed, generator)
    x = scale * torch.randn(m, d, generator=gen, dtype=dtype)
    return x.to(device)


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
    """Draw ``m`` points uniformly from the sphere of radius ``radius`` in ``R^d``.

    Normalizes standard Gaussian vectors: the Gaussian is rotation invariant, so the direction
    ``g / ||g||`` is uniform on ``S^{d-1}``.

    Parameters
    ----------
    m : int
        Number of points.
    d : int
        Dimension of the ambient space, ``d >= 2`` (the sphere is ``S^{d-1}``).
    radius : float, optional
        Radius of the sphere (default 1).
    seed, generator : optional
        Randomness, as in :func:`gaussian_inputs`.
    dtype, device : optional
        As in :func:`gaussian_inputs`.

    Returns
    -------
    torch.Tensor
        Shape ``(m, d)``, every row of norm ``radius``.

    Raises
    ------
    TypeError
        If ``m``, ``d`` or ``seed`` is not an integer.
    ValueError
        If ``m < 1`` or ``d < 2``, both ``seed`` and ``generator`` are given, or ``device``
        cannot be used.

    Examples
    --------
    >>> x = uniform_sphere(5, 3, radius=2.0, seed=0)
    >>> x.shape
    torch.Size([5, 3])
    >>> print(x.norm(dim=1).round(decimals=6).tolist())
    [2.0, 2.0, 2.0, 2.0, 2.0]
    """
    d = check_positive_int(d, "d", minimum=2)
    x = gaussian_inputs(m, d, seed=seed, generator=generator, dtype=dtype, device=device)
    return radius * x / x.norm(dim=1, keepdim=True)


def circle_points(
    angles: Any, *, dtype: torch.dtype | None = None, device: Any = None
) -> torch.Tensor:
    """Points ``(cos g, sin g)`` of the unit circle at the angles ``g``.

    Parameters
    ----------
    angles : array_like
        A number or a 1-D array of ``N`` angles in radians.
    dtype, device : optional
        As in :func:`ntklab.validation.as_tensor` (tensors keep theirs; numbers and arrays
        become float64 on the CPU).

    Returns
    -------
    torch.Tensor
        Shape ``(N, 2)`` (``(1, 2)`` for one angle).

    Raises
    ------
    TypeError
        If ``angles`` is not numeric.
    ValueError
        If ``angles`` has more than one dimension or is not finite.

    Examples
    --------
    >>> circle_points([0.0, 3.141592653589793 / 2]).round(decimals=6).abs()
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """
    g = as_tensor(angles, "angles", dtype=dtype, device=device, ndim=(0, 1)).reshape(-1)
    return torch.stack([torch.cos(g), torch.sin(g)], dim=1)

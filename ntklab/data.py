"""Data sets used across the chapters: synthetic draws, and scikit-learn's bundled digits.

All generators take ``seed`` or ``generator`` (see :func:`ntklab.validation.make_generator`):
the numbers are drawn on the CPU and then moved to ``device``, so a seed gives the same data
on every device.  They return float64 tensors unless ``dtype`` says otherwise.  Inputs are
matrices with one row per point, shape ``(m, d)``.  :func:`digits` reads the 8x8 digit images
that ship inside scikit-learn's wheel (no network).
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .validation import (
    DEFAULT_DTYPE,
    as_tensor,
    check_choice,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = ["circle_points", "corrupt_labels", "digits", "gaussian_inputs", "uniform_sphere"]


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


def _check_classes(classes: Any) -> tuple[int, ...]:
    if classes is None:
        return tuple(range(10))
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be None or a sequence of digits 0-9, got {classes!r}")
    classes = tuple(classes)
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"classes must hold integers (digits 0-9), got {c!r}")
        if not 0 <= int(c) <= 9:
            raise ValueError(f"classes must hold digits 0-9, got unknown class {c!r}")
    classes = tuple(int(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must name at least two distinct digits, got {classes}")
    return classes


def digits(
    classes: Any = None,
    *,
    normalize: str | None = "sphere",
    corrupt: float = 0.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8x8 handwritten digits of scikit-learn (``load_digits``, 1,797 images), as tensors.

    The images ship inside scikit-learn's wheel, so nothing is downloaded.  Each image is a
    row of 64 pixel intensities in ``0..16``.  With ``normalize="sphere"`` every row is divided
    by its Euclidean norm, so the inputs lie on the unit sphere ``S^63``, the assumption
    ``||x|| = 1`` of the two-layer ReLU analyses (Du et al. 2019; Arora et al. 2019); with
    ``"centered_sphere"`` the mean image of the selected points is subtracted first (the
    points then spread over the whole sphere instead of one orthant); ``None`` keeps the raw
    intensities.

    Labels: for two classes ``(a, b)`` a binary task, ``+1`` for digit ``a`` and ``-1`` for
    digit ``b`` (as Arora et al. use two MNIST classes); for more classes the position of the
    digit in ``classes`` as an integer ``0..k-1`` (with ``classes=None``, the digit itself);
    ``torch.nn.functional.one_hot`` turns those into one-hot rows.

    Label corruption: exactly ``round(corrupt * N)`` points, chosen uniformly at random without
    replacement, get a wrong label (the other sign; or a different class drawn uniformly among
    the ``k - 1`` others), so the fraction of wrong labels is exact up to rounding
    (:func:`corrupt_labels`, which also corrupts a training subset alone).

    Parameters
    ----------
    classes : sequence of int, optional
        At least two distinct digits in ``0..9``; ``None`` (default) means all ten.  Points keep
        the data set's order.
    normalize : {"sphere", "centered_sphere"} or None, optional
        How the inputs are scaled (default ``"sphere"``, unit rows).
    corrupt : float, optional
        Fraction of labels made wrong, in ``[0, 1]`` (default 0).
    seed : int, optional
        Seed of a fresh CPU generator for the corruption; pass ``seed`` or ``generator``, not
        both.
    generator : torch.Generator, optional
        A CPU generator to draw from.
    dtype : torch.dtype, optional
        Floating dtype of the inputs and of binary labels (default float64).
    device : None, str, int or torch.device, optional
        Where the results live (drawn on the CPU, then moved).

    Returns
    -------
    x : torch.Tensor
        Inputs, shape ``(N, 64)``.
    y : torch.Tensor
        Labels, shape ``(N,)``: ``+-1`` of ``dtype`` for two classes, int64 otherwise.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install scikit-learn``).
    TypeError
        If ``classes`` is not a sequence of integers, ``corrupt`` not a number, ``seed`` not an
        integer or ``dtype`` not floating.
    ValueError
        If a class is not a digit ``0..9`` or repeats, fewer than two classes are given,
        ``corrupt`` is outside ``[0, 1]``, ``normalize`` is unknown, both ``seed`` and
        ``generator`` are given, or ``device`` cannot be used.

    Examples
    --------
    >>> x, y = digits((0, 1), corrupt=0.1, seed=0)
    >>> x.shape, y.shape
    (torch.Size([360, 64]), torch.Size([360]))
    >>> round(float(x.norm(dim=1).max()), 6), sorted(set(y.tolist()))
    (1.0, [-1.0, 1.0])
    >>> x0, y0 = digits((0, 1))
    >>> int((y != y0).sum())  # round(0.1 * 360) labels flipped
    36
    """
    classes = _check_classes(classes)
    if normalize is not None:
        check_choice(normalize, "normalize", ("sphere", "centered_sphere"))
    if isinstance(corrupt, bool) or not isinstance(corrupt, numbers.Real):
        raise TypeError(f"corrupt must be a number in [0, 1], got {type(corrupt).__name__}")
    corrupt = float(corrupt)
    if not 0.0 <= corrupt <= 1.0:
        raise ValueError(f"corrupt must be a fraction in [0, 1], got {corrupt}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    device = resolve_device(device)
    gen = make_generator(seed, generator)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # an optional dependency (extras book, test)
        msg = "ntklab.data.digits needs scikit-learn: pip install scikit-learn"
        raise ImportError(msg) from err

    bunch = load_digits()
    pixels = torch.as_tensor(bunch.data, dtype=torch.float64)
    target = torch.as_tensor(bunch.target, dtype=torch.int64)
    keep = torch.isin(target, torch.tensor(classes))
    x, digit = pixels[keep], target[keep]
    if normalize == "centered_sphere":
        x = x - x.mean(dim=0)
    if normalize is not None:
        x = x / x.norm(dim=1, keepdim=True)
    # position of each digit in `classes`
    lookup = torch.full((10,), -1, dtype=torch.int64)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    label = lookup[digit]
    k = len(classes)
    label = corrupt_labels(label, corrupt, num_classes=k, generator=gen)
    y = (1 - 2 * label).to(dtype) if k == 2 else label
    return x.to(dtype=dtype, device=device), y.to(device)


def corrupt_labels(
    y: Any,
    fraction: float,
    *,
    num_classes: int | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Give exactly ``round(fraction * N)`` of the labels ``y`` a wrong value.

    The points are chosen uniformly without replacement.  Binary labels ``+-1`` (a floating
    tensor) change sign; integer labels ``0..num_classes-1`` move to a different class drawn
    uniformly among the ``num_classes - 1`` others (so every chosen label is wrong).  Draws are
    made on the CPU; the result has ``y``'s dtype and device.

    Parameters
    ----------
    y : tensor, (N,)
        Labels: floating ``+-1``, or integers in ``0..num_classes-1``.
    fraction : float
        Fraction of labels to corrupt, in ``[0, 1]``.
    num_classes : int, optional
        Number of classes of integer labels (default ``y.max() + 1``); ignored for ``+-1``.
    seed, generator : optional
        Randomness, never both.

    Returns
    -------
    torch.Tensor
        A new tensor, shape ``(N,)``.

    Raises
    ------
    TypeError
        If ``y`` is not a tensor, or ``fraction`` not a number.
    ValueError
        If ``fraction`` is outside ``[0, 1]``, floating labels are not ``+-1``, integer labels
        fall outside ``0..num_classes-1``, ``num_classes < 2``, or both ``seed`` and
        ``generator`` are given.

    Examples
    --------
    >>> y = torch.tensor([1.0, 1.0, -1.0, -1.0])
    >>> int((corrupt_labels(y, 0.5, seed=0) != y).sum())
    2
    >>> corrupt_labels(torch.tensor([0, 1, 2]), 1.0, seed=0).ne(torch.tensor([0, 1, 2])).all()
    tensor(True)
    """
    if not isinstance(y, torch.Tensor) or y.ndim != 1:
        raise TypeError(f"y must be a 1-D torch tensor of labels, got {type(y).__name__}")
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"fraction must be a number in [0, 1], got {type(fraction).__name__}")
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if y.dtype.is_floating_point:
        if not bool((y.abs() == 1).all()):
            raise ValueError("floating labels y must be +1 or -1")
    else:
        k = int(y.max()) + 1
        if num_classes is not None:
            k = check_positive_int(num_classes, "num_classes")
        if k < 2:
            raise ValueError(f"num_classes must be at least 2, got {k}")
        if bool((y < 0).any()) or bool((y >= k).any()):
            raise ValueError(f"integer labels y must lie in 0..{k - 1}")
    gen = make_generator(seed, generator)
    n = y.shape[0]
    count = round(fraction * n)
    out = y.clone()
    if count == 0:
        return out
    idx = torch.randperm(n, generator=gen)[:count].to(y.device)
    if y.dtype.is_floating_point:
        out[idx] = -out[idx]
    else:
        # a shift by 1..k-1 classes: always wrong, uniform over the other classes
        shift = torch.randint(1, k, (count,), generator=gen).to(y.device)
        out[idx] = (out[idx] + shift) % k
    return out

"""Argument checking shared by every public function of ntklab.

Every public function validates its arguments *before* doing any work and raises
``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, wrong value) with a
message that names the argument and says what was expected.  Keeping the checks in one
module means the wording and the rules (e.g. "numpy arrays and Python floats are accepted
at the boundary, tensors keep their dtype and device") are the same everywhere.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_DTYPE",
    "as_tensor",
    "as_tensor_like",
    "check_choice",
    "check_finite_tensor",
    "check_matrix",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_positive_int",
    "check_probability",
    "check_same_dtype",
    "check_same_length",
    "check_scalar_parameter",
    "make_generator",
    "resolve_device",
]

#: dtype used when the caller passes something that is not a floating-point tensor.
DEFAULT_DTYPE = torch.float64


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(value: Any, name: str, *, even: bool = False, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= minimum``.

    Parameters
    ----------
    value : int
        The value to check (Python or numpy integer; ``bool`` is refused).
    name : str
        The argument's name, used in the error message.
    even : bool, optional
        Also require an even number (e.g. a width split into two symmetric halves).
    minimum : int, optional
        Smallest value allowed (default 1).

    Returns
    -------
    int
        ``value`` as a Python ``int``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If ``value < minimum``, or ``even`` and ``value`` is odd.

    Examples
    --------
    >>> check_positive_int(4, "width", even=True)
    4
    >>> check_positive_int(0, "width")
    Traceback (most recent call last):
    ...
    ValueError: width must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if even and value % 2:
        raise ValueError(f"{name} must be even, got {value}")
    return value


def check_nonnegative_int(value: Any, name: str) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= 0``.

    Parameters
    ----------
    value : int
        The value to check.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    int
        ``value`` as a Python ``int``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If ``value < 0``.

    Examples
    --------
    >>> check_nonnegative_int(0, "depth")
    0
    """
    return check_positive_int(value, name, minimum=0)


def _real_scalar(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number ``> 0``.

    Parameters
    ----------
    value : float or one-element tensor
        The value to check.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    float
        ``value`` as a Python ``float`` (a tensor is read with ``.item()``, so no gradient
        flows through the result).

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite or ``<= 0``.

    Examples
    --------
    >>> check_positive(0.5, "step_size")
    0.5
    """
    value = _real_scalar(value, name)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number ``>= 0``.

    Parameters
    ----------
    value : float or one-element tensor
        The value to check.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    float
        ``value`` as a Python ``float``.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite or ``< 0``.

    Examples
    --------
    >>> check_nonnegative(0, "ridge")
    0.0
    """
    value = _real_scalar(value, name)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_probability(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking ``0 < value < 1`` (a failure probability).

    Parameters
    ----------
    value : float
        The value to check.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    float
        ``value`` as a Python ``float``.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not strictly between 0 and 1.

    Examples
    --------
    >>> check_probability(0.05, "delta")
    0.05
    """
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``choices`` (strings).

    Parameters
    ----------
    value : str
        The value to check.
    name : str
        The argument's name, used in the error message.
    choices : iterable of str
        The allowed values.

    Returns
    -------
    str
        ``value`` unchanged.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If ``value`` is not one of ``choices``.

    Examples
    --------
    >>> check_choice("relu", "activation", ["relu", "erf"])
    'relu'
    """
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def resolve_device(device: Any = None) -> torch.device:
    """Turn a device request into a ``torch.device`` that exists on this machine.

    Parameters
    ----------
    device : None, str, int or torch.device, optional
        ``None`` means the CPU; a string (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or a
        ``torch.device`` is taken as torch reads it; an ``int`` is a CUDA index, as in torch
        (``0`` is ``"cuda:0"``).

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    TypeError
        If ``device`` is of another type (``bool`` and ``float`` included).
    ValueError
        If the string is not a torch device, the index is negative, or CUDA is requested on a
        machine without CUDA (torch itself would fail later with an ``AssertionError``) or
        with fewer devices than the index asks for.

    Examples
    --------
    >>> resolve_device(None)
    device(type='cpu')
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, bool) or not isinstance(device, (str, numbers.Integral, torch.device)):
        raise TypeError(
            f"device must be a str, int (a CUDA index) or torch.device, got "
            f"{type(device).__name__} {device!r}"
        )
    if isinstance(device, numbers.Integral):
        if device < 0:
            raise ValueError(f"device must be a CUDA index >= 0, got {device}")
        dev = torch.device("cuda", int(device))
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not a valid torch device") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} asks for CUDA, but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use device='cpu'"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device {device!r} asks for CUDA index {dev.index}, but there is "
                f"only {count} CUDA device(s)"
            )
    return dev


def _inside_torch_func(x: torch.Tensor) -> bool:
    """True for the wrapped tensors that ``torch.func`` transforms (vmap, grad, jvp) pass in."""
    is_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(is_wrapped(x)) if is_wrapped is not None else False


def check_finite_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite entries; return ``x``.

    Inside a ``torch.func`` transform the check is skipped: it is data-dependent control flow,
    which ``vmap`` cannot trace, and the inputs were already checked outside the transform by
    the function that called it (e.g. :func:`ntklab.empirical.ntk`).

    Parameters
    ----------
    x : torch.Tensor
        Any shape.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    torch.Tensor
        ``x`` itself.

    Raises
    ------
    ValueError
        If a floating or complex ``x`` has a NaN or infinite entry.

    Examples
    --------
    >>> check_finite_tensor(torch.tensor([1.0, float("nan")]), "x")
    Traceback (most recent call last):
    ...
    ValueError: x contains NaN or infinite entries
    """
    if _inside_torch_func(x):
        return x
    if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return x


def as_tensor(
    x: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: Any = None,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Convert ``x`` (tensor, numpy array, list or Python number) to a floating tensor.

    Tensors keep their floating dtype and device (and their autograd graph) unless
    ``dtype``/``device`` say otherwise; integer tensors become :data:`DEFAULT_DTYPE`; numpy
    float32 arrays stay float32 and every other array, list or number becomes float64 on
    ``device`` (CPU if ``None``).

    Parameters
    ----------
    x : torch.Tensor, numpy.ndarray, list, tuple or number
        The input, any shape.
    name : str
        The argument's name, used in error messages.
    dtype : torch.dtype, optional
        Cast to this dtype.
    device : None, str, int or torch.device, optional
        Move to this device (see :func:`resolve_device`).
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    finite : bool, optional
        Refuse NaN and infinite entries (default ``True``).

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (strings, objects, ``bool``).
    ValueError
        If the number of dimensions is not in ``ndim``, an entry is not finite (with
        ``finite=True``), or ``device`` cannot be used (see :func:`resolve_device`).

    Examples
    --------
    >>> as_tensor([1, 2], "x")
    tensor([1., 2.], dtype=torch.float64)
    >>> as_tensor(torch.ones(2, dtype=torch.float32), "x").dtype
    torch.float32
    """
    if isinstance(x, torch.Tensor):
        t = x
        if not (t.is_floating_point() or t.is_complex()):
            t = t.to(DEFAULT_DTYPE if dtype is None else dtype)
    elif isinstance(x, (np.ndarray, list, tuple, numbers.Number, np.generic)) and not isinstance(
        x, bool
    ):
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise TypeError(f"{name} must be numeric, got an array of dtype {arr.dtype}")
        t = torch.as_tensor(arr.astype(np.float64) if arr.dtype != np.float32 else arr)
        if dtype is None:
            dtype = DEFAULT_DTYPE if arr.dtype != np.float32 else torch.float32
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor, numpy array or number, got {type(x).__name__}"
        )
    if dtype is not None or device is not None:
        t = t.to(
            dtype=dtype if dtype is not None else t.dtype,
            device=resolve_device(device) if device is not None else t.device,
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}, got shape {tuple(t.shape)}")
    if finite:
        check_finite_tensor(t, name)
    return t


def check_matrix(
    x: Any,
    name: str,
    *,
    cols: int | None = None,
    dtype: torch.dtype | None = None,
    device: Any = None,
    min_rows: int = 1,
) -> torch.Tensor:
    """Return ``x`` as a finite 2-D tensor of shape ``(N, cols)``, one row per point.

    Parameters
    ----------
    x : array_like
        The matrix, shape ``(N, cols)``.
    name : str
        The argument's name, used in error messages.
    cols : int, optional
        The required number of columns (the input dimension).
    dtype, device : optional
        As in :func:`as_tensor`.
    min_rows : int, optional
        The fewest rows allowed (default 1).

    Returns
    -------
    torch.Tensor
        Shape ``(N, cols)``.

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        If ``x`` is not 2-D, has fewer than ``min_rows`` rows or not ``cols`` columns (the
        message names both numbers), or is not finite.

    Examples
    --------
    >>> check_matrix([[1.0, 2.0]], "x1", cols=2).shape
    torch.Size([1, 2])
    """
    t = as_tensor(x, name, dtype=dtype, device=device, ndim=2)
    if t.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got shape {tuple(t.shape)}")
    if cols is not None and t.shape[1] != cols:
        raise ValueError(
            f"{name} must have {cols} columns (the input dimension), got shape {tuple(t.shape)}"
        )
    return t


def check_same_length(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same first dimension.

    Parameters
    ----------
    a, b : torch.Tensor
        Tensors of shapes ``(m, ...)`` and ``(m', ...)``.
    a_name, b_name : str
        Their names, used in the error message.

    Raises
    ------
    ValueError
        If ``m != m'``.

    Examples
    --------
    >>> check_same_length(torch.ones(3), "x", torch.ones(3, 2), "y")
    >>> check_same_length(torch.ones(3), "x", torch.ones(4), "y")
    Traceback (most recent call last):
    ...
    ValueError: x and y must have the same length, got 3 and 4
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


def make_generator(
    seed: int | None = None, generator: torch.Generator | None = None
) -> torch.Generator:
    """Return a CPU ``torch.Generator`` for reproducible draws.

    ntklab draws every random number on the CPU with a CPU generator and then moves the
    result to the requested device, so a seed gives the same numbers on every device.

    Parameters
    ----------
    seed : int, optional
        Seed of a fresh generator.
    generator : torch.Generator, optional
        A CPU generator, used as is (its state advances with each draw).  With neither
        ``seed`` nor ``generator``, a fresh generator is seeded from torch's global
        generator, so results follow ``torch.manual_seed``.

    Returns
    -------
    torch.Generator
        A generator on the CPU.

    Raises
    ------
    ValueError
        If both ``seed`` and ``generator`` are given, or ``generator`` is not on the CPU.
    TypeError
        If ``seed`` is not an integer or ``generator`` not a ``torch.Generator``.

    Examples
    --------
    >>> a = torch.randn(2, generator=make_generator(seed=3))
    >>> b = torch.randn(2, generator=make_generator(seed=3))
    >>> bool(torch.equal(a, b))
    True
    >>> make_generator(seed=3).device
    device(type='cpu')
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("pass either seed or generator, not both")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(
                "generator must be a CPU torch.Generator (ntklab draws on the CPU, then moves "
                f"the numbers to the device), got one on {generator.device}"
            )
        return generator
    gen = torch.Generator()
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or None, got {type(seed).__name__}")
    gen.manual_seed(int(seed))
    return gen


def check_same_dtype(a: Any, a_name: str, b: Any, b_name: str) -> None:
    """Raise ``TypeError`` naming both arguments if ``a`` and ``b`` are floating tensors of
    different dtypes (the library's dtype policy: never cast silently, the caller casts).

    Anything else (numpy arrays, Python numbers, integer tensors) passes: it is converted to the
    other argument's dtype by the caller.

    Parameters
    ----------
    a, b : Any
        The two arguments.
    a_name, b_name : str
        Their names, used in the message.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If both are floating (or complex) tensors of different dtypes.

    Examples
    --------
    >>> check_same_dtype(torch.ones(1), "x1", torch.ones(1, dtype=torch.float64), "x2")
    Traceback (most recent call last):
    ...
    TypeError: x1 has dtype torch.float32 but x2 has dtype torch.float64; cast one explicitly
    """
    if (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and (a.is_floating_point() or a.is_complex())
        and (b.is_floating_point() or b.is_complex())
        and a.dtype != b.dtype
    ):
        raise TypeError(
            f"{a_name} has dtype {a.dtype} but {b_name} has dtype {b.dtype}; cast one explicitly"
        )


def as_tensor_like(
    x: Any,
    name: str,
    ref: torch.Tensor,
    ref_name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """``x`` as a tensor of ``ref``'s dtype and device, refusing a tensor of another dtype.

    The dtype policy: a floating tensor whose dtype differs from ``ref``'s is a ``TypeError``
    naming both arguments and dtypes (:func:`check_same_dtype`; cast explicitly); numpy arrays,
    lists, numbers and integer tensors take ``ref``'s dtype.  The device follows ``ref``.
    ``ndim`` and ``finite`` are as in :func:`as_tensor`.  Data for a model pass one of its
    parameters as ``ref`` and ``"the model"`` as ``ref_name``.

    Parameters
    ----------
    x : tensor, array_like or number
        The argument to convert.
    name : str
        Its name, used in messages.
    ref : torch.Tensor
        The tensor whose dtype and device ``x`` must take.
    ref_name : str
        Its name, used in messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    finite : bool, default True
        Reject NaN and infinite entries.

    Returns
    -------
    torch.Tensor
        ``x`` with ``ref``'s dtype, on ``ref``'s device.

    Raises
    ------
    TypeError
        If ``x`` is a floating tensor of another dtype, or not numeric.
    ValueError
        If ``x`` has a number of dimensions not in ``ndim`` or non-finite entries.

    Examples
    --------
    >>> as_tensor_like([1, 2], "x", torch.zeros(1, dtype=torch.float32), "w").dtype
    torch.float32
    >>> as_tensor_like(torch.ones(2), "x", torch.zeros(1, dtype=torch.float64), "w")
    Traceback (most recent call last):
    ...
    TypeError: x has dtype torch.float32 but w has dtype torch.float64; cast one explicitly
    """
    check_same_dtype(x, name, ref, ref_name)
    return as_tensor(x, name, dtype=ref.dtype, device=ref.device, ndim=ndim, finite=finite)


def check_scalar_parameter(
    value: Any, name: str, like: torch.Tensor, like_name: str, *, positive: bool = False
) -> float | torch.Tensor:
    """A real parameter of a kernel (``W_std``, ``c``, ...): a Python number or a tensor.

    A number is returned as a ``float`` (after :func:`check_positive` or
    :func:`check_nonnegative`).  A one-element floating tensor is returned as a 0-dim tensor on
    ``like``'s device, keeping its autograd graph (so gradients reach it); its dtype must be
    ``like``'s, else ``TypeError`` naming ``name`` and ``like_name``.  The value is checked the
    same way (finite, ``> 0`` if ``positive`` else ``>= 0``).

    Parameters
    ----------
    value : float or torch.Tensor
        The parameter.
    name : str
        Its name, used in messages.
    like : torch.Tensor
        A tensor of the computation (its dtype and device are required of a tensor ``value``).
    like_name : str
        Its name, used in messages.
    positive : bool, default False
        Require ``> 0`` instead of ``>= 0``.

    Returns
    -------
    float or torch.Tensor
        A float for a number, a 0-dim tensor (graph kept) for a tensor.

    Raises
    ------
    TypeError
        If ``value`` is not a real number or a tensor of ``like``'s dtype.
    ValueError
        If ``value`` has more than one element, is not finite, or is negative (or zero with
        ``positive``).

    Examples
    --------
    >>> w = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    >>> check_scalar_parameter(w, "W_std", torch.zeros(2, dtype=torch.float64), "x1").requires_grad
    True
    >>> check_scalar_parameter(2, "c", torch.zeros(2), "x1", positive=True)
    2.0
    """
    check = check_positive if positive else check_nonnegative
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return check(value, name)
    if value.numel() != 1:
        raise ValueError(
            f"{name} must be a number or a one-element tensor, got shape {tuple(value.shape)}"
        )
    check_same_dtype(value, name, like, like_name)
    check(value.detach(), name)
    return value.reshape(()).to(like.device)

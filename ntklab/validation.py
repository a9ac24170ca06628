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
    "check_choice",
    "check_finite_tensor",
    "check_matrix",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_positive_int",
    "check_probability",
    "check_same_length",
    "make_generator",
    "resolve_device",
]

#: dtype used when the caller passes something that is not a floating-point tensor.
DEFAULT_DTYPE = torch.float64


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(value: Any, name: str, *, even: bool = False, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= minimum``.

    ``even=True`` additionally requires an even number (e.g. a width that is split into two
    symmetric halves).
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
    """Return ``value`` as an ``int`` after checking it is an integer ``>= 0``."""
    return check_positive_int(value, name, minimum=0)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number ``> 0``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number ``>= 0``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_probability(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` after checking ``0 < value < 1`` (a failure probability)."""
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``choices`` (strings)."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def resolve_device(device: Any = None) -> torch.device:
    """Turn ``None``/string/``torch.device`` into a ``torch.device`` (``None`` means CPU)."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, (str, torch.device)):
        try:
            return torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not a valid torch device") from err
    raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")


def _inside_torch_func(x: torch.Tensor) -> bool:
    """True for the wrapped tensors that ``torch.func`` transforms (vmap, grad, jvp) pass in."""
    is_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(is_wrapped(x)) if is_wrapped is not None else False


def check_finite_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite entries; return ``x``.

    Inside a ``torch.func`` transform the check is skipped: it is data-dependent control flow,
    which ``vmap`` cannot trace, and the inputs were already checked outside the transform by
    the function that called it (e.g. :func:`ntklab.empirical.ntk`).
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

    Tensors keep their floating dtype and device unless ``dtype``/``device`` say otherwise;
    everything else becomes :data:`DEFAULT_DTYPE` (float64) on ``device`` (CPU if ``None``).
    ``ndim`` restricts the number of dimensions; ``finite`` rejects NaN and infinities.
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
    """Return ``x`` as a finite 2-D tensor of shape ``(N, cols)``.

    A matrix of inputs has one row per point.  ``cols`` (if given) is the required feature
    dimension; the error names both numbers.
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
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same first dimension."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )


def make_generator(
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: Any = None,
) -> torch.Generator:
    """Return a ``torch.Generator`` for reproducible draws.

    Pass either ``generator`` (used as is) or ``seed`` (a fresh generator seeded with it);
    with neither, a fresh generator is seeded from torch's global generator, so results follow
    ``torch.manual_seed``.
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("pass either seed or generator, not both")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    gen = torch.Generator(device=resolve_device(device))
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or None, got {type(seed).__name__}")
    gen.manual_seed(int(seed))
    return gen


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
    naming both arguments and dtypes (cast explicitly); numpy arrays, lists and numbers take
    ``ref``'s dtype.  The device follows ``ref``.
    """
    if (
        isinstance(x, torch.Tensor)
        and (x.is_floating_point() or x.is_complex())
        and x.dtype != ref.dtype
    ):
        raise TypeError(
            f"{name} has dtype {x.dtype} but {ref_name} has dtype {ref.dtype}: "
            "cast one of them explicitly"
        )
    return as_tensor(x, name, dtype=ref.dtype, device=ref.device, ndim=ndim, finite=finite)

"""Optional compilation of the engine's elementwise maps with ``torch.compile``.

An activation's pair map (ReLU's arc-cosine expectations, erf's) is a chain of about twenty
elementwise operations over every pixel pair of every pair of points; run eagerly, each
operation reads and writes the whole tile.  Compiled by TorchInductor it becomes one loop.
Compilation happens on the first call of a map in a process and is only worth it for large
Gram matrices. Fully connected chains of ReLU layers (``ntklab/layers/_chain.py``, the path of
``analytic.mlp_kernels``) compile by default on a CPU from ``3e8`` pairs times layers (from
``2e6`` once compiled in the process); their first call compiles in 7 s with TorchInductor's
on-disk cache warm and 28 s cold, measured on 2 idle cores. Other
architectures compile only when asked (``compiled=True``): measured gain on the benchmark CNN:
1.25x less CPU per pair at N = 200, none at N = 500, where dynamo, called from the tile threads,
hit its recompile limit ("runtime guards failed") and ran the map eagerly (it logs a warning).
The eager map is already in place on cache-sized tiles; the convolutions stay eager (compiling
their shifted views of symbolic sizes took minutes).
Where compilation or a compiled call fails (no C++ compiler, an unsupported
platform), a warning says so once and everything runs eagerly for the rest of the process.
Inputs that require grad always take the eager path, which is differentiable.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Callable

import torch

# set by Layer.kernels for the duration of one call (each tile's thread gets a copy)
ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("ntklab_compiled", default=False)
_compiled: dict[Callable, Callable] = {}
_broken: list[str] = []  # the first failure, if any: then everything stays eager


def _distinct_sizes():
    """Dynamo's "duck sizing" takes sizes that happen to be equal in the first call (a row
    block as wide as the whole set, a storage offset equal to a block's height) for one
    symbol and recompiles when they differ: off for our calls (the ReLU chain then compiles
    two graphs instead of three for ``K(x, x)``).  A no-op where the switch does not exist."""
    config = getattr(getattr(torch.fx, "experimental", None), "_config", None)
    if config is None or not hasattr(config, "use_duck_shape"):
        return contextlib.nullcontext()
    return config.patch(use_duck_shape=False)


def available() -> bool:
    """Whether ``torch.compile`` may be tried here (it may still fail at the first call)."""
    if _broken:
        return False
    try:
        return bool(torch._dynamo.is_dynamo_supported())
    except Exception:  # an old or stripped-down torch
        return False


def compiled_before(fn: Callable) -> bool:
    """Whether ``fn`` was compiled in this process (a further call costs no compilation)."""
    return fn in _compiled and not _broken


def call(fn: Callable, *args, distinct_sizes: bool = False):
    """``fn(*args)``, compiled when compilation is active for this call and nothing needs grad.

    ``distinct_sizes`` turns dynamo's duck sizing off while it runs (see
    :func:`_distinct_sizes`); only for calls from one thread (it patches a global setting).
    """
    if (
        not ACTIVE.get()
        or _broken
        or any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)
    ):
        return fn(*args)
    compiled = _compiled.get(fn)
    if compiled is None:
        # dynamic shapes: one kernel for every tile size
        compiled = _compiled[fn] = torch.compile(fn, dynamic=True)
    try:
        with _distinct_sizes() if distinct_sizes else contextlib.nullcontext():
            return compiled(*args)
    except Exception as err:  # compilation unavailable or failed: fall back, say so once
        _broken.append(f"{type(err).__name__}: {err}")
        warnings.warn(
            f"ntklab.layers: torch.compile failed ({_broken[0][:200]}); running eagerly",
            RuntimeWarning,
            stacklevel=2,
        )
        return fn(*args)

"""The kernel engine: per-tile state, window averages, and the :class:`Layer` base."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..validation import (
    as_tensor,
    check_positive_int,
    make_generator,
    resolve_device,
)
from . import _compile

PADDINGS = ("same", "valid", "circular")
_TILE_ENTRIES = 2**18  # numbers in one tile tensor of images (2 MiB in float64: L2-sized)
_VECTOR_TILE_ENTRIES = 2**16  # of vectors (an MLP; 512 KiB)


@dataclass(frozen=True)
class Kernels:
    """Infinite-width kernels of an architecture: ``nngp`` and ``ntk``, each (N1, N2)."""

    nngp: torch.Tensor
    ntk: torch.Tensor


# ---------------------------------------------------------------------------------------------
# The state of one tile: kernels of the x1 rows with themselves (``s1``), of the x2 columns
# with themselves (``s2``) and of all row-column pairs (``c``).  A pair's tensors have leading
# dimensions (n,) for a point with itself and (n1, n2) for the cross pairs, then 0 spatial
# dimensions (vectors), 2 (pixel diagonal) or 4 (pixel pairs y, x, y', x').
# ---------------------------------------------------------------------------------------------


class _Pair(NamedTuple):
    nngp: torch.Tensor
    ntk: torch.Tensor
    lead: int  # 1: a point with itself, 2: cross pairs
    ntk_zero: bool = False  # ntk is known to be 0 (the input): Dense and Conv skip averaging it

    @property
    def rank(self) -> int:
        return self.nngp.dim() - self.lead

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> _Pair:
        return _Pair(fn(self.nngp), fn(self.ntk), self.lead)


class _Tile(NamedTuple):
    s1: _Pair
    s2: _Pair  # the same object as s1 on a diagonal tile of a set with itself
    c: _Pair

    def map(self, fn: Callable[[_Pair], _Pair]) -> _Tile:
        s1 = fn(self.s1)
        return _Tile(s1, s1 if self.s2 is self.s1 else fn(self.s2), fn(self.c))


def _variance(p: _Pair) -> torch.Tensor:
    """Per-pixel variances (n, *pixels) of a point-with-itself pair."""
    if p.rank == 4:
        n, h, w = p.nngp.shape[:3]
        # contiguous: a strided diagonal view defeats vectorized (compiled) loads
        diag = p.nngp.reshape(n, h * w, h * w).diagonal(dim1=1, dim2=2)
        return diag.contiguous().reshape(n, h, w)
    return p.nngp


def _broadcast(v1: torch.Tensor, v2: torch.Tensor, lead: int, rank: int):
    """Variances of the two members of every pair, shaped to broadcast against the pair."""
    if lead == 1:  # only rank 4 reaches here: pixel pairs of a point with itself
        return v1[:, :, :, None, None], v1[:, None, None, :, :]
    if rank == 4:
        return v1[:, None, :, :, None, None], v2[None, :, None, None, :, :]
    return v1[:, None], v2[None, :]


def _pixel_eye(h: int, w: int, device) -> torch.Tensor:
    return torch.eye(h * w, dtype=torch.bool, device=device).reshape(h, w, h, w)


def _safe_sqrt(t: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(t, 0))`` with a zero (not infinite) gradient at 0."""
    pos = t > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, t, 1)), 0)


def _windows(size: int, k: int, stride: int, padding: str, name: str, arg: str):
    """Output size and padding (before, after) of a window sweep, as lax/TF compute them."""
    if padding == "valid":
        if k > size:
            raise ValueError(
                f"{name}: kernel_size {k} is larger than the image ({size} pixels) with "
                f"padding 'valid' ({arg})"
            )
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def _pad_axis(t: torch.Tensor, dim: int, before: int, after: int, circular: bool):
    if not (before or after):
        return t
    size = t.shape[dim]
    if circular:
        idx = torch.arange(-before, size + after, device=t.device) % size
        return t.index_select(dim, idx)
    shape_b, shape_a = list(t.shape), list(t.shape)
    shape_b[dim], shape_a[dim] = before, after
    return torch.cat([t.new_zeros(shape_b), t, t.new_zeros(shape_a)], dim=dim)


def _window_average(t, groups, k, stride, out, pads, circular):
    """``mean_d t[..., s o + d, ...]`` over window offsets ``d = (dy, dx)``.

    ``groups`` lists pairs of (row, column) dimensions that are shifted *together* by the same
    offset (one pair: a window over one image; two pairs: the pixel pairs of a convolution).
    The mean over the window is separable: rows first, then columns (``k_h + k_w`` shifted
    additions instead of ``k_h k_w``).  Zero padding is not materialized: each offset adds
    the in-image part of a shifted (strided) view into the output block it reaches.
    """
    if circular:
        for group in groups:
            for dim, pad in zip(group, pads, strict=True):
                t = _pad_axis(t, dim, *pad, True)
        pads = ((0, 0), (0, 0))
    for axis in (0, 1):
        dims = [group[axis] for group in groups]
        step, size, before, n_out = stride[axis], t.shape[dims[0]], pads[axis][0], out[axis]
        pieces = []  # (output slice, input slice) per window offset
        for off in range(k[axis]):
            shift = off - before  # output o reads input step * o + shift
            o0 = max(0, -(shift // step))
            o1 = min(n_out - 1, (size - 1 - shift) // step)
            if o1 >= o0:
                src = slice(step * o0 + shift, step * o1 + shift + 1, step)
                pieces.append((slice(o0, o1 + 1), src, o1 - o0 + 1 == n_out))
        # a piece that covers the whole output starts the sum (no zero-filled buffer)
        pieces.sort(key=lambda piece: not piece[2])
        total = None
        for dst, src, whole in pieces:
            piece = t[_index(t.dim(), dims, src)]
            if total is None:
                if whole:
                    total = piece.clone()
                    continue
                shape = list(t.shape)
                for dim in dims:
                    shape[dim] = n_out
                total = t.new_zeros(shape)
            total[_index(t.dim(), dims, dst)] += piece
        t = total.div_(k[axis])
    return t


def _index(ndim: int, dims, part: slice):
    index = [slice(None)] * ndim
    for dim in dims:
        index[dim] = part
    return tuple(index)


def _pair2(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return tuple(check_positive_int(v, name) for v in value)
    v = check_positive_int(value, name)
    return v, v


def _describe(shape) -> str:
    return "a list of branches" if isinstance(shape, list) else f"shape {tuple(shape)}"


def _need(shape, ndim: int, layer: str, arg: str, hint: str = ""):
    if isinstance(shape, list) or len(shape) != ndim:
        want = "vectors (N, d)" if ndim == 1 else "images (N, C, H, W)"
        raise ValueError(
            f"{layer} needs {want}, but {arg} gives it {_describe(shape)} per point{hint}"
        )


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


class Layer:
    """A layer or an architecture: its infinite-width kernels and its finite network.

    Subclasses implement ``_shape`` (output shape per point, or an error for input that does
    not fit), ``_apply`` (the kernel map on a tile) and ``_module`` (a torch module).
    """

    _pools = False  # needs pixel-pair covariances (not only their diagonal)

    def _shape(self, shape, arg: str):
        return shape

    def _apply(self, tile, full: bool):
        raise NotImplementedError

    def _module(self, shape, width, out, gen, dtype):
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"

    def kernels(
        self,
        x1: Any,
        x2: Any = None,
        *,
        batch_size: int | None = None,
        compiled: bool | None = None,
    ) -> Kernels:
        """Infinite-width NNGP and NTK of the architecture between ``x1`` and ``x2``.

        Parameters
        ----------
        x1 : tensor or array, (N1, d) or (N1, C, H, W)
            Inputs; numpy arrays become float64 on the CPU, tensors keep dtype and device.
        x2 : tensor or array, (N2, ...) or None
            Second inputs; ``None`` means ``x1`` (exactly symmetric result, computed on the
            upper triangle of tiles only).
        batch_size : int, optional
            Points of ``x1`` (and of ``x2``) per tile; by default tiles of about ``2^18``
            numbers per kernel tensor for images (``P^2`` per pair before pooling, ``P``
            without) and ``2^16`` for vectors, which stay in cache; the tiles run on
            ``torch.get_num_threads()`` threads.
        compiled : bool or None
            Use ``torch.compile``d elementwise maps (the same numbers to rounding, about 1e-16
            relative; never when an input requires grad; eager, with a warning, where
            compilation fails). ``None`` (default) decides: a fully connected chain
            (``serial(Dense, act, ..., Dense)`` on vectors, see ``ntklab/layers/_chain.py``) of
            ReLU layers compiles on a CPU from ``3e8`` pairs times layers (``2e6`` once compiled
            in the process; ``K(x, x)`` of 4,000 points at depth 3: about 6x faster after a
            first call that compiles, 7 s with TorchInductor's on-disk cache warm, 28 s cold,
            on 2 idle cores); other architectures run eagerly. ``True`` for other
            architectures runs the activations' pair maps compiled: experimental, measured on
            the benchmark CNN (2 shared cores) it saved 1.25x CPU per pair at N = 200 and
            nothing at N = 500 (dynamo, called from the tile threads, hit its recompile limit
            and ran eagerly), after a first call that compiles (6-12 s with the on-disk cache
            warm, about 1 min cold).

        Returns
        -------
        Kernels
            ``.nngp`` and ``.ntk``, each (N1, N2), the output of a readout with one unit
            (neural-tangents' ``kernel_fn(x1, x2, ("nngp", "ntk"))``).

        Raises
        ------
        TypeError
            Non-numeric inputs, or ``x1`` and ``x2`` of different dtypes.
        ValueError
            Inputs that are not 2-D or 4-D, ``x2`` of another per-point shape, shapes the
            architecture does not accept, or an architecture whose output is not a vector.

        Examples
        --------
        >>> import torch
        >>> from ntklab import layers as L
        >>> arch = L.serial(L.Dense(W_std=1.5, b_std=0.1), L.ReLU(), L.Dense(W_std=1.5))
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
        >>> k = arch.kernels(x)
        >>> print(k.ntk.shape, round(float(k.nngp[0, 0]), 6))
        torch.Size([2, 2]) 1.276875
        """
        x1, x2, same = _inputs(x1, x2)
        out = self._shape(tuple(x1.shape[1:]), "x1")
        if isinstance(out, list) or len(out) != 1:
            raise ValueError(
                f"the architecture must end with vectors (Dense, Flatten or GlobalAvgPool) for "
                f"kernels between points; it gives {_describe(out)}"
            )
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size")
        if compiled is not None and not isinstance(compiled, bool):
            raise TypeError(f"compiled must be True, False or None, got {compiled!r}")
        if x1.dim() == 2:
            from . import _chain  # the chain module builds on the layer classes

            chain = _chain.plan([self])
            if chain is not None:
                nngp, ntk = _chain.chain_kernels(
                    chain, x1, x2, same, batch_size=batch_size, compiled=compiled
                )
                return Kernels(nngp=nngp, ntk=ntk)
        compiled = bool(compiled)
        full = self._contains_pool()
        pixels = math.prod(x1.shape[2:]) if x1.dim() == 4 else 1
        per_pair = pixels * pixels if full else pixels
        if batch_size is None:
            # images: larger tiles share each point's self-pair work among more cross pairs
            entries = _TILE_ENTRIES if x1.dim() == 4 else _VECTOR_TILE_ENTRIES
            batch_size = max(1, math.isqrt(max(1, entries // per_pair)))
        n1, n2 = x1.shape[0], x2.shape[0]
        nngp = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
        ntk = torch.empty_like(nngp)
        jobs = [
            (i0, min(n1, i0 + batch_size), j0, min(n2, j0 + batch_size))
            for i0 in range(0, n1, batch_size)
            for j0 in range(i0 if same else 0, n2, batch_size)
        ]

        def run(job):
            i0, i1, j0, j1 = job
            diag = same and i0 == j0
            tile = self._apply(_input_tile(x1[i0:i1], x2[j0:j1], diag, full), full)
            a, b = tile.c.nngp, tile.c.ntk
            if diag:
                # the points with themselves: the exact self-kernel on the diagonal
                eye = torch.eye(i1 - i0, dtype=torch.bool, device=a.device)
                a = torch.where(eye, torch.diag_embed(tile.s1.nngp), (a + a.T) / 2)
                b = torch.where(eye, torch.diag_embed(tile.s1.ntk), (b + b.T) / 2)
            nngp[i0:i1, j0:j1], ntk[i0:i1, j0:j1] = a, b
            if same and not diag:
                nngp[j0:j1, i0:i1], ntk[j0:j1, i0:i1] = a.T, b.T

        grad = torch.is_grad_enabled() and (x1.requires_grad or x2.requires_grad)
        token = _compile.ACTIVE.set(compiled and not grad and _compile.available())
        try:
            _run_tiles(jobs, run, parallel=x1.device.type == "cpu" and not grad)
        finally:
            _compile.ACTIVE.reset(token)
        return Kernels(nngp=nngp, ntk=ntk)

    def _contains_pool(self) -> bool:
        return self._pools

    def network(
        self,
        in_shape: Any,
        width: int,
        *,
        d_out: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ) -> nn.Module:
        """A finite network of the architecture in NTK parameterization.

        Every Dense and Conv has ``width`` output units (channels), except the last Dense or
        Conv of the outermost :func:`serial`, which has ``d_out``.  Weights and biases
        are drawn ``N(0, 1)`` and scaled in the forward pass: a layer computes
        ``W_std / sqrt(fan_in) W x + b_std b`` (``fan_in = C k_h k_w`` for Conv), so its
        kernels converge to :meth:`kernels` as ``width`` grows (error about ``width^-1/2``).

        Parameters
        ----------
        in_shape : tuple of int
            Shape of one input: ``(d,)`` or ``(C, H, W)``.
        width : int
            Hidden width (units or channels).
        d_out : int
            Outputs of the readout layer.
        seed, generator : optional
            Either (not both); draws are made on the CPU, then moved to ``device``.
        dtype : torch.dtype
            Parameter dtype (default float64).
        device : str, int or torch.device, optional
            Where the parameters live (default CPU).

        Returns
        -------
        torch.nn.Module
            Maps ``(N, *in_shape)`` to ``(N, d_out)`` (or (N, width) if no readout layer ends the
            architecture).

        Raises
        ------
        TypeError, ValueError
            A bad ``in_shape``, ``width``, seed/generator or device, or shapes the
            architecture does not accept.

        Examples
        --------
        >>> import torch
        >>> from ntklab import layers as L
        >>> arch = L.serial(L.Conv(kernel_size=3, padding="same"), L.ReLU(),
        ...                 L.GlobalAvgPool(), L.Dense())
        >>> net = arch.network(in_shape=(1, 8, 8), width=16, seed=0)
        >>> net(torch.zeros(5, 1, 8, 8, dtype=torch.float64)).shape
        torch.Size([5, 1])
        """
        if not isinstance(in_shape, (tuple, list)) or not in_shape:
            raise TypeError(f"in_shape must be a tuple of ints, got {in_shape!r}")
        in_shape = tuple(check_positive_int(s, "in_shape") for s in in_shape)
        if len(in_shape) not in (1, 3):
            raise ValueError(f"in_shape must be (d,) or (C, H, W), got {in_shape}")
        width = check_positive_int(width, "width")
        d_out = check_positive_int(d_out, "d_out")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        dev = _device(device)
        self._shape(in_shape, "in_shape")
        gen = make_generator(seed, generator)
        module, _ = self._module(in_shape, width, d_out, gen, dtype)
        return module.to(dev)


def _run_tiles(jobs, run, parallel: bool) -> None:
    """Run ``run(job)`` for every tile, on ``torch.get_num_threads()`` Python threads.

    On a CPU the tiles are cache-sized and torch's intra-op parallelism is set to one thread
    meanwhile (restored afterwards): an elementwise operation on a small tile would otherwise
    pay a thread synchronization, which on a loaded machine costs more than the operation
    (measured: 5x the CPU time per pair).  Tiles write disjoint blocks of the outputs.  With
    autograd recording (an input requires grad) the tiles run one after the other.
    """
    threads = torch.get_num_threads()
    if not parallel or threads == 1 or len(jobs) == 1:
        for job in jobs:
            run(job)
        return
    torch.set_num_threads(1)
    try:
        run(jobs[0])  # first in this thread: anything compiled is compiled once, single-threaded
        # each job in a copy of this context (the compile switch of _compile.ACTIVE)
        contexts = [contextvars.copy_context() for _ in jobs[1:]]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda c, job: c.run(run, job), contexts, jobs[1:]))
    finally:
        torch.set_num_threads(threads)


def _device(device):
    if isinstance(device, int) and not isinstance(device, bool):
        device = f"cuda:{device}"
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def _inputs(x1, x2):
    t1 = as_tensor(x1, "x1")
    if isinstance(x2, torch.Tensor) and x2.is_floating_point() and x2.dtype != t1.dtype:
        raise TypeError(
            f"x1 and x2 must have the same dtype, got {t1.dtype} and {x2.dtype}; cast explicitly"
        )
    if t1.dim() not in (2, 4):
        raise ValueError(f"x1 must be (N, d) or (N, C, H, W), got shape {tuple(t1.shape)}")
    if t1.shape[0] < 1:
        raise ValueError("x1 must hold at least one point")
    if x2 is None or x2 is x1 or x2 is t1:
        return t1, t1, True  # a set with itself: the upper triangle only
    t2 = as_tensor(x2, "x2", dtype=t1.dtype, device=t1.device)
    if t2.shape[1:] != t1.shape[1:] or t2.shape[0] < 1:
        raise ValueError(
            f"x2 must have the per-point shape of x1, {tuple(t1.shape[1:])}, "
            f"got shape {tuple(t2.shape)}"
        )
    return t1, t2, False


def _input_tile(a: torch.Tensor, b: torch.Tensor, diag: bool, full: bool) -> _Tile:
    """``Sigma_0 = x.x'/d`` (vectors) or ``sum_c x_cp x'_cp' / C`` per pixel pair (images)."""
    channels = a.shape[1]
    if a.dim() == 2:
        s1, c = (a * a).sum(1), a @ b.T
        s2 = s1 if diag else (b * b).sum(1)
    elif full:
        s1, c = torch.einsum("icab,icde->iabde", a, a), torch.einsum("icab,jcde->ijabde", a, b)
        s2 = s1 if diag else torch.einsum("icab,icde->iabde", b, b)
    else:
        s1, c = (a * a).sum(1), torch.einsum("icab,jcab->ijab", a, b)
        s2 = s1 if diag else (b * b).sum(1)

    def pair(s, lead):  # Theta_0 = 0: a broadcast zero, no memory
        # contiguous: einsum may return permuted strides, which slow every later pass
        s = (s / channels).contiguous()
        return _Pair(s, s.new_zeros(()).expand(s.shape), lead, ntk_zero=True)

    p1 = pair(s1, 1)
    return _Tile(p1, p1 if diag else pair(s2, 1), pair(c, 2))

"""Infinite-width kernels of any architecture, and the matching finite networks.

One description of an architecture gives its NNGP and NTK in the infinite-width limit
(:meth:`Layer.kernels`) and a finite ``torch.nn.Module`` in NTK parameterization whose kernels
converge to them as the width grows (:meth:`Layer.network`)::

    from ntklab import layers as L
    arch = L.serial(L.Conv(kernel_size=3, padding="same", W_std=1.5, b_std=0.1), L.ReLU(),
                    L.GlobalAvgPool(), L.Dense(W_std=1.5, b_std=0.1))
    k = arch.kernels(x1)                         # k.nngp, k.ntk: (N1, N2)
    net = arch.network(in_shape=(1, 8, 8), width=512, seed=0)

Conventions are neural-tangents' (``stax``), so the numbers agree with it to rounding:

* inputs are vectors (N, d) or images (N, C, H, W) (PyTorch's layout; NHWC in neural-tangents);
  they enter as ``Sigma_0(x, x') = x.x' / d`` for vectors and, per pixel pair ``(p, p')``,
  ``Sigma_0 = sum_c x_{c p} x'_{c p'} / C`` for images; ``Theta_0 = 0``;
* :class:`Dense` and :class:`Conv` (NTK parameterization, weights ``N(0, W_std^2 / fan_in)``)
  map ``(Sigma, Theta)`` to ``Sigma' = W_std^2 A(Sigma) + b_std^2`` and
  ``Theta' = Sigma' + W_std^2 A(Theta)``, where ``A`` is the identity for Dense and, for Conv,
  the average of the pixel-pair covariance over the filter window,
  ``A(S)[p, p'] = mean_d S[s p + d, s p' + d]`` (out-of-image pixels count as zero for
  ``"same"``, wrap around for ``"circular"``);
* an activation maps ``Sigma`` to ``E[phi(u) phi(v)]`` and ``Theta`` to
  ``Theta E[phi'(u) phi'(v)]``, ``(u, v)`` centred Gaussian with the covariance of the pair;
* :class:`AvgPool` averages over both windows, ``mean_{d, d'} S[s p + d, s p' + d']`` (no
  weights, nothing added); :class:`GlobalAvgPool` averages over all pixel pairs;
  :class:`Flatten` takes the mean over the pixel diagonal ``mean_p S[p, p]``;
* :class:`LayerNorm` (over channels) divides by ``sqrt((eps + Var u)(eps + Var v))``;
* :func:`FanOut`, :func:`parallel` and :class:`FanInSum` build residual blocks (kernels of
  summed branches add).

Memory.  Before a pooling layer the kernel of a pair of images is a covariance over pixel
pairs, ``P^2`` numbers for ``P`` pixels; architectures without pooling keep only its pixel
diagonal (``P`` numbers), as neural-tangents does.  The Gram matrix is computed in tiles of
pairs (about ``2^21`` numbers per tile tensor by default), so peak memory is the outputs plus a
few tiles.  Measured on one CPU core (float64): a two-convolution CNN with global average
pooling on 8 x 8 images costs about 0.3 ms and 0.13 MB of tile memory per pair (500 images:
125,000 pairs by symmetry, about 40 s; 1,797 images about 8 min), see
``benchmarks/bench_layers.py``.

Kernels are differentiable with respect to the inputs (no in-place operation touches a tensor
that requires grad) and keep the caller's dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._activations import resolve_activation
from .validation import (
    as_tensor,
    check_choice,
    check_nonnegative,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = [
    "Activation",
    "AvgPool",
    "Conv",
    "Dense",
    "Erf",
    "FanInSum",
    "FanOut",
    "Flatten",
    "GlobalAvgPool",
    "Identity",
    "Kernels",
    "Layer",
    "LayerNorm",
    "ReLU",
    "parallel",
    "serial",
]

PADDINGS = ("same", "valid", "circular")
_TILE_ENTRIES = 2**21  # numbers in one tile tensor (16 MiB in float64)
_VECTOR_TILE_ENTRIES = 2**16  # an MLP tile (fits in cache)
_GH_ENTRIES = 2**20  # pair x node x node evaluations per Gauss-Hermite chunk


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
        return p.nngp.reshape(n, h * w, h * w).diagonal(dim1=1, dim2=2).reshape(n, h, w)
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
    additions instead of ``k_h k_w``).
    """
    if circular:
        for group in groups:
            for dim, pad in zip(group, pads, strict=True):
                t = _pad_axis(t, dim, *pad, True)
    elif any(any(pad) for pad in pads):
        # one zero-padding copy for all dimensions (F.pad lists them from the last one back)
        spec = [0] * (2 * (t.dim() - min(min(g) for g in groups)))
        for group in groups:
            for dim, (before, after) in zip(group, pads, strict=True):
                back = t.dim() - 1 - dim
                spec[2 * back], spec[2 * back + 1] = before, after
        t = F.pad(t, spec)
    for axis in (0, 1):
        dims = [group[axis] for group in groups]
        step, total = stride[axis], None
        for off in range(k[axis]):
            index = [slice(None)] * t.dim()
            for dim in dims:
                index[dim] = slice(off, off + step * (out[axis] - 1) + 1, step)
            piece = t[tuple(index)]
            total = piece if total is None else total + piece
        t = total / k[axis]
    return t


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

    def kernels(self, x1: Any, x2: Any = None, *, batch_size: int | None = None) -> Kernels:
        """Infinite-width NNGP and NTK of the architecture between ``x1`` and ``x2``.

        Parameters
        ----------
        x1 : tensor or array, (N1, d) or (N1, C, H, W)
            Inputs; numpy arrays become float64 on the CPU, tensors keep dtype and device.
        x2 : tensor or array, (N2, ...) or None
            Second inputs; ``None`` means ``x1`` (exactly symmetric result, computed on the
            upper triangle of tiles only).
        batch_size : int, optional
            Points of ``x1`` (and of ``x2``) per tile; by default tiles of about ``2^21``
            numbers per kernel tensor (``P^2`` per pair before pooling, ``P`` without).

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
        full = self._contains_pool()
        pixels = math.prod(x1.shape[2:]) if x1.dim() == 4 else 1
        per_pair = pixels * pixels if full else pixels
        if batch_size is None:
            # vectors: cache-sized tiles; images: large tiles amortize the per-layer overhead
            entries = _TILE_ENTRIES if per_pair > 1 else _VECTOR_TILE_ENTRIES
            batch_size = max(1, math.isqrt(max(1, entries // per_pair)))
        n1, n2 = x1.shape[0], x2.shape[0]
        nngp = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
        ntk = torch.empty_like(nngp)
        for i0 in range(0, n1, batch_size):
            i1 = min(n1, i0 + batch_size)
            for j0 in range(i0 if same else 0, n2, batch_size):
                j1 = min(n2, j0 + batch_size)
                diag = same and i0 == j0
                tile = _input_tile(x1[i0:i1], x2[j0:j1], diag, full)
                tile = self._apply(tile, full)
                a, b = tile.c.nngp, tile.c.ntk
                if diag:
                    # the points with themselves: the exact self-kernel on the diagonal
                    eye = torch.eye(i1 - i0, dtype=torch.bool, device=a.device)
                    a = torch.where(eye, torch.diag_embed(tile.s1.nngp), (a + a.T) / 2)
                    b = torch.where(eye, torch.diag_embed(tile.s1.ntk), (b + b.T) / 2)
                nngp[i0:i1, j0:j1], ntk[i0:i1, j0:j1] = a, b
                if same and not diag:
                    nngp[j0:j1, i0:i1], ntk[j0:j1, i0:i1] = a.T, b.T
        return Kernels(nngp=nngp, ntk=ntk)

    def _contains_pool(self) -> bool:
        return self._pools

    def network(
        self,
        in_shape: Any,
        width: int,
        *,
        out_features: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ) -> nn.Module:
        """A finite network of the architecture in NTK parameterization.

        Every Dense and Conv has ``width`` output units (channels), except the last Dense or
        Conv of the outermost :func:`serial`, which has ``out_features``.  Weights and biases
        are drawn ``N(0, 1)`` and scaled in the forward pass: a layer computes
        ``W_std / sqrt(fan_in) W x + b_std b`` (``fan_in = C k_h k_w`` for Conv), so its
        kernels converge to :meth:`kernels` as ``width`` grows (error about ``width^-1/2``).

        Parameters
        ----------
        in_shape : tuple of int
            Shape of one input: ``(d,)`` or ``(C, H, W)``.
        width : int
            Hidden width (units or channels).
        out_features : int
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
            Maps (N, *in_shape) to (N, out) (or (N, width) if no readout layer ends the
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
        out_features = check_positive_int(out_features, "out_features")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        dev = _device(device)
        self._shape(in_shape, "in_shape")
        gen = make_generator(seed, generator)
        module, _ = self._module(in_shape, width, out_features, gen, dtype)
        return module.to(dev)


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
    if x2 is None:
        return t1, t1, True
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
    p1 = _Pair(s1 / channels, torch.zeros_like(s1), 1)
    p2 = p1 if diag else _Pair(s2 / channels, torch.zeros_like(s2), 1)
    return _Tile(p1, p2, _Pair(c / channels, torch.zeros_like(c), 2))


class _Weighted(Layer):
    def __init__(self, W_std, b_std):
        self.W_std = check_nonnegative(W_std, "W_std")
        self.b_std = check_nonnegative(b_std, "b_std")

    def _affine(self, p: _Pair, average) -> _Pair:
        w2, b2 = self.W_std**2, self.b_std**2
        nngp = w2 * average(p.nngp) + b2
        return _Pair(nngp, nngp + w2 * average(p.ntk), p.lead)


class Dense(_Weighted):
    """Fully connected layer in NTK parameterization (neural-tangents' ``stax.Dense``).

    Kernel map: ``Sigma' = W_std^2 Sigma + b_std^2``, ``Theta' = Sigma' + W_std^2 Theta``.
    Network: ``W_std / sqrt(d_in) W x + b_std b`` with ``W, b`` standard normal.

    Parameters
    ----------
    W_std, b_std : float
        Weight and bias standard deviations (>= 0).

    Raises
    ------
    TypeError, ValueError
        Non-numeric or negative standard deviations; at use, image inputs (add
        :class:`Flatten` or a pooling layer first).

    Examples
    --------
    >>> from ntklab import layers as L
    >>> k = L.Dense(W_std=2.0, b_std=1.0).kernels([[1.0, 1.0]])
    >>> print(float(k.nngp[0, 0]), float(k.ntk[0, 0]))
    5.0 5.0
    """

    def __init__(self, W_std: float = 1.0, b_std: float = 0.0):
        super().__init__(W_std, b_std)

    def _shape(self, shape, arg):
        _need(shape, 1, "Dense", arg, " (add Flatten or a pooling layer before Dense)")
        return shape

    def _apply(self, tile, full):
        return tile.map(lambda p: self._affine(p, lambda t: t))

    def _module(self, shape, width, out, gen, dtype):
        return _DenseModule(shape[0], out, self.W_std, self.b_std, gen, dtype), (out,)


class Conv(_Weighted):
    """2-D convolution in NTK parameterization (neural-tangents' ``stax.Conv``).

    Kernel map: ``Sigma'[p, p'] = W_std^2 mean_d Sigma[s p + d, s p' + d] + b_std^2`` and
    ``Theta' = Sigma' + W_std^2 mean_d Theta[s p + d, s p' + d]``, the mean over the
    ``k_h k_w`` offsets ``d`` of the filter window (Arora et al. 2019, Novak et al. 2019).
    Network: ``conv2d(x, W_std / sqrt(C k_h k_w) W) + b_std b``.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Filter size.
    stride : int or (int, int)
        Stride (default 1).
    padding : {"same", "valid", "circular"}
        ``"same"`` pads with zeros (TensorFlow's split: the extra pixel after), output
        ``ceil(H / stride)``; ``"circular"`` pads periodically; ``"valid"`` does not pad.
    W_std, b_std : float
        Weight and bias standard deviations (>= 0).

    Raises
    ------
    TypeError, ValueError
        Bad sizes, unknown padding, negative standard deviations; at use, vector inputs or a
        kernel larger than the image with ``"valid"``.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.Conv(kernel_size=3, padding="same"), L.Flatten())
    >>> k = arch.kernels(torch.ones(2, 1, 4, 4, dtype=torch.float64))
    >>> print(round(float(k.ntk[0, 1]), 6))  # zero padding: edge pixels see fewer ones
    0.694444
    """

    def __init__(self, kernel_size=3, stride=1, padding: str = "same", W_std=1.0, b_std=0.0):
        self.kernel_size = _pair2(kernel_size, "kernel_size")
        self.stride = _pair2(stride, "stride")
        self.padding = check_choice(padding, "padding", PADDINGS)
        super().__init__(W_std, b_std)

    def _geometry(self, shape, arg):
        _need(shape, 3, "Conv", arg)
        geo = [
            _windows(s, k, st, self.padding, "Conv", arg)
            for s, k, st in zip(shape[1:], self.kernel_size, self.stride, strict=True)
        ]
        return tuple(g[0] for g in geo), tuple(g[1:] for g in geo)

    def _shape(self, shape, arg):
        out, _ = self._geometry(shape, arg)
        return (shape[0], *out)

    def _apply(self, tile, full):
        size = tile.c.nngp.shape[2:4]
        out, pads = self._geometry((1, *size), "x1")
        circular = self.padding == "circular"

        def average(t):
            lead = t.dim() - (4 if full else 2)
            groups = [(lead, lead + 1), (lead + 2, lead + 3)] if full else [(lead, lead + 1)]
            return _window_average(t, groups, self.kernel_size, self.stride, out, pads, circular)

        return tile.map(lambda p: self._affine(p, average))

    def _module(self, shape, width, out, gen, dtype):
        size, pads = self._geometry(shape, "in_shape")
        module = _ConvModule(
            shape[0],
            out,
            self.kernel_size,
            self.stride,
            pads,
            self.padding,
            self.W_std,
            self.b_std,
            gen,
            dtype,
        )
        return module, (out, *size)


class AvgPool(Layer):
    """Average pooling (neural-tangents' ``stax.AvgPool``, ``normalize_edges=False``).

    Kernel map: ``S'[p, p'] = mean_{d, d'} S[s p + d, s p' + d']`` over both windows.  As in
    neural-tangents the stride defaults to 1 (not to ``kernel_size`` as in torch) and padded
    pixels count in the mean.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window size.
    stride : int or (int, int), optional
        Stride (default 1).
    padding : {"valid", "same", "circular"}
        As for :class:`Conv` (default ``"valid"``).

    Raises
    ------
    TypeError, ValueError
        Bad sizes or padding; at use, vector inputs or a window larger than the image.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> k = L.serial(L.AvgPool(2, stride=2), L.Flatten()).kernels(torch.ones(1, 1, 4, 4))
    >>> print(float(k.nngp[0, 0]))
    1.0
    """

    _pools = True

    def __init__(self, kernel_size=2, stride=None, padding: str = "valid"):
        self.kernel_size = _pair2(kernel_size, "kernel_size")
        self.stride = _pair2(1 if stride is None else stride, "stride")
        self.padding = check_choice(padding, "padding", PADDINGS)

    _geometry = Conv._geometry

    def _shape(self, shape, arg):
        _need(shape, 3, "AvgPool", arg)
        out, _ = self._geometry(shape, arg)
        return (shape[0], *out)

    def _apply(self, tile, full):
        out, pads = self._geometry((1, *tile.c.nngp.shape[2:4]), "x1")
        circular = self.padding == "circular"

        def average(t):
            lead = t.dim() - 4
            for group in ((lead, lead + 1), (lead + 2, lead + 3)):  # each image independently
                t = _window_average(t, [group], self.kernel_size, self.stride, out, pads, circular)
            return t

        return tile.map(lambda p: p.map(average))

    def _module(self, shape, width, out, gen, dtype):
        size, pads = self._geometry(shape, "in_shape")
        module = _PoolModule(self.kernel_size, self.stride, pads, self.padding)
        return module, (shape[0], *size)


class GlobalAvgPool(Layer):
    """Global average pooling over all pixels: the kernel's mean over all pixel pairs.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> k = L.GlobalAvgPool().kernels(torch.ones(1, 2, 3, 3))
    >>> print(float(k.nngp[0, 0]))
    1.0
    """

    _pools = True

    def _shape(self, shape, arg):
        _need(shape, 3, "GlobalAvgPool", arg)
        return (shape[0],)

    def _apply(self, tile, full):
        return tile.map(lambda p: p.map(lambda t: t.mean(dim=(-4, -3, -2, -1))))

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda x: x.mean(dim=(2, 3))), (shape[0],)


class Flatten(Layer):
    """Flatten images to vectors: the kernel's mean over the pixel diagonal, ``mean_p S[p, p]``.

    On vector inputs it does nothing.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> x = torch.zeros(1, 1, 2, 2); x[0, 0, 0, 0] = 2.0
    >>> print(float(L.Flatten().kernels(x).nngp[0, 0]))
    1.0
    """

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            _need(shape, 1, "Flatten", arg)
        return (math.prod(shape),)

    def _apply(self, tile, full):
        rank = tile.c.rank  # every tensor of a tile has the same spatial rank

        def flat(t):
            if rank == 4:
                h, w = t.shape[-2:]
                return t.reshape(*t.shape[:-4], h * w, h * w).diagonal(dim1=-2, dim2=-1).mean(-1)
            return t.mean(dim=(-2, -1)) if rank == 2 else t

        return tile.map(lambda p: p.map(flat))

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda x: x.reshape(x.shape[0], -1)), (math.prod(shape),)


class LayerNorm(Layer):
    """Layer normalization over channels (features), neural-tangents' ``stax.LayerNorm()``.

    Kernel map: ``S[p, p'] / sqrt((eps + Var_p)(eps + Var'_p'))`` for both NNGP and NTK.
    Network: ``(x - mean_c x) / sqrt(eps + var_c x)`` at each pixel.

    Parameters
    ----------
    eps : float
        Added to the variances (default 1e-12, as neural-tangents).

    Examples
    --------
    >>> from ntklab import layers as L
    >>> print(round(float(L.LayerNorm().kernels([[3.0, 4.0]]).nngp[0, 0]), 6))
    1.0
    """

    def __init__(self, eps: float = 1e-12):
        self.eps = check_nonnegative(eps, "eps")

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            _need(shape, 1, "LayerNorm", arg)
        return shape

    def _apply(self, tile, full):
        v1, v2 = _variance(tile.s1), _variance(tile.s2)

        def norm(p: _Pair, va, vb) -> _Pair:
            scale = torch.rsqrt((self.eps + va) * (self.eps + vb))
            return _Pair(p.nngp * scale, p.ntk * scale, p.lead)

        def own(p: _Pair, v) -> _Pair:
            if p.rank == 4:
                return norm(p, *_broadcast(v, v, 1, 4))
            return norm(p, v, v)

        s1 = own(tile.s1, v1)
        s2 = s1 if tile.s2 is tile.s1 else own(tile.s2, v2)
        return _Tile(s1, s2, norm(tile.c, *_broadcast(v1, v2, 2, tile.c.rank)))

    def _module(self, shape, width, out, gen, dtype):
        return _NormModule(self.eps), shape


# --- activations ------------------------------------------------------------------------------


class _Elementwise(Layer):
    """An activation: ``(Sigma, Theta) -> (E[phi(u) phi(v)], Theta E[phi'(u) phi'(v)])``.

    Subclasses give ``_pair(c, va, vb)`` (the two expectations for covariance ``c`` and
    variances ``va, vb``) and ``_diag(v)`` (the same for ``u = v``, exact).
    """

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            raise ValueError(f"{type(self).__name__} acts on one branch; {arg} gives several")
        return shape

    def _apply(self, tile, full):
        v1, v2 = _variance(tile.s1), _variance(tile.s2)

        def own(p: _Pair, v) -> _Pair:
            if p.rank != 4:
                e, ed = self._diag(v)
                return _Pair(e, p.ntk * ed, 1)
            e, ed = self._pair(p.nngp, *_broadcast(v, v, 1, 4))
            de, ded = self._diag(v)
            eye = _pixel_eye(*v.shape[1:], v.device)
            e = torch.where(eye, de[..., None, None], e)
            ed = torch.where(eye, ded[..., None, None], ed)
            return _Pair(e, p.ntk * ed, 1)

        s1 = own(tile.s1, v1)
        s2 = s1 if tile.s2 is tile.s1 else own(tile.s2, v2)
        e, ed = self._pair(tile.c.nngp, *_broadcast(v1, v2, 2, tile.c.rank))
        return _Tile(s1, s2, _Pair(e, tile.c.ntk * ed, 2))

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(self._phi), shape


class ReLU(_Elementwise):
    """ReLU, by the arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009).

    ``E[relu(u) relu(v)] = s s' (sin t + (pi - t) cos t) / (2 pi)`` and
    ``E[step(u) step(v)] = (pi - t) / (2 pi)``, ``t`` the angle of the pair; the cosine is
    clamped to [-1, 1] and snapped to +-1 within 8 ulps (so a point against itself or a copy
    gets ``t = 0`` exactly), and a zero variance gives 0 (not NaN).  Other pairs at a tiny
    angle ``t`` get it to about ``eps / t`` (the cosine is all the engine has after a
    convolution), so ``E[step step]`` is accurate to about ``1e-9`` for ``t`` near ``1e-7``;
    :func:`ntklab.analytic.mlp_kernels` recomputes such angles from the input vectors.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> k = L.serial(L.Dense(), L.ReLU()).kernels([[1.0, 0.0], [0.0, 1.0]])
    >>> print(round(float(k.nngp[0, 1]), 6), float(k.nngp[0, 0]))
    0.079577 0.25
    """

    _phi = staticmethod(torch.relu)

    @staticmethod
    def _pair(c, va, vb):
        s = _safe_sqrt(va * vb)
        cos = (c / torch.where(s > 0, s, 1)).clamp(-1, 1)
        # within a few ulps of +-1 the cosine is rounding noise (a point against a copy of
        # itself): snap it, which makes the angle exact there and is no worse elsewhere
        snap = 8 * torch.finfo(cos.dtype).eps
        cos = torch.where(cos.abs() > 1 - snap, cos.sign(), cos)
        sin = torch.where(s > 0, _safe_sqrt(1 - cos * cos), 0)
        theta = torch.atan2(sin, cos)
        return s * (sin + (math.pi - theta) * cos) / (2 * math.pi), (math.pi - theta) / (
            2 * math.pi
        )

    @staticmethod
    def _diag(v):
        return v / 2, torch.full_like(v, 0.5)


class Erf(_Elementwise):
    """``erf``, in closed form (Williams 1997): ``E = (2/pi) asin(2c / sqrt((1+2q)(1+2q')))``.

    ``E[erf'(u) erf'(v)] = (4/pi) / sqrt((1+2q)(1+2q') - 4c^2)``.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> print(round(float(L.Erf().kernels([[1.0]]).nngp[0, 0]), 6))
    0.464559
    """

    _phi = staticmethod(torch.erf)

    @staticmethod
    def _pair(c, va, vb):
        prod = (1 + 2 * va) * (1 + 2 * vb)
        e = (2 / math.pi) * torch.asin((2 * c * torch.rsqrt(prod)).clamp(-1, 1))
        return e, (4 / math.pi) * torch.rsqrt(prod - 4 * c * c)

    @staticmethod
    def _diag(v):
        return (2 / math.pi) * torch.asin(2 * v / (1 + 2 * v)), (4 / math.pi) * torch.rsqrt(
            1 + 4 * v
        )


class Identity(_Elementwise):
    """The identity (no-op): kernels pass unchanged (``E[phi' phi'] = 1``).

    Examples
    --------
    >>> from ntklab import layers as L
    >>> print(float(L.Identity().kernels([[2.0]]).nngp[0, 0]))
    4.0
    """

    @staticmethod
    def _phi(x):
        return x

    @staticmethod
    def _pair(c, va, vb):
        return c, torch.ones_like(c)

    @staticmethod
    def _diag(v):
        return v, torch.ones_like(v)


class Activation(_Elementwise):
    """Any elementwise activation, by Gauss-Hermite quadrature in both Gaussian variables.

    ``E[f(u) f(v)]`` with ``u = s z1``, ``v = s' (rho z1 + sqrt(1 - rho^2) z2)`` by a
    ``quadrature_order``-point rule in each of ``z1, z2`` (exact for polynomials of degree
    below ``quadrature_order``); the diagonal by a one-dimensional rule.  The cost is
    ``quadrature_order^2`` evaluations per pair (and pixel pair).  Use :class:`ReLU`,
    :class:`Erf` or :class:`Identity` where a closed form exists.

    Parameters
    ----------
    fn : callable or str
        Elementwise function of a tensor, or one of ntklab's activation names.
    derivative : callable, optional
        ``fn'``; by default autograd (the kernel is then not differentiable through it).
    quadrature_order : int
        Nodes per variable (default 64).

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> k = L.Activation(torch.erf).kernels([[1.0]])
    >>> print(round(float(k.nngp[0, 0]), 6))
    0.464559
    """

    def __init__(self, fn, derivative=None, quadrature_order: int = 64):
        self._act = resolve_activation(fn, "fn", derivative)
        self.fn = self._act.name
        self.quadrature_order = check_positive_int(quadrature_order, "quadrature_order")

    def _phi(self, x):
        return self._act.phi(x)

    def _nodes(self, like: torch.Tensor):
        z, w = np.polynomial.hermite_e.hermegauss(self.quadrature_order)
        w = w / math.sqrt(2 * math.pi)
        return like.new_tensor(z), like.new_tensor(w)

    def _pair(self, c, va, vb):
        z, w = self._nodes(c)
        c, va, vb = torch.broadcast_tensors(c, va, vb)
        shape, c, va, vb = c.shape, c.reshape(-1), va.reshape(-1), vb.reshape(-1)
        chunk = max(1, _GH_ENTRIES // self.quadrature_order**2)
        parts = ([], [])
        for k0 in range(0, c.numel(), chunk):
            cc = c[k0 : k0 + chunk]
            sa, sb = _safe_sqrt(va[k0 : k0 + chunk]), _safe_sqrt(vb[k0 : k0 + chunk])
            den = sa * sb
            rho = torch.where(den > 0, cc / torch.where(den > 0, den, 1), 0).clamp(-1, 1)
            r = _safe_sqrt(1 - rho * rho)
            a = sa[:, None] * z  # (P, K)
            b = sb[:, None, None] * (rho[:, None, None] * z[:, None] + r[:, None, None] * z)
            for fn, out in zip((self._act.phi, self._act.dphi), parts, strict=True):
                inner = (fn(b) * w).sum(-1)  # over z2: (P, K)
                out.append((fn(a) * inner * w).sum(-1))
        return torch.cat(parts[0]).reshape(shape), torch.cat(parts[1]).reshape(shape)

    def _diag(self, v):
        z, w = self._nodes(v)
        u = _safe_sqrt(v)[..., None] * z
        return (self._act.phi(u) ** 2 * w).sum(-1), (self._act.dphi(u) ** 2 * w).sum(-1)


# --- combinators ------------------------------------------------------------------------------


class _Serial(Layer):
    def __init__(self, layers):
        self.layers = tuple(layers)

    def _contains_pool(self):
        return any(layer._contains_pool() for layer in self.layers)

    def _shape(self, shape, arg):
        for layer in self.layers:
            shape = layer._shape(shape, arg)
        return shape

    def _apply(self, tile, full):
        for layer in self.layers:
            tile = layer._apply(tile, full)
        return tile

    def _module(self, shape, width, out, gen, dtype):
        weighted = [i for i, layer in enumerate(self.layers) if isinstance(layer, _Weighted)]
        last = weighted[-1] if weighted else -1
        modules = []
        for i, layer in enumerate(self.layers):
            module, shape = layer._module(shape, width, out if i == last else width, gen, dtype)
            modules.append(module)
        return _SerialModule(*modules), shape


def serial(*layers: Layer) -> Layer:
    """Compose layers, first applied first (neural-tangents' ``stax.serial``).

    Parameters
    ----------
    *layers : Layer
        At least one layer.

    Returns
    -------
    Layer
        The composition, with ``kernels`` and ``network``.

    Raises
    ------
    TypeError
        An argument that is not a layer.
    ValueError
        No layers.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.Dense(), L.Erf(), L.Dense())
    >>> print(round(float(arch.kernels([[1.0]]).ntk[0, 0]), 6))
    1.033969
    """
    return _Serial(_check_layers(layers, "layers"))


def _check_layers(layers, name):
    if not layers:
        raise ValueError(f"{name}: give at least one layer")
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"{name} must be ntklab.layers layers, got {type(layer).__name__}")
    return layers


class FanOut(Layer):
    """Copy the input into ``n`` branches (for :func:`parallel`, then :class:`FanInSum`).

    Examples
    --------
    >>> from ntklab import layers as L
    >>> block = L.serial(L.FanOut(2), L.parallel(L.Dense(), L.Identity()), L.FanInSum())
    >>> print(float(block.kernels([[1.0]]).nngp[0, 0]))
    2.0
    """

    def __init__(self, n: int):
        self.n = check_positive_int(n, "n")

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            raise ValueError(f"FanOut needs one branch; {arg} gives several")
        return [shape] * self.n

    def _apply(self, tile, full):
        return [tile] * self.n

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda x: [x] * self.n), [shape] * self.n


class _Parallel(Layer):
    def __init__(self, branches):
        self.branches = tuple(branches)

    def _contains_pool(self):
        return any(b._contains_pool() for b in self.branches)

    def _shape(self, shape, arg):
        if not isinstance(shape, list) or len(shape) != len(self.branches):
            raise ValueError(
                f"parallel with {len(self.branches)} branches needs as many inputs (use "
                f"FanOut({len(self.branches)}) before it); {arg} gives it {_describe(shape)}"
            )
        return [b._shape(s, arg) for b, s in zip(self.branches, shape, strict=True)]

    def _apply(self, tile, full):
        return [b._apply(t, full) for b, t in zip(self.branches, tile, strict=True)]

    def _module(self, shape, width, out, gen, dtype):
        branches = zip(self.branches, shape, strict=True)
        pairs = [b._module(s, width, width, gen, dtype) for b, s in branches]
        return _ParallelModule([m for m, _ in pairs]), [s for _, s in pairs]


def parallel(*branches: Layer) -> Layer:
    """Apply branch ``i`` to input ``i`` of a list of branches (neural-tangents' ``parallel``).

    Parameters
    ----------
    *branches : Layer
        One layer (or :func:`serial`) per branch.

    Returns
    -------
    Layer

    Raises
    ------
    TypeError, ValueError
        Arguments that are not layers, none at all; at use, an input that is not a list of
        as many branches.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.FanOut(2), L.parallel(L.serial(L.Dense(), L.ReLU()), L.Identity()),
    ...                 L.FanInSum())
    >>> print(float(arch.kernels([[2.0]]).nngp[0, 0]))
    6.0
    """
    return _Parallel(_check_layers(branches, "branches"))


class FanInSum(Layer):
    """Sum the branches: their kernels add.

    As in neural-tangents this assumes the branches independent, which holds in the
    infinite-width limit when every branch but one has a Dense or Conv of its own (a
    residual block ``parallel(serial(..., Conv), Identity())``); two branches computing the
    same thing would really be correlated, and their summed kernel is then not the network's.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.FanOut(2), L.parallel(L.Dense(), L.Dense()), L.FanInSum())
    >>> print(float(arch.kernels([[1.0]]).nngp[0, 0]))
    2.0
    """

    def _shape(self, shape, arg):
        if not isinstance(shape, list):
            raise ValueError(f"FanInSum needs several branches (after FanOut); {arg} gives one")
        if any(s != shape[0] for s in shape):
            raise ValueError(f"FanInSum needs branches of one shape, got {shape} ({arg})")
        return shape[0]

    def _apply(self, tiles, full):
        def add(*pairs):
            return _Pair(sum(p.nngp for p in pairs), sum(p.ntk for p in pairs), pairs[0].lead)

        s1 = add(*(t.s1 for t in tiles))
        same = all(t.s2 is t.s1 for t in tiles)
        return _Tile(s1, s1 if same else add(*(t.s2 for t in tiles)), add(*(t.c for t in tiles)))

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda xs: sum(xs)), shape[0]


# ---------------------------------------------------------------------------------------------
# Finite networks (NTK parameterization; parameters drawn N(0, 1) on the CPU)
# ---------------------------------------------------------------------------------------------


class _Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _DenseModule(nn.Module):
    def __init__(self, fan_in, fan_out, w_std, b_std, gen, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, generator=gen, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(fan_out, generator=gen, dtype=dtype))
        self.scale, self.b_std = w_std / math.sqrt(fan_in), b_std

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias * self.b_std)


class _ConvModule(nn.Module):
    def __init__(self, c_in, c_out, k, stride, pads, padding, w_std, b_std, gen, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, *k, generator=gen, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(c_out, generator=gen, dtype=dtype))
        self.scale, self.b_std = w_std / math.sqrt(c_in * k[0] * k[1]), b_std
        self.pad = _TorchPad(pads, padding)
        self.stride = stride

    def forward(self, x):
        return F.conv2d(self.pad(x), self.weight * self.scale, self.bias * self.b_std, self.stride)


class _TorchPad(nn.Module):
    def __init__(self, pads, padding):
        super().__init__()
        (hb, ha), (wb, wa) = pads
        self.pads, self.mode = (wb, wa, hb, ha), padding

    def forward(self, x):
        if not any(self.pads):
            return x
        if self.mode == "circular":
            for dim, (before, after) in ((2, self.pads[2:]), (3, self.pads[:2])):
                x = _pad_axis(x, dim, before, after, True)
            return x
        return F.pad(x, self.pads)


class _PoolModule(nn.Module):
    def __init__(self, k, stride, pads, padding):
        super().__init__()
        self.pad, self.k, self.stride = _TorchPad(pads, padding), k, stride

    def forward(self, x):
        return F.avg_pool2d(self.pad(x), self.k, self.stride)


class _NormModule(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(self.eps + var)


class _SerialModule(nn.Sequential):
    pass


class _ParallelModule(nn.ModuleList):
    def forward(self, xs):
        return [m(x) for m, x in zip(self, xs, strict=True)]

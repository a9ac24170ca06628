"""Layers with weights (Dense, Conv) and the spatial reductions (pooling, Flatten, LayerNorm)."""

from __future__ import annotations

import math

import torch

from ..validation import check_choice, check_nonnegative
from ._engine import (
    PADDINGS,
    Layer,
    _broadcast,
    _need,
    _Pair,
    _pair2,
    _Tile,
    _variance,
    _window_average,
    _windows,
)
from .modules import _ConvModule, _DenseModule, _Lambda, _NormModule, _PoolModule


def _std(value, name):
    """A standard deviation: a number (as a float) or a one-element tensor (kept, so that
    gradients reach it; checked for its dtype against the inputs when kernels are computed)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise TypeError(f"{name} must be a number or a one-element floating tensor")
        check_nonnegative(float(value.detach()), name)
        return value.reshape(())
    return check_nonnegative(value, name)


class _Weighted(Layer):
    def __init__(self, W_std, b_std):
        self.W_std = _std(W_std, "W_std")
        self.b_std = _std(b_std, "b_std")

    def _affine(self, p: _Pair, average) -> _Pair:
        w2, b2 = self.W_std**2, self.b_std**2
        nngp = w2 * average(p.nngp) + b2
        return _Pair(nngp, nngp if p.ntk_zero else nngp + w2 * average(p.ntk), p.lead)


class Dense(_Weighted):
    """Fully connected layer in NTK parameterization (neural-tangents' ``stax.Dense``).

    Kernel map: ``Sigma' = W_std^2 Sigma + b_std^2``, ``Theta' = Sigma' + W_std^2 Theta``.
    Network: ``W_std / sqrt(d_in) W x + b_std b`` with ``W, b`` standard normal.

    Parameters
    ----------
    W_std, b_std : float or 0-dim tensor
        Weight and bias standard deviations (>= 0); a tensor may require grad (kernels of
        a fully connected chain are then differentiable in it) and must have the inputs'
        dtype.

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
        geometry = (self.kernel_size, self.stride, out, pads, self.padding == "circular")
        w2, b2 = self.W_std**2, self.b_std**2

        def conv(p: _Pair) -> _Pair:
            lead = p.nngp.dim() - (4 if full else 2)
            groups = ((lead, lead + 1), (lead + 2, lead + 3)) if full else ((lead, lead + 1),)
            ntk = None if p.ntk_zero else p.ntk
            nngp, ntk = _conv_map(p.nngp, ntk, w2, b2, groups, *geometry)
            return _Pair(nngp, ntk, p.lead)

        return tile.map(conv)

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


def _conv_map(nngp, ntk, w2, b2, groups, k, stride, out, pads, circular):
    """Conv's kernel map on one pair's tensors.

    Eager: compiling it (shifted views of symbolic sizes) took minutes and gained little.

    ``ntk=None`` stands for a zero NTK (the input's): then ``Theta' = Sigma'``.
    """
    new = w2 * _window_average(nngp, groups, k, stride, out, pads, circular) + b2
    if ntk is None:
        return new, new
    return new, new + w2 * _window_average(ntk, groups, k, stride, out, pads, circular)


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

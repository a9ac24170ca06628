"""Activations: closed forms (ReLU, Erf, Identity) and Gauss-Hermite quadrature."""

from __future__ import annotations

import math

import torch

from .. import _quadrature
from .._activations import resolve_activation
from ..validation import check_positive_int
from . import _compile
from ._engine import (
    Layer,
    _broadcast,
    _Pair,
    _pixel_eye,
    _safe_sqrt,
    _Tile,
    _variance,
)
from .modules import _Lambda


class _Elementwise(Layer):
    """An activation: ``(Sigma, Theta) -> (E[phi(u) phi(v)], Theta E[phi'(u) phi'(v)])``.

    Subclasses give ``_pair(c, va, vb)`` (the two expectations for covariance ``c`` and
    variances ``va, vb``) and ``_diag(v)`` (the same for ``u = v``, exact).
    """

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            raise ValueError(f"{type(self).__name__} acts on one branch; {arg} gives several")
        return shape

    _compilable = True  # _pair is a function of tensors (for torch.compile)

    def _expectations(self, c, va, vb):
        if self._compilable and _compile.ACTIVE.get():
            return _compile.call(type(self)._pair, c, va, vb)
        if hasattr(self, "_pair_inplace") and not any(t.requires_grad for t in (c, va, vb)):
            return self._pair_inplace(c, va, vb)
        return self._pair(c, va, vb)

    def _apply(self, tile, full):
        v1, v2 = _variance(tile.s1), _variance(tile.s2)

        def own(p: _Pair, v) -> _Pair:
            if p.rank != 4:
                e, ed = self._diag(v)
                return _Pair(e, p.ntk * ed, 1)
            e, ed = self._expectations(p.nngp, *_broadcast(v, v, 1, 4))
            de, ded = self._diag(v)
            eye = _pixel_eye(*v.shape[1:], v.device)
            e = torch.where(eye, de[..., None, None], e)
            ed = torch.where(eye, ded[..., None, None], ed)
            return _Pair(e, p.ntk * ed, 1)

        s1 = own(tile.s1, v1)
        s2 = s1 if tile.s2 is tile.s1 else own(tile.s2, v2)
        e, ed = self._expectations(tile.c.nngp, *_broadcast(v1, v2, 2, tile.c.rank))
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
    fully connected chains on vectors (``serial(Dense, ReLU, ..., Dense)``, and so
    :func:`ntklab.analytic.mlp_kernels`) take the angles from the input vectors instead.

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
    def _pair_inplace(c, va, vb):
        """``_pair`` without autograd: in-place on its own temporaries (2x fewer passes).

        The same operations up to rounding, and the same angle where a variance is 0.
        """
        ra, rb = va.sqrt(), vb.sqrt()  # per pixel: cheap
        cos = c * torch.where(ra > 0, 1 / ra, 1)
        cos.mul_(torch.where(rb > 0, 1 / rb, 1)).clamp_(-1, 1)
        snap = 1 - 8 * torch.finfo(cos.dtype).eps
        cos.masked_fill_(cos > snap, 1).masked_fill_(cos < -snap, -1)
        sin = torch.mul(cos, cos).neg_().add_(1).clamp_(min=0).sqrt_()
        if not (bool(ra.all()) and bool(rb.all())):
            sin.masked_fill_((ra == 0) | (rb == 0), 0)
        pm = torch.atan2(sin, cos).neg_().add_(math.pi)  # pi - theta
        e = torch.addcmul(sin, pm, cos).mul_(ra).mul_(rb).mul_(1 / (2 * math.pi))
        return e, pm.mul_(1 / (2 * math.pi))

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
    """Any elementwise activation, by the quadrature of ``ntklab/_quadrature.py``.

    ``E[f(u) f(v)] = sum_k rho^k F_k(s) F_k(s')`` (Mehler's formula) with Hermite coefficients
    computed once per distinct variance, the series cut by a bound on its tail (relative
    ``1e-14`` in float64), and a direct two-dimensional rule for the pairs of correlation near
    1 it does not serve; the same implementation as :func:`ntklab.analytic.mlp_kernels`.  With
    an int ``quadrature_order``, a fixed ``quadrature_order``-point Gauss-Hermite rule in each
    of ``z1, z2`` instead (``u = s z1``, ``v = s' (rho z1 + sqrt(1 - rho^2) z2)``; exact for
    polynomials of degree below it, slow to converge where a sigmoid-like activation meets a
    large variance).  Use :class:`ReLU`, :class:`Erf` or :class:`Identity` where a closed form
    exists.

    Parameters
    ----------
    fn : callable or str
        Elementwise function of a tensor, or one of ntklab's activation names.
    derivative : callable, optional
        ``fn'``; by default autograd (the kernel is then not differentiable through it).
    quadrature_order : int, optional
        Nodes per variable of a fixed Gauss-Hermite rule; default ``None``: the quadrature with
        an error bound (above).

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> k = L.Activation(torch.erf).kernels([[1.0]])
    >>> print(round(float(k.nngp[0, 0]), 6))
    0.464559
    """

    _compilable = False  # chunked loops over quadrature nodes

    def __init__(self, fn, derivative=None, quadrature_order: int | None = None):
        self._act = resolve_activation(fn, "fn", derivative)
        self.fn = self._act.name
        if quadrature_order is not None:
            quadrature_order = check_positive_int(quadrature_order, "quadrature_order")
        self.quadrature_order = quadrature_order

    def _phi(self, x):
        return self._act.phi(x)

    def _pair(self, c, va, vb):
        if self.quadrature_order is None:
            return tuple(_quadrature.expectations((self._act.phi, self._act.dphi), c, va, vb))
        return tuple(
            _quadrature.gauss_hermite(
                (self._act.phi, self._act.dphi), c, va, vb, self.quadrature_order
            )
        )

    def _diag(self, v):
        if self.quadrature_order is None:
            return tuple(_quadrature.second_moments((self._act.phi, self._act.dphi), v))
        return tuple(
            _quadrature.gauss_hermite_second_moments(
                (self._act.phi, self._act.dphi), v, self.quadrature_order
            )
        )

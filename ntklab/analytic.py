"""Infinite-width (analytic) kernels.

Arc-cosine kernels of Cho & Saul (2009) in the normalization of Bietti & Mairal (2019):

* ``kappa0(u) = (pi - arccos u) / pi``                          (degree 0),
* ``kappa1(u) = (u (pi - arccos u) + sqrt(1 - u^2)) / pi``      (degree 1),
* ``kappa(u) = u kappa0(u) + kappa1(u)``  the two-layer ReLU NTK on the sphere.

For ``w ~ N(0, I)`` and unit vectors ``x, y`` with ``u = x.y``:
``E[1{w.x >= 0} 1{w.y >= 0}] = kappa0(u) / 2`` and ``E[relu(w.x) relu(w.y)] = kappa1(u) / 2``.

Shallow kernels of Petersen & Zech, chapter 11 (:func:`k_lecun`, :func:`k_ntk`), the Gram matrix
H-infinity of Du et al. (:func:`h_infinity`) and the deep NNGP and NTK recursions of a fully
connected network in neural-tangents' conventions (:func:`mlp_kernels`): the architecture
``serial(Dense, act, ..., Dense)`` of :mod:`ntklab.layers` (:func:`mlp_architecture`), computed
by its engine for fully connected chains (``ntklab/layers/_chain.py``, which also holds the
stable angles below and the compiled fast path).

Numerics.  ReLU kernels are functions of the angle between two (pre-activation) vectors, and
``arccos`` of a cosine near +-1 loses half the digits (``d arccos(u)/du`` is infinite at 1).
Angles of the inputs are therefore computed from the vectors, ``theta = 2 atan2(|a - b|, |a + b|)``
for unit ``a, b`` where the cosine exceeds 0.99 in absolute value, and the ReLU recursion carries
the angle from layer to layer (``theta_{l+1} = atan2(sqrt(q q' - c^2), c)`` with the determinant
``q q' - c^2`` written without cancellation), never passing through a cosine.  Kernels of a set
with itself are exactly symmetric with the exact diagonal (angle 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from . import layers as L
from ._activations import resolve_activation
from ._autograd import Ops as _Ops
from ._autograd import records_grad as _records_grad
from .layers import _chain
from .validation import (
    as_tensor,
    check_matrix,
    check_nonnegative_int,
    check_positive_int,
    check_same_dtype,
    check_scalar_parameter,
)

__all__ = [
    "MLPKernels",
    "h_infinity",
    "k_lecun",
    "k_ntk",
    "kappa",
    "kappa0",
    "kappa1",
    "mlp_architecture",
    "mlp_kernels",
]


def _cosines(u: Any) -> torch.Tensor:
    u = as_tensor(u, "u")
    # rounding can push a cosine of unit vectors slightly outside [-1, 1]
    tol = 1e-6 if u.dtype == torch.float32 else 1e-12
    if bool(((u.detach() < -1 - tol) | (u.detach() > 1 + tol)).any()):
        raise ValueError("u must lie in [-1, 1] (it is a cosine)")
    return u.clamp(-1.0, 1.0)


def kappa0(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 0, ``kappa0(u) = (pi - arccos u) / pi``, elementwise.

    Cho & Saul (2009) in Bietti & Mairal's (2019) normalization: for ``w ~ N(0, I)`` and unit
    vectors ``x, y`` with ``u = x.y``, ``E[1{w.x >= 0} 1{w.y >= 0}] = kappa0(u) / 2``.

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]`` (rounding errors up to 1e-12, 1e-6 in float32, are
        clamped).

    Returns
    -------
    torch.Tensor
        ``kappa0(u)``, the shape of ``u``.  Differentiable; the derivative
        ``1 / (pi sqrt(1 - u^2))`` is infinite at ``u = +-1`` (and autograd returns ``inf``).

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> kappa0(torch.tensor([-1.0, 0.0, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    u = _cosines(u)
    return (math.pi - torch.arccos(u)) / math.pi


def _kappa1_value(u: torch.Tensor) -> torch.Tensor:
    return (u * (math.pi - torch.arccos(u)) + torch.sqrt((1 - u * u).clamp_min(0))) / math.pi


class _Kappa1(torch.autograd.Function):
    """``kappa1`` with its derivative ``kappa0`` (the formula's two infinite terms cancel)."""

    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return _kappa1_value(u)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * (math.pi - torch.arccos(u)) / math.pi


def kappa1(u: Any) -> torch.Tensor:
    """Arc-cosine kernel of degree 1, ``kappa1(u) = (u (pi - arccos u) + sqrt(1 - u^2)) / pi``.

    For ``w ~ N(0, I)`` and unit ``x, y`` with ``u = x.y``: ``E[relu(w.x) relu(w.y)] =
    kappa1(u) / 2`` (Cho & Saul 2009, Bietti & Mairal's normalization).

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]``.

    Returns
    -------
    torch.Tensor
        ``kappa1(u)``, the shape of ``u``.  Differentiable everywhere on ``[-1, 1]`` with
        derivative ``kappa0(u)`` (finite also at ``u = +-1``).

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> [round(v, 6) for v in kappa1(torch.tensor([-1.0, 0.0, 1.0])).tolist()]
    [0.0, 0.31831, 1.0]
    """
    return _Kappa1.apply(_cosines(u))


def kappa(u: Any) -> torch.Tensor:
    """Two-layer ReLU NTK on the sphere, ``kappa(u) = u kappa0(u) + kappa1(u)``.

    Bietti & Mairal (2019): the NTK of a two-layer ReLU network without biases at unit inputs
    with cosine ``u``, normalized so that ``kappa(1) = 2``.

    Parameters
    ----------
    u : tensor, array or number
        Cosines, any shape, in ``[-1, 1]``.

    Returns
    -------
    torch.Tensor
        ``kappa(u)``, the shape of ``u``.  Its derivative is infinite at ``u = +-1``.

    Raises
    ------
    ValueError
        If an entry of ``u`` lies outside ``[-1, 1]``.

    Examples
    --------
    >>> import torch
    >>> [round(v, 6) for v in kappa(torch.tensor([0.0, 1.0])).tolist()]
    [0.31831, 2.0]
    """
    u = _cosines(u)
    return u * kappa0(u) + kappa1(u)


# ---------------------------------------------------------------------------------------------
# Shallow kernels, H-infinity and the deep NNGP/NTK recursions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPKernels:
    """Infinite-width kernels of :class:`ntklab.networks.mlp.MLP`, as returned by
    :func:`mlp_kernels`.

    Parameters
    ----------
    nngp : torch.Tensor
        The NNGP kernel ``Sigma`` of the network's output, shape (N1, N2).
    ntk : torch.Tensor
        The neural tangent kernel ``Theta``, shape (N1, N2).

    Examples
    --------
    >>> import torch
    >>> k = mlp_kernels(torch.eye(2, dtype=torch.float64), depth=1)
    >>> k.nngp.shape, k.ntk.shape
    (torch.Size([2, 2]), torch.Size([2, 2]))
    """

    nngp: torch.Tensor
    ntk: torch.Tensor


def _inputs(x1: Any, x2: Any):
    check_same_dtype(x1, "x1", x2, "x2")
    x1_in, x1 = x1, check_matrix(x1, "x1")
    if x2 is None or x2 is x1_in:
        return x1, x1, True  # a set with itself: the upper triangle only
    x2 = check_matrix(x2, "x2", dtype=x1.dtype, device=x1.device)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x2 must have {x1.shape[1]} columns like x1 (the input dimension), "
            f"got shape {tuple(x2.shape)}"
        )
    return x1, x2, False


def _check_order(quadrature_order):
    """``None`` (Mehler's series with an error bound) or a positive node count."""
    if quadrature_order is None:
        return None
    return check_positive_int(quadrature_order, "quadrature_order")


def _check_activation(activation, derivative=None):
    return resolve_activation(activation, "activation", derivative)


_RELU = resolve_activation("relu")
_ERF = resolve_activation("erf")
_IDENTITY = resolve_activation("identity")


def _activation_layer(act, activation, derivative, order):
    """The layer of a resolved activation: closed forms where they exist, else quadrature."""
    if act.phi is _RELU.phi and act.dphi is _RELU.dphi:
        return L.ReLU()
    if act.name == "erf" and act.phi is _ERF.phi:
        return L.Erf()
    if act.name == "identity" and act.phi is _IDENTITY.phi:
        return L.Identity()
    return L.Activation(activation, derivative, quadrature_order=order)


def mlp_architecture(
    depth: int,
    activation: Any = "relu",
    W_std: float | torch.Tensor = 1.0,
    b_std: float | torch.Tensor = 0.0,
    *,
    derivative: Any = None,
    quadrature_order: int | None = None,
) -> L.Layer:
    """The fully connected network of :func:`mlp_kernels` as an :mod:`ntklab.layers` architecture.

    ``serial(Dense(W_std, b_std), act, Dense(W_std, b_std), ..., act, Dense(W_std, b_std))``
    with ``depth`` activations: neural-tangents' ``stax`` network of
    :class:`ntklab.networks.mlp.MLP` (NTK parameterization).

    Parameters
    ----------
    depth : int
        Number of hidden layers (activations), ``>= 0``.
    activation : str or callable
        As in :func:`mlp_kernels`.
    W_std, b_std : float or 0-dim tensor
        Weight and bias standard deviations (``>= 0``).
    derivative : callable, optional
        The activation's derivative, for a callable activation (default: autograd).
    quadrature_order : int, optional
        For activations without a closed form: ``None`` (default) integrates by Mehler's series
        with an error bound (see :func:`mlp_kernels`); an int selects a fixed Gauss-Hermite rule
        of that many nodes per variable.

    Returns
    -------
    ntklab.layers.Layer
        The architecture (``.kernels``, ``.network``).

    Raises
    ------
    TypeError, ValueError
        A bad depth, activation, order or standard deviation.

    Examples
    --------
    >>> arch = mlp_architecture(2, "relu", W_std=1.5)
    >>> [type(layer).__name__ for layer in arch.layers]
    ['Dense', 'ReLU', 'Dense', 'ReLU', 'Dense']
    """
    depth = check_nonnegative_int(depth, "depth")
    order = _check_order(quadrature_order)
    act = _check_activation(activation, derivative)
    layers = [L.Dense(W_std=W_std, b_std=b_std)]
    for _ in range(depth):
        layers += [_activation_layer(act, activation, derivative, order), layers[0]]
    return L.serial(*layers)


_DIFFERENTIABILITY = """
    Every kernel is differentiable by autograd in ``x1``, ``x2`` and in tensor-valued
    parameters (0-dim tensors with ``requires_grad``).  Where the kernel is not differentiable
    (two coinciding points ``x1_i == x2_j``, where ReLU kernels have a cone ``|x1_i - x2_j|``;
    a zero input) autograd returns the derivative with the cone term dropped, i.e. the mean of
    the two one-sided derivatives (the limit of central differences); it is finite.  A set
    with itself (``x2=None``) has its diagonal in closed form, a smooth function of the norms.
    For activations integrated by quadrature, the derivative at coinciding points also drops a
    term ``E[phi(a) phi''(b)]`` (finite, approximate there; exact elsewhere).  When autograd
    records, the kernel is computed out of place in one tile (``batch_size`` is ignored).
"""


def mlp_kernels(
    x1: Any,
    x2: Any = None,
    *,
    depth: int,
    activation: Any = "relu",
    W_std: float | torch.Tensor = 1.0,
    b_std: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    derivative: Any = None,
    quadrature_order: int | None = None,
    compiled: bool | None = None,
) -> MLPKernels:
    """Infinite-width NNGP and NTK of :class:`ntklab.networks.mlp.MLP` (neural-tangents' rules).

    The kernels of ``stax.serial(Dense(n, W_std, b_std), act, ..., Dense(1, W_std, b_std))``
    with ``depth`` activations (``depth`` hidden layers), NTK parameterization:

    * input layer: ``Sigma_1 = W_std^2 x.x'/d + b_std^2`` and ``Theta_1 = Sigma_1``;
    * each hidden layer: ``Sigma_{l+1} = W_std^2 E[phi(a) phi(b)] + b_std^2`` and
      ``Theta_{l+1} = Sigma_{l+1} + W_std^2 E[phi'(a) phi'(b)] Theta_l``, with
      ``(a, b)`` centred Gaussian of covariance ``Sigma_l`` (restricted to the pair).

    Jacot et al.'s recursion with bias scale beta is ``W_std = 1, b_std = beta``; Arora et al.'s
    with ``c_sigma = 2`` is ``W_std = sqrt(2), b_std = 0`` for ReLU.

    ``"relu"`` and ``"erf"`` (and ``"identity"``) are in closed form.  Any other activation
    (bounded or growing at most polynomially) is integrated by Mehler's formula
    ``E[phi(a) phi(b)] = sum_k rho^k F_k(s) F_k(s')`` with Hermite coefficients computed once per
    point and layer by a trapezoidal rule whose step resolves ``phi`` at the point's standard
    deviation, the series cut by a Cauchy-Schwarz bound on its tail (relative ``1e-14`` of
    ``sqrt(E[phi(a)^2] E[phi(b)^2])`` in float64), and the few pairs of correlation near 1 that
    256 terms do not serve integrated directly (see ``ntklab/_quadrature.py``).  Measured
    against nested adaptive quadrature (``scipy.integrate.quad``) for a depth-3 tanh network
    with ``W_std=1.5, b_std=0.2`` and pre-activation variances up to 20 the relative error is
    below 1e-13 on and off the diagonal.  Cost: ``O(N quadrature nodes * 256)`` per layer for
    the coefficients plus at most 256 multiply-adds per pair, a few thousand activation
    evaluations for a pair the direct rule takes.  Passing ``quadrature_order``
    selects instead a fixed Gauss-Hermite rule of that many nodes per variable
    (``quadrature_order^2`` evaluations per pair), exact for polynomials of degree below it but
    slow to converge at large variances, where ``tanh``-like activations approach a step (at
    order 96 it is 18 % off for a variance of 20).

    ReLU angles are computed stably (see the module docstring); a set with itself is exactly
    symmetric with the exact diagonal.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs; ``None`` means the set ``x1`` with itself (computed on the upper triangle).
        A floating tensor must have ``x1``'s dtype.
    depth : int
        Number of hidden layers (activations), ``>= 0``.
    activation : str or callable
        ``"relu"``, ``"erf"``, ``"tanh"``, ``"sigmoid"``, ``"arctan"``, ``"identity"`` or an
        elementwise callable.
    W_std, b_std : float or 0-dim tensor
        Weight and bias standard deviations (``>= 0``); a tensor must have ``x1``'s dtype and
        may require grad.
    batch_size : int, optional
        Rows of ``x1`` per tile (default: tiles of about 65,000 entries on a CPU, which stay in
        cache, 16 million on a GPU), so peak memory is the two outputs plus a few tiles.
    derivative : callable, optional
        The activation's derivative, for a callable activation (default: autograd).
    quadrature_order : int, optional
        Nodes of a fixed Gauss-Hermite rule per variable; default ``None``: Mehler's series
        with an error bound (above).
    compiled : bool or None
        Compile the ReLU recursion with ``torch.compile`` (ReLU only; the same numbers to
        about 1e-15 relative; about 6x faster than eager: 0.13 s for ``K(x, x)`` of 4,000
        points at depth 3 on 2 cores).  ``None`` (default): on a CPU from ``3e8`` pairs
        times ReLU layers (``K(x, x)`` of about 14,000 points at depth 3), or from ``2e6``
        once compiled in this process.  The first compiled call in a process compiles: 7 s
        with TorchInductor's on-disk cache warm, 28 s cold, measured on 2 idle cores (see
        ``ntklab/layers/_chain.py``).  Never when autograd records; eager, with a warning,
        where compilation fails.

    Returns
    -------
    MLPKernels
        ``.nngp`` and ``.ntk``, each of shape (N1, N2), dtype and device of ``x1``.

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` (or a tensor ``W_std``/``b_std`` and ``x1``) have different
        floating dtypes, or an argument has the wrong type.
    ValueError
        If the shapes disagree, an input is not finite, ``depth < 0``, ``W_std`` or ``b_std``
        is negative, or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> k = mlp_kernels(x, depth=1)
    >>> [round(v, 6) for v in k.ntk[0].tolist()]
    [0.5, 0.079577]
    >>> w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    >>> mlp_kernels(x, depth=1, W_std=w).ntk.sum().backward()
    >>> round(float(w.grad), 6)
    4.63662
    """
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    x1, x2, same = _inputs(x1, x2)
    w_std = check_scalar_parameter(W_std, "W_std", x1, "x1")
    b_std = check_scalar_parameter(b_std, "b_std", x1, "x1")
    arch = mlp_architecture(
        depth,
        activation,
        w_std,
        b_std,
        derivative=derivative,
        quadrature_order=quadrature_order,
    )
    k = arch.kernels(x1, None if same else x2, batch_size=batch_size, compiled=compiled)
    return MLPKernels(nngp=k.nngp, ntk=k.ntk)


def _shallow_expectations(x1, x2, same, act, activation, order):
    """``E[phi(u.x1) phi(u.x2)]`` and ``E[phi'(u.x1) phi'(u.x2)]`` for ``u ~ N(0, I/d)``:
    the expectations of ``serial(Dense(), act)`` (the chain engine of :mod:`ntklab.layers`)."""
    chain = _chain.plan([L.Dense(), _activation_layer(act, activation, None, order)])
    e_phi, e_dphi = _chain.chain_kernels(chain, x1, x2, same, expectations=True)
    return e_phi, e_dphi, _Ops(_records_grad(x1, x2))


def k_lecun(
    x1: Any, x2: Any = None, *, activation: Any = "relu", quadrature_order: int | None = None
) -> torch.Tensor:
    """LeCun-initialization kernel ``K^LC(x1, x2) = E[sigma(u.x1) sigma(u.x2)]``, ``u ~ N(0, I/d)``.

    Theorem 11.16 (Petersen & Zech): the limit of ``hat Theta / n`` for
    :class:`ntklab.networks.shallow.ShallowLeCun` (Gaussian D).  For ReLU (Example 11.17)
    ``|x1| |x2| (sin t + (pi - t) cos t) / (2 pi d)``, ``t`` the angle (computed stably).
    Other activations as in :func:`mlp_kernels` (closed form for erf, quadrature otherwise).
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).
    activation : str or callable
        As in :func:`mlp_kernels`.
    quadrature_order : int, optional
        As in :func:`mlp_kernels`: ``None`` (default) for Mehler's series with an error bound,
        an ``int`` for a fixed Gauss-Hermite rule of that many nodes per variable.

    Returns
    -------
    torch.Tensor
        ``K^LC``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree, an input is not finite or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in k_lecun(x)[0].tolist()]
    [0.25, 0.079577]
    """
    act = _check_activation(activation)
    order = _check_order(quadrature_order)
    x1, x2, same = _inputs(x1, x2)
    return _shallow_expectations(x1, x2, same, act, activation, order)[0]


def k_ntk(
    x1: Any, x2: Any = None, *, activation: Any = "relu", quadrature_order: int | None = None
) -> torch.Tensor:
    """Shallow NTK ``K^NTK = (1 + x1.x2/d) E[sigma'(u.x1) sigma'(u.x2)] + E[sigma sigma] + 1``.

    Theorem 11.30 (Petersen & Zech), ``u ~ N(0, I/d)``: the limit of the tangent kernel of
    :class:`ntklab.networks.shallow.ShallowNTK`.  For ReLU (Example 11.31)
    ``E[sigma' sigma'] = (pi - t) / (2 pi)``.  The derivative of ReLU at 0 is taken as 0 (as in
    autograd, so the network's kernel agrees), which decides the value at a zero input, where
    the kernel has no limit.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).
    activation : str or callable
        As in :func:`mlp_kernels`.
    quadrature_order : int, optional
        As in :func:`mlp_kernels`: ``None`` (default) for Mehler's series with an error bound,
        an ``int`` for a fixed Gauss-Hermite rule of that many nodes per variable.

    Returns
    -------
    torch.Tensor
        ``K^NTK``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree, an input is not finite or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in k_ntk(x)[0].tolist()]
    [2.0, 1.329577]
    """
    act = _check_activation(activation)
    order = _check_order(quadrature_order)
    x1, x2, same = _inputs(x1, x2)
    e_phi, e_dphi, ops = _shallow_expectations(x1, x2, same, act, activation, order)
    if act.phi is _RELU.phi:
        zero1 = x1.detach().norm(dim=1) == 0
        zero2 = zero1 if same else x2.detach().norm(dim=1) == 0
        e_dphi = ops.masked_fill(e_dphi, zero1[:, None] | zero2[None, :], 0.0)
    return (1 + x1 @ x2.T / x1.shape[1]) * e_dphi + e_phi + 1


def h_infinity(x1: Any, x2: Any = None) -> torch.Tensor:
    """Du et al.'s Gram matrix ``H^inf_ij = x1_i.x2_j E_w[1{w.x1_i >= 0} 1{w.x2_j >= 0}]``.

    ``w ~ N(0, I)``, so ``H^inf_ij = x1_i.x2_j (pi - t_ij) / (2 pi)`` with ``t_ij`` the angle
    (computed stably); Du et al. (2019), the Gram matrix of a two-layer ReLU network whose
    output layer is fixed.
    {differentiability}
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1`` (an exactly symmetric result).

    Returns
    -------
    torch.Tensor
        ``H^inf``, shape (N1, N2).

    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` have different floating dtypes.
    ValueError
        If the shapes disagree or an input is not finite.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in h_infinity(x)[0].tolist()]
    [0.5, 0.375]
    """
    x1, x2, same = _inputs(x1, x2)
    grad = _records_grad(x1, x2)
    ops = _Ops(grad)

    def compute(r, s, diag):
        c = r @ s.T
        if diag:
            c = ops.set_diagonal((c + c.T) / 2, (r * r).sum(1))
        cos, sin, _, _ = _chain.cos_sin(r, s, diag, ops)
        return (c * (math.pi - torch.atan2(sin, cos)) / (2 * math.pi),)

    return _chain.tiled(x1, x2, same, None, compute, 1, grad)[0]


for _f in (mlp_kernels, k_lecun, k_ntk, h_infinity):
    _f.__doc__ = _f.__doc__.replace("{differentiability}", _DIFFERENTIABILITY)

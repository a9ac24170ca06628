"""Two-layer ReLU networks are almost linear near initialization (chapter 1, lecture notes 000).

The network is ``F(x; w, c) = n^{-1/2} sum_i c_i relu(w_i . x)`` with hidden weights ``w`` of
shape ``(..., n, d)`` and output signs ``c`` of shape ``(..., n)``; leading ``...`` dimensions are
independent initializations (batches), broadcast together.  Inputs ``x`` are one point ``(d,)``
or a matrix ``(p, d)`` of ``p`` points; outputs have shape ``(..., p)`` (or ``(...)`` for one
point).  Nothing of size ``p * n * d`` is formed except by :func:`gradient_features`, so widths of
``1e5`` and more are cheap.

Quantities of the chapter (``v = w - w(0)``, ``a = alpha / sqrt(n)``):

* :func:`gradient_features` - ``grad_w F(x; w, c)`` with the convention ``relu'(z) = 1{z >= 0}``
  (Lemma 1);
* :func:`linearization` - ``F_lin(x; w) = grad_w F(x; w(0), c) . (w - w(0))``, the notes' linear
  model (it omits ``F(x; w(0), c)``, which is zero for the symmetric initialization, Lemma 2);
* :func:`remainder`, :func:`remainder_parts` - ``F - F_lin = Delta_1 + Delta_2`` (Lemma 4);
* :func:`sign_changes` - the set ``S(x)`` of neurons whose activation changed;
* :func:`near_zero_fraction` - ``N(x)/n``, the fraction of ``|w_i(0) . x| <= a ||x||``, which
  contains every possible sign change in the ball ``max_i ||v_i|| <= a``;
* :func:`worst_case_remainder` - the exact supremum of ``|F - F(w(0)) - F_lin|`` over that ball;
* :func:`theorem1_bound` (the notes' constant), :func:`remainder_bound` and
  :func:`sign_change_bound` (the constants derived in the chapter);
* perturbations of the lazy regime: :func:`random_perturbation`, :func:`gradient_perturbation`,
  :func:`adversarial_perturbation`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..networks.two_layer_relu import symmetric_xavier_init
from ..validation import (
    as_tensor,
    check_choice,
    check_positive,
    check_positive_int,
    check_probability,
    make_generator,
    resolve_device,
)

__all__ = [
    "adversarial_perturbation",
    "expected_sign_change_fraction",
    "gradient_features",
    "gradient_perturbation",
    "linearization",
    "near_zero_fraction",
    "network_output",
    "random_perturbation",
    "remainder",
    "remainder_bound",
    "remainder_parts",
    "sign_change_bound",
    "sign_changes",
    "symmetric_xavier_init",
    "theorem1_bound",
    "width_sweep",
    "worst_case_remainder",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# ----------------------------------------------------------------------------- validation
def _weights(w: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    if like is None:
        t = as_tensor(w, name)
    else:
        t = as_tensor(w, name, dtype=like.dtype, device=like.device)
    if t.dim() < 2:
        raise ValueError(f"{name} must have shape (..., n, d), got shape {tuple(t.shape)}")
    if like is not None and t.shape[-2:] != like.shape[-2:]:
        raise ValueError(
            f"{name} must have the same (n, d) = {tuple(like.shape[-2:])} as w0, "
            f"got shape {tuple(t.shape)}"
        )
    return t


def _signs(c: Any, w: torch.Tensor) -> torch.Tensor:
    t = as_tensor(c, "c", dtype=w.dtype, device=w.device)
    if t.dim() < 1 or t.shape[-1] != w.shape[-2]:
        raise ValueError(
            f"c must have shape (..., n) with n = {w.shape[-2]} (the width of w), "
            f"got shape {tuple(t.shape)}"
        )
    return t


def _inputs(x: Any, w: torch.Tensor) -> tuple[torch.Tensor, bool]:
    t = as_tensor(x, "x", dtype=w.dtype, device=w.device, ndim=(1, 2))
    if t.shape[-1] != w.shape[-1]:
        raise ValueError(
            f"x must have {w.shape[-1]} entries in its last dimension (the input dimension d), "
            f"got shape {tuple(t.shape)}"
        )
    single = t.dim() == 1
    return (t.unsqueeze(0) if single else t), single


def _out(t: torch.Tensor, single: bool) -> torch.Tensor:
    return t.squeeze(-1) if single else t


def _pre(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Pre-activations ``w_i . x_j`` of shape ``(..., p, n)``."""
    return torch.einsum("...nd,pd->...pn", w, x)


def _active(z: torch.Tensor) -> torch.Tensor:
    """``1{z >= 0}`` in the dtype of ``z`` (the convention of Lemma 1)."""
    return (z >= 0).to(z.dtype)


def _scalar_or_array(value: Any, name: str, *, positive: bool) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return check_positive(value, name) if positive else _nonneg(value, name)
    arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(
            f"{name} must be a number or an array of numbers, got {type(value).__name__}"
        )
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0")
    if not positive and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0")
    return arr


def _nonneg(value: Any, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


# ----------------------------------------------------------------------------- the network
def network_output(x: Any, w: Any, c: Any) -> torch.Tensor:
    """The network ``F(x; w, c) = n^{-1/2} sum_i c_i relu(w_i . x)`` of chapter 1.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Hidden weights, shape ``(..., n, d)``.
    c : array_like
        Output signs, shape ``(..., n)``.

    Returns
    -------
    torch.Tensor
        Shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> network_output(torch.tensor([1.0, 1.0]), w0, c)  # zero at the symmetric initialization
    tensor(0.)
    """
    w = _weights(w, "w")
    c = _signs(c, w)
    x, single = _inputs(x, w)
    n = w.shape[-2]
    out = (torch.relu(_pre(x, w)) * c.unsqueeze(-2)).sum(-1) / math.sqrt(n)
    return _out(out, single)


def gradient_features(x: Any, w: Any, c: Any) -> torch.Tensor:
    """``grad_w F(x; w, c)``: entry ``i`` is ``n^{-1/2} c_i 1{w_i . x >= 0} x`` (Lemma 1).

    This is the one function that forms a ``p * n * d`` tensor; the others contract it away.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Hidden weights, shape ``(..., n, d)``.
    c : array_like
        Output signs, shape ``(..., n)``.

    Returns
    -------
    torch.Tensor
        Shape ``(..., p, n, d)`` (or ``(..., n, d)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> gradient_features(torch.tensor([1.0, 1.0]), w0, c)[:, 0]  # c_i / sqrt(n) * x_1
    tensor([ 0.5000,  0.5000, -0.5000, -0.5000])
    """
    w = _weights(w, "w")
    c = _signs(c, w)
    x, single = _inputs(x, w)
    n = w.shape[-2]
    gate = _active(_pre(x, w)) * c.unsqueeze(-2) / math.sqrt(n)  # (..., p, n)
    feats = gate.unsqueeze(-1) * x.unsqueeze(-2)  # (..., p, n, d)
    return feats.squeeze(-3) if single else feats


def _moved_network_args(x: Any, w: Any, w0: Any, c: Any):
    """Validate the arguments shared by the remainder functions.

    Returns ``(x, w, w0, c, single, n)``, where ``single`` says that one point was passed
    and ``n`` is the width.
    """
    w0 = _weights(w0, "w0")
    w = _weights(w, "w", like=w0)
    c = _signs(c, w0)
    x, single = _inputs(x, w0)
    return x, w, w0, c, single, w0.shape[-2]


def linearization(x: Any, w: Any, w0: Any, c: Any) -> torch.Tensor:
    """``F_lin(x; w) = grad_w F(x; w(0), c) . (w - w(0))`` (the notes' linear model).

    Equals ``n^{-1/2} sum_i c_i 1{w_i(0) . x >= 0} (w_i - w_i(0)) . x``.  The constant
    ``F(x; w(0), c)`` is *not* included: it vanishes for the symmetric initialization (Lemma 2),
    and for any other initialization ``F - F_lin`` therefore contains it.  The leading
    dimensions of ``w``, ``w0`` and ``c`` broadcast.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Moved hidden weights ``w``, shape ``(..., n, d)``.
    w0 : array_like
        Initial hidden weights ``w(0)``, shape ``(..., n, d)`` (same ``(n, d)`` as ``w``).
    c : array_like
        Output signs, shape ``(..., n)``.

    Returns
    -------
    torch.Tensor
        Shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> w = w0.clone(); w[0, 0] = 2.0  # move one active neuron along x
    >>> linearization(torch.tensor([1.0, 1.0]), w, w0, c)  # (1/2) * 1 * (w_0 - w_0(0)).x
    tensor(0.5000)
    """
    x, w, w0, c, single, n = _moved_network_args(x, w, w0, c)
    gate = _active(_pre(x, w0)) * c.unsqueeze(-2)
    out = (gate * _pre(x, w - w0)).sum(-1) / math.sqrt(n)
    return _out(out, single)


def remainder(x: Any, w: Any, w0: Any, c: Any) -> torch.Tensor:
    """``F(x; w, c) - F_lin(x; w)``: the nonlinear remainder of Theorem 1 (plus ``F(x; w(0))``).

    Computed in one pass as ``n^{-1/2} sum_i c_i [relu(z_i) - 1{z0_i >= 0} (z_i - z0_i)]`` with
    ``z = w . x`` and ``z0 = w(0) . x`` (two products with ``x``, no gradient features).

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Moved hidden weights ``w``, shape ``(..., n, d)``.
    w0 : array_like
        Initial hidden weights ``w(0)``, shape ``(..., n, d)`` (same ``(n, d)`` as ``w``).
    c : array_like
        Output signs, shape ``(..., n)``.

    Returns
    -------
    torch.Tensor
        Shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> w = w0.clone(); w[0] = torch.tensor([-1.0, -1.5])  # neuron 0 switches off at x
    >>> remainder(torch.tensor([1.0, 1.0]), w, w0, c)
    tensor(1.2500)
    """
    x, w, w0, c, single, n = _moved_network_args(x, w, w0, c)
    z0 = _pre(x, w0)
    z = _pre(x, w)
    terms = torch.relu(z) - _active(z0) * (z - z0)
    out = (terms * c.unsqueeze(-2)).sum(-1) / math.sqrt(n)
    return _out(out, single)


def remainder_parts(x: Any, w: Any, w0: Any, c: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Delta_1, Delta_2)`` of Lemma 4.

    With ``v = w - w(0)`` and ``D_i = 1{w_i . x >= 0} - 1{w_i(0) . x >= 0}``:
    ``Delta_1 = n^{-1/2} sum_i c_i D_i w_i(0) . x`` and
    ``Delta_2 = n^{-1/2} sum_i c_i D_i v_i . x``.
    Their sum is ``[grad F(w) - grad F(w(0))] . w``, which equals ``F - F(w(0)) - F_lin``.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Moved hidden weights ``w``, shape ``(..., n, d)``.
    w0 : array_like
        Initial hidden weights ``w(0)``, shape ``(..., n, d)`` (same ``(n, d)`` as ``w``).
    c : array_like
        Output signs, shape ``(..., n)``.

    Returns
    -------
    delta_1, delta_2 : torch.Tensor
        Each of shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> w = w0.clone(); w[0] = torch.tensor([-1.0, -1.5])
    >>> remainder_parts(torch.tensor([1.0, 1.0]), w, w0, c)
    (tensor(-0.5000), tensor(1.7500))
    """
    x, w, w0, c, single, n = _moved_network_args(x, w, w0, c)
    z0 = _pre(x, w0)
    zu = _pre(x, w - w0)
    gate = (_active(z0 + zu) - _active(z0)) * c.unsqueeze(-2) / math.sqrt(n)
    return _out((gate * z0).sum(-1), single), _out((gate * zu).sum(-1), single)


def sign_changes(x: Any, w: Any, w0: Any) -> torch.Tensor:
    """Boolean mask of ``S(x) = {i : 1{w_i(0) . x >= 0} != 1{w_i . x >= 0}}``.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w : array_like
        Moved hidden weights, shape ``(..., n, d)``.
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``.

    Returns
    -------
    torch.Tensor
        Boolean, shape ``(..., p, n)`` (or ``(..., n)`` for one point).  ``.sum(-1)`` is
        ``|S(x)|``; ``.double().mean(-1)`` is ``|S(x)|/n``.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> w = w0.clone(); w[0] = torch.tensor([-1.0, -1.5])
    >>> sign_changes(torch.tensor([1.0, 1.0]), w, w0)
    tensor([ True, False, False, False])
    """
    w0 = _weights(w0, "w0")
    w = _weights(w, "w", like=w0)
    x, single = _inputs(x, w0)
    mask = (_pre(x, w) >= 0) != (_pre(x, w0) >= 0)
    return mask.squeeze(-2) if single else mask


def near_zero_fraction(x: Any, w0: Any, alpha: float) -> torch.Tensor:
    """``N(x)/n``: the fraction of neurons with ``|w_i(0) . x| <= alpha ||x|| / sqrt(n)``.

    Every neuron that can change sign under a perturbation with ``max_i ||v_i|| <= alpha/sqrt(n)``
    is counted, so ``|S(x)| <= N(x)`` for every such perturbation.  Shape ``(..., p)``.
    For a point ``x = 0`` every neuron satisfies the inequality and the fraction is 1, although
    no activation can change there (``w_i . 0 = 0 >= 0`` for every ``w``).

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``.
    alpha : float
        Radius parameter ``> 0`` (the ball is ``max_i ||v_i|| <= alpha / sqrt(n)``).

    Returns
    -------
    torch.Tensor
        Shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> near_zero_fraction(torch.tensor([1.0, 0.0]), w0, 1.0)  # |w_i(0).x| = 0 for half
    tensor(0.5000)
    """
    alpha = check_positive(alpha, "alpha")
    w0 = _weights(w0, "w0")
    x, single = _inputs(x, w0)
    n = w0.shape[-2]
    thr = alpha * x.norm(dim=-1) / math.sqrt(n)  # (p,)
    frac = (_pre(x, w0).abs() <= thr.unsqueeze(-1)).to(w0.dtype).mean(-1)
    return _out(frac, single)


def worst_case_remainder(x: Any, w0: Any, c: Any, alpha: float) -> torch.Tensor:
    """Exact ``sup |F(x; w) - F(x; w(0)) - F_lin(x; w)|`` over the lazy ball.

    The ball is ``max_i ||w_i - w_i(0)|| <= alpha/sqrt(n)``.
    With ``a = alpha/sqrt(n)`` and ``g_i = |w_i(0) . x|`` it is
    ``n^{-1/2} max(sum_{c_i > 0} c_i (a||x|| - g_i)_+, sum_{c_i < 0} |c_i| (a||x|| - g_i)_+)``
    (chapter 1, the exact form of the remainder).  :func:`adversarial_perturbation` with
    ``target="remainder"`` attains it.

    Parameters
    ----------
    x : array_like
        One point ``(d,)`` or points ``(p, d)``.
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``.
    c : array_like
        Output signs, shape ``(..., n)``.
    alpha : float
        Radius parameter ``> 0``.

    Returns
    -------
    torch.Tensor
        Shape ``(..., p)`` (or ``(...)`` for one point).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If shapes do not match (``x`` with ``d`` entries, ``c`` with ``n``), or an entry is not
        finite.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> worst_case_remainder(torch.tensor([1.0, 0.0]), w0, c, 1.0)  # slack a||x|| = 1/2
    tensor(0.2500)
    """
    alpha = check_positive(alpha, "alpha")
    w0 = _weights(w0, "w0")
    c = _signs(c, w0)
    x, single = _inputs(x, w0)
    n = w0.shape[-2]
    slack = torch.clamp(
        alpha * x.norm(dim=-1).unsqueeze(-1) / math.sqrt(n) - _pre(x, w0).abs(), min=0
    )
    cc = c.unsqueeze(-2)
    up = (torch.clamp(cc, min=0) * slack).sum(-1)
    down = (torch.clamp(-cc, min=0) * slack).sum(-1)
    return _out(torch.maximum(up, down) / math.sqrt(n), single)


# ----------------------------------------------------------------------------- bounds
def theorem1_bound(alpha: Any, n: Any, x_norm: Any, delta: float) -> Any:
    """The bound of Theorem 1 as the lecture notes state it:

    ``alpha / sqrt(n) * (1 + ||x||) * (alpha ||x|| + sqrt(log(1/delta)))``.

    It is true (chapter 1 proves it from :func:`remainder_bound`, which is never larger), although
    the notes' intermediate Lemma 4 is not.

    Parameters
    ----------
    alpha : float or array_like
        Radius parameter, ``> 0``.
    n : int or array_like
        Width, ``> 0``.
    x_norm : float or array_like
        ``||x||``, ``>= 0``.
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    float or numpy.ndarray
        The bound; a float for scalar arguments, else the broadcast shape of the arrays.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> print(round(float(theorem1_bound(1.0, 100, 1.0, math.exp(-1))), 6))  # 0.1 * 2 * (1 + 1)
    0.4
    """
    alpha = _scalar_or_array(alpha, "alpha", positive=True)
    n = _scalar_or_array(n, "n", positive=True)
    x_norm = _scalar_or_array(x_norm, "x_norm", positive=False)
    delta = check_probability(delta, "delta")
    root = math.sqrt(math.log(1.0 / delta))
    return alpha / np.sqrt(n) * (1 + x_norm) * (alpha * x_norm + root)


def sign_change_bound(alpha: Any, n: Any, delta: float) -> Any:
    """``(sqrt(2/pi) alpha + sqrt(log(1/delta))) / sqrt(n)``: with probability ``>= 1 - delta``,
    ``N(x)/n`` (hence ``|S(x)|/n`` for every perturbation in the ball) is at most this.

    Lemma 5 bounds the mean of ``N(x)/n`` by ``sqrt(2/pi) alpha / sqrt(n)``; Hoeffding's
    inequality over the ``n/2`` independent pairs of the symmetric initialization gives the
    deviation ``sqrt(log(1/delta)/n)``.

    Parameters
    ----------
    alpha : float or array_like
        Radius parameter, ``> 0``.
    n : int or array_like
        Width, ``> 0``.
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    float or numpy.ndarray
        The bound (arrays broadcast).

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> print(round(float(sign_change_bound(1.0, 100, math.exp(-1))), 6))  # (sqrt(2/pi) + 1) / 10
    0.179788
    """
    alpha = _scalar_or_array(alpha, "alpha", positive=True)
    n = _scalar_or_array(n, "n", positive=True)
    delta = check_probability(delta, "delta")
    return (_SQRT_2_OVER_PI * alpha + math.sqrt(math.log(1.0 / delta))) / np.sqrt(n)


def remainder_bound(alpha: Any, n: Any, x_norm: Any, delta: float) -> Any:
    """The course's constant for Theorem 1:

    ``alpha ||x|| / sqrt(n) * (sqrt(2/pi) alpha + sqrt(log(1/delta)))``,

    valid with probability ``>= 1 - delta`` simultaneously for every ``w`` with
    ``max_i ||w_i - w_i(0)|| <= alpha/sqrt(n)`` (symmetric initialization).

    Parameters
    ----------
    alpha : float or array_like
        Radius parameter, ``> 0``.
    n : int or array_like
        Width, ``> 0``.
    x_norm : float or array_like
        ``||x||``, ``>= 0``.
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    float or numpy.ndarray
        The bound (arrays broadcast); never larger than :func:`theorem1_bound`.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> print(round(float(remainder_bound(1.0, 100, 1.0, math.exp(-1))), 6))
    0.179788
    """
    x_norm = _scalar_or_array(x_norm, "x_norm", positive=False)
    return alpha * x_norm * sign_change_bound(alpha, n, delta)


def expected_sign_change_fraction(
    alpha: float, n: int, d: int | None = None, *, perturbation: str = "random"
) -> float:
    """Expected ``|S(x)|/n`` for the perturbations of this module (any ``x != 0``).

    * ``"adversarial"`` (every neuron that can flip is flipped, ``target="flips"``):
      ``P(|g| <= a) = erf(a / sqrt(2))`` with ``a = alpha/sqrt(n)``, ``g ~ N(0, 1)``.
    * ``"random"`` (``v_i`` uniform on the sphere of radius ``a`` in ``R^d``): with ``zeta`` the
      first coordinate of a uniform unit vector, ``E[erf(a |zeta| / sqrt(2))] / 2``, computed by
      Gauss-Jacobi quadrature (needs ``d``).

    Parameters
    ----------
    alpha : float
        Radius parameter, ``> 0``.
    n : int
        Width.
    d : int, optional
        Input dimension (needed for ``perturbation="random"``).
    perturbation : {"random", "adversarial"}, optional
        Which perturbation (default ``"random"``).

    Returns
    -------
    float
        The expected fraction.

    Raises
    ------
    TypeError
        If an argument is of the wrong type.
    ValueError
        If an argument is out of range, or ``d`` is missing for ``"random"``.

    Examples
    --------
    >>> round(expected_sign_change_fraction(1.0, 100, perturbation="adversarial"), 6)
    0.079656
    >>> round(expected_sign_change_fraction(1.0, 100, 3), 6)
    0.019931
    """
    alpha = check_positive(alpha, "alpha")
    n = check_positive_int(n, "n")
    perturbation = check_choice(perturbation, "perturbation", ("random", "adversarial"))
    a = alpha / math.sqrt(n)
    if perturbation == "adversarial":
        return math.erf(a / math.sqrt(2))
    if d is None:
        raise ValueError("d (the input dimension) is needed for perturbation='random'")
    d = check_positive_int(d, "d")
    if d == 1:
        return 0.5 * math.erf(a / math.sqrt(2))
    from scipy.special import erf, roots_jacobi

    # |v| = t on [0, 1] has density proportional to (1 - t)^((d-3)/2) (1 + t)^((d-3)/2)
    y, wts = roots_jacobi(64, (d - 3) / 2, 0.0)
    t = (1 + y) / 2
    smooth = (1 + t) ** ((d - 3) / 2)
    num = np.sum(wts * smooth * erf(a * t / math.sqrt(2)))
    den = np.sum(wts * smooth)
    return float(0.5 * num / den)


# ----------------------------------------------------------------------------- perturbations
def random_perturbation(
    w0: Any,
    alpha: float,
    *,
    radius: str = "sphere",
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random ``v`` (shape of ``w0``) with every row ``||v_i|| <= alpha/sqrt(n)``.

    ``radius="sphere"``: ``v_i`` uniform on the sphere of radius ``alpha/sqrt(n)``;
    ``"ball"``: uniform in the ball.  Rows are independent (also within a symmetric pair).

    Parameters
    ----------
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``; the result has its dtype and device.
    alpha : float
        Radius parameter, ``> 0``.
    radius : {"sphere", "ball"}, optional
        Where each row is drawn (default ``"sphere"``).
    seed : int, optional
        Seed of a fresh CPU generator; pass ``seed`` or ``generator``, not both.
    generator : torch.Generator, optional
        A CPU generator (draws are made on the CPU, then moved to ``w0``'s device).

    Returns
    -------
    torch.Tensor
        ``v``, shape of ``w0``.

    Raises
    ------
    TypeError
        If ``w0`` is not numeric or ``seed`` not an integer.
    ValueError
        If ``alpha <= 0``, ``radius`` is unknown or both ``seed`` and ``generator`` are given.

    Examples
    --------
    >>> v = random_perturbation(torch.zeros(4, 3, dtype=torch.float64), 2.0, seed=0)
    >>> v.shape, v.norm(dim=1).round(decimals=12).tolist()  # alpha / sqrt(n) = 1
    (torch.Size([4, 3]), [1.0, 1.0, 1.0, 1.0])
    """
    w0 = _weights(w0, "w0")
    alpha = check_positive(alpha, "alpha")
    radius = check_choice(radius, "radius", ("sphere", "ball"))
    gen = make_generator(seed, generator)  # CPU draws, then moved: same numbers on every device
    n, d = w0.shape[-2:]
    xi = torch.randn(w0.shape, generator=gen, dtype=w0.dtype).to(w0.device)
    u = xi / xi.norm(dim=-1, keepdim=True) * (alpha / math.sqrt(n))
    if radius == "ball":
        r = torch.rand(w0.shape[:-1], generator=gen, dtype=w0.dtype).to(w0.device)
        u = u * r.pow(1.0 / d).unsqueeze(-1)
    return u


def _single_point(x: Any, w0: torch.Tensor) -> torch.Tensor:
    x = as_tensor(x, "x", dtype=w0.dtype, device=w0.device, ndim=1)
    if x.shape[0] != w0.shape[-1]:
        raise ValueError(
            f"x must have {w0.shape[-1]} entries (the input dimension d), "
            f"got shape {tuple(x.shape)}"
        )
    if not bool(x.ne(0).any()):
        raise ValueError("x must be nonzero (the perturbation moves along x/||x||)")
    return x


def gradient_perturbation(x: Any, w0: Any, c: Any, alpha: float) -> torch.Tensor:
    """``v = alpha * grad_w F(x; w(0), c) / ||x||``: the direction of one gradient step on the
    point ``(x, y)`` with a target ``y > 0`` (where ``F(x; w(0)) = 0``).

    Row ``i`` is ``(alpha/sqrt(n)) c_i 1{w_i(0) . x >= 0} x/||x||``: every active neuron moves by
    exactly ``alpha/sqrt(n)``, the inactive ones do not move (so ``max_i ||v_i|| = alpha/sqrt(n)``
    when at least one neuron is active).

    Parameters
    ----------
    x : array_like
        One nonzero point, shape ``(d,)``.
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``.
    c : array_like
        Output signs, shape ``(..., n)``.
    alpha : float
        Radius parameter, ``> 0``.

    Returns
    -------
    torch.Tensor
        ``v``, shape of ``w0``.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If ``x`` is zero or not of shape ``(d,)``, shapes do not match, or ``alpha <= 0``.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> gradient_perturbation(torch.tensor([1.0, 0.0]), w0, c, 2.0)  # only neurons with w.x >= 0
    tensor([[ 1.,  0.],
            [ 1.,  0.],
            [-1., -0.],
            [-1., -0.]])
    """
    w0 = _weights(w0, "w0")
    c = _signs(c, w0)
    alpha = check_positive(alpha, "alpha")
    x = _single_point(x, w0)
    return alpha * gradient_features(x, w0, c) / x.norm()


def adversarial_perturbation(
    x: Any, w0: Any, c: Any, alpha: float, *, target: str = "remainder"
) -> torch.Tensor:
    """A perturbation with ``max_i ||v_i|| <= alpha/sqrt(n)`` that flips activations at ``x``.

    Each row is ``v_i = -+ (alpha/sqrt(n)) x/||x||``: towards the hyperplane ``w_i . x = 0``
    (flipping neuron ``i`` whenever ``|w_i(0) . x| < alpha ||x||/sqrt(n)``) or away from it.

    * ``target="remainder"``: flips every flippable neuron whose sign ``c_i`` makes the remainder
      grow in the direction (up or down) where it can grow most, and pushes every other neuron
      away from its hyperplane.  The remainder then equals :func:`worst_case_remainder` (up to
      the sign), the supremum the bound of Theorem 1 is about.
    * ``target="flips"``: flips every neuron it can (``|S(x)| = N(x)``).  Under the symmetric
      initialization the two members of a pair then move together and the remainder is exactly
      zero: many sign changes do not make a large remainder by themselves.

    Parameters
    ----------
    x : array_like
        One nonzero point, shape ``(d,)``.
    w0 : array_like
        Initial hidden weights, shape ``(..., n, d)``.
    c : array_like
        Output signs, shape ``(..., n)``.
    alpha : float
        Radius parameter, ``> 0``.
    target : {"remainder", "flips"}, optional
        What the perturbation maximizes (default ``"remainder"``).

    Returns
    -------
    torch.Tensor
        ``v``, shape of ``w0``.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If ``x`` is zero or not of shape ``(d,)``, shapes do not match, ``alpha <= 0`` or
        ``target`` is unknown.

    Examples
    --------
    >>> w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # n = 4, d = 2
    >>> c = torch.tensor([1.0, 1.0, -1.0, -1.0])  # symmetric: rows i, i + n/2 equal, c opposite
    >>> x = torch.tensor([1.0, 0.0])
    >>> v = adversarial_perturbation(x, w0, c, 1.0)
    >>> remainder(x, w0 + v, w0, c).abs() == worst_case_remainder(x, w0, c, 1.0)
    tensor(True)
    """
    w0 = _weights(w0, "w0")
    c = _signs(c, w0)
    alpha = check_positive(alpha, "alpha")
    target = check_choice(target, "target", ("remainder", "flips"))
    x = _single_point(x, w0)
    n = w0.shape[-2]
    a = alpha / math.sqrt(n)
    xhat = x / x.norm()
    z0 = torch.einsum("...nd,d->...n", w0, x)
    s = torch.where(z0 >= 0, 1.0, -1.0).to(w0.dtype)
    if target == "flips":
        toward = torch.ones_like(s, dtype=torch.bool)
    else:
        slack = torch.clamp(a * x.norm() - z0.abs(), min=0)
        up = (torch.clamp(c, min=0) * slack).sum(-1, keepdim=True)
        down = (torch.clamp(-c, min=0) * slack).sum(-1, keepdim=True)
        toward = torch.where(up >= down, c > 0, c < 0)
    direction = torch.where(toward, -s, s)  # -s: towards the hyperplane
    return a * direction.unsqueeze(-1) * xhat


# ----------------------------------------------------------------------------- experiments
def width_sweep(
    widths: Any,
    *,
    d: int,
    alpha: float,
    draws: int,
    x_norm: float = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: Any = None,
    max_batch_entries: int = 2_000_000,
) -> dict[str, np.ndarray]:
    """Monte Carlo over ``draws`` symmetric initializations for each width in ``widths``.

    A fixed input ``x = x_norm * e_1`` (every quantity depends on ``x`` only through ``||x||``,
    the initialization being rotation invariant).  Returns arrays of shape
    ``(len(widths), draws)``:

    * ``"random"``, ``"gradient"``, ``"adversarial"``: ``|F - F_lin|`` at ``x`` after the
      perturbation of that name (:func:`random_perturbation` on the sphere,
      :func:`gradient_perturbation`, :func:`adversarial_perturbation` with
      ``target="remainder"``), all with ``max_i ||v_i|| = alpha/sqrt(n)``;
    * ``"worst"``: :func:`worst_case_remainder`;
    * ``"flips_random"``, ``"flips_all"``: ``|S(x)|/n`` for the random perturbation and for
      ``target="flips"``; ``"near_zero"``: ``N(x)/n``.

    Draws are batched so that no tensor holds more than ``max_batch_entries`` numbers; they are
    made on the CPU and moved to ``device``, so a seed gives the same draws on every device.

    Parameters
    ----------
    widths : int or array_like of int
        Even widths ``n``.
    d : int
        Input dimension.
    alpha : float
        Radius parameter, ``> 0``.
    draws : int
        Number of initializations per width.
    x_norm : float, optional
        ``||x||`` (default 1).
    seed : int, optional
        Seed of the draws (default 0).
    dtype : torch.dtype, optional
        Floating dtype of the computation (default float64).
    device : None, str, int or torch.device, optional
        Where the computation runs.
    max_batch_entries : int, optional
        Largest tensor size (default ``2_000_000``).

    Returns
    -------
    dict of str to numpy.ndarray
        The keys above, each of shape ``(len(widths), draws)``.

    Raises
    ------
    TypeError
        If ``dtype`` is not a floating dtype or an integer argument is not an integer.
    ValueError
        If a width is odd or an argument is out of range.

    Examples
    --------
    >>> out = width_sweep([4, 16], d=3, alpha=1.0, draws=5, seed=0)
    >>> out["worst"].shape
    (2, 5)
    >>> bool((out["random"] <= out["worst"] + 1e-12).all())  # nothing beats the supremum
    True
    """
    widths = [check_positive_int(int(k), "widths") for k in np.atleast_1d(np.asarray(widths))]
    for k in widths:
        if k % 2:
            raise ValueError(f"widths must be even (symmetric initialization), got {k}")
    d = check_positive_int(d, "d")
    alpha = check_positive(alpha, "alpha")
    draws = check_positive_int(draws, "draws")
    x_norm = check_positive(x_norm, "x_norm")
    max_batch_entries = check_positive_int(max_batch_entries, "max_batch_entries")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype}")
    device = resolve_device(device)
    gen = make_generator(seed)  # CPU draws, then moved: same numbers on every device
    x = torch.zeros(d, dtype=dtype, device=device)
    x[0] = x_norm
    keys = ("random", "gradient", "adversarial", "worst", "flips_random", "flips_all", "near_zero")
    out = {k: np.empty((len(widths), draws)) for k in keys}
    for row, n in enumerate(widths):
        done = 0
        while done < draws:
            b = min(draws - done, max(1, max_batch_entries // (n * d)))
            w0, c = symmetric_xavier_init(
                d, n, batch=(b,), generator=gen, dtype=dtype, device=device
            )
            sl = slice(done, done + b)
            u = random_perturbation(w0, alpha, generator=gen)
            out["random"][row, sl] = remainder(x, w0 + u, w0, c).abs().cpu().numpy()
            out["flips_random"][row, sl] = (
                sign_changes(x, w0 + u, w0).to(dtype).mean(-1).cpu().numpy()
            )
            u = gradient_perturbation(x, w0, c, alpha)
            out["gradient"][row, sl] = remainder(x, w0 + u, w0, c).abs().cpu().numpy()
            u = adversarial_perturbation(x, w0, c, alpha, target="remainder")
            out["adversarial"][row, sl] = remainder(x, w0 + u, w0, c).abs().cpu().numpy()
            u = adversarial_perturbation(x, w0, c, alpha, target="flips")
            out["flips_all"][row, sl] = sign_changes(x, w0 + u, w0).to(dtype).mean(-1).cpu().numpy()
            out["worst"][row, sl] = worst_case_remainder(x, w0, c, alpha).cpu().numpy()
            out["near_zero"][row, sl] = near_zero_fraction(x, w0, alpha).cpu().numpy()
            done += b
    return out

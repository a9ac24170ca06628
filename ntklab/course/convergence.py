"""The quantities the convergence theorems talk about, computed for a concrete model and data.

Petersen & Zech, Section 11.4 (course notation: width ``n``, ``m`` points, loss
``L(w) = sum_i (f(x_i; w) - y_i)^2``):

* Assumption 11.12 (a): eigenvalues ``lambda_min, lambda_max`` of the tangent kernel matrix at
  ``w_0`` (11.4.1) - :func:`kernel_eigenvalues`;
* Assumption 11.12 (b): ``U >= ||grad f(x_i; w)||`` and ``L >= Lip(grad f(x_i; .))`` on the ball
  ``B_r(w_0)`` (11.4.2) - :func:`estimate_gradient_bound`, :func:`estimate_gradient_lipschitz`;
* Assumption 11.12 (c): ``r = 2 sqrt(m) U sqrt(L(w_0)) / lambda_min`` and the admissible
  ``L <= lambda_min^2 / (12 m^{3/2} U^2 sqrt(L(w_0)))`` (11.4.3) - :func:`radius`,
  :func:`admissible_lipschitz`, and all of it at once in :func:`check_assumption_11_12`;
* Theorem 11.13: the step-size limit ``h <= 1/(lambda_min + lambda_max)`` (11.4.4) and the
  guarantees ``||w_k - w_0|| <= r`` (11.4.6a), ``L(w_k) <= (1 - h lambda_min)^{2k} L(w_0)``
  (11.4.6b) - :func:`theorem_11_13_step_size`, :func:`theorem_11_13_bounds`;
* Theorem 11.23 (LeCun networks): step ``h < 2 / ((lambda_min^LC + 4 lambda_max^LC) n)`` and rate
  ``(1 - h n lambda_min^LC / 2)^{2k}`` (the source prints ``hn/(2 lambda_min^LC)``, a typo) -
  :func:`theorem_11_23_step_size`, :func:`theorem_11_23_rate`;
* Lemmas 11.20-11.22: the probability ``1 - d mu_4 / n`` of ``||W|| <= sqrt(n (d + 1))``, the
  constants ``M_1(R), M_2(R)`` of the gradient and Lipschitz bounds (as the proof's component
  bounds add up, next to the printed ones) and the initial-loss bound ``R_0(delta, m, R)`` -
  :func:`lemma_11_20_probability`, :func:`lemma_11_21_constants`, :func:`lemma_11_22_bound`;
* Proposition 11.25: the matrix ``bar J_k J(w_k)^T`` that drives the residual, ``E_{k+1} =
  (I - 2h bar J_k J(w_k)^T) E_k`` with ``bar J_k`` the Jacobian averaged over the segment
  ``[w_k, w_{k+1}]``, at every step of a gradient-descent run - :func:`averaged_jacobian_run`;
* Du et al. / Arora et al. (slides 001): ``lambda_0 = lambda_min(H^infinity)`` and the
  generalization measure ``sqrt(2 y^T (H^infinity)^{-1} y / m)`` - :func:`lambda_0`,
  :func:`generalization_measure`.

**Direction of error of the estimated constants.**  ``U`` and ``L`` are suprema over a ball of
dimension ``P``; they are estimated by evaluating the quantity at random points (uniform in the
ball and on its boundary sphere) and then improving the best points by projected gradient
ascent.  Every value returned was *attained* at points of the ball, so the estimates are
**lower bounds** of the true suprema: they can only err downwards.  An assumption checked with
them is checked up to that error, which is why :func:`check_assumption_11_12` reports the margin
by which (c) holds or fails.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.func import functional_call, grad

from ..dynamics import (
    _check_model,
    _data,
    _outputs,
    _unflatten,
    flat_parameters,
)
from ..empirical import jacobian, ntk
from ..linalg import psd_solve, symmetric_part
from ..validation import (
    as_tensor,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_probability,
    make_generator,
)

__all__ = [
    "Assumption1112",
    "AveragedJacobianRun",
    "Estimate",
    "Lemma1119Draws",
    "Lemma1121Constants",
    "OneParameter",
    "admissible_lipschitz",
    "averaged_jacobian_run",
    "check_assumption_11_12",
    "estimate_gradient_bound",
    "estimate_gradient_lipschitz",
    "generalization_measure",
    "kernel_eigenvalues",
    "lambda_0",
    "lemma_11_19_draws",
    "lemma_11_20_probability",
    "lemma_11_21_constants",
    "lemma_11_22_bound",
    "radius",
    "sample_ball",
    "theorem_11_13_bounds",
    "theorem_11_13_step_size",
    "theorem_11_23_rate",
    "theorem_11_23_step_size",
]


def _jacobian_at(model: torch.nn.Module, X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``J(w)`` (m, P): :func:`ntklab.empirical.jacobian` of a copy of ``model`` holding ``w``."""
    net = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(w, [p for p in net.parameters() if p.requires_grad])
    return jacobian(net, X)


def kernel_eigenvalues(model: torch.nn.Module, X: Any) -> tuple[float, float]:
    """Extreme eigenvalues of the tangent kernel matrix ``J J^T`` at the model's ``w`` (11.4.1).

    Parameters
    ----------
    model : torch.nn.Module
        A scalar-output model; its current trainable parameters are ``w``.
    X : array_like
        Training inputs, shape ``(m, d)``.

    Returns
    -------
    lambda_min, lambda_max : float
        Smallest and largest eigenvalue of the ``(m, m)`` matrix
        ``K_ij = grad_w f(x_i; w) . grad_w f(x_j; w)``.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module`` or ``X`` is not numeric.
    ValueError
        If ``X`` has the wrong shape for the model or is not finite.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1, bias=False).double()  # f(x; w) = w.x, kernel X X^T
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> kernel_eigenvalues(model, X)
    (1.0, 4.0)
    """
    ev = torch.linalg.eigvalsh(ntk(model, X))
    return float(ev[0]), float(ev[-1])


def theorem_11_13_step_size(lambda_min: float, lambda_max: float) -> float:
    """Theorem 11.13's step-size limit ``1 / (lambda_min + lambda_max)`` (11.4.4).

    Parameters
    ----------
    lambda_min, lambda_max : float
        Eigenvalue bounds of the tangent kernel matrix of Assumption 11.12 (a),
        ``0 < lambda_min <= lambda_max``.

    Returns
    -------
    float
        The largest course step ``h`` (loss ``sum_i (f(x_i) - y_i)^2``) the theorem allows.

    Raises
    ------
    TypeError
        If an argument is not a real number.
    ValueError
        If ``lambda_min <= 0`` or ``lambda_max < lambda_min``.

    Examples
    --------
    >>> theorem_11_13_step_size(1.0, 3.0)
    0.25
    """
    lambda_min = check_positive(lambda_min, "lambda_min")
    lambda_max = check_positive(lambda_max, "lambda_max")
    if lambda_max < lambda_min:
        raise ValueError(f"lambda_max = {lambda_max} must be >= lambda_min = {lambda_min}")
    return 1.0 / (lambda_min + lambda_max)


def radius(U: float, lambda_min: float, m: int, loss0: float) -> float:
    """The radius ``r = 2 sqrt(m) U sqrt(L(w_0)) / lambda_min`` of (11.4.3).

    It is also the bound (11.4.6a) on ``||w_k - w_0||`` of Theorem 11.13.

    Parameters
    ----------
    U : float
        Gradient bound of Assumption 11.12 (b), ``>= 0``.
    lambda_min : float
        Smallest eigenvalue of the tangent kernel matrix, ``> 0``.
    m : int
        Number of training points.
    loss0 : float
        Initial loss ``L(w_0) = sum_i (f(x_i; w_0) - y_i)^2``, ``>= 0``.

    Returns
    -------
    float
        ``r``.

    Raises
    ------
    TypeError, ValueError
        If an argument is not a number of the stated sign (naming it).

    Examples
    --------
    >>> radius(2.0, 4.0, 4, 9.0)
    6.0
    """
    U = check_nonnegative(U, "U")
    lambda_min = check_positive(lambda_min, "lambda_min")
    m = check_positive_int(m, "m")
    loss0 = check_nonnegative(loss0, "loss0")
    return 2 * math.sqrt(m) * U * math.sqrt(loss0) / lambda_min


def admissible_lipschitz(U: float, lambda_min: float, m: int, loss0: float) -> float:
    """The largest ``L`` allowed by (11.4.3): ``lambda_min^2 / (12 m^{3/2} U^2 sqrt(L(w_0)))``.

    Parameters
    ----------
    U : float
        Gradient bound of Assumption 11.12 (b), ``> 0``.
    lambda_min : float
        Smallest eigenvalue of the tangent kernel matrix, ``> 0``.
    m : int
        Number of training points.
    loss0 : float
        Initial loss ``L(w_0)``, ``>= 0``.

    Returns
    -------
    float
        The admissible Lipschitz constant of the gradient (``inf`` when ``loss0 == 0``).

    Raises
    ------
    TypeError, ValueError
        If an argument is not a number of the stated sign (naming it).

    Examples
    --------
    >>> admissible_lipschitz(1.0, 2.0, 1, 1.0)
    0.3333333333333333
    """
    U = check_positive(U, "U")
    lambda_min = check_positive(lambda_min, "lambda_min")
    m = check_positive_int(m, "m")
    loss0 = check_nonnegative(loss0, "loss0")
    if loss0 == 0:
        return math.inf
    return lambda_min**2 / (12 * m**1.5 * U**2 * math.sqrt(loss0))


def theorem_11_13_bounds(
    lambda_min: float,
    lambda_max: float,
    U: float,
    m: int,
    loss0: float,
    h: float,
    ks: Any,
    *,
    check: str = "error",
) -> tuple[float, torch.Tensor]:
    """Theorem 11.13's guarantees for the course step ``h`` at iterations ``ks``.

    Parameters
    ----------
    lambda_min, lambda_max : float
        Eigenvalue bounds of the tangent kernel matrix (Assumption 11.12 (a)).
    U : float
        Gradient bound (Assumption 11.12 (b)).
    m : int
        Number of training points.
    loss0 : float
        Initial loss ``L(w_0)``.
    h : float
        Course step size (loss ``sum_i (f(x_i) - y_i)^2``), ``> 0``.
    ks : int, sequence or range
        Iteration counts ``k_j >= 0``.
    check : {"error", "warn", "off"}, optional
        What a step above the limit (11.4.4) does: raise (default), warn, or nothing.

    Returns
    -------
    r : float
        ``2 sqrt(m) U sqrt(L(w_0)) / lambda_min``, bounding ``||w_k - w_0||`` (11.4.6a).
    envelope : torch.Tensor
        ``(1 - h lambda_min)^{2 k_j} L(w_0)``, bounding the loss (11.4.6b); shape
        ``(len(ks),)``.

    Raises
    ------
    ValueError
        If ``h`` exceeds ``1 / (lambda_min + lambda_max)`` with ``check="error"`` (the message
        states both numbers), or an argument has a wrong value.

    Warns
    -----
    RuntimeWarning
        If ``h`` exceeds the limit with ``check="warn"``.

    Examples
    --------
    >>> r, env = theorem_11_13_bounds(1.0, 3.0, 1.0, 4, 9.0, 0.25, [0, 1, 2])
    >>> r, env.tolist()
    (12.0, [9.0, 5.0625, 2.84765625])
    """
    limit = theorem_11_13_step_size(lambda_min, lambda_max)
    h = check_positive(h, "h")
    if h > limit and check != "off":
        msg = (
            f"step size h = {h:.6g} exceeds the limit 1/(lambda_min + lambda_max) = "
            f"{limit:.6g} of (11.4.4)"
        )
        if check == "error":
            raise ValueError(msg)
        import warnings

        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    ks = as_tensor(list(ks) if isinstance(ks, range) else ks, "ks", ndim=(0, 1)).reshape(-1)
    if bool((ks < 0).any()):
        raise ValueError("ks must be nonnegative iteration counts")
    return radius(U, lambda_min, m, loss0), (1 - h * lambda_min) ** (2 * ks) * loss0


def theorem_11_23_step_size(lambda_min_lc: float, lambda_max_lc: float, n: int) -> float:
    """The step of Theorem 11.23: ``2 / ((lambda_min^LC + 4 lambda_max^LC) n)``.

    It is (11.4.4) for the eigenvalue bounds ``lambda_min = n lambda_min^LC / 2`` and
    ``lambda_max = 2 n lambda_max^LC`` of Lemma 11.19; the theorem asks for a strictly smaller
    ``h``.

    Parameters
    ----------
    lambda_min_lc, lambda_max_lc : float
        Eigenvalue bounds of the LeCun network's limiting kernel, ``> 0``.
    n : int
        Width.

    Returns
    -------
    float
        The step limit.

    Raises
    ------
    TypeError, ValueError
        If an argument is not a positive number (naming it).

    Examples
    --------
    >>> theorem_11_23_step_size(1.0, 1.0, 4)
    0.1
    """
    lambda_min_lc = check_positive(lambda_min_lc, "lambda_min_lc")
    lambda_max_lc = check_positive(lambda_max_lc, "lambda_max_lc")
    n = check_positive_int(n, "n")
    return 2.0 / ((lambda_min_lc + 4 * lambda_max_lc) * n)


def theorem_11_23_rate(h: float, n: int, lambda_min_lc: float, ks: Any = 1) -> torch.Tensor:
    """Theorem 11.23's loss factor ``(1 - h n lambda_min^LC / 2)^{2k}`` at iterations ``ks``.

    This is ``(1 - h lambda_min)^{2k}`` of Theorem 11.13 with ``lambda_min = n lambda_min^LC/2``.
    (Petersen & Zech print ``(1 - h n / (2 lambda_min^LC))^{2k}``: a typo.)

    Parameters
    ----------
    h : float
        Course step size, ``> 0``.
    n : int
        Width.
    lambda_min_lc : float
        Smallest eigenvalue of the LeCun network's limiting kernel, ``> 0``.
    ks : int or sequence, optional
        Iteration counts (default 1).

    Returns
    -------
    torch.Tensor
        The factor at each ``k``; shape of ``ks`` (0-D for a number).

    Raises
    ------
    TypeError, ValueError
        If an argument is not a positive number (naming it).

    Examples
    --------
    >>> theorem_11_23_rate(0.5, 2, 1.0, [0, 1, 2]).tolist()
    [1.0, 0.25, 0.0625]
    """
    h = check_positive(h, "h")
    n = check_positive_int(n, "n")
    lambda_min_lc = check_positive(lambda_min_lc, "lambda_min_lc")
    ks = as_tensor(list(ks) if isinstance(ks, range) else ks, "ks", ndim=(0, 1))
    return (1 - h * n * lambda_min_lc / 2) ** (2 * ks)


@dataclass
class AveragedJacobianRun:
    """A gradient-descent run with the matrix of (eq-ch4-step) at every step.

    Attributes
    ----------
    loss : tensor, (K+1,)
        Course loss ``||u(w_k) - y||^2``.
    distance : tensor, (K+1,)
        ``||w_k - w_0||``.
    drift : tensor, (K,)
        ``||bar J_k J(w_k)^T - J_0 J_0^T||_2`` (Proposition 11.25 before dividing by ``n``).
    identity_error : tensor, (K,)
        ``||E_{k+1} - (I - 2h bar J_k J(w_k)^T) E_k|| / ||E_k||``: how exactly the quadrature
        ``bar J_k`` reproduces the step (a check of the fundamental-theorem identity).
    """

    loss: torch.Tensor
    distance: torch.Tensor
    drift: torch.Tensor
    identity_error: torch.Tensor


def averaged_jacobian_run(
    model: torch.nn.Module, X: Any, y: Any, h: float, steps: int, *, quadrature_order: int = 3
) -> AveragedJacobianRun:
    """Gradient descent on the course loss, measuring Proposition 11.25's matrix at every step.

    ``w_{k+1} = w_k - 2h J(w_k)^T (u(w_k) - y)`` and ``bar J_k = int_0^1 J(w_k + s (w_{k+1} -
    w_k)) ds`` by Gauss-Legendre quadrature with ``quadrature_order`` nodes; the record is
    ``||bar J_k J(w_k)^T - J_0 J_0^T||`` (spectral norm).  One Jacobian per node and step.

    Parameters
    ----------
    model : torch.nn.Module
        Scalar-output model (a copy is trained).
    X : tensor, (m, ...)
        Training inputs, of the model's dtype.
    y : tensor, (m,)
        Targets.
    h : float
        Course step, ``> 0``.
    steps : int
        Number of iterations ``K >= 1``.
    quadrature_order : int
        Gauss-Legendre nodes on each segment, ``>= 1``.

    Returns
    -------
    AveragedJacobianRun
        Loss and distance (K+1,), drift and identity error (K,).

    Raises
    ------
    TypeError, ValueError
        On bad arguments (named), as :func:`ntklab.dynamics.gradient_descent`.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> run = averaged_jacobian_run(net, x, torch.ones(2, dtype=torch.float64), 0.1, 3)
    >>> run.drift.shape, round(float(run.drift.abs().max()), 12)  # linear: J is constant
    (torch.Size([3]), 0.0)
    """
    model = _check_model(model)
    X, y = _data(model, X, y)
    if y.dim() != 1:
        raise ValueError(f"y must have shape (m,) for a scalar-output model, got {tuple(y.shape)}")
    h = check_positive(h, "h")
    steps = check_positive_int(steps, "steps")
    q = check_positive_int(quadrature_order, "quadrature_order")
    nodes, weights = _gauss_legendre(q, X.dtype)
    net = copy.deepcopy(model)

    def f(w):
        return functional_call(net, _unflatten(net, w), (X,)).reshape(-1)

    def at(w):
        # one vectorized reverse pass for the m rows (cheaper than m separate backward passes)
        with torch.no_grad():
            u = f(w)
        return u, torch.autograd.functional.jacobian(f, w, vectorize=True)

    w = flat_parameters(net)
    w0 = w.clone()
    u, J = at(w)
    K0 = J @ J.T
    loss, dist, drift, ident = [float(((u - y) ** 2).sum())], [0.0], [], []
    for _ in range(steps):
        E = u - y
        w_next = w - 2 * h * J.T @ E
        Jbar = sum(c * at(w + s * (w_next - w))[1] for s, c in zip(nodes, weights, strict=True))
        A = Jbar @ J.T
        drift.append(float(torch.linalg.matrix_norm(A - K0, ord=2)))
        w = w_next
        u, J = at(w)
        ident.append(float((u - y - (E - 2 * h * A @ E)).norm() / E.norm()))
        loss.append(float(((u - y) ** 2).sum()))
        dist.append(float((w - w0).norm()))
    return AveragedJacobianRun(
        loss=torch.tensor(loss, dtype=X.dtype),
        distance=torch.tensor(dist, dtype=X.dtype),
        drift=torch.tensor(drift, dtype=X.dtype),
        identity_error=torch.tensor(ident, dtype=X.dtype),
    )


def _gauss_legendre(q: int, dtype: torch.dtype) -> tuple[list[float], list[float]]:
    """Nodes and weights of the ``q``-point Gauss-Legendre rule on ``[0, 1]``."""
    import numpy as np

    t, c = np.polynomial.legendre.leggauss(q)
    return [float((ti + 1) / 2) for ti in t], [float(ci / 2) for ci in c]


def lemma_11_20_probability(n: int, d: int, mu4: float) -> float:
    """Lemma 11.20's lower bound ``1 - d mu_4 / n`` on ``P[||W|| <= sqrt(n (d + 1))]``.

    ``W`` is ``n x d`` with i.i.d. entries of mean 0, variance 1 and fourth moment ``mu_4``
    (Assumption 11.14); the proof bounds the spectral norm by the Frobenius norm and applies
    Chebyshev to the row sums of squares.  The bound is returned as printed (it may be negative
    for small ``n``, when it says nothing).

    Parameters
    ----------
    n, d : int
        Rows and columns of ``W``, ``>= 1``.
    mu4 : float
        Fourth moment of the entries' distribution, ``> 0`` (3 for the standard normal, 9/5 for
        the uniform distribution on ``[-sqrt 3, sqrt 3]``).

    Returns
    -------
    float
        ``1 - d mu4 / n``.

    Raises
    ------
    TypeError, ValueError
        If ``n`` or ``d`` is not a positive integer or ``mu4`` not a positive number.

    Examples
    --------
    >>> lemma_11_20_probability(50, 4, 3.0)
    0.76
    """
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    mu4 = check_positive(mu4, "mu4")
    return 1.0 - d * mu4 / n


class Lemma1121Constants(NamedTuple):
    """Constants of Lemma 11.21: the gradient bound ``M1`` and the Lipschitz constant ``M2``.

    ``M1, M2`` are the sums of the proof's component bounds, ``M1_printed, M2_printed`` the
    constants the source prints; ``M = max(M1, M2)`` is the lemma's ``M(R)``.
    """

    M1: float
    M2: float
    M1_printed: float
    M2_printed: float

    @property
    def M(self) -> float:
        return max(self.M1, self.M2)


def lemma_11_21_constants(R: float) -> Lemma1121Constants:
    """The constants of Lemma 11.21 as its proof's component bounds add up, and as printed.

    Step 1 of the proof bounds, on ``B_{c n^{-1/2}}(w_0)`` (with ``c <= sqrt n``), the gradient
    blocks by ``sqrt(n)(6R + 9R^2)`` (``b``), ``sqrt(n)(6R^2 + 9R^3)`` (``U``),
    ``sqrt(n)(2R + 3R^2)`` (``v``) and ``1`` (``c``); their sum gives
    ``M1 = 1 + 8R + 18R^2 + 9R^3`` where the source prints ``1 + 8R + 12R^2``.  Step 2's
    Lipschitz bounds ``5R + 6R^2``, ``5R^2 + 6R^3`` and ``R + R^2`` add up to
    ``M2 = 6R + 12R^2 + 6R^3`` where the source prints ``R + 6R^2 + 6R^3``.

    Parameters
    ----------
    R : float
        The constant of Assumption 11.18 (a), ``> 0``.

    Returns
    -------
    Lemma1121Constants
        ``(M1, M2, M1_printed, M2_printed)``; ``.M`` is ``max(M1, M2)``.

    Raises
    ------
    TypeError, ValueError
        If ``R`` is not a positive number.

    Examples
    --------
    >>> lemma_11_21_constants(1.0)
    Lemma1121Constants(M1=36.0, M2=24.0, M1_printed=21.0, M2_printed=13.0)
    """
    R = check_positive(R, "R")
    return Lemma1121Constants(
        M1=1 + 8 * R + 18 * R**2 + 9 * R**3,
        M2=6 * R + 12 * R**2 + 6 * R**3,
        M1_printed=1 + 8 * R + 12 * R**2,
        M2_printed=R + 6 * R**2 + 6 * R**3,
    )


def lemma_11_22_bound(C: float, m: int, delta: float, R: float) -> float:
    """Lemma 11.22's bound ``R_0 = m (sqrt(C m / delta) + R)^2`` on the initial loss.

    With ``Var f(x_i; w_0) <= C`` for every training point and ``|y_i| <= R``, Chebyshev's
    inequality and a union bound over the ``m`` points give ``P[L(w_0) <= R_0] >= 1 - delta``
    for every width.

    Parameters
    ----------
    C : float
        Bound on the variance of the network's output at each training point, ``> 0`` (for a
        LeCun network ``max_i K^LC(x_i, x_i)``).
    m : int
        Number of training points.
    delta : float
        Failure probability, ``0 < delta < 1``.
    R : float
        Bound on ``|y_i|``, ``>= 0``.

    Returns
    -------
    float
        ``R_0``.

    Raises
    ------
    TypeError, ValueError
        If an argument is out of range (naming it).

    Examples
    --------
    >>> lemma_11_22_bound(1.0, 4, 0.25, 1.0)
    100.0
    """
    C = check_positive(C, "C")
    m = check_positive_int(m, "m")
    delta = check_probability(delta, "delta")
    R = check_nonnegative(R, "R")
    return m * (math.sqrt(C * m / delta) + R) ** 2


def lambda_0(X: Any) -> float:
    """``lambda_0 = lambda_min(H^infinity)`` of Du et al. (2019) for inputs ``X`` (m, d).

    ``H^infinity_ij = E_w[x_i.x_j 1{w.x_i >= 0, w.x_j >= 0}]``, from
    :func:`ntklab.analytic.h_infinity`.

    Parameters
    ----------
    X : array_like
        Inputs, shape ``(m, d)``.

    Returns
    -------
    float
        The smallest eigenvalue of ``H^infinity``.

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not a finite numeric matrix.

    Examples
    --------
    >>> lambda_0(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))  # orthogonal: H = diag(|x_i|^2) / 2
    0.5
    """
    from ..analytic import h_infinity

    return float(torch.linalg.eigvalsh(symmetric_part(h_infinity(X)))[0])


def generalization_measure(H: Any, y: Any) -> float:
    """Arora et al.'s (2019) measure ``sqrt(2 y^T H^{-1} y / m)`` for a kernel matrix ``H`` (m, m).

    In the slides the number of points is called ``n``; here it is ``m``.  Solved with
    :func:`ntklab.linalg.psd_solve` (no inverse).

    Parameters
    ----------
    H : array_like
        Symmetric positive definite kernel matrix, shape ``(m, m)``.
    y : array_like
        Targets, shape ``(m,)``.

    Returns
    -------
    float
        The measure.

    Raises
    ------
    ValueError
        If ``H`` is not square or ``y`` does not have ``m`` entries.

    Examples
    --------
    >>> generalization_measure(torch.eye(2, dtype=torch.float64) * 4, torch.tensor([2.0, 2.0]))
    1.4142135623730951
    """
    H = as_tensor(H, "H", ndim=2)
    if H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be square, got shape {tuple(H.shape)}")
    y = as_tensor(y, "y", dtype=H.dtype, device=H.device, ndim=1)
    if y.shape[0] != H.shape[0]:
        raise ValueError(f"y must have {H.shape[0]} entries to match H, got {y.shape[0]}")
    q = float(y @ psd_solve(H, y))
    return math.sqrt(max(2 * q / H.shape[0], 0.0))


# --------------------------------------------------------------------------------------------
# estimating U and L over a ball
# --------------------------------------------------------------------------------------------


def sample_ball(
    center: torch.Tensor,
    r: float,
    count: int,
    *,
    surface: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Points drawn uniformly in the ball ``B_r(center)`` of ``R^P`` (or on its sphere).

    A direction ``g / ||g||`` (``g`` standard Gaussian) times a radius ``r u^{1/P}``
    (``u`` uniform on [0, 1]), which makes the point uniform in the ball; ``r`` itself for
    ``surface=True``.

    Parameters
    ----------
    center : torch.Tensor
        The centre, ``P`` entries (flattened); the result has its dtype and device.
    r : float
        Radius, ``>= 0``.
    count : int
        Number of points.
    surface : bool, optional
        Draw on the boundary sphere instead of in the ball.
    seed : int, optional
        Seed of a fresh CPU generator; pass ``seed`` or ``generator``, not both.
    generator : torch.Generator, optional
        A CPU generator (draws are made on the CPU, then moved to ``center``'s device).

    Returns
    -------
    torch.Tensor
        Shape ``(count, P)``.

    Raises
    ------
    TypeError
        If ``center`` is not a tensor or ``count``/``seed`` not an integer.
    ValueError
        If ``r < 0``, ``count < 1`` or both ``seed`` and ``generator`` are given.

    Examples
    --------
    >>> w = sample_ball(torch.zeros(3, dtype=torch.float64), 2.0, 5, seed=0, surface=True)
    >>> w.shape, [round(v, 6) for v in w.norm(dim=1).tolist()]
    (torch.Size([5, 3]), [2.0, 2.0, 2.0, 2.0, 2.0])
    """
    if not isinstance(center, torch.Tensor):
        raise TypeError(f"center must be a torch.Tensor, got {type(center).__name__}")
    r = check_nonnegative(r, "r")
    count = check_positive_int(count, "count")
    gen = make_generator(seed, generator)
    P = center.numel()
    cpu = {"dtype": center.dtype}  # drawn on the CPU, then moved: same points on every device
    g = torch.randn(count, P, generator=gen, **cpu)
    g = g / g.norm(dim=1, keepdim=True)
    if surface:
        rad = torch.ones(count, 1, **cpu)
    else:
        rad = torch.rand(count, 1, generator=gen, **cpu) ** (1.0 / P)
    return center.reshape(-1) + (r * rad * g).to(center.device)


def _project(w: torch.Tensor, center: torch.Tensor, r: float) -> torch.Tensor:
    delta = w - center
    nrm = float(delta.norm())
    return w if nrm <= r else center + delta * (r / nrm)


@dataclass
class Estimate:
    """An estimated supremum: ``value = max(sampled, optimized)``, a lower bound of the truth.

    Attributes
    ----------
    value : float
        The estimate (attained at a point of the ball, hence a lower bound).
    sampled : float
        The best value over the random points.
    optimized : float
        The best value after projected gradient ascent from there.
    index : int
        The training point attaining it.
    radius : float
        Radius of the ball searched.
    samples : int
        Number of random points evaluated.
    direction_of_error : str
        Says that the true supremum is at least ``value``.
    """

    value: float
    sampled: float
    optimized: float
    index: int
    radius: float
    samples: int
    direction_of_error: str = "lower bound: the true supremum is at least this value"


def _single(model):
    def f(flat, x):
        return functional_call(model, _unflatten(model, flat), (x.unsqueeze(0),)).reshape(())

    return f


def _projected_ascent(objective, start, project, best, step, steps):
    """Normalized projected gradient ascent on ``objective`` (a squared quantity).

    From ``start``, move ``step`` along the normalized gradient, map the candidate back with
    ``project`` (which may return ``None`` to reject it), keep it if ``sqrt(objective)`` beats
    ``best`` and halve the step otherwise.  Every accepted value is attained at a point of the
    feasible set, so the result stays a lower bound of the supremum.  Returns
    ``(best, point)``.
    """
    point = start
    for _ in range(steps):
        gvec = grad(objective)(point)
        gn = float(gvec.norm())
        if gn == 0 or not math.isfinite(gn):
            break
        cand = project(point + step * gvec / gn)
        if cand is None:
            step /= 2
            continue
        val = math.sqrt(float(objective(cand)))
        if math.isfinite(val) and val > best:
            best, point = val, cand
        else:
            step /= 2
    return best, point


def estimate_gradient_bound(
    model: torch.nn.Module,
    X: Any,
    r: float,
    *,
    samples: int = 32,
    ascent_steps: int = 20,
    seed: int | None = 0,
) -> Estimate:
    """Estimate ``U = max_i sup_{w in B_r(w_0)} ||grad_w f(x_i; w)||`` (11.4.2), a lower bound.

    ``w_0`` are the model's current trainable parameters.  Samples half inside the ball, half on
    its boundary sphere, then ``ascent_steps`` of projected normalized gradient ascent on
    ``||grad f(x_i; w)||^2`` from the best sample (step ``r/4`` halving on failure).

    Parameters
    ----------
    model : torch.nn.Module
        A scalar-output model at ``w_0``.
    X : array_like
        Training inputs, shape ``(m, d)``.
    r : float
        Radius of the ball, ``>= 0``.
    samples : int, optional
        Number of random points (default 32).
    ascent_steps : int, optional
        Steps of projected gradient ascent (default 20; 0 skips it).
    seed : int, optional
        Seed of the random points (default 0).

    Returns
    -------
    Estimate
        ``value`` is the estimate of ``U``.

    Raises
    ------
    TypeError, ValueError
        If an argument is not of the stated kind (naming it).

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1, bias=False).double()  # f(x; w) = w.x, kernel X X^T
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> estimate_gradient_bound(model, X, 0.5, samples=4, ascent_steps=2).value  # max ||x_i||
    2.0
    """
    model = _check_model(model)
    X = _data(model, X, x_name="X")
    r = check_nonnegative(r, "r")
    samples = check_positive_int(samples, "samples")
    ascent_steps = check_nonnegative_int(ascent_steps, "ascent_steps")
    w0 = flat_parameters(model)
    gen = make_generator(seed)
    pts = [w0.unsqueeze(0)]
    if r > 0:
        pts += [
            sample_ball(w0, r, (samples + 1) // 2, generator=gen),
            sample_ball(w0, r, samples // 2, generator=gen, surface=True),
        ]
    pts = torch.cat(pts)
    best, best_w, best_i = -1.0, w0, 0
    for w in pts:
        norms = _jacobian_at(model, X, w).norm(dim=1)
        i = int(norms.argmax())
        if float(norms[i]) > best:
            best, best_w, best_i = float(norms[i]), w, i
    sampled = best
    if r > 0 and ascent_steps:
        f = _single(model)
        x = X[best_i]

        def sqnorm(flat):
            g = grad(f)(flat, x)
            return (g * g).sum()

        best, _ = _projected_ascent(
            sqnorm, best_w.clone(), lambda c: _project(c, w0, r), best, r / 4, ascent_steps
        )
    return Estimate(best, sampled, best, best_i, r, int(pts.shape[0]))


def estimate_gradient_lipschitz(
    model: torch.nn.Module,
    X: Any,
    r: float,
    *,
    samples: int = 32,
    ascent_steps: int = 20,
    seed: int | None = 0,
) -> Estimate:
    """Estimate ``L = max_i sup ||grad f(x_i; w) - grad f(x_i; v)|| / ||w - v||`` over ``B_r(w_0)``.

    Random pairs (``w`` uniform in the ball, ``v`` at distances ``r``, ``r/10``, ``r/100`` from it,
    projected back) give the sampled value; projected gradient ascent on the ratio over both
    points from the best pair gives the optimized one.  Both are lower bounds of ``L``.
    For ReLU networks the gradient jumps where a unit switches, so the true ``L`` is infinite
    and the estimate grows as the pairs get closer to a switch: use a smooth activation for
    Assumption 11.12 (b).

    Parameters
    ----------
    model : torch.nn.Module
        A scalar-output model at ``w_0``.
    X : array_like
        Training inputs, shape ``(m, d)``.
    r : float
        Radius of the ball, ``> 0``.
    samples : int, optional
        Number of random pairs (default 32).
    ascent_steps : int, optional
        Steps of projected gradient ascent (default 20; 0 skips it).
    seed : int, optional
        Seed of the random pairs (default 0).

    Returns
    -------
    Estimate
        ``value`` is the estimate of ``L``.

    Raises
    ------
    TypeError, ValueError
        If an argument is not of the stated kind (naming it).

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1, bias=False).double()  # f(x; w) = w.x, kernel X X^T
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> estimate_gradient_lipschitz(model, X, 0.5, samples=4, ascent_steps=2).value  # linear
    0.0
    """
    model = _check_model(model)
    X = _data(model, X, x_name="X")
    r = check_positive(r, "r")
    samples = check_positive_int(samples, "samples")
    ascent_steps = check_nonnegative_int(ascent_steps, "ascent_steps")
    w0 = flat_parameters(model)
    gen = make_generator(seed)
    W = sample_ball(w0, r, samples, generator=gen)
    best, best_pair, best_i = -1.0, None, 0
    scales = (1.0, 0.1, 0.01)
    for j, w in enumerate(W):
        dirs = sample_ball(torch.zeros_like(w0), 1.0, 1, generator=gen, surface=True)[0]
        v = _project(w + scales[j % 3] * r * dirs, w0, r)
        dist = float((w - v).norm())
        if dist == 0:
            continue
        diff = (_jacobian_at(model, X, w) - _jacobian_at(model, X, v)).norm(dim=1)
        i = int(diff.argmax())
        val = float(diff[i]) / dist
        if val > best:
            best, best_pair, best_i = val, (w, v), i
    sampled = best
    if ascent_steps and best_pair is not None:
        f = _single(model)
        x = X[best_i]

        def ratio(pair):
            w, v = pair[0], pair[1]
            dg = grad(f)(w, x) - grad(f)(v, x)
            return (dg * dg).sum() / ((w - v) ** 2).sum()

        def project_pair(cand):
            cand = torch.stack([_project(cand[0], w0, r), _project(cand[1], w0, r)])
            # a pair that collapsed to one point has no ratio: shorten the step instead
            return None if float((cand[0] - cand[1]).norm()) == 0 else cand

        best, _ = _projected_ascent(
            ratio, torch.stack(best_pair), project_pair, best, r / 4, ascent_steps
        )
    return Estimate(best, sampled, best, best_i, r, int(W.shape[0]))


@dataclass
class Assumption1112:
    """Assumption 11.12 evaluated for a model, data and ``w_0``.

    ``lambda_min, lambda_max`` (a); ``U``, ``L`` estimated on ``B_r_checked(w_0)`` (b);
    ``r`` and ``L_admissible`` of (11.4.3) and ``holds_c = L <= L_admissible`` (c), with
    ``margin = L_admissible / L`` (> 1 means (c) holds).  ``r_checked >= r`` is the radius on
    which (b) was estimated, so (b) holds on ``B_r`` too.  Since ``U`` and ``L`` are lower
    bounds of the true constants, ``holds_c`` is itself an estimate.  Built by
    :func:`check_assumption_11_12`; ``step_size_limit`` is (11.4.4).
    """

    m: int
    loss0: float
    lambda_min: float
    lambda_max: float
    U: Estimate
    L: Estimate
    r: float
    r_checked: float
    L_admissible: float
    holds_a: bool
    holds_c: bool
    margin: float
    step_size_limit: float


def check_assumption_11_12(
    model: torch.nn.Module,
    X: Any,
    y: Any,
    *,
    samples: int = 32,
    ascent_steps: int = 20,
    inflate: float = 1.25,
    seed: int | None = 0,
) -> Assumption1112:
    """Evaluate Assumption 11.12 at the model's current parameters ``w_0``.

    ``r`` depends on ``U`` and ``U`` on the ball: starting from ``U_0 = max_i ||grad f(x_i;
    w_0)||`` the radius is inflated by ``inflate`` and ``U`` re-estimated on the larger ball
    until the ``r`` it implies fits inside the ball used (at most 10 rounds).

    Parameters
    ----------
    model : torch.nn.Module
        A scalar-output model at ``w_0``.
    X : array_like
        Training inputs, shape ``(m, d)``.
    y : array_like
        Targets, shape ``(m,)``.
    samples, ascent_steps, seed : optional
        Passed to :func:`estimate_gradient_bound` and :func:`estimate_gradient_lipschitz`.
    inflate : float, optional
        Factor ``> 1`` by which the ball exceeds the radius it must contain (default 1.25).

    Returns
    -------
    Assumption1112
        Every quantity of the assumption, and whether (a) and (c) hold.

    Raises
    ------
    ValueError
        If (a) fails (``lambda_min <= 0``), ``inflate <= 1``, or ``X`` and ``y`` do not match.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1, bias=False).double()  # f(x; w) = w.x, kernel X X^T
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> A = check_assumption_11_12(model, X, y, samples=4, ascent_steps=2)
    >>> A.lambda_min, A.U.value, A.L.value, A.holds_c
    (1.0, 2.0, 0.0, True)
    """
    model = _check_model(model)
    X, y = _data(model, X, y, x_name="X")
    inflate = check_positive(inflate, "inflate")
    if inflate <= 1:
        raise ValueError(f"inflate must be > 1, got {inflate}")
    m = X.shape[0]
    with torch.no_grad():
        loss0 = float(((_outputs(model, X) - y) ** 2).sum())
    lam_min, lam_max = kernel_eigenvalues(model, X)
    holds_a = lam_min > 0
    if not holds_a:
        raise ValueError(
            f"Assumption 11.12 (a) fails: lambda_min of the tangent kernel is {lam_min:.3g} <= 0"
        )
    U0 = float(jacobian(model, X).norm(dim=1).max())
    r_ball = inflate * radius(U0, lam_min, m, loss0)
    for _ in range(10):
        U = estimate_gradient_bound(
            model, X, r_ball, samples=samples, ascent_steps=ascent_steps, seed=seed
        )
        r = radius(U.value, lam_min, m, loss0)
        if r <= r_ball:
            break
        r_ball = inflate * r
    L = estimate_gradient_lipschitz(
        model, X, r_ball, samples=samples, ascent_steps=ascent_steps, seed=seed
    )
    L_adm = admissible_lipschitz(U.value, lam_min, m, loss0)
    return Assumption1112(
        m=m,
        loss0=loss0,
        lambda_min=lam_min,
        lambda_max=lam_max,
        U=U,
        L=L,
        r=r,
        r_checked=r_ball,
        L_admissible=L_adm,
        holds_a=holds_a,
        holds_c=L.value <= L_adm,
        margin=L_adm / L.value if L.value > 0 else math.inf,
        step_size_limit=theorem_11_13_step_size(lam_min, lam_max),
    )


class Lemma1119Draws(NamedTuple):
    """Counts over random initializations for Lemma 11.19 (see :func:`lemma_11_19_draws`)."""

    #: draws whose eigenvalues lie in ``[lambda_min^LC / 2, 2 lambda_max^LC]`` (times n)
    inside: int
    #: draws with ``||Theta_hat / n - K^LC|| <= lambda_min^LC / 2`` (the proof's event)
    near: int
    #: number of initializations
    draws: int
    #: max over draws and i of ``|lambda_i - lambda_i^LC| - ||G - K^LC||`` (Weyl: <= 0)
    weyl_excess: float
    #: max over draws of ``|sup_a ||G a|| - lambda_max|`` (the source's quantity)
    top_gap: float


def lemma_11_19_draws(X: Any, n: int, draws: int, *, activation: str = "erf") -> Lemma1119Draws:
    """Draw ``draws`` LeCun networks of width ``n`` and test Lemma 11.19 of Petersen & Zech.

    For seeds ``0..draws-1`` the tangent kernel ``G = Theta_hat(w_0) / n`` of
    :class:`ntklab.networks.ShallowLeCun` is compared with ``K^LC(X, X)``
    (:func:`ntklab.analytic.k_lecun`): the bracket of the lemma, the event of Theorem 11.16
    its proof uses, Weyl's inequality and the quantity ``sup_a ||G a||`` of the source's proof.

    Parameters
    ----------
    X : tensor, (m, d)
        Training inputs, float64.
    n : int >= 1
        Width.
    draws : int >= 1
        Number of initializations.
    activation : str
        Activation of the network and the kernel.

    Returns
    -------
    Lemma1119Draws

    Raises
    ------
    ValueError
        On ``n`` or ``draws`` below 1 (and as the network and kernel raise).

    Examples
    --------
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> r = lemma_11_19_draws(X, 200, 3)
    >>> r.draws, r.weyl_excess <= 1e-12
    (3, True)
    """
    from ..analytic import k_lecun
    from ..networks import ShallowLeCun

    n, draws = check_positive_int(n, "n"), check_positive_int(draws, "draws")
    X = torch.as_tensor(X)
    G_lc = k_lecun(X, activation=activation)
    lc = torch.linalg.eigvalsh(G_lc)
    lc_min, lc_max = float(lc[0]), float(lc[-1])
    inside = near = 0
    excess = top_gap = -math.inf
    for seed in range(draws):
        G = ntk(ShallowLeCun(X.shape[1], n, activation=activation, seed=seed), X) / n
        ev = torch.linalg.eigvalsh(G)
        gap = float(torch.linalg.matrix_norm(G - G_lc, ord=2))
        excess = max(excess, float((ev - lc).abs().max()) - gap)
        top_gap = max(top_gap, abs(float(torch.linalg.matrix_norm(G, ord=2)) - float(ev[-1])))
        inside += int(ev[0] >= lc_min / 2 and ev[-1] <= 2 * lc_max)
        near += int(gap <= lc_min / 2)
    return Lemma1119Draws(inside, near, draws, excess, top_gap)


def _lecun_step(n: int, lambda_lc: tuple[float, float]) -> float:
    return 0.9 * theorem_11_23_step_size(lambda_lc[0], lambda_lc[1], n)


def _rate_ratio(loss: torch.Tensor, h: float, n: int, lambda_min_lc: float) -> float:
    rate = theorem_11_23_rate(h, n, lambda_min_lc, range(loss.shape[0]))
    return float((loss[1:] / (loss[0] * rate[1:])).max())


def proposition_11_25_sweep(
    X: Any, y: Any, widths: Any, steps: int, lambda_lc: tuple[float, float]
) -> dict[int, tuple[float, float, float]]:
    """Proposition 11.25's matrix on gradient-descent runs of LeCun erf networks, per width.

    Each width ``n`` trains :class:`ntklab.networks.ShallowLeCun` (seed 0) with ``0.9`` times
    the step of Theorem 11.23 (:func:`theorem_11_23_step_size`) through
    :func:`averaged_jacobian_run` (two Gauss-Legendre nodes per segment).

    Parameters
    ----------
    X, y : tensors, (m, d) and (m,)
    widths : iterable of int
    steps : int >= 1
    lambda_lc : (float, float)
        ``(lambda_min^LC, lambda_max^LC)`` of ``K^LC(X, X)``.

    Returns
    -------
    dict
        ``n -> (max_k ||Jbar_k J_k^T - Theta_0|| / n, max_{k>=1} L(w_k) / (L(w_0) rate_k),
        largest error of the identity (eq-ch4-step))``; the middle entry is at most 1 when the
        loss stays under Theorem 11.23's rate ``(1 - h n lambda_min^LC / 2)^{2k}``.

    Raises
    ------
    ValueError
        As :func:`averaged_jacobian_run` and :func:`theorem_11_23_step_size`.

    Examples
    --------
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    >>> out = proposition_11_25_sweep(X, y, [64], 3, (0.5, 1.0))
    >>> list(out), out[64][1] <= 1.0
    ([64], True)
    """
    from ..networks import ShallowLeCun

    out = {}
    for n in widths:
        h = _lecun_step(n, lambda_lc)
        net = ShallowLeCun(X.shape[1], n, activation="erf", seed=0)
        run = averaged_jacobian_run(net, X, y, h, steps, quadrature_order=2)
        out[n] = (
            float(run.drift.max()) / n,
            _rate_ratio(run.loss, h, n, lambda_lc[0]),
            float(run.identity_error.max()),
        )
    return out


def proposition_11_26_sweep(
    X: Any,
    y: Any,
    x_test: Any,
    widths: Any,
    steps: int,
    lambda_lc: tuple[float, float],
    seeds: int = 3,
) -> tuple[Any, float]:
    """Distance, kernel drift and gap to the linearization against the width (11.23, 11.26).

    For each width ``n`` and seed ``0..seeds-1``, :func:`ntklab.dynamics.compare_with_linearization`
    trains :class:`ntklab.networks.ShallowLeCun` (erf) and its linearization with ``0.9`` times
    the step of Theorem 11.23; the three maxima over ``k`` are averaged over the seeds.

    Parameters
    ----------
    X, y : tensors, (m, d) and (m,)
    x_test : tensor, (N, d)
        Test points of Proposition 11.26 (norm at most 1).
    widths : sequence of int
    steps : int >= 1
    lambda_lc : (float, float)
        ``(lambda_min^LC, lambda_max^LC)``.
    seeds : int >= 1

    Returns
    -------
    table : numpy.ndarray, (len(widths), 3)
        Columns ``max_k ||w_k - w_0||``, ``max_k ||Theta(w_k) - Theta(w_0)|| / n`` and
        ``max_{k, x} |f(x; w_k) - f^lin(x; p_k)|``.
    rate_ratio : float
        Largest ``L(w_k) / (L(w_0) rate_k)`` over all runs and ``k >= 1`` (at most 1 when
        Theorem 11.23's rate holds with ``C = L(w_0)``).

    Raises
    ------
    ValueError
        On ``seeds < 1`` and as the dynamics raise.

    Examples
    --------
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    >>> table, ratio = proposition_11_26_sweep(X, y, X / 2, [32, 64], 3, (0.5, 1.0), seeds=1)
    >>> table.shape, ratio <= 1.0
    ((2, 3), True)
    """
    import numpy as np

    from ..dynamics import compare_with_linearization
    from ..networks import ShallowLeCun

    seeds = check_positive_int(seeds, "seeds")
    rows, worst = [], -math.inf
    for n in widths:
        h = _lecun_step(n, lambda_lc)
        runs = [
            compare_with_linearization(
                ShallowLeCun(X.shape[1], n, activation="erf", seed=s), X, y, h, steps, x_test
            )
            for s in range(seeds)
        ]
        worst = max([worst] + [_rate_ratio(P.full.loss, h, n, lambda_lc[0]) for P in runs])
        rows.append(np.mean([(P.distance, P.kernel / n, P.outputs) for P in runs], axis=0))
    return np.array(rows), worst


class OneParameter(torch.nn.Module):
    """``f(x; w) = fn(w)`` for every input ``x``: the one-parameter models of Figures 11.1-11.2.

    Petersen & Zech illustrate Theorem 11.13 with one parameter and one training point; the
    parameter starts at ``w_0 = 0``.

    Parameters
    ----------
    fn : callable
        Maps the scalar parameter tensor to the output (e.g. ``torch.sin``).

    Raises
    ------
    TypeError
        If ``fn`` is not callable.

    Examples
    --------
    >>> net = OneParameter(lambda w: w + 1)
    >>> net(torch.ones(3, 2, dtype=torch.float64)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, fn: Any):
        super().__init__()
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The output ``fn(w)`` repeated for each of the ``x.shape[0]`` inputs, shape (N,)."""
        return self.fn(self.w) * torch.ones(x.shape[0], dtype=self.w.dtype, device=self.w.device)

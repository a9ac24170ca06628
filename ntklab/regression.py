"""Linear and kernel least squares (course chapter 2; Petersen & Zech, sections 11.1-11.2).

Course notation: ``m`` training points, inputs ``x`` of shape ``(m, d)``, targets ``y`` of shape
``(m,)`` (or ``(m, O)`` for kernel least squares), loss ``L(w) = ||A w - y||^2`` (a plain sum of
squares) for a design matrix ``A`` of shape ``(m, P)`` whose rows are the inputs ``x_i`` (linear
regression) or their features ``phi(x_i)`` (kernel regression), step size ``step_size`` (the
book's ``h``).  Kernels take ``x1, x2`` and are differentiable in them and in a tensor ``c``.

* :func:`min_norm_least_squares` - the minimum-norm minimizer ``w_*`` (11.1.3), by an SVD-based
  solver, never an explicit inverse;
* :func:`gradient_descent` - the iterates (11.1.5) with the step range of Theorem 11.3,
  :func:`gradient_descent_closed_form` - the same iterates from one SVD (Exercise 11.32),
  :func:`gradient_descent_limit` - the limit ``w_* + hat w_0`` of Theorem 11.3;
* kernels of Example 11.10 as Gram-matrix functions: :func:`polynomial_kernel`,
  :func:`rbf_kernel`, :func:`laplace_kernel`;
* explicit feature maps: :func:`quadratic_features` (Example 11.5),
  :func:`polynomial_features` (Exercise 11.35), :func:`rbf_features` with
  :func:`rbf_truncation_bound` (Exercise 11.34);
* :func:`kernel_least_squares` - Proposition 11.9's three steps (Gram matrix, a minimizer of
  ``||G a - y||``, prediction ``sum_j a_j K(x, x_j)``), optional ``ridge``: an absolute
  regularizer ``G + ridge I`` (neural-tangents' ``diag_reg`` in :mod:`ntklab.predict` is relative,
  ``G + diag_reg (tr G / m) I``: ``ridge = diag_reg tr(G) / m``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._autograd import Ops, records_grad, safe_sqrt
from .linalg import psd_solve
from .validation import (
    as_tensor,
    check_matrix,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_same_dtype,
    check_scalar_parameter,
)

__all__ = [
    "KernelLeastSquares",
    "admissible_step_size",
    "gradient_descent",
    "gradient_descent_closed_form",
    "gradient_descent_limit",
    "kernel_least_squares",
    "laplace_kernel",
    "least_squares_loss",
    "min_norm_least_squares",
    "polynomial_features",
    "polynomial_kernel",
    "quadratic_features",
    "rbf_features",
    "rbf_kernel",
    "rbf_truncation_bound",
    "row_space_split",
]


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_system(A: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``A`` as a finite ``(m, P)`` matrix, ``y`` as a finite ``(m,)`` vector, common dtype."""
    A = check_matrix(A, "A")
    y = as_tensor(y, "y", ndim=1)
    if y.shape[0] != A.shape[0]:
        raise ValueError(
            f"y must have one entry per row of A ({A.shape[0]}), got shape {tuple(y.shape)}"
        )
    if y.device != A.device:
        raise ValueError(f"y is on {y.device} but A is on {A.device}")
    dtype = torch.promote_types(A.dtype, y.dtype)
    return A.to(dtype), y.to(dtype)


def _check_vector(w: Any, name: str, A: torch.Tensor) -> torch.Tensor:
    w = as_tensor(w, name, ndim=1)
    if w.shape[0] != A.shape[1]:
        raise ValueError(
            f"{name} must have one entry per column of A ({A.shape[1]}), got shape {tuple(w.shape)}"
        )
    if w.device != A.device:
        raise ValueError(f"{name} is on {w.device} but A is on {A.device}")
    return w.to(A.dtype)


def _check_pair(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of a Gram matrix: ``x1`` (N1, d) and ``x2`` (N2, d) (``None`` means ``x1``)."""
    check_same_dtype(x1, "x1", x2, "x2")
    x1 = check_matrix(x1, "x1")
    if x2 is None:
        return x1, x1
    x2 = check_matrix(x2, "x2", cols=x1.shape[1])
    if x2.device != x1.device:
        raise ValueError(f"x2 is on {x2.device} but x1 is on {x1.device}")
    return x1, x2.to(x1.dtype)


# --------------------------------------------------------------------------------------------
# linear least squares (section 11.1)
# --------------------------------------------------------------------------------------------
def least_squares_loss(A: Any, y: Any, w: Any) -> torch.Tensor:
    """The least-squares loss ``L(w) = ||A w - y||^2`` (11.1.2), a plain sum of squares.

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    y : (m,) tensor or array
        Targets.
    w : (P,) tensor or array
        Weights.

    Returns
    -------
    torch.Tensor
        The loss, a 0-dim tensor.

    Raises
    ------
    ValueError
        If the shapes disagree or an entry is not finite.

    Examples
    --------
    >>> import torch
    >>> float(least_squares_loss(torch.eye(2), torch.ones(2), torch.zeros(2)))
    2.0
    """
    A, y = _check_system(A, y)
    w = _check_vector(w, "w", A)
    return ((A @ w - y) ** 2).sum()


def _svd_solve(A: torch.Tensor, B: torch.Tensor, rcond: float | None) -> torch.Tensor:
    """``pinv(A) B`` through a thin SVD; singular values below ``rcond * s_max`` count as zero."""
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    if rcond is None:
        rcond = max(A.shape) * torch.finfo(A.dtype).eps
    keep = rcond * S.max() < S if S.numel() else S > 0
    inv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), 0.0)
    coeff = U.T @ B
    coeff = inv * coeff if B.dim() == 1 else inv.unsqueeze(-1) * coeff
    return Vh.T @ coeff


def min_norm_least_squares(A: Any, y: Any, *, rcond: float | None = None) -> torch.Tensor:
    """The minimum-norm minimizer ``w_*`` of ``||A w - y||^2`` (11.1.3).

    ``A`` may have any rank.  On the CPU this is LAPACK's ``gelsd``
    (divide-and-conquer SVD) through ``torch.linalg.lstsq``; elsewhere a thin SVD.  Singular values
    below ``rcond * s_max(A)`` are treated as zero (default ``max(m, P) * eps``), which is what
    makes the answer the *minimum-norm* one for rank-deficient ``A``.  No inverse is formed.

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    y : (m,) tensor or array
        Targets.
    rcond : float, optional
        Relative cutoff for small singular values.

    Returns
    -------
    torch.Tensor
        ``w_*``, shape (P,).

    Raises
    ------
    ValueError
        If the shapes disagree, an entry is not finite or ``rcond <= 0``.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in min_norm_least_squares(A, torch.tensor([10.0])).tolist()]
    [1.2, 1.6]
    """
    A, y = _check_system(A, y)
    if rcond is not None:
        rcond = check_positive(rcond, "rcond")
    if A.device.type == "cpu":
        if rcond is None:
            rcond = max(A.shape) * torch.finfo(A.dtype).eps
        return torch.linalg.lstsq(A, y.unsqueeze(-1), rcond=rcond, driver="gelsd").solution[:, 0]
    return _svd_solve(A, y, rcond)


def row_space_split(A: Any, w: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``w = tilde w + hat w`` with ``tilde w`` in the row space of ``A`` and ``hat w`` in
    ``ker A`` (Theorem 11.3's decomposition, ``tilde H = span{x_1, ..., x_m}``).

    ``tilde w`` is the minimum-norm solution of ``A v = A w``, i.e. the orthogonal projection of
    ``w`` onto the row space; ``hat w = w - tilde w``.

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    w : (P,) tensor or array
        The vector to split.

    Returns
    -------
    tuple of torch.Tensor
        ``(tilde w, hat w)``, each of shape (P,).

    Raises
    ------
    ValueError
        If the shapes disagree or an entry is not finite.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> [t.tolist() for t in row_space_split(A, torch.tensor([2.0, 3.0]))]
    [[2.0, 0.0], [0.0, 3.0]]
    """
    A = check_matrix(A, "A")
    w = _check_vector(w, "w", A)
    tilde = min_norm_least_squares(A, A @ w)
    return tilde, w - tilde


def admissible_step_size(A: Any) -> float:
    """The upper end ``1 / (2 s_max(A)^2)`` of Theorem 11.3's step range ``(0, 1/(2 s_max^2))``.

    For ``L(w) = ||A w - y||^2`` the Hessian is ``2 A^T A`` with largest eigenvalue
    ``2 s_max(A)^2``; the theorem's range is half of the stability limit ``1 / s_max^2``.

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.

    Returns
    -------
    float
        ``1 / (2 s_max(A)^2)`` (``inf`` for ``A = 0``).

    Raises
    ------
    ValueError
        If ``A`` is not a finite matrix.

    Examples
    --------
    >>> import torch
    >>> admissible_step_size(torch.diag(torch.tensor([3.0, 1.0])))
    0.05555555555555555
    """
    A = check_matrix(A, "A")
    s_max = float(torch.linalg.matrix_norm(A, 2))
    if s_max == 0.0:
        return math.inf
    return 1.0 / (2.0 * s_max**2)


def _check_step(step_size: Any, A: torch.Tensor) -> float:
    step_size = check_positive(step_size, "step_size")
    limit = admissible_step_size(A)
    if not step_size < limit:
        raise ValueError(
            f"step_size must lie in (0, 1/(2 s_max(A)^2)) = (0, {limit:.6g}) (Theorem 11.3), "
            f"got {step_size:.6g}"
        )
    return step_size


def gradient_descent(
    A: Any, y: Any, step_size: float, steps: int, *, w0: Any = None
) -> torch.Tensor:
    """Gradient descent (11.1.5) on ``L(w) = ||A w - y||^2`` (the book's step ``h``).

    The step is ``w_{k+1} = w_k - h grad L(w_k) = w_k - 2 h A^T (A w_k - y)``, ``h = step_size``.

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    y : (m,) tensor or array
        Targets.
    step_size : float
        ``h``, in Theorem 11.3's range ``(0, 1/(2 s_max(A)^2))``
        (:func:`admissible_step_size`).
    steps : int
        Number of steps, ``>= 0``.
    w0 : (P,) tensor or array, optional
        Initial weights (default zero).

    Returns
    -------
    torch.Tensor
        The trajectory ``(w_0, ..., w_steps)``, shape (steps + 1, P).

    Raises
    ------
    ValueError
        If ``step_size`` lies outside the range (the message states the limit), or the shapes
        disagree.

    Examples
    --------
    >>> import torch
    >>> A = torch.eye(2, dtype=torch.float64)
    >>> gradient_descent(A, torch.ones(2), 0.25, 2)[-1].tolist()
    [0.75, 0.75]
    """
    A, y = _check_system(A, y)
    h = _check_step(step_size, A)
    steps = check_nonnegative_int(steps, "steps")
    w = torch.zeros(A.shape[1], dtype=A.dtype, device=A.device) if w0 is None else None
    if w is None:
        w = _check_vector(w0, "w0", A)
    out = torch.empty(steps + 1, A.shape[1], dtype=A.dtype, device=A.device)
    out[0] = w
    for k in range(steps):
        w = w - (2.0 * h) * (A.T @ (A @ w - y))
        out[k + 1] = w
    return out


def gradient_descent_limit(A: Any, y: Any, *, w0: Any = None) -> torch.Tensor:
    """Theorem 11.3's limit ``w_* + hat w_0`` of :func:`gradient_descent`.

    The minimum-norm solution plus the component of ``w0`` in ``ker A`` (which gradient
    descent never changes).

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    y : (m,) tensor or array
        Targets.
    w0 : (P,) tensor or array, optional
        Initial weights (default zero).

    Returns
    -------
    torch.Tensor
        The limit, shape (P,).

    Raises
    ------
    ValueError
        If the shapes disagree or an entry is not finite.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> gradient_descent_limit(A, torch.tensor([2.0]), w0=torch.tensor([5.0, 3.0])).tolist()
    [2.0, 3.0]
    """
    A, y = _check_system(A, y)
    w_star = min_norm_least_squares(A, y)
    if w0 is None:
        return w_star
    w0 = _check_vector(w0, "w0", A)
    return w_star + row_space_split(A, w0)[1]


def gradient_descent_closed_form(
    A: Any, y: Any, step_size: float, k: Any, *, w0: Any = None
) -> torch.Tensor:
    """The iterates of :func:`gradient_descent` from one SVD ``A = U diag(s) V^T`` (Ex. 11.32)::

        w_k = w_lim + V diag((1 - 2 h s_i^2)^k) V^T (w_0 - w_lim),   w_lim = w_* + hat w_0,

    where only the directions with ``s_i > 0`` contract (``h = step_size``).

    Parameters
    ----------
    A : (m, P) tensor or array
        Design matrix.
    y : (m,) tensor or array
        Targets.
    step_size : float
        ``h``, in Theorem 11.3's range as for :func:`gradient_descent`.
    k : int or 1-D tensor of ints
        Step number(s).
    w0 : (P,) tensor or array, optional
        Initial weights (default zero).

    Returns
    -------
    torch.Tensor
        ``w_k``, shape (P,) for an integer ``k``, (len(k), P) otherwise.

    Raises
    ------
    ValueError
        If ``step_size`` lies outside the range, ``k`` holds negative or non-integer values,
        or the shapes disagree.

    Examples
    --------
    >>> import torch
    >>> A = torch.eye(2, dtype=torch.float64)
    >>> gradient_descent_closed_form(A, torch.ones(2), 0.25, 2).tolist()
    [0.75, 0.75]
    """
    A, y = _check_system(A, y)
    h = _check_step(step_size, A)
    scalar = isinstance(k, int) and not isinstance(k, bool)
    if scalar:
        k = check_nonnegative_int(k, "k")
    ks = as_tensor([k] if scalar else k, "k", ndim=1).to(A.dtype)
    if bool((ks < 0).any()) or bool((ks != ks.round()).any()):
        raise ValueError("k must hold non-negative integers")
    w0 = torch.zeros(A.shape[1], dtype=A.dtype, device=A.device) if w0 is None else w0
    w0 = _check_vector(w0, "w0", A)
    w_lim = gradient_descent_limit(A, y, w0=w0)
    _, S, Vh = torch.linalg.svd(A, full_matrices=False)
    rank_tol = max(A.shape) * torch.finfo(A.dtype).eps * (S.max() if S.numel() else 0.0)
    factor = torch.where(rank_tol < S, 1.0 - 2.0 * h * S**2, torch.ones_like(S))
    coeff = Vh @ (w0 - w_lim)  # in the row space only (w0 - w_lim is orthogonal to ker A)
    powers = factor.unsqueeze(0) ** ks.to(A.device).unsqueeze(1)  # (len(k), r)
    out = w_lim + (powers * coeff) @ Vh
    return out[0] if scalar else out


# --------------------------------------------------------------------------------------------
# kernels of Example 11.10 as Gram-matrix functions
# --------------------------------------------------------------------------------------------
def _distances(
    x1: torch.Tensor, x2: torch.Tensor, same: bool, squared: bool, ops: Ops
) -> torch.Tensor:
    """Euclidean distances ``||x1_i - x2_j||`` (or their squares), shape ``(N1, N2)``.

    Distances, and squared distances in low dimension (``d <= 32``), are formed from the
    differences directly (exact zeros for equal points, no cancellation).  Squared distances in
    higher dimension use ``|x|^2 + |z|^2 - 2 x.z`` (a matrix product) after centering, clamped at
    zero, in place to keep one matrix: its absolute error ``~ eps |x|^2`` is harmless inside
    ``exp(-c D)`` but would become ``sqrt(eps) |x|`` under a square root, hence the rule.
    When autograd records, the differences are formed explicitly (``(N1, N2, d)``), so that
    the derivative is exact, and the distance's derivative at 0 is taken as 0
    (:func:`ntklab._autograd.safe_sqrt`).
    """
    if ops.grad:
        d2 = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
        return d2 if squared else safe_sqrt(d2)
    if x1.shape[1] <= 32 or not squared:
        D = torch.cdist(x1, x2, compute_mode="donot_use_mm_for_euclid_dist")
        return D.square_() if squared else D
    mu = x1.mean(dim=0)
    Xc, Zc = x1 - mu, (x1 - mu if same else x2 - mu)
    D = Xc @ Zc.T
    D.mul_(-2.0).add_((Xc * Xc).sum(1).unsqueeze(1)).add_((Zc * Zc).sum(1).unsqueeze(0))
    D.clamp_min_(0.0)
    if same:
        D.fill_diagonal_(0.0)
    return D


_KERNEL_PARAMETERS = """
    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Inputs.
    x2 : (N2, d) tensor or array, optional
        Inputs of ``x1``'s dtype; ``None`` means ``x1``.
    c : float or 0-dim tensor
        The kernel's parameter; a tensor must have ``x1``'s dtype and may require grad.
"""

_KERNEL_RAISES = """
    Raises
    ------
    TypeError
        If ``x1`` and ``x2`` (or a tensor ``c`` and ``x1``) have different floating dtypes.
    ValueError
        If the shapes disagree, an input is not finite or ``c`` is out of range.
"""


def polynomial_kernel(x1: Any, x2: Any = None, *, c: Any = 1.0, r: int = 2) -> torch.Tensor:
    """Polynomial kernel ``K(x1, x2) = (x1.x2 + c)^r`` of Example 11.10, ``c >= 0``, ``r >= 1``.

    Its feature map is :func:`polynomial_features`.  Differentiable in ``x1``, ``x2`` and a
    tensor ``c``.
    {parameters}    r : int
        The degree, ``>= 1``.

    Returns
    -------
    torch.Tensor
        The Gram matrix, shape (N1, N2).
    {raises}
    Examples
    --------
    >>> import torch
    >>> polynomial_kernel(torch.tensor([[1.0, 2.0]]), c=1.0, r=2).tolist()
    [[36.0]]
    """
    x1, x2 = _check_pair(x1, x2)
    c = check_scalar_parameter(c, "c", x1, "x1")
    r = check_positive_int(r, "r")
    ops = Ops(records_grad(x1, x2, c))
    G = x1 @ x2.T
    if ops.grad or c:
        G = ops.add(G, c)
    return G.pow(r) if ops.grad else G.pow_(r)


def rbf_kernel(x1: Any, x2: Any = None, *, c: Any = 1.0) -> torch.Tensor:
    """Radial basis function (Gaussian) kernel ``K(x1, x2) = exp(-c ||x1 - x2||^2)``, ``c > 0``.

    Example 11.10.  Differentiable in ``x1``, ``x2`` and a tensor ``c``.
    {parameters}
    Returns
    -------
    torch.Tensor
        The Gram matrix, shape (N1, N2).
    {raises}
    Examples
    --------
    >>> import torch
    >>> round(float(rbf_kernel(torch.tensor([[0.0], [1.0]]), c=1.0)[0, 1]), 6)
    0.367879
    """
    return _exp_of_distance(x1, x2, c, squared=True)


def laplace_kernel(x1: Any, x2: Any = None, *, c: Any = 1.0) -> torch.Tensor:
    """Laplace kernel ``K(x1, x2) = exp(-c ||x1 - x2||)``, ``c > 0`` (Example 11.10).

    Differentiable in ``x1``, ``x2`` and a tensor ``c``; at ``x1_i == x2_j`` (a cone) autograd
    returns the mean of the one-sided derivatives, in which the cone term is 0.
    {parameters}
    Returns
    -------
    torch.Tensor
        The Gram matrix, shape (N1, N2).
    {raises}
    Examples
    --------
    >>> import torch
    >>> round(float(laplace_kernel(torch.tensor([[0.0], [2.0]]), c=0.5)[0, 1]), 6)
    0.367879
    """
    return _exp_of_distance(x1, x2, c, squared=False)


def _exp_of_distance(x1: Any, x2: Any, c: Any, *, squared: bool) -> torch.Tensor:
    """``exp(-c D)`` with ``D`` the (squared) distances: the RBF and Laplace kernels' one body."""
    same = x2 is None
    x1, x2 = _check_pair(x1, x2)
    c = check_scalar_parameter(c, "c", x1, "x1", positive=True)
    ops = Ops(records_grad(x1, x2, c))
    D = _distances(x1, x2, same, squared, ops)
    return torch.exp(-c * D) if ops.grad else D.mul_(-c).exp_()


# --------------------------------------------------------------------------------------------
# explicit feature maps
# --------------------------------------------------------------------------------------------
def _monomials(X: torch.Tensor, degree: int) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    """All monomials ``x^alpha`` with ``|alpha| <= degree``, graded by degree, and the index
    tuples (sorted coordinates, with repetition) that name them.

    Shape ``(m, C(degree + d, d))``.
    """
    m, d = X.shape
    cols = [torch.ones(m, dtype=X.dtype, device=X.device)]
    names: list[tuple[int, ...]] = [()]
    for k in range(1, degree + 1):
        combos = list(itertools.combinations_with_replacement(range(d), k))
        idx = torch.tensor(combos, device=X.device)
        cols.extend(X[:, idx].prod(dim=2).unbind(1))
        names.extend(combos)
    return torch.stack(cols, dim=1), names


def _multi_index(combo: tuple[int, ...]) -> list[int]:
    counts: dict[int, int] = {}
    for i in combo:
        counts[i] = counts.get(i, 0) + 1
    return list(counts.values())


def quadratic_features(x: Any) -> torch.Tensor:
    """Degree-2 feature map of Example 11.5 (11.2.6):
    ``phi(x) = (1, x_1, x_2, x_1 x_2, x_1^2, x_2^2)`` for ``d = 2``.

    For general ``d``: the constant, the ``d`` coordinates, the products ``x_i x_j`` (``i < j``)
    and the squares ``x_i^2``.  Every polynomial of degree at most 2 is ``w^T phi(x)``.

    Parameters
    ----------
    x : (m, d) tensor or array
        Points.

    Returns
    -------
    torch.Tensor
        Features, shape (m, 1 + d + d(d-1)/2 + d).

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix.

    Examples
    --------
    >>> import torch
    >>> quadratic_features(torch.tensor([[2.0, 3.0]])).tolist()
    [[1.0, 2.0, 3.0, 6.0, 4.0, 9.0]]
    """
    x = check_matrix(x, "x")
    m, d = x.shape
    iu = torch.triu_indices(d, d, offset=1, device=x.device)
    cross = x[:, iu[0]] * x[:, iu[1]]
    ones = torch.ones(m, 1, dtype=x.dtype, device=x.device)
    return torch.cat([ones, x, cross, x * x], dim=1)


def polynomial_features(x: Any, *, c: float = 1.0, r: int = 2) -> torch.Tensor:
    """Feature map of the polynomial kernel (Exercise 11.35): ``phi(x).phi(z) = (x.z + c)^r``.

    By the multinomial theorem ``(c + sum_i x_i z_i)^r = sum_{|alpha| <= r}
    r! / ((r - |alpha|)! alpha!) c^(r - |alpha|) x^alpha z^alpha``, so
    ``phi_alpha(x) = sqrt(r! c^(r-|alpha|) / ((r-|alpha|)! alpha!)) x^alpha`` over all multi-indices
    ``alpha`` in ``N^d`` with ``|alpha| <= r`` (only ``|alpha| = r`` when ``c = 0``).

    Parameters
    ----------
    x : (m, d) tensor or array
        Points.
    c : float
        The kernel's constant, ``>= 0``.
    r : int
        The degree, ``>= 1``.

    Returns
    -------
    torch.Tensor
        Features, shape (m, C(r + d, d)) (``(m, C(r + d - 1, d - 1))`` for ``c = 0``).

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix, ``c < 0`` or ``r < 1``.

    Examples
    --------
    >>> import torch
    >>> f = polynomial_features(torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    >>> round(float(f @ f.T), 6)
    36.0
    """
    x = check_matrix(x, "x")
    c = check_nonnegative(c, "c")
    r = check_positive_int(r, "r")
    mono, names = _monomials(x, r)
    coef = []
    for combo in names:
        k = len(combo)
        if c == 0.0 and k < r:
            coef.append(0.0)
            continue
        log_coef = math.lgamma(r + 1) - math.lgamma(r - k + 1)
        log_coef -= sum(math.lgamma(a + 1) for a in _multi_index(combo))
        log_coef += (r - k) * math.log(c) if r > k else 0.0
        coef.append(math.exp(0.5 * log_coef))
    coef_t = torch.tensor(coef, dtype=x.dtype, device=x.device)
    if c == 0.0:
        keep = coef_t != 0
        return mono[:, keep] * coef_t[keep]
    return mono * coef_t


def rbf_features(x: Any, *, c: float = 1.0, degree: int) -> torch.Tensor:
    """Truncated feature map of the RBF kernel ``exp(-c ||x - z||^2)`` (Exercise 11.34).

    ``exp(-c|x - z|^2) = exp(-c|x|^2) exp(-c|z|^2) sum_k (2c x.z)^k / k!`` gives the features
    ``phi_alpha(x) = exp(-c|x|^2) sqrt((2c)^|alpha| / alpha!) x^alpha`` of ``l^2``; this returns
    those with ``|alpha| <= degree``.  The error of ``phi(x).phi(z)`` against the kernel is
    bounded by :func:`rbf_truncation_bound`.

    Parameters
    ----------
    x : (m, d) tensor or array
        Points.
    c : float
        The kernel's parameter, ``> 0``.
    degree : int
        Largest ``|alpha|`` kept, ``>= 0``.

    Returns
    -------
    torch.Tensor
        Features, shape (m, C(degree + d, d)).

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix, ``c <= 0`` or ``degree < 0``.

    Examples
    --------
    >>> import torch
    >>> f = rbf_features(torch.tensor([[0.3]], dtype=torch.float64), degree=12)
    >>> round(float(f @ f.T), 6)
    1.0
    """
    x = check_matrix(x, "x")
    c = check_positive(c, "c")
    degree = check_nonnegative_int(degree, "degree")
    mono, names = _monomials(x, degree)
    log_coef = [
        0.5 * (len(combo) * math.log(2 * c) - sum(math.lgamma(a + 1) for a in _multi_index(combo)))
        for combo in names
    ]
    coef = torch.tensor(log_coef, dtype=x.dtype, device=x.device).exp()
    return mono * coef * torch.exp(-c * (x * x).sum(1, keepdim=True))


def rbf_truncation_bound(x1: Any, x2: Any = None, *, c: float = 1.0, degree: int) -> torch.Tensor:
    """Entrywise bound on ``|exp(-c|x - z|^2) - phi_N(x).phi_N(z)|`` for :func:`rbf_features`
    truncated at ``degree = N``::

        exp(-c(|x|^2 + |z|^2)) * |t|^(N+1) / (N+1)! * exp(|t|),   t = 2c x.z,

    the Lagrange remainder of the exponential series.  It is at most
    ``(2c |x| |z|)^(N+1) / (N+1)!`` because ``|t| <= c(|x|^2 + |z|^2)``.

    Parameters
    ----------
    x1 : (N1, d) tensor or array
        Points.
    x2 : (N2, d) tensor or array, optional
        Points of ``x1``'s dtype; ``None`` means ``x1``.
    c : float or 0-dim tensor
        The kernel's parameter, ``> 0``.
    degree : int
        The truncation degree ``N``, ``>= 0``.

    Returns
    -------
    torch.Tensor
        The bound, shape (N1, N2).
    {raises}
    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.5]], dtype=torch.float64)
    >>> round(float(rbf_truncation_bound(x, degree=2)[0, 0]), 6)
    0.020833
    """
    x1, x2 = _check_pair(x1, x2)
    c = check_scalar_parameter(c, "c", x1, "x1", positive=True)
    degree = check_nonnegative_int(degree, "degree")
    t = (2.0 * c) * (x1 @ x2.T).abs()
    nx, nz = (x1 * x1).sum(1), (x2 * x2).sum(1)
    log_b = (degree + 1) * torch.log(t) - math.lgamma(degree + 2) + t
    log_b = log_b - c * (nx.unsqueeze(1) + nz.unsqueeze(0))
    return torch.where(t > 0, log_b.exp(), torch.zeros_like(t))


# --------------------------------------------------------------------------------------------
# kernel least squares (Proposition 11.9)
# --------------------------------------------------------------------------------------------
@dataclass
class KernelLeastSquares:
    """A fitted kernel least-squares estimator ``x -> sum_j alpha_j K(x, x_j)`` (11.2.10).

    Returned by :func:`kernel_least_squares`.

    Parameters
    ----------
    x : (m, ...) torch.Tensor
        Training inputs.
    alpha : (m,) or (m, O) torch.Tensor
        Coefficients, one column per output.
    kernel : callable
        The Gram function ``(x1, x2) -> (N1, N2)``.
    ridge : float
        The absolute ridge used, ``G + ridge I``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> fit = kernel_least_squares(x, torch.tensor([1.0, 2.0], dtype=torch.float64), rbf_kernel)
    >>> [round(v, 6) for v in fit.predict(x).tolist()]
    [1.0, 2.0]
    """

    x: torch.Tensor
    alpha: torch.Tensor
    kernel: Callable[..., torch.Tensor]
    ridge: float = 0.0

    def predict(self, x_test: Any, *, block: int = 4096) -> torch.Tensor:
        """Step (iii) of Proposition 11.9: ``sum_j alpha_j K(x_test, x_j)``.

        Parameters
        ----------
        x_test : (N, ...) tensor or array
            Test inputs (a floating tensor must have the training inputs' dtype).
        block : int
            Rows of the ``(N, m)`` kernel matrix formed at a time.

        Returns
        -------
        torch.Tensor
            Predictions, shape (N,) or (N, O) like the targets.

        Raises
        ------
        TypeError
            If ``x_test`` has another floating dtype than the training inputs ``x``.
        ValueError
            If ``x_test`` has the wrong number of columns or lies on another device.

        Examples
        --------
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        >>> y = torch.tensor([[1.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
        >>> kernel_least_squares(x, y, rbf_kernel).predict(x).shape
        torch.Size([2, 2])
        """
        check_same_dtype(x_test, "x_test", self.x, "x (the training inputs)")
        x_test = as_tensor(x_test, "x_test")
        if x_test.dim() != self.x.dim() or x_test.shape[1:] != self.x.shape[1:]:
            raise ValueError(
                f"x_test must have shape (N, {', '.join(map(str, self.x.shape[1:]))}) like the "
                f"training inputs, got shape {tuple(x_test.shape)}"
            )
        if x_test.device != self.x.device:
            raise ValueError(
                f"x_test is on {x_test.device} but the training inputs are on {self.x.device}"
            )
        block = check_positive_int(block, "block")
        x_test = x_test.to(self.x.dtype)
        parts = [
            self.kernel(x_test[i : i + block], self.x) @ self.alpha
            for i in range(0, len(x_test), block)
        ]
        return torch.cat(parts)

    def norm(self) -> float | torch.Tensor:
        """Feature-space norm ``||w_*||_H = sqrt(alpha^T G alpha)`` of the fitted function.

        Returns
        -------
        float or torch.Tensor
            A float for targets (m,); for targets (m, O) a tensor (O,) of the norms of the
            outputs.

        Examples
        --------
        >>> import torch
        >>> x = torch.tensor([[0.0]], dtype=torch.float64)
        >>> kernel_least_squares(x, torch.tensor([2.0], dtype=torch.float64), rbf_kernel).norm()
        2.0
        """
        G = self.kernel(self.x, self.x)
        norms = torch.sqrt((self.alpha * (G @ self.alpha)).sum(0).clamp_min(0.0))
        return float(norms) if self.alpha.dim() == 1 else norms


def kernel_least_squares(
    x: Any,
    y: Any,
    kernel: Callable[..., torch.Tensor],
    *,
    ridge: float = 0.0,
) -> KernelLeastSquares:
    """Kernel least squares by Proposition 11.9's steps (i)-(ii); call ``.predict`` for (iii).

    (i) Gram matrix ``G = (K(x_i, x_j))`` with ``kernel(x, x)``; (ii) a minimizer ``alpha`` of
    ``||(G + ridge I) alpha - y||`` by :func:`ntklab.linalg.psd_solve` (Cholesky; the
    minimum-norm least-squares solution when ``G + ridge I`` is singular), solving in place in
    ``G`` for ntklab's own kernels so that 20,000 points need two ``m x m`` matrices (the Gram
    matrix of any other ``kernel`` is copied first, never modified); (iii) ``predict(x_test)``.
    With ``ridge = 0`` the fitted function is the minimum-norm least-squares solution ``w_*``
    in feature space whichever minimizer ``alpha`` is used; ``ridge > 0`` gives kernel ridge
    regression (the minimizer of ``L(w) + ridge ||w||_H^2``).  Each column of (m, O) targets is
    fitted independently (one factorization for all).

    ``ridge`` is absolute: ``G + ridge I``.  :mod:`ntklab.predict` follows neural-tangents'
    relative ``diag_reg``, ``G + diag_reg (tr G / m) I``; the two agree for
    ``ridge = diag_reg tr(G) / m``.

    At large ``m`` pass a small ``ridge``: a numerically singular ``G`` (smooth kernels on many
    points) sends the solve to the SVD-based fallback, many times slower than Cholesky.

    The fit is differentiable (in ``x``, ``y`` and tensor parameters of ``kernel``) when
    autograd records; the Gram matrix is then not overwritten.

    Parameters
    ----------
    x : (m, ...) tensor or array
        Training inputs.
    y : (m,) or (m, O) tensor or array
        Targets (a floating tensor must have ``x``'s dtype).
    kernel : callable
        ``(x1, x2) -> (N1, N2)`` Gram matrix, e.g. ``functools.partial(rbf_kernel, c=2.0)``.
    ridge : float
        Absolute ridge, ``>= 0``.

    Returns
    -------
    KernelLeastSquares
        The fitted estimator, ``alpha`` of ``y``'s shape.

    Raises
    ------
    TypeError
        If ``kernel`` is not callable, or ``x`` and ``y`` have different floating dtypes.
    ValueError
        If the shapes disagree, ``ridge < 0`` or ``kernel(x, x)`` is not an (m, m) tensor.

    Examples
    --------
    >>> import functools, torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> fit = kernel_least_squares(x, x[:, 0] ** 2, functools.partial(rbf_kernel, c=0.5))
    >>> round(float(fit.predict(torch.tensor([[1.0]], dtype=torch.float64))[0]), 6)
    1.0
    """
    if not callable(kernel):
        raise TypeError(
            f"kernel must be a callable (x1, x2) -> Gram matrix, got {type(kernel).__name__}"
        )
    check_same_dtype(x, "x", y, "y")
    x = as_tensor(x, "x")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (m, ...) with m >= 1, got shape {tuple(x.shape)}")
    y = as_tensor(y, "y", ndim=(1, 2))
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y must have one entry per row of x ({x.shape[0]}), got shape {tuple(y.shape)}"
        )
    if y.device != x.device:
        raise ValueError(f"y is on {y.device} but x is on {x.device}")
    ridge = check_nonnegative(ridge, "ridge")
    G = kernel(x, x)
    if not isinstance(G, torch.Tensor) or G.shape != (x.shape[0], x.shape[0]):
        raise ValueError(
            f"kernel(x, x) must return an ({x.shape[0]}, {x.shape[0]}) tensor, got "
            f"{getattr(G, 'shape', type(G).__name__)}"
        )
    # ntklab's kernels return a fresh matrix, which the solve may reuse; a user's kernel might
    # return a tensor it keeps (a cached Gram matrix), which must not be overwritten; nor may a
    # matrix autograd needs
    fresh = getattr(kernel, "func", kernel) in (polynomial_kernel, rbf_kernel, laplace_kernel)
    fresh = fresh and not records_grad(G)
    alpha = psd_solve(G, y.to(G.dtype), ridge=ridge, overwrite_K=fresh)
    return KernelLeastSquares(x=x.to(G.dtype), alpha=alpha, kernel=kernel, ridge=ridge)


for _f in (polynomial_kernel, rbf_kernel, laplace_kernel, rbf_truncation_bound):
    _f.__doc__ = _f.__doc__.replace("{parameters}", _KERNEL_PARAMETERS).replace(
        "{raises}", _KERNEL_RAISES
    )

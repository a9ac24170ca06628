"""Linear and kernel least squares (course chapter 2; Petersen & Zech, sections 11.1-11.2).

Course notation: ``m`` training points, inputs ``X`` of shape ``(m, d)``, targets ``y`` of shape
``(m,)``, loss ``L(w) = ||A w - y||^2`` (a plain sum of squares) for a design matrix ``A`` of
shape ``(m, P)`` whose rows are the inputs ``x_i`` (linear regression) or their features
``phi(x_i)`` (kernel regression), step size ``h``.

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
  ``||G a - y||``, prediction ``sum_j a_j K(x, x_j)``), optional ridge;
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .linalg import psd_solve
from .validation import (
    as_tensor,
    check_matrix,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
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


def _check_pair(X: Any, Z: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of a Gram matrix: ``X`` (m, d) and ``Z`` (k, d) (``Z=None`` means ``Z = X``)."""
    X = check_matrix(X, "X")
    if Z is None:
        return X, X
    Z = check_matrix(Z, "Z", cols=X.shape[1])
    if Z.device != X.device:
        raise ValueError(f"Z is on {Z.device} but X is on {X.device}")
    dtype = torch.promote_types(X.dtype, Z.dtype)
    return X.to(dtype), Z.to(dtype)


# --------------------------------------------------------------------------------------------
# linear least squares (section 11.1)
# --------------------------------------------------------------------------------------------
def least_squares_loss(A: Any, y: Any, w: Any) -> torch.Tensor:
    """``L(w) = ||A w - y||^2`` (11.1.2), a plain sum of squares; ``w`` of shape ``(P,)``."""
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
    """The minimum-norm minimizer ``w_*`` of ``||A w - y||^2`` (11.1.3), shape ``(P,)``.

    ``A`` is ``(m, P)`` of any rank, ``y`` is ``(m,)``.  On the CPU this is LAPACK's ``gelsd``
    (divide-and-conquer SVD) through ``torch.linalg.lstsq``; elsewhere a thin SVD.  Singular values
    below ``rcond * s_max(A)`` are treated as zero (default ``max(m, P) * eps``), which is what
    makes the answer the *minimum-norm* one for rank-deficient ``A``.  No inverse is formed.
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
    """
    A = check_matrix(A, "A")
    w = _check_vector(w, "w", A)
    tilde = min_norm_least_squares(A, A @ w)
    return tilde, w - tilde


def admissible_step_size(A: Any) -> float:
    """The upper end ``1 / (2 s_max(A)^2)`` of Theorem 11.3's step range ``(0, 1/(2 s_max^2))``.

    For ``L(w) = ||A w - y||^2`` the Hessian is ``2 A^T A`` with largest eigenvalue
    ``2 s_max(A)^2``; the theorem's range is half of the stability limit ``1 / s_max^2``.
    """
    A = check_matrix(A, "A")
    s_max = float(torch.linalg.matrix_norm(A, 2))
    if s_max == 0.0:
        return math.inf
    return 1.0 / (2.0 * s_max**2)


def _check_step(h: Any, A: torch.Tensor) -> float:
    h = check_positive(h, "h")
    limit = admissible_step_size(A)
    if not h < limit:
        raise ValueError(
            f"step size h must lie in (0, 1/(2 s_max(A)^2)) = (0, {limit:.6g}) (Theorem 11.3), "
            f"got h = {h:.6g}"
        )
    return h


def gradient_descent(A: Any, y: Any, h: float, steps: int, *, w0: Any = None) -> torch.Tensor:
    """Gradient descent (11.1.5) on ``L(w) = ||A w - y||^2``.

    The step is ``w_{k+1} = w_k - h grad L(w_k) = w_k - 2 h A^T (A w_k - y)``.

    ``h`` must lie in Theorem 11.3's range ``(0, 1/(2 s_max(A)^2))`` (otherwise ``ValueError``
    stating the limit).  ``w0`` defaults to zero.  Returns the trajectory ``(w_0, ..., w_steps)``
    as a tensor of shape ``(steps + 1, P)``.
    """
    A, y = _check_system(A, y)
    h = _check_step(h, A)
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
    """Theorem 11.3's limit ``w_* + hat w_0``: the minimum-norm solution plus the component of
    ``w0`` in ``ker A`` (which gradient descent never changes).  ``w0`` defaults to zero."""
    A, y = _check_system(A, y)
    w_star = min_norm_least_squares(A, y)
    if w0 is None:
        return w_star
    w0 = _check_vector(w0, "w0", A)
    return w_star + row_space_split(A, w0)[1]


def gradient_descent_closed_form(
    A: Any, y: Any, h: float, k: Any, *, w0: Any = None
) -> torch.Tensor:
    """The iterates of :func:`gradient_descent` from one SVD ``A = U diag(s) V^T`` (Ex. 11.32)::

        w_k = w_lim + V diag((1 - 2 h s_i^2)^k) V^T (w_0 - w_lim),   w_lim = w_* + hat w_0,

    where only the directions with ``s_i > 0`` contract.  ``k`` is an integer or a 1-D tensor of
    integers; the result has shape ``(P,)`` or ``(len(k), P)``.
    """
    A, y = _check_system(A, y)
    h = _check_step(h, A)
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
def _distances(X: torch.Tensor, Z: torch.Tensor, same: bool, squared: bool) -> torch.Tensor:
    """Euclidean distances ``||x_i - z_j||`` (or their squares), shape ``(m, k)``.

    Distances, and squared distances in low dimension (``d <= 32``), are formed from the
    differences directly (exact zeros for equal points, no cancellation).  Squared distances in
    higher dimension use ``|x|^2 + |z|^2 - 2 x.z`` (a matrix product) after centering, clamped at
    zero, in place to keep one matrix: its absolute error ``~ eps |x|^2`` is harmless inside
    ``exp(-c D)`` but would become ``sqrt(eps) |x|`` under a square root, hence the rule.
    """
    if X.shape[1] <= 32 or not squared:
        D = torch.cdist(X, Z, compute_mode="donot_use_mm_for_euclid_dist")
        return D.square_() if squared else D
    mu = X.mean(dim=0)
    Xc, Zc = X - mu, (X - mu if same else Z - mu)
    D = Xc @ Zc.T
    D.mul_(-2.0).add_((Xc * Xc).sum(1).unsqueeze(1)).add_((Zc * Zc).sum(1).unsqueeze(0))
    D.clamp_min_(0.0)
    if same:
        D.fill_diagonal_(0.0)
    return D


def polynomial_kernel(X: Any, Z: Any = None, *, c: float = 1.0, r: int = 2) -> torch.Tensor:
    """Polynomial kernel ``K(x, z) = (x.z + c)^r`` of Example 11.10, ``c >= 0``, ``r >= 1``.

    Gram matrix of shape ``(m, k)`` between the rows of ``X`` (m, d) and ``Z`` (k, d); ``Z=None``
    means ``Z = X``.  Its feature map is :func:`polynomial_features`.
    """
    X, Z = _check_pair(X, Z)
    c = check_nonnegative(c, "c")
    r = check_positive_int(r, "r")
    G = X @ Z.T
    if c:
        G.add_(c)
    return G.pow_(r)


def rbf_kernel(X: Any, Z: Any = None, *, c: float = 1.0) -> torch.Tensor:
    """Radial basis function (Gaussian) kernel ``K(x, z) = exp(-c ||x - z||^2)``, ``c > 0``
    (Example 11.10).  Gram matrix of shape ``(m, k)``; ``Z=None`` means ``Z = X``."""
    same = Z is None
    X, Z = _check_pair(X, Z)
    c = check_positive(c, "c")
    return _distances(X, Z, same, squared=True).mul_(-c).exp_()


def laplace_kernel(X: Any, Z: Any = None, *, c: float = 1.0) -> torch.Tensor:
    """Laplace kernel ``K(x, z) = exp(-c ||x - z||)``, ``c > 0`` (Example 11.10).
    Gram matrix of shape ``(m, k)``; ``Z=None`` means ``Z = X``."""
    same = Z is None
    X, Z = _check_pair(X, Z)
    c = check_positive(c, "c")
    return _distances(X, Z, same, squared=False).mul_(-c).exp_()


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


def quadratic_features(X: Any) -> torch.Tensor:
    """Degree-2 feature map of Example 11.5 (11.2.6):
    ``phi(x) = (1, x_1, x_2, x_1 x_2, x_1^2, x_2^2)`` for ``d = 2``.

    For general ``d``: the constant, the ``d`` coordinates, the products ``x_i x_j`` (``i < j``)
    and the squares ``x_i^2``; shape ``(m, 1 + d + d(d-1)/2 + d)``.  Every polynomial of degree
    at most 2 is ``w^T phi(x)`` for some ``w``.
    """
    X = check_matrix(X, "X")
    m, d = X.shape
    iu = torch.triu_indices(d, d, offset=1, device=X.device)
    cross = X[:, iu[0]] * X[:, iu[1]]
    ones = torch.ones(m, 1, dtype=X.dtype, device=X.device)
    return torch.cat([ones, X, cross, X * X], dim=1)


def polynomial_features(X: Any, *, c: float = 1.0, r: int = 2) -> torch.Tensor:
    """Feature map of the polynomial kernel (Exercise 11.35): ``phi(x).phi(z) = (x.z + c)^r``.

    By the multinomial theorem ``(c + sum_i x_i z_i)^r = sum_{|alpha| <= r}
    r! / ((r - |alpha|)! alpha!) c^(r - |alpha|) x^alpha z^alpha``, so
    ``phi_alpha(x) = sqrt(r! c^(r-|alpha|) / ((r-|alpha|)! alpha!)) x^alpha`` over all multi-indices
    ``alpha`` in ``N^d`` with ``|alpha| <= r`` (only ``|alpha| = r`` when ``c = 0``).
    Shape ``(m, C(r + d, d))`` (``(m, C(r + d - 1, d - 1))`` for ``c = 0``).
    """
    X = check_matrix(X, "X")
    c = check_nonnegative(c, "c")
    r = check_positive_int(r, "r")
    mono, names = _monomials(X, r)
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
    coef_t = torch.tensor(coef, dtype=X.dtype, device=X.device)
    if c == 0.0:
        keep = coef_t != 0
        return mono[:, keep] * coef_t[keep]
    return mono * coef_t


def rbf_features(X: Any, *, c: float = 1.0, degree: int) -> torch.Tensor:
    """Truncated feature map of the RBF kernel ``exp(-c ||x - z||^2)`` (Exercise 11.34).

    ``exp(-c|x - z|^2) = exp(-c|x|^2) exp(-c|z|^2) sum_k (2c x.z)^k / k!`` gives the features
    ``phi_alpha(x) = exp(-c|x|^2) sqrt((2c)^|alpha| / alpha!) x^alpha`` of ``l^2``; this returns
    those with ``|alpha| <= degree``, shape ``(m, C(degree + d, d))``.  The error of
    ``phi(x).phi(z)`` against the kernel is bounded by :func:`rbf_truncation_bound`.
    """
    X = check_matrix(X, "X")
    c = check_positive(c, "c")
    degree = check_nonnegative_int(degree, "degree")
    mono, names = _monomials(X, degree)
    log_coef = [
        0.5 * (len(combo) * math.log(2 * c) - sum(math.lgamma(a + 1) for a in _multi_index(combo)))
        for combo in names
    ]
    coef = torch.tensor(log_coef, dtype=X.dtype, device=X.device).exp()
    return mono * coef * torch.exp(-c * (X * X).sum(1, keepdim=True))


def rbf_truncation_bound(X: Any, Z: Any = None, *, c: float = 1.0, degree: int) -> torch.Tensor:
    """Entrywise bound on ``|exp(-c|x - z|^2) - phi_N(x).phi_N(z)|`` for :func:`rbf_features`
    truncated at ``degree = N``::

        exp(-c(|x|^2 + |z|^2)) * |t|^(N+1) / (N+1)! * exp(|t|),   t = 2c x.z,

    the Lagrange remainder of the exponential series.  It is at most
    ``(2c |x| |z|)^(N+1) / (N+1)!`` because ``|t| <= c(|x|^2 + |z|^2)``.  Shape ``(m, k)``.
    """
    X, Z = _check_pair(X, Z)
    c = check_positive(c, "c")
    degree = check_nonnegative_int(degree, "degree")
    t = (2.0 * c) * (X @ Z.T).abs()
    nx, nz = (X * X).sum(1), (Z * Z).sum(1)
    log_b = (degree + 1) * torch.log(t) - math.lgamma(degree + 2) + t
    log_b = log_b - c * (nx.unsqueeze(1) + nz.unsqueeze(0))
    return torch.where(t > 0, log_b.exp(), torch.zeros_like(t))


# --------------------------------------------------------------------------------------------
# kernel least squares (Proposition 11.9)
# --------------------------------------------------------------------------------------------
@dataclass
class KernelLeastSquares:
    """A fitted kernel least-squares estimator ``x -> sum_j alpha_j K(x, x_j)`` (11.2.10).

    Attributes: ``X`` (m, d) training inputs, ``alpha`` (m,) coefficients, ``kernel`` the Gram
    function, ``ridge`` the ridge term used.
    """

    X: torch.Tensor
    alpha: torch.Tensor
    kernel: Callable[..., torch.Tensor]
    ridge: float = 0.0

    def predict(self, Z: Any, *, block: int = 4096) -> torch.Tensor:
        """Step (iii): ``sum_j alpha_j K(z, x_j)`` for each row of ``Z`` (k, d); shape ``(k,)``.
        The ``(k, m)`` kernel matrix is formed ``block`` rows at a time."""
        Z = check_matrix(Z, "Z", cols=self.X.shape[1])
        if Z.device != self.X.device:
            raise ValueError(f"Z is on {Z.device} but the training inputs are on {self.X.device}")
        block = check_positive_int(block, "block")
        Z = Z.to(self.X.dtype)
        parts = [
            self.kernel(Z[i : i + block], self.X) @ self.alpha for i in range(0, len(Z), block)
        ]
        return torch.cat(parts)

    def norm(self) -> float:
        """Feature-space norm ``||w_*||_H = sqrt(alpha^T G alpha)`` of the fitted function."""
        G = self.kernel(self.X, self.X)
        return float(torch.sqrt((self.alpha @ (G @ self.alpha)).clamp_min(0.0)))


def kernel_least_squares(
    X: Any,
    y: Any,
    kernel: Callable[..., torch.Tensor],
    *,
    ridge: float = 0.0,
) -> KernelLeastSquares:
    """Kernel least squares by Proposition 11.9's steps (i)-(ii); call ``.predict`` for (iii).

    (i) Gram matrix ``G = (K(x_i, x_j))`` with ``kernel(X, X)``; (ii) a minimizer ``alpha`` of
    ``||(G + ridge I) alpha - y||`` by :func:`ntklab.linalg.psd_solve` (Cholesky; the
    minimum-norm least-squares solution when ``G + ridge I`` is singular), solving in place in
    ``G`` for ntklab's own kernels so that 20,000 points need two ``m x m`` matrices (the Gram
    matrix of any other ``kernel`` is copied first, never modified); (iii) ``predict(Z)``.  With
    ``ridge = 0`` the fitted function is the minimum-norm least-squares solution ``w_*`` in
    feature space whichever minimizer ``alpha`` is used; ``ridge > 0`` gives kernel ridge
    regression (the minimizer of ``L(w) + ridge ||w||_H^2``).

    At large ``m`` pass a small ``ridge``: a numerically singular ``G`` (smooth kernels on many
    points) sends the solve to the SVD-based fallback, many times slower than Cholesky.

    ``kernel`` is a function ``(X, Z) -> (len(X), len(Z))`` Gram matrix, e.g.
    ``functools.partial(rbf_kernel, c=2.0)``.
    """
    if not callable(kernel):
        raise TypeError(
            f"kernel must be a callable (X, Z) -> Gram matrix, got {type(kernel).__name__}"
        )
    X = check_matrix(X, "X")
    y = as_tensor(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must have one entry per row of X ({X.shape[0]}), got shape {tuple(y.shape)}"
        )
    if y.device != X.device:
        raise ValueError(f"y is on {y.device} but X is on {X.device}")
    ridge = check_nonnegative(ridge, "ridge")
    G = kernel(X, X)
    if not isinstance(G, torch.Tensor) or G.shape != (X.shape[0], X.shape[0]):
        raise ValueError(
            f"kernel(X, X) must return an ({X.shape[0]}, {X.shape[0]}) tensor, got "
            f"{getattr(G, 'shape', type(G).__name__)}"
        )
    # ntklab's kernels return a fresh matrix, which the solve may reuse; a user's kernel might
    # return a tensor it keeps (a cached Gram matrix), which must not be overwritten
    fresh = getattr(kernel, "func", kernel) in (polynomial_kernel, rbf_kernel, laplace_kernel)
    alpha = psd_solve(G, y.to(G.dtype), ridge=ridge, overwrite_K=fresh)
    return KernelLeastSquares(X=X.to(G.dtype), alpha=alpha, kernel=kernel, ridge=ridge)

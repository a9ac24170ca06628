"""Predictions of kernel (linearized) gradient flow and of infinite ensembles of wide networks.

This module follows neural-tangents' conventions (``neural_tangents.predict``) and keeps its
argument names (``learning_rate``, ``diag_reg``, ``x_train``, ``y_train``, ``k_train_train``,
...), so numbers agree with it; the rest of ntklab uses the course's ``step_size``:

* the loss is the **half-mean** squared error ``||f(x) - y||^2 / (2 N)`` with ``N = y.numel()``
  (the number of training points ``m`` times the number of outputs ``O``);
* time is ``tau = learning_rate * t``: ``t`` counts gradient steps of size ``learning_rate``, and
  the training outputs follow ``d f / d tau = -(1 / N) K (f - y)``;
* ``diag_reg`` adds ``diag_reg * trace(K) / n`` (the mean diagonal entry) to the diagonal of
  the train-train kernel (``n`` its number of rows).

The course's own normalization (book/notation.md) is the plain sum ``sum_i (f_i - y_i)^2`` with
gradient-flow time ``t_course`` (step ``h``, ``t_course = h k``); there ``du/dt_course = -2 K (u -
y)``.  The two agree when ``tau = 2 N t_course``, i.e. a course step ``h`` is a neural-tangents
``learning_rate = 2 N h``: :func:`ntklab.dynamics.from_course_step` (``loss="half_mean"``)
converts a course step or time to this module's, :func:`ntklab.dynamics.to_course_step` back.

Several outputs: targets ``(m, O)`` with an ``(N1, N2)`` kernel mean the same kernel for each
output (neural-tangents' ``trace_axes=(-1,)``); a full ``(N1, N2, O, O)`` kernel (what
:func:`ntklab.empirical.ntk` returns for an O-output model) is used as is.  Covariances are
``(N, N)`` in the first case and ``(N, N, O, O)`` in the second.

Only the train-train kernel's factorizations are cached (one eigendecomposition per kernel
for finite times, one Cholesky factorization for ``t=None``); test kernels are evaluated at
every call, so changing ``x_test`` in place can never return stale predictions.

Formulas (``phi_tau(l) = (1 - exp(-l tau / N)) / l``, the integral of ``exp(-l s / N) / N``):

* train outputs: ``f_tau = y + V exp(-l tau / N) V^T (f_0 - y)``;
* test outputs: ``g_tau = g_0 - K_te V phi_tau(l) V^T (f_0 - y)``;
* infinite ensemble, ``get="nngp"`` (Lee et al. 2019, only the readout trained):
  mean ``K_te V phi_tau V^T y``, covariance ``K_tt - K_te V phi_{2 tau} V^T K_et``;
* infinite ensemble, ``get="ntk"`` (Lee et al. 2019, Corollary 1; Jacot et al. 2018, section 5),
  with NTK ``Theta`` and NNGP ``K``: mean ``Theta_te V phi_tau V^T y`` and covariance
  ``K_tt + Theta_te A K A^T Theta_et - (Theta_te A K_et + transpose)``, ``A = V phi_tau V^T``;
  at ``t=None`` every ``A`` becomes ``Theta^{-1}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from ._multioutput import OutputLayout
from .dynamics import LOSS_SCALES
from .linalg import SymmetricEigen, psd_solve, symmetric_part
from .validation import (
    as_tensor,
    as_tensor_like,
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    make_generator,
)

__all__ = [
    "Gaussian",
    "gp_inference",
    "gradient_descent_mse",
    "gradient_descent_mse_ensemble",
    "log_marginal_likelihood",
    "train_ensemble",
]


class Gaussian(NamedTuple):
    """A Gaussian over function values.

    Attributes
    ----------
    mean : tensor, (N,) or (N, O)
        With several times, a leading time axis: (T, N) or (T, N, O).
    covariance : tensor or None
        (N, N), shared by the O output columns (the kernel is ``K (x) I``, as in
        neural-tangents), or (N, N, O, O) for a full kernel over outputs; a leading time axis
        with several times; ``None`` when it was not computed.

    Examples
    --------
    >>> import torch
    >>> g = Gaussian(torch.zeros(2, dtype=torch.float64), 4 * torch.eye(2, dtype=torch.float64))
    >>> g.std().tolist()
    [2.0, 2.0]
    >>> round(float(g.quantile(0.975)[0]), 4)
    3.9199
    >>> g.sample(5, seed=0).shape
    torch.Size([5, 2])
    """

    mean: torch.Tensor
    covariance: torch.Tensor | None

    def _full(self) -> bool:
        return self.covariance is not None and self.covariance.dim() == self.mean.dim() + 2

    def std(self) -> torch.Tensor:
        """Pointwise standard deviations, the square root of the covariance's diagonal.

        Returns
        -------
        tensor, (..., N), or (..., N, O) for a full covariance; negative rounding is set to 0.

        Raises
        ------
        ValueError
            If the covariance was not computed.
        """
        if self.covariance is None:
            raise ValueError("covariance was not computed (pass compute_cov=True)")
        C = self.covariance
        if self._full():
            var = C.diagonal(dim1=-4, dim2=-3).diagonal(dim1=-3, dim2=-2)  # (..., N, O)
        else:
            var = torch.diagonal(C, dim1=-2, dim2=-1)
        return var.clamp_min(0).sqrt()

    def quantile(self, q: float) -> torch.Tensor:
        """Pointwise ``q``-quantile ``mean + std * Phi^{-1}(q)`` of the marginal Gaussians.

        Parameters
        ----------
        q : float in (0, 1)

        Returns
        -------
        tensor of ``mean``'s shape.

        Raises
        ------
        TypeError, ValueError
            If ``q`` is not a number strictly between 0 and 1.
        """
        if isinstance(q, bool) or not isinstance(q, (int, float)):
            raise TypeError(f"q must be a real number, got {type(q).__name__}")
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must lie strictly between 0 and 1, got {q}")
        z = math.sqrt(2.0) * torch.erfinv(torch.tensor(2.0 * q - 1.0, dtype=torch.float64))
        std = self.std()
        if self.mean.dim() == std.dim() + 1:
            std = std.unsqueeze(-1)
        return self.mean + float(z) * std

    def sample(
        self,
        num_samples: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw functions from the Gaussian (one time only).

        Uses the eigendecomposition of the covariance with negative rounding clipped to zero,
        so singular covariances (a posterior at its training points) are sampled exactly.

        Parameters
        ----------
        num_samples : int >= 1
        seed, generator : int or torch.Generator, optional
            Either, never both (see :func:`ntklab.validation.make_generator`).

        Returns
        -------
        tensor, ``(num_samples,) + mean.shape``.

        Raises
        ------
        ValueError
            If the covariance was not computed or has a time axis.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        if self.covariance is None:
            raise ValueError("covariance was not computed (pass compute_cov=True)")
        C = self.covariance
        full = self._full()
        if C.dim() != (4 if full else 2):
            raise ValueError(
                "sample needs a single covariance (one time), "
                f"got covariance of shape {tuple(C.shape)}"
            )
        gen = make_generator(seed, generator)
        if full:
            n, o = C.shape[0], C.shape[2]
            C = C.transpose(1, 2).reshape(n * o, n * o)
        lam, V = torch.linalg.eigh(symmetric_part(C))
        root = V * lam.clamp_min(0).sqrt()
        extra = () if full else tuple(self.mean.shape[1:])
        # draws on the CPU, then moved: a seed gives the same numbers on every device
        z = torch.randn((num_samples, C.shape[0], *extra), generator=gen, dtype=C.dtype)
        z = z.to(C.device)
        draw = torch.einsum("ij,sj...->si...", root, z)
        return self.mean + draw.reshape(num_samples, *self.mean.shape)


# ----------------------------------------------------------------------------------------------
# helpers


def _times(t: Any, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Times as a 1-D tensor and whether a scalar was given. Finite and >= 0."""
    if isinstance(t, bool):
        raise TypeError("t must be None, a number or a 1-D array of numbers, got bool")
    try:
        tt = as_tensor(t, "t", ndim=(0, 1), finite=False)
    except ValueError as err:
        raise ValueError(f"t must be None, a number or a 1-D array of times: {err}") from None
    tt = tt.to(dtype=dtype, device=device)
    if not bool(torch.isfinite(tt).all()):
        raise ValueError("t must be finite (use t=None for infinite time)")
    if bool((tt < 0).any()):
        raise ValueError(f"t must be >= 0, got min {float(tt.min())}")
    return tt.reshape(-1), tt.dim() == 0


def _phi(lam: torch.Tensor, tau: torch.Tensor, N: int) -> torch.Tensor:
    """``(1 - exp(-l tau / N)) / l`` for every (time, eigenvalue): shape (T, n); limit tau/N at l=0.

    Negative eigenvalues (rounding of a PSD kernel) are clipped to zero as in neural-tangents.
    """
    lam = lam.clamp_min(0).unsqueeze(0)
    tau = tau.unsqueeze(1)
    positive = lam > 0
    safe = torch.where(positive, lam, torch.ones_like(lam))
    return torch.where(positive, -torch.expm1(-safe * tau / N) / safe, tau / N + 0 * lam)


def _decay(lam: torch.Tensor, tau: torch.Tensor, N: int) -> torch.Tensor:
    """``exp(-l tau / N)`` for every (time, eigenvalue), negative eigenvalues clipped to zero."""
    return torch.exp(-lam.clamp_min(0).unsqueeze(0) * tau.unsqueeze(1) / N)


def _regularized(K: torch.Tensor, diag_reg: float) -> torch.Tensor:
    """``K + diag_reg * trace(K) / n * I`` (neural-tangents' relative diagonal regularizer)."""
    if diag_reg == 0.0:
        return K
    n = K.shape[0]
    scale = diag_reg * torch.trace(K) / n
    return K + scale * torch.eye(n, dtype=K.dtype, device=K.device)


class _CachedSolve:
    """``K^{-1} B`` with one Cholesky factorization of a PSD ``K``, else a min-norm solve."""

    def __init__(self, K: torch.Tensor):
        self.K = symmetric_part(K)
        L, info = torch.linalg.cholesky_ex(self.K)
        self.L = L if int(info) == 0 else None

    def __call__(self, B: torch.Tensor) -> torch.Tensor:
        rhs = B.unsqueeze(-1) if B.dim() == 1 else B
        if self.L is not None:
            X = torch.cholesky_solve(rhs, self.L)
            residual = (self.K @ X - rhs).norm() / rhs.norm().clamp_min(
                torch.finfo(self.K.dtype).tiny
            )
            if bool(torch.isfinite(X).all()) and float(residual) < 1e3 * math.sqrt(
                torch.finfo(self.K.dtype).eps
            ):
                return X.squeeze(-1) if B.dim() == 1 else X
        return psd_solve(self.K, B)


def _train_system(
    k_train_train: Any, y_train: Any, diag_reg: float
) -> tuple[OutputLayout, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate the train-train kernel and targets: ``(layout, K, K_reg, Y)``, all flat."""
    K = as_tensor(k_train_train, "k_train_train", ndim=(2, 4))
    if K.shape[0] != K.shape[1]:
        raise ValueError(
            f"k_train_train must be square over points, (m, m) or (m, m, O, O), "
            f"got shape {tuple(K.shape)}"
        )
    y = as_tensor_like(y_train, "y_train", K, "k_train_train", ndim=(1, 2))
    if y.shape[0] != K.shape[0]:
        raise ValueError(
            f"y_train must have one row per training point ({K.shape[0]}), "
            f"got shape {tuple(y.shape)}"
        )
    layout = OutputLayout(K, "k_train_train", y, "y_train")
    # copies: the caller may change its tensors in place after this call
    K = layout.kernel(K, "k_train_train").clone()
    reg = check_nonnegative(diag_reg, "diag_reg")
    return layout, K, _regularized(K, reg), layout.targets(y).clone()


def _evolve(V: torch.Tensor, g: torch.Tensor, coeff: torch.Tensor, left: torch.Tensor | None):
    """``left @ V @ diag(g_t) @ coeff`` for every time: g (T, n), coeff (n, c) -> (T, N, c)."""
    W = V if left is None else left
    return W @ (g.unsqueeze(-1) * coeff)


# ----------------------------------------------------------------------------------------------
# finite-kernel dynamics


def gradient_descent_mse(
    k_train_train: Any,
    y_train: Any,
    *,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
) -> Callable[..., Any]:
    """Closed-form gradient flow of a linearized model (kernel regression in time).

    The training outputs solve ``d f / d tau = -(1 / N) K (f - y)``, ``N = y_train.numel()``
    (gradient flow on the loss ``||f - y||^2 / (2 N)``, time ``tau = learning_rate * t``), the
    test outputs ``d g / d tau = -(1 / N) K_te (f - y)``: neural-tangents'
    ``predict.gradient_descent_mse``.

    Parameters
    ----------
    k_train_train : tensor, (m, m) or (m, m, O, O)
        Tangent kernel on the training inputs (PSD); an (m, m) kernel with (m, O) targets is
        the same kernel for every output, a full (m, m, O, O) kernel is used as is.
    y_train : tensor, (m,) or (m, O)
        Targets, of the kernel's dtype (a tensor of another dtype is refused).
    learning_rate : float > 0
        Time is ``tau = learning_rate * t`` (``t`` counts steps), as in neural-tangents.
    diag_reg : float >= 0
        Adds ``diag_reg * trace(K) / n`` to the diagonal of the kernel (n its rows).

    Returns
    -------
    predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None)
        ``t``: ``None`` (infinite time, Cholesky solve), a number >= 0, or a 1-D array of
        times (results get a leading time axis). ``fx_train_0``: outputs at ``t = 0`` on the
        training inputs (number or ``y_train``-shaped). ``k_test_train``: (N, m) or
        (N, m, O, O) kernel between test and training inputs, in the layout of
        ``k_train_train``; when given, the test outputs are returned as well, starting from
        ``fx_test_0`` (default 0). Returns ``fx_train_t`` (``y_train``'s shape), or
        ``(fx_train_t, fx_test_t)`` (test: (N,) or (N, O)) when ``k_test_train`` is given.

    Raises
    ------
    ValueError, TypeError
        On kernels or targets of the wrong shape, dtype or values (named), here or when
        ``predict_fn`` is called.

    Examples
    --------
    >>> import torch
    >>> K = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> predict_fn = gradient_descent_mse(K, y)
    >>> [round(v, 6) for v in predict_fn(2.0).tolist()]  # y is an eigenvector: (1 - e^-1) y
    [0.632121, -0.632121]
    >>> predict_fn(None).tolist()
    [1.0, -1.0]
    """
    layout, K, K_r, Y = _train_system(k_train_train, y_train, diag_reg)
    y_shape = tuple(as_tensor(y_train, "y_train").shape)
    m = y_shape[0]
    lr = check_positive(learning_rate, "learning_rate")
    N = Y.numel()
    cache: dict[str, Any] = {}  # factorizations of the train-train kernel only

    def eigen() -> SymmetricEigen:
        if "eigen" not in cache:
            cache["eigen"] = SymmetricEigen(K_r)
        return cache["eigen"]

    def solver() -> _CachedSolve:
        if "solve" not in cache:
            cache["solve"] = _CachedSolve(K_r)
        return cache["solve"]

    def _initial(value: Any, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        v = as_tensor_like(value, name, K, "k_train_train", ndim=(0, 1, 2))
        try:
            return torch.broadcast_to(v, shape)
        except RuntimeError:
            raise ValueError(
                f"{name} must be a number or have shape {shape}, got {tuple(v.shape)}"
            ) from None

    def predict_fn(
        t: Any = None,
        fx_train_0: Any = 0.0,
        fx_test_0: Any = None,
        k_test_train: Any = None,
    ) -> Any:
        f0 = layout.targets(_initial(fx_train_0, "fx_train_0", y_shape))
        K_te = None
        if k_test_train is not None:
            K_te = as_tensor_like(k_test_train, "k_test_train", K, "k_train_train")
            n_test = K_te.shape[0] if K_te.dim() else 0
            K_te = layout.kernel(K_te, "k_test_train", cols=m)
            g0 = 0.0 if fx_test_0 is None else fx_test_0
            g0 = layout.targets(_initial(g0, "fx_test_0", (n_test, *y_shape[1:])))
        elif fx_test_0 is not None:
            raise ValueError("fx_test_0 was given without k_test_train (the test-train kernel)")
        r0 = f0 - Y

        if t is None:
            f_t = layout.outputs(Y.clone(), m)
            if K_te is None:
                return f_t
            return f_t, layout.outputs(g0 - K_te @ solver()(r0), n_test)

        tau, scalar = _times(t, K.dtype, K.device)
        tau = lr * tau
        eig = eigen()
        V, lam = eig.eigenvectors, eig.eigenvalues
        coeff = V.T @ r0
        f_t = layout.outputs(Y + _evolve(V, _decay(lam, tau, N), coeff, None), m)
        if scalar:
            f_t = f_t[0]
        if K_te is None:
            return f_t
        g_t = layout.outputs(g0 - _evolve(V, _phi(lam, tau, N), coeff, K_te @ V), n_test)
        if scalar:
            g_t = g_t[0]
        return f_t, g_t

    return predict_fn


# ----------------------------------------------------------------------------------------------
# NNGP posterior and evidence


def gp_inference(
    k_train_train: Any, y_train: Any, *, diag_reg: float = 0.0
) -> Callable[..., Gaussian]:
    """Gaussian-process regression (the NNGP posterior, neural-tangents' ``gp_inference``).

    Mean ``K_te (K + r I)^{-1} y`` and covariance ``K_tt - K_te (K + r I)^{-1} K_et`` with
    ``r = diag_reg * trace(K) / n`` the observation noise (Rasmussen & Williams (2.25)-(2.26)).
    One Cholesky factorization of the train-train kernel is cached.

    Parameters
    ----------
    k_train_train : tensor, (m, m) or (m, m, O, O)
        Prior covariance of the training outputs (see :func:`gradient_descent_mse`).
    y_train : tensor, (m,) or (m, O)
    diag_reg : float >= 0

    Returns
    -------
    predict_fn(k_test_train, k_test_test=None) -> Gaussian
        ``k_test_train`` (N, m) or (N, m, O, O); ``k_test_test`` (N, N) or (N, N, O, O).
        The :class:`Gaussian` has mean (N,) or (N, O), and a covariance when ``k_test_test``
        is given.

    Raises
    ------
    ValueError, TypeError
        On kernels or targets of the wrong shape, dtype or values (named).

    Examples
    --------
    >>> import torch
    >>> K = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> post = gp_inference(K, torch.tensor([1.0, 0.0], dtype=torch.float64))(K, K)
    >>> [round(v, 6) for v in post.mean.tolist()]  # noiseless: interpolates
    [1.0, 0.0]
    >>> round(float(post.covariance.abs().max()), 6)
    0.0
    """
    layout, K, K_r, Y = _train_system(k_train_train, y_train, diag_reg)
    m = as_tensor(y_train, "y_train").shape[0]
    solve = _CachedSolve(K_r)
    alpha = solve(Y)

    def predict_fn(k_test_train: Any, k_test_test: Any = None) -> Gaussian:
        K_te = as_tensor_like(k_test_train, "k_test_train", K, "k_train_train")
        n_test = K_te.shape[0] if K_te.dim() else 0
        K_te = layout.kernel(K_te, "k_test_train", cols=m)
        mean = layout.outputs(K_te @ alpha, n_test)
        if k_test_test is None:
            return Gaussian(mean, None)
        K_tt = as_tensor_like(k_test_test, "k_test_test", K, "k_train_train")
        K_tt = layout.kernel(K_tt, "k_test_test", rows=n_test, cols=n_test)
        cov = symmetric_part(K_tt - K_te @ solve(K_te.T))
        return Gaussian(mean, layout.covariance(cov, n_test))

    return predict_fn


def log_marginal_likelihood(
    k_train_train: Any, y_train: Any, *, diag_reg: float = 0.0
) -> torch.Tensor:
    """Log evidence of a zero-mean Gaussian process, ``log N(y; 0, K + r I)``.

    ``-1/2 y^T K^{-1} y - 1/2 log det K - n/2 log(2 pi)`` (Rasmussen & Williams (2.30)) with
    ``K`` regularized as in :func:`gp_inference` (``r = diag_reg * trace(K) / n``), computed
    from one Cholesky factorization (no inverse) and differentiable in the kernel, so kernel
    hyperparameters can be fitted with ``torch.optim``.  With (m, O) targets and an (m, m)
    kernel the O independent output columns' log evidences are summed; with a full
    (m, m, O, O) kernel it is the joint log density of the flattened targets.

    Parameters
    ----------
    k_train_train : tensor, (m, m) or (m, m, O, O)
        Prior covariance of the training outputs; positive definite after regularization.
    y_train : tensor, (m,) or (m, O)
    diag_reg : float >= 0

    Returns
    -------
    tensor, () : the log marginal likelihood.

    Raises
    ------
    ValueError
        If the regularized kernel is not positive definite (increase ``diag_reg``), or on
        arguments of the wrong shape (named).
    TypeError
        If ``y_train`` is a tensor of another dtype than the kernel.

    Examples
    --------
    >>> import torch
    >>> K = torch.eye(2, dtype=torch.float64)
    >>> round(float(log_marginal_likelihood(K, torch.zeros(2, dtype=torch.float64))), 6)
    -1.837877
    """
    _, _, K_r, Y = _train_system(k_train_train, y_train, diag_reg)
    L, info = torch.linalg.cholesky_ex(symmetric_part(K_r))
    if int(info) != 0:
        raise ValueError(
            "k_train_train (plus the diag_reg regularizer) is not positive definite: "
            "increase diag_reg"
        )
    alpha = torch.cholesky_solve(Y, L)
    n, c = Y.shape
    quad = (Y * alpha).sum()
    log_det = 2.0 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * quad - 0.5 * c * log_det - 0.5 * n * c * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------------------------
# infinite ensembles of infinitely wide networks


def _evaluate_kernel(kernel_fn: Callable, x1: torch.Tensor, x2: torch.Tensor | None, points):
    """``kernel_fn(x1, x2)`` checked: ``{"nngp": K, "ntk": K}``, (N1, N2) or (N1, N2, O, O)."""
    out = kernel_fn(x1, x2)
    result = {}
    for name in ("nngp", "ntk"):
        if not hasattr(out, name):
            raise TypeError(
                f"kernel_fn must return an object with .nngp and .ntk, got {type(out).__name__}"
            )
        K = getattr(out, name)
        if not isinstance(K, torch.Tensor):
            raise TypeError(f"kernel_fn returned .{name} of type {type(K).__name__}, not a tensor")
        if K.dim() not in (2, 4) or tuple(K.shape[:2]) != points:
            raise ValueError(
                f"kernel_fn returned .{name} of shape {tuple(K.shape)}, "
                f"expected {points} or {points} + (O, O)"
            )
        if not bool(torch.isfinite(K).all()):
            raise ValueError(f"kernel_fn returned .{name} with NaN or infinite entries")
        result[name] = K
    return result


def gradient_descent_mse_ensemble(
    kernel_fn: Callable,
    x_train: Any,
    y_train: Any,
    *,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
) -> Callable[..., Any]:
    """Mean and covariance of an infinite ensemble of infinitely wide networks under gradient flow.

    neural-tangents' ``predict.gradient_descent_mse_ensemble`` (formulas in the module docs).

    Parameters
    ----------
    kernel_fn : callable ``kernel_fn(x1, x2)``
        Returns an object with ``.nngp`` and ``.ntk``, each (len(x1), len(x2)) or, for a
        full kernel over O outputs, (len(x1), len(x2), O, O) (``x2=None`` meaning ``x1``),
        e.g. ``functools.partial(ntklab.analytic.mlp_kernels, depth=2)``.
    x_train : tensor, (m, ...)
    y_train : tensor, (m,) or (m, O)
        Of ``x_train``'s dtype.
    learning_rate, diag_reg : as in :func:`gradient_descent_mse`.

    Returns
    -------
    predict_fn(t=None, x_test=None, get="ntk", compute_cov=False)
        Mean (N,) or (N, O) (and with ``compute_cov`` a :class:`Gaussian` with ``.mean`` and
        ``.covariance``, (N, N) or (N, N, O, O)) of the outputs on ``x_test`` ((N, ...) of
        ``x_train``'s dtype; ``None``: the training inputs) at time ``t`` (``None``: infinite
        time; a 1-D array adds a leading time axis). ``get="ntk"``: all layers trained
        (Lee et al. 2019, Corollary 1); ``get="nngp"``: only the readout layer trained, whose
        ``t=None`` limit is the NNGP posterior (Bayesian inference with the NNGP prior).

    Raises
    ------
    TypeError
        If ``kernel_fn`` is not callable or returns no ``.nngp``/``.ntk`` tensors, or if
        ``y_train`` or (later) ``x_test`` is a tensor of another dtype than ``x_train``.
    ValueError
        On arguments of the wrong shape or values (named).

    Notes
    -----
    The train-train kernels are evaluated once here (so a wrong ``kernel_fn`` fails now), and
    only their factorizations are cached: one eigendecomposition per ``get`` for every finite
    ``t``, one Cholesky factorization for ``t=None``.  Test kernels are evaluated at every call.

    Examples
    --------
    >>> import torch
    >>> from collections import namedtuple
    >>> Kernels = namedtuple("Kernels", "nngp ntk")
    >>> def linear(x1, x2=None):
    ...     k = x1 @ (x1 if x2 is None else x2).T
    ...     return Kernels(k, 2 * k)
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> predict_fn = gradient_descent_mse_ensemble(linear, x, torch.tensor([1.0, -1.0]).double())
    >>> predict_fn(None, torch.tensor([[0.5, 0.5]], dtype=torch.float64)).tolist()
    [0.0]
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    X = as_tensor(x_train, "x_train").clone()  # the caller may change x_train in place
    if X.dim() == 0:
        raise ValueError("x_train must have a leading axis of training points, got a scalar")
    m = X.shape[0]
    lr = check_positive(learning_rate, "learning_rate")
    reg = check_nonnegative(diag_reg, "diag_reg")
    y_user = as_tensor_like(y_train, "y_train", X, "x_train", ndim=(1, 2))
    if y_user.shape[0] != m:
        raise ValueError(
            f"x_train and y_train must have the same length, got {m} and {y_user.shape[0]}"
        )
    k_dd = _evaluate_kernel(kernel_fn, X, None, (m, m))
    layout = OutputLayout(k_dd["ntk"], "kernel_fn(x_train).ntk", y_user, "y_train")
    k_dd = {g: layout.kernel(K, f"kernel_fn(x_train).{g}", m, m) for g, K in k_dd.items()}
    dtype, device = k_dd["ntk"].dtype, k_dd["ntk"].device
    Y = layout.targets(y_user.to(dtype=dtype, device=device)).clone()
    N = Y.numel()
    k_dd_r = {g: _regularized(K, reg) for g, K in k_dd.items()}
    cache: dict[Any, Any] = {}  # train-train factorizations only (never keyed by a test tensor)

    def eigen(g: str) -> SymmetricEigen:
        if ("eigen", g) not in cache:
            cache[("eigen", g)] = SymmetricEigen(k_dd_r[g])
        return cache[("eigen", g)]

    def solver(g: str) -> _CachedSolve:
        if ("solve", g) not in cache:
            cache[("solve", g)] = _CachedSolve(k_dd_r[g])
        return cache[("solve", g)]

    def test_kernels(x_test: Any, compute_cov: bool):
        if x_test is None:
            return m, k_dd, (k_dd["nngp"] if compute_cov else None)
        Xt = as_tensor_like(x_test, "x_test", X, "x_train")
        if Xt.dim() != X.dim() or Xt.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"x_test must have shape (N, {', '.join(map(str, X.shape[1:]))}) like x_train, "
                f"got {tuple(Xt.shape)}"
            )
        n_test = Xt.shape[0]
        k_td = _evaluate_kernel(kernel_fn, Xt, X, (n_test, m))
        k_td = {g: layout.kernel(K, f"kernel_fn(x_test, x_train).{g}") for g, K in k_td.items()}
        k_tt = None
        if compute_cov:
            k_tt = _evaluate_kernel(kernel_fn, Xt, None, (n_test, n_test))["nngp"]
            k_tt = layout.kernel(k_tt, "kernel_fn(x_test).nngp")
        return n_test, k_td, k_tt

    def predict_fn(
        t: Any = None, x_test: Any = None, get: str = "ntk", compute_cov: bool = False
    ) -> Any:
        get = check_choice(get, "get", ("nngp", "ntk"))
        if not isinstance(compute_cov, bool):
            raise TypeError(f"compute_cov must be a bool, got {type(compute_cov).__name__}")
        tau = None
        if t is not None:
            tau, scalar = _times(t, dtype, device)
            tau = lr * tau
        n_test, k_td, k_tt = test_kernels(x_test, compute_cov)

        if tau is None:
            solve = solver(get)
            mean = layout.outputs(k_td[get] @ solve(Y), n_test)
            if not compute_cov:
                return mean
            if get == "nngp":
                cov = k_tt - k_td["nngp"] @ solve(k_td["nngp"].T)
            else:
                A = solve(k_td["ntk"].T)  # Theta^{-1} Theta_dt, (m, N_test)
                cross = k_td["ntk"] @ solve(k_td["nngp"].T)
                cov = k_tt + A.T @ (k_dd["nngp"] @ A) - cross - cross.T
            return Gaussian(mean, layout.covariance(symmetric_part(cov), n_test))

        eig = eigen(get)
        V, lam = eig.eigenvectors, eig.eigenvalues
        B = k_td[get] @ V
        mean = layout.outputs(_evolve(V, _phi(lam, tau, N), V.T @ Y, B), n_test)
        if not compute_cov:
            return mean[0] if scalar else mean
        covs = []
        if get == "nngp":
            for phi2 in _phi(lam, 2 * tau, N):
                covs.append(symmetric_part(k_tt - (B * phi2) @ B.T))
        else:
            if "M" not in cache:  # V^T K_nngp V: train-train only
                cache["M"] = V.T @ k_dd["nngp"] @ V
            M, Q = cache["M"], V.T @ k_td["nngp"].T
            for phi in _phi(lam, tau, N):
                # with Bg = Theta_te A V: Bg M Bg^T - (Bg Q + Q^T Bg^T) is the symmetric part
                # of Bg (M Bg^T - 2 Q): two products of size N x m x N per time instead of three
                Bg = B * phi
                covs.append(symmetric_part(k_tt + Bg @ (M @ Bg.T - 2.0 * Q)))
        cov = layout.covariance(torch.stack(covs), n_test)
        if scalar:
            return Gaussian(mean[0], cov[0])
        return Gaussian(mean, cov)

    return predict_fn


# ----------------------------------------------------------------------------------------------
# finite ensembles (the Monte Carlo counterpart of gradient_descent_mse_ensemble)


def train_ensemble(
    models: Any,
    x_train: Any,
    y_train: Any,
    *,
    steps: int,
    step_size: float,
    loss: str = "sum",
    x_test: Any = None,
) -> torch.Tensor:
    """Train several networks of one architecture by full-batch gradient descent, all at once.

    The parameters of the models are stacked (``torch.func.stack_module_state``) and every
    step is one vectorized gradient evaluation (``vmap`` of ``grad``), so an ensemble of 80
    small networks costs about as much as one. The models are updated in place.

    Parameters
    ----------
    models : sequence of ``torch.nn.Module``
        Networks with identical parameter names and shapes, one output per point (shape (N,)
        or (N, 1)) for (m,) targets, O outputs for (m, O) targets.
    x_train : tensor, (m, ...)
        Of the models' parameter dtype (another dtype is a ``TypeError``).
    y_train : tensor, (m,) or (m, O)
    steps : int >= 0
    step_size : float > 0
        The step on the loss named by ``loss``.
    loss : str
        A key of :data:`ntklab.dynamics.LOSS_SCALES`, the normalizations of
        :func:`ntklab.dynamics.gradient_descent` (``n = y_train.numel()``): ``"sum"`` (the
        course's ``sum (f - y)^2``), ``"half_sum"``, ``"mean"`` or ``"half_mean"``
        (neural-tangents' ``||f - y||^2 / (2 n)``, on which ``step_size`` is its
        ``learning_rate``).
    x_test : tensor (N, ...) or None
        Where to return the trained functions (default: ``x_train``).

    Returns
    -------
    tensor, (len(models), N) or (len(models), N, O): the trained networks' outputs.

    Raises
    ------
    TypeError
        If ``models`` are not modules, or data has another dtype than the parameters.
    ValueError
        On mismatched shapes or bad numbers (named).

    Examples
    --------
    >>> import torch
    >>> nets = [torch.nn.Linear(1, 1, dtype=torch.float64) for _ in range(3)]
    >>> x = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    >>> out = train_ensemble(nets, x, torch.tensor([1.0, -1.0]).double(), steps=200, step_size=0.1)
    >>> out.shape, [round(v, 6) for v in out[0].tolist()]
    (torch.Size([3, 2]), [1.0, -1.0])
    """
    models = list(models) if not isinstance(models, nn.Module) else [models]
    if not models or not all(isinstance(mdl, nn.Module) for mdl in models):
        raise TypeError("models must be a non-empty sequence of torch.nn.Module")
    steps = check_positive_int(steps, "steps", minimum=0)
    h = check_positive(step_size, "step_size")
    loss = check_choice(loss, "loss", tuple(LOSS_SCALES))
    first = next(models[0].parameters())
    X = as_tensor_like(x_train, "x_train", first, "the models' parameters")
    y = as_tensor_like(y_train, "y_train", first, "the models' parameters", ndim=(1, 2))
    if X.dim() == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"x_train and y_train must have the same length, got shapes {tuple(X.shape)} "
            f"and {tuple(y.shape)}"
        )
    X_eval = X
    if x_test is not None:
        X_eval = as_tensor_like(x_test, "x_test", first, "the models' parameters")
        if X_eval.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"x_test must have shape (N, {', '.join(map(str, X.shape[1:]))}) like x_train, "
                f"got {tuple(X_eval.shape)}"
            )
    shapes = {k: p.shape for k, p in models[0].named_parameters()}
    for mdl in models[1:]:
        if {k: p.shape for k, p in mdl.named_parameters()} != shapes:
            raise ValueError("models must all have the same parameter names and shapes")
    with torch.no_grad():
        out_width = models[0](X[:1]).reshape(1, -1).shape[1]
    if out_width != (1 if y.dim() == 1 else y.shape[1]):
        raise ValueError(
            f"y_train of shape {tuple(y.shape)} does not match the models' {out_width} outputs"
        )
    target = y.reshape(y.shape[0], -1)
    params, buffers = stack_module_state(models)
    params = {k: p.detach().clone() for k, p in params.items()}
    base = models[0]
    scale = LOSS_SCALES[loss](y.numel())

    def objective(p, b):
        r = functional_call(base, (p, b), (X,)).reshape(target.shape) - target
        return scale * (r * r).sum()

    step = vmap(grad(objective))
    with torch.no_grad():
        for _ in range(steps):
            g = step(params, buffers)
            params = {k: params[k] - h * g[k] for k in params}
        for i, mdl in enumerate(models):
            for k, p in mdl.named_parameters():
                p.copy_(params[k][i])
        shape = (X_eval.shape[0], *y.shape[1:])
        return torch.stack([mdl(X_eval).reshape(shape) for mdl in models])

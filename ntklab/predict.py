"""Predictions of kernel (linearized) gradient flow and of infinite ensembles of wide networks.

Conventions are neural-tangents' (``neural_tangents.predict``), so numbers agree with it:

* the loss is the **half-mean** squared error ``||f(X) - y||^2 / (2 N)`` with ``N = y.numel()``
  (the number of training points ``m`` times the number of outputs);
* time is ``tau = learning_rate * t``: ``t`` counts gradient steps of size ``learning_rate``, and
  the training outputs follow ``d f / d tau = -(1 / N) K (f - y)``;
* ``diag_reg`` adds ``diag_reg * trace(K) / m`` to the diagonal of the train-train kernel.

The course's own normalization (book/notation.md) is the plain sum ``sum_i (f_i - y_i)^2`` with
gradient-flow time ``t_course`` (step ``h``, ``t_course = h k``); there ``du/dt_course = -2 K (u -
y)``. The two agree when ``tau = 2 m t_course`` (scalar outputs), i.e. a course step ``h`` is a
neural-tangents ``learning_rate = 2 m h``; :func:`course_time` converts.

Every spectral function of the train-train kernel is computed from **one** cached
eigendecomposition ``K = V diag(l) V^T`` (:class:`ntklab.linalg.SymmetricEigen`), whatever the
number of times asked for; ``t=None`` (infinite time) uses a cached Cholesky factorization instead.

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

from .dynamics import LOSS_SCALES
from .linalg import SymmetricEigen, psd_solve, symmetric_part
from .validation import (
    as_tensor,
    check_choice,
    check_matrix,
    check_nonnegative,
    check_positive,
    check_positive_int,
    make_generator,
)

__all__ = [
    "Gaussian",
    "course_time",
    "gp_inference",
    "gradient_descent_mse",
    "gradient_descent_mse_ensemble",
    "train_ensemble",
]


class Gaussian(NamedTuple):
    """A Gaussian over function values: ``mean`` (N,) or (N, k) and ``covariance`` (N, N).

    With several times the leading axis of both is the time axis. ``covariance`` is ``None``
    when it was not computed. Several output columns share the covariance (the kernel is
    ``K (x) I``), as in neural-tangents.
    """

    mean: torch.Tensor
    covariance: torch.Tensor | None

    def std(self) -> torch.Tensor:
        """Pointwise standard deviations ``sqrt(diag(covariance))`` (negative rounding -> 0)."""
        if self.covariance is None:
            raise ValueError("covariance was not computed (pass compute_cov=True)")
        return torch.diagonal(self.covariance, dim1=-2, dim2=-1).clamp_min(0).sqrt()

    def quantile(self, q: float) -> torch.Tensor:
        """Pointwise ``q``-quantile ``mean + std * Phi^{-1}(q)`` of the marginal Gaussians."""
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
        """Draw ``num_samples`` functions: shape ``(num_samples,) + mean.shape``.

        Uses the eigendecomposition of the covariance with negative rounding clipped to zero,
        so singular covariances (a posterior at its training points) are sampled exactly.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        if self.covariance is None:
            raise ValueError("covariance was not computed (pass compute_cov=True)")
        C = self.covariance
        if C.dim() != 2:
            raise ValueError(
                "sample needs a single covariance matrix (one time), "
                f"got covariance of shape {tuple(C.shape)}"
            )
        gen = make_generator(seed, generator)
        lam, V = torch.linalg.eigh(symmetric_part(C))
        root = V * lam.clamp_min(0).sqrt()
        extra = tuple(self.mean.shape[1:])
        # drawn on the CPU, then moved: a seed gives the same samples on every device
        z = torch.randn((num_samples, C.shape[0], *extra), generator=gen, dtype=C.dtype)
        z = z.to(C.device)
        return self.mean + torch.einsum("ij,sj...->si...", root, z)


def course_time(t_course: Any, m: int) -> Any:
    """neural-tangents' time ``tau = 2 m t_course`` for the course's gradient-flow time.

    The course trains on the plain sum ``sum_i (f_i - y_i)^2`` (``du/dt = -2 K (u - y)``);
    neural-tangents on ``||f - y||^2 / (2 m)`` (``du/dtau = -K (u - y) / m``), scalar outputs.
    A course step size ``h`` is therefore a neural-tangents ``learning_rate`` of ``2 m h``.
    """
    m = check_positive_int(m, "m")
    if isinstance(t_course, torch.Tensor):
        if bool((t_course < 0).any()):
            raise ValueError("t_course must be >= 0")
        return 2.0 * m * t_course
    return 2.0 * m * check_nonnegative(t_course, "t_course")


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
    """``(1 - exp(-l tau / N)) / l`` for every (time, eigenvalue): shape (T, m); limit tau/N at l=0.

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
    """``K + diag_reg * trace(K) / m * I`` (neural-tangents' relative diagonal regularizer)."""
    if diag_reg == 0.0:
        return K
    m = K.shape[0]
    scale = diag_reg * torch.trace(K) / m
    return K + scale * torch.eye(m, dtype=K.dtype, device=K.device)


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


def _check_kernel_matrix(K: Any, name: str, shape: tuple[int, int] | None = None) -> torch.Tensor:
    K = as_tensor(K, name, ndim=2)
    if shape is None and K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(K.shape)}")
    if shape is not None and tuple(K.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(K.shape)}")
    return K


def _check_targets(y_train: Any, m: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    y = as_tensor(y_train, "y_train", ndim=(1, 2))
    if y.shape[0] != m:
        raise ValueError(
            f"y_train must have one target per training point ({m}), got shape {tuple(y.shape)}"
        )
    return y.to(dtype=dtype, device=device)


def _apply_time(
    V: torch.Tensor, g: torch.Tensor, coeff: torch.Tensor, left: torch.Tensor | None = None
) -> torch.Tensor:
    """``left @ V @ diag(g_t) @ coeff`` for every time: g (T, m), coeff (m,) or (m, k)."""
    W = V if left is None else left
    if coeff.dim() == 1:
        return (g * coeff) @ W.T  # (T, N)
    return W @ (g.unsqueeze(-1) * coeff)  # (T, N, k)


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

    Parameters
    ----------
    k_train_train : (m, m) tensor
        Tangent kernel on the training inputs (PSD).
    y_train : (m,) or (m, k) tensor
        Targets.
    learning_rate : float > 0
        Time is ``tau = learning_rate * t`` (``t`` counts steps), as in neural-tangents.
    diag_reg : float >= 0
        Adds ``diag_reg * trace(K) / m`` to the diagonal of ``K``.

    Returns
    -------
    predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None)
        ``t``: ``None`` (infinite time, Cholesky solve), a number >= 0, or a 1-D array of
        times (results get a leading time axis). ``fx_train_0``: outputs at ``t = 0`` on the
        training inputs (number or ``y_train``-shaped). ``k_test_train``: (N_test, m) kernel
        between test and training inputs; when given, the test outputs are returned as well,
        starting from ``fx_test_0`` (default 0). Returns ``fx_train_t``, or
        ``(fx_train_t, fx_test_t)`` when ``k_test_train`` is given.

    The training outputs solve ``d f / d tau = -(1 / N) K (f - y)``, ``N = y_train.numel()``
    (loss ``||f - y||^2 / (2 N)``); the test outputs ``d g / d tau = -(1 / N) K_te (f - y)``.
    """
    K = _check_kernel_matrix(k_train_train, "k_train_train")
    m = K.shape[0]
    y = _check_targets(y_train, m, K.dtype, K.device)
    lr = check_positive(learning_rate, "learning_rate")
    reg = check_nonnegative(diag_reg, "diag_reg")
    K_r = _regularized(K, reg)
    N = y.numel()
    cache: dict[str, Any] = {}

    def eigen() -> SymmetricEigen:
        if "eigen" not in cache:
            cache["eigen"] = SymmetricEigen(K_r)
        return cache["eigen"]

    def solver() -> _CachedSolve:
        if "solve" not in cache:
            cache["solve"] = _CachedSolve(K_r)
        return cache["solve"]

    def predict_fn(
        t: Any = None,
        fx_train_0: Any = 0.0,
        fx_test_0: Any = None,
        k_test_train: Any = None,
    ) -> Any:
        f0 = as_tensor(fx_train_0, "fx_train_0", ndim=(0, 1, 2)).to(dtype=K.dtype, device=K.device)
        try:
            f0 = torch.broadcast_to(f0, y.shape)
        except RuntimeError:
            raise ValueError(
                f"fx_train_0 must be a number or have y_train's shape {tuple(y.shape)}, "
                f"got {tuple(f0.shape)}"
            ) from None
        K_te = None
        if k_test_train is not None:
            K_te = as_tensor(k_test_train, "k_test_train", ndim=2).to(
                dtype=K.dtype, device=K.device
            )
            if K_te.shape[1] != m:
                raise ValueError(
                    f"k_test_train must have {m} columns (training points), "
                    f"got shape {tuple(K_te.shape)}"
                )
            out_shape = (K_te.shape[0], *y.shape[1:])
            g0 = 0.0 if fx_test_0 is None else fx_test_0
            g0 = as_tensor(g0, "fx_test_0", ndim=(0, 1, 2)).to(dtype=K.dtype, device=K.device)
            try:
                g0 = torch.broadcast_to(g0, out_shape)
            except RuntimeError:
                raise ValueError(
                    f"fx_test_0 must be a number or have shape {out_shape}, got {tuple(g0.shape)}"
                ) from None
        elif fx_test_0 is not None:
            raise ValueError("fx_test_0 was given without k_test_train (the test-train kernel)")
        r0 = f0 - y

        if t is None:
            f_t = y.clone()
            if K_te is None:
                return f_t
            return f_t, g0 - K_te @ solver()(r0)

        tau, scalar = _times(t, K.dtype, K.device)
        tau = lr * tau
        eig = eigen()
        V, lam = eig.eigenvectors, eig.eigenvalues
        coeff = V.T @ r0
        f_t = y + _apply_time(V, _decay(lam, tau, N), coeff)
        if scalar:
            f_t = f_t[0]
        if K_te is None:
            return f_t
        g_t = g0 - _apply_time(V, _phi(lam, tau, N), coeff, left=K_te @ V)
        if scalar:
            g_t = g_t[0]
        return f_t, g_t

    return predict_fn


# ----------------------------------------------------------------------------------------------
# NNGP posterior


def gp_inference(
    k_train_train: Any, y_train: Any, *, diag_reg: float = 0.0
) -> Callable[..., Gaussian]:
    """Gaussian-process regression (the NNGP posterior, neural-tangents' ``gp_inference``).

    Returns ``predict_fn(k_test_train, k_test_test=None) -> Gaussian`` with mean
    ``K_te (K + r I)^{-1} y`` and, when ``k_test_test`` is given, covariance
    ``K_tt - K_te (K + r I)^{-1} K_et`` (``r = diag_reg * trace(K) / m``: the observation noise).
    One Cholesky factorization of the train-train kernel is cached.
    """
    K = _check_kernel_matrix(k_train_train, "k_train_train")
    m = K.shape[0]
    y = _check_targets(y_train, m, K.dtype, K.device)
    reg = check_nonnegative(diag_reg, "diag_reg")
    solve = _CachedSolve(_regularized(K, reg))
    alpha = solve(y)

    def predict_fn(k_test_train: Any, k_test_test: Any = None) -> Gaussian:
        K_te = as_tensor(k_test_train, "k_test_train", ndim=2).to(dtype=K.dtype, device=K.device)
        if K_te.shape[1] != m:
            raise ValueError(
                f"k_test_train must have {m} columns (training points), "
                f"got shape {tuple(K_te.shape)}"
            )
        mean = K_te @ alpha
        if k_test_test is None:
            return Gaussian(mean, None)
        n_test = K_te.shape[0]
        K_tt = _check_kernel_matrix(k_test_test, "k_test_test", (n_test, n_test))
        K_tt = K_tt.to(dtype=K.dtype, device=K.device)
        cov = K_tt - K_te @ solve(K_te.T)
        return Gaussian(mean, symmetric_part(cov))

    return predict_fn


# ----------------------------------------------------------------------------------------------
# infinite ensembles of infinitely wide networks


def _evaluate_kernel(kernel_fn: Callable, x1: torch.Tensor, x2: torch.Tensor | None, shape):
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
        if tuple(K.shape) != shape:
            raise ValueError(
                f"kernel_fn returned .{name} of shape {tuple(K.shape)}, expected {shape}"
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

    Parameters
    ----------
    kernel_fn : callable ``kernel_fn(x1, x2)``
        Returns an object with ``.nngp`` and ``.ntk`` of shape ``(len(x1), len(x2))``
        (``x2=None`` meaning ``x1``), e.g.
        ``functools.partial(ntklab.analytic.mlp_kernels, depth=2)``.
    x_train : (m, d) tensor
    y_train : (m,) or (m, k) tensor
    learning_rate, diag_reg : as in :func:`gradient_descent_mse`.

    Returns
    -------
    predict_fn(t=None, x_test=None, get="ntk", compute_cov=False)
        Mean (and with ``compute_cov`` a :class:`Gaussian` with ``.mean`` and ``.covariance``)
        of the outputs on ``x_test`` (``None``: the training inputs) at time ``t`` (``None``:
        infinite time; a 1-D array adds a leading time axis). ``get="ntk"``: all layers trained
        (Lee et al. 2019, Corollary 1); ``get="nngp"``: only the readout layer trained, whose
        ``t=None`` limit is the NNGP posterior (Bayesian inference with the NNGP prior).

    The train-train kernels are evaluated once here (so a wrong ``kernel_fn`` fails now);
    one eigendecomposition per ``get`` serves every finite ``t``, one Cholesky factorization
    every ``t=None``; the kernels against the most recent ``x_test`` are cached too.
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    X = check_matrix(x_train, "x_train")
    m = X.shape[0]
    lr = check_positive(learning_rate, "learning_rate")
    reg = check_nonnegative(diag_reg, "diag_reg")
    y_check = as_tensor(y_train, "y_train", ndim=(1, 2))
    if y_check.shape[0] != m:
        raise ValueError(
            f"x_train and y_train must have the same length, got {m} and {y_check.shape[0]}"
        )
    k_dd = _evaluate_kernel(kernel_fn, X, None, (m, m))
    dtype, device = k_dd["ntk"].dtype, k_dd["ntk"].device
    y = y_check.to(dtype=dtype, device=device)
    N = y.numel()
    k_dd_r = {g: _regularized(K, reg) for g, K in k_dd.items()}
    cache: dict[Any, Any] = {}

    def eigen(g: str) -> SymmetricEigen:
        key = ("eigen", g)
        if key not in cache:
            cache[key] = SymmetricEigen(k_dd_r[g])
        return cache[key]

    def solver(g: str) -> _CachedSolve:
        key = ("solve", g)
        if key not in cache:
            cache[key] = _CachedSolve(k_dd_r[g])
        return cache[key]

    def test_kernels(x_test: Any, compute_cov: bool):
        if x_test is None:
            return k_dd, (k_dd["nngp"] if compute_cov else None)
        last = cache.get("x_test")
        if last is not None and last[0] is x_test and (last[2] is not None or not compute_cov):
            return last[1], last[2]
        Xt = check_matrix(x_test, "x_test", cols=X.shape[1])
        k_td = _evaluate_kernel(kernel_fn, Xt, X, (Xt.shape[0], m))
        k_tt = None
        if compute_cov:
            k_tt = _evaluate_kernel(kernel_fn, Xt, None, (Xt.shape[0], Xt.shape[0]))["nngp"]
        cache["x_test"] = (x_test, k_td, k_tt)
        cache.pop("projected", None)
        return k_td, k_tt

    def projected(g: str, k_td: dict, key: Any) -> dict:
        """Products with the eigenvectors, cached for the most recent test set."""
        entry = cache.get("projected")
        if entry is None or entry[0] is not key:
            entry = (key, {})
            cache["projected"] = entry
        if g not in entry[1]:
            V = eigen(g).eigenvectors
            entry[1][g] = {"B": k_td[g] @ V, "Vy": V.T @ y}
        return entry[1][g]

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
        k_td, k_tt = test_kernels(x_test, compute_cov)

        if tau is None:
            solve = solver(get)
            mean = k_td[get] @ solve(y)
            if not compute_cov:
                return mean
            if get == "nngp":
                cov = k_tt - k_td["nngp"] @ solve(k_td["nngp"].T)
            else:
                A = solve(k_td["ntk"].T)  # Theta^{-1} Theta_dt, (m, N_test)
                cross = k_td["ntk"] @ solve(k_td["nngp"].T)
                cov = k_tt + A.T @ (k_dd["nngp"] @ A) - cross - cross.T
            return Gaussian(mean, symmetric_part(cov))

        eig = eigen(get)
        V, lam = eig.eigenvectors, eig.eigenvalues
        P = projected(get, k_td, x_test if x_test is not None else k_dd)
        B = P["B"]
        mean = _apply_time(V, _phi(lam, tau, N), P["Vy"], left=B)
        if not compute_cov:
            return mean[0] if scalar else mean
        covs = []
        if get == "nngp":
            for phi2 in _phi(lam, 2 * tau, N):
                covs.append(symmetric_part(k_tt - (B * phi2) @ B.T))
        else:
            if "M" not in P:
                P["M"] = V.T @ k_dd["nngp"] @ V
                P["Q"] = V.T @ k_td["nngp"].T
            M, Q = P["M"], P["Q"]
            for phi in _phi(lam, tau, N):
                # with Bg = Theta_te A V: Bg M Bg^T - (Bg Q + Q^T Bg^T) is the symmetric part
                # of Bg (M Bg^T - 2 Q): two products of size N x m x N per time instead of three
                Bg = B * phi
                covs.append(symmetric_part(k_tt + Bg @ (M @ Bg.T - 2.0 * Q)))
        cov = torch.stack(covs)
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
    x_eval: Any = None,
) -> torch.Tensor:
    """Train several networks of one architecture by full-batch gradient descent, all at once.

    The parameters of the models are stacked (``torch.func.stack_module_state``) and every
    step is one vectorized gradient evaluation (``vmap`` of ``grad``), so an ensemble of 80
    small networks costs about as much as one. The models are updated in place.

    Parameters
    ----------
    models : sequence of ``torch.nn.Module``
        Scalar-output networks with identical parameter shapes.
    x_train : (m, d) tensor;  y_train : (m,) tensor
    steps : int >= 0;  step_size : float > 0
    loss : a key of ``ntklab.dynamics.LOSS_SCALES``, the same normalizations as
        ``ntklab.dynamics.gradient_descent``: ``"sum"`` (the course's ``sum_i (f_i - y_i)^2``
        with step ``h = step_size``), ``"half_sum"``, ``"mean"`` or ``"half_mean"``
        (neural-tangents' ``||f - y||^2 / (2 m)`` with ``learning_rate = step_size``).
    x_eval : (N, d) tensor or None
        Where to return the trained functions (default: ``x_train``).

    Returns
    -------
    (len(models), N) tensor: the trained networks' outputs at ``x_eval``.
    """
    models = list(models) if not isinstance(models, nn.Module) else [models]
    if not models or not all(isinstance(mdl, nn.Module) for mdl in models):
        raise TypeError("models must be a non-empty sequence of torch.nn.Module")
    steps = check_positive_int(steps, "steps", minimum=0)
    h = check_positive(step_size, "step_size")
    loss = check_choice(loss, "loss", tuple(LOSS_SCALES))
    first = next(models[0].parameters())
    X = check_matrix(x_train, "x_train").to(dtype=first.dtype, device=first.device)
    y = as_tensor(y_train, "y_train", ndim=1).to(dtype=first.dtype, device=first.device)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"x_train and y_train must have the same length, got {X.shape[0]} and {y.shape[0]}"
        )
    X_eval = X if x_eval is None else check_matrix(x_eval, "x_eval", cols=X.shape[1])
    X_eval = X_eval.to(dtype=first.dtype, device=first.device)
    shapes = {k: p.shape for k, p in models[0].named_parameters()}
    for mdl in models[1:]:
        if {k: p.shape for k, p in mdl.named_parameters()} != shapes:
            raise ValueError("models must all have the same parameter names and shapes")
    params, buffers = stack_module_state(models)
    params = {k: p.detach().clone() for k, p in params.items()}
    base = models[0]
    scale = LOSS_SCALES[loss](X.shape[0])

    def objective(p, b):
        r = functional_call(base, (p, b), (X,)) - y
        return scale * (r * r).sum()

    step = vmap(grad(objective))
    with torch.no_grad():
        for _ in range(steps):
            g = step(params, buffers)
            params = {k: params[k] - h * g[k] for k in params}
        for i, mdl in enumerate(models):
            for k, p in mdl.named_parameters():
                p.copy_(params[k][i])
        return torch.stack([mdl(X_eval).reshape(-1) for mdl in models])

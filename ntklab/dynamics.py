"""Training dynamics: gradient descent on a network, on its linearization, and in closed form.

The course's loss is the plain sum of squares (Petersen & Zech (11.0.1b))

    L(w) = sum_i (f(x_i; w) - y_i)^2 = ||u(w) - y||^2,

and gradient descent is ``w_{k+1} = w_k - h grad L(w_k)``.  Other normalizations are accepted
through ``loss=``: a step ``h'`` on ``c L`` makes the same iterates as the step ``c h'`` on ``L``
(``c = 1/2`` for ``"half_sum"``, ``1/m`` for ``"mean"``, ``1/(2m)`` for ``"half_mean"``, the
loss of neural-tangents and of the GD/SGD slides).  Every result stores the *course's* step
``h`` and the course's loss; see the notation page for the table of conversions.

What lives here:

* :func:`gradient_descent` - full-batch GD on any scalar-output ``torch.nn.Module``, recording
  the loss, ``||w_k - w_0||``, the fraction of changed ReLU activation patterns, the largest row
  displacement of a weight matrix, outputs on test inputs and the tangent kernel at chosen steps;
* :func:`linearized_gradient_descent` - the linearized model (11.3.1) trained with the same step,
  iterated in function space (11.5.9) through the tangent kernel at ``w_0``;
* :class:`LinearDynamics` - the closed-form trajectory of the linearized model (Remark 11.24 with
  the power inside the sum corrected to ``B^j``) and gradient flow ``du/dt = -2 Theta (u - y)``,
  both from one eigendecomposition (:class:`ntklab.linalg.SymmetricEigen`);
* :func:`natural_gradient_descent` - natural gradient descent for the square loss,
  ``w <- w - eta J^T (J J^T)^{-1} (u - y)`` (Zhang et al. 2019);
* helpers for any scalar-output model: :func:`per_example_gradients` (the Jacobian ``J``),
  :func:`tangent_kernel`, :func:`flat_parameters`.

Only parameters with ``requires_grad=True`` are trained (and enter ``w``, ``J`` and the kernel),
so freezing a layer (as Du et al. do with the output weights) is done the usual torch way.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import functional_call, grad, vmap

from .linalg import SymmetricEigen, psd_solve, symmetric_part
from .progress import progress as _progress
from .validation import (
    as_tensor,
    check_choice,
    check_matrix,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_same_length,
)

__all__ = [
    "LOSS_SCALES",
    "DivergenceError",
    "LinearDynamics",
    "LinearizedTrajectory",
    "NaturalGradientHistory",
    "Proximity",
    "TrainingHistory",
    "compare_with_linearization",
    "course_step",
    "flat_parameters",
    "gradient_descent",
    "linearized_gradient_descent",
    "natural_gradient_descent",
    "per_example_gradients",
    "stability_limit",
    "tangent_kernel",
]

#: Loss normalizations: name -> factor c(m) with loss = c(m) * sum_i (f_i - y_i)^2.
LOSS_SCALES: dict[str, Callable[[int], float]] = {
    "sum": lambda m: 1.0,
    "half_sum": lambda m: 0.5,
    "mean": lambda m: 1.0 / m,
    "half_mean": lambda m: 0.5 / m,
}


class DivergenceError(RuntimeError):
    """Gradient descent produced a non-finite or exploding loss (the step size is too large)."""


def course_step(h: float, m: int, loss: str = "sum") -> float:
    """The course's step size equivalent to the step ``h`` on the loss normalization ``loss``.

    GD with step ``h`` on ``c L`` equals GD with step ``c h`` on the course's ``L``.
    """
    h = check_positive(h, "h")
    m = check_positive_int(m, "m")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    return LOSS_SCALES[loss](m) * h


def stability_limit(lambda_max: float) -> float:
    """``1 / lambda_max``: GD on the linearized model converges iff ``h < 1 / lambda_max``.

    On the training outputs the linearized model moves by ``u - y <- (I - 2 h Theta)(u - y)``,
    which contracts every eigen-direction iff ``|1 - 2 h lambda| < 1`` for all eigenvalues.
    """
    return 1.0 / check_positive(lambda_max, "lambda_max")


# --------------------------------------------------------------------------------------------
# models as functions of a flat parameter vector
# --------------------------------------------------------------------------------------------


def _check_model(model: Any) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    return model


def _trainable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def flat_parameters(model: torch.nn.Module) -> torch.Tensor:
    """The trainable parameters of ``model`` as one flat vector ``w`` (a detached copy)."""
    model = _check_model(model)
    return torch.cat([p.detach().reshape(-1) for _, p in _trainable(model)]).clone()


def _param_dtype_device(model: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    p = next(p for p in model.parameters() if p.requires_grad)
    return p.dtype, p.device


def _unflatten(model: torch.nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for name, p in _trainable(model):
        out[name] = flat[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out


def _outputs(model: torch.nn.Module, x: torch.Tensor, name: str = "X") -> torch.Tensor:
    """``model(x)`` as a vector of shape ``(N,)``; refuses models that are not scalar-output."""
    try:
        out = model(x)
    except RuntimeError as err:
        raise ValueError(
            f"{name} of shape {tuple(x.shape)} does not fit the model's input layer: {err}"
        ) from err
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model must return a tensor, got {type(out).__name__}")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (x.shape[0],):
        raise ValueError(
            "model must have a scalar output: expected shape "
            f"({x.shape[0]},) or ({x.shape[0]}, 1) for {name} of {x.shape[0]} rows, "
            f"got {tuple(out.shape)}"
        )
    return out


def _data(model, X, y=None, *, X_name="X", y_name="y"):
    """Validate training data against the model: ``X`` (m, d) and ``y`` (m,), model's dtype."""
    dtype, device = _param_dtype_device(model)
    X = check_matrix(X, X_name, dtype=dtype, device=device)
    if y is None:
        return X
    y = as_tensor(y, y_name, dtype=dtype, device=device, ndim=(1, 2))
    if y.dim() == 2:
        if y.shape[1] != 1:
            raise ValueError(f"{y_name} must be a vector of targets, got shape {tuple(y.shape)}")
        y = y[:, 0]
    check_same_length(X, X_name, y, y_name)
    return X, y


def per_example_gradients(
    model: torch.nn.Module, X: Any, w: torch.Tensor | None = None, *, batch_size: int = 256
) -> torch.Tensor:
    """The Jacobian ``J`` of the outputs: row ``i`` is ``grad_w f(x_i; w)``; shape ``(m, P)``.

    ``w`` is a flat vector of the trainable parameters (default: the model's current ones).
    Computed with ``torch.func`` (``vmap`` over examples of ``grad``), ``batch_size`` examples
    at a time.
    """
    model = _check_model(model)
    X = _data(model, X)
    w0 = flat_parameters(model)
    w = w0 if w is None else as_tensor(w, "w", dtype=w0.dtype, device=w0.device, ndim=1)
    if w.shape != w0.shape:
        raise ValueError(f"w must have {w0.numel()} entries (the trainable parameters)")
    batch_size = check_positive_int(batch_size, "batch_size")
    _outputs(model, X[:1])  # scalar-output check

    def f_single(flat, x):
        return functional_call(model, _unflatten(model, flat), (x.unsqueeze(0),)).reshape(())

    g = vmap(grad(f_single), in_dims=(None, 0))
    return torch.cat([g(w, X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)])


def tangent_kernel(
    model: torch.nn.Module, X1: Any, X2: Any | None = None, w: torch.Tensor | None = None
) -> torch.Tensor:
    """Empirical tangent kernel ``Theta_hat(x, x') = grad f(x; w) . grad f(x'; w)``, (N1, N2).

    Uses ``ntklab.empirical.ntk`` when every parameter is trainable and ``w`` is the model's
    own; otherwise (frozen layers, or a different ``w``) the Jacobian contraction ``J1 J2^T``
    over the trainable parameters.
    """
    model = _check_model(model)
    X1 = _data(model, X1, X_name="X1")
    X2n = None if X2 is None else _data(model, X2, X_name="X2")
    all_trainable = all(p.requires_grad for p in model.parameters())
    if w is None and all_trainable:
        try:
            from .empirical import ntk
        except ImportError:  # pragma: no cover - before the empirical module exists
            ntk = None
        if ntk is not None:
            K = ntk(model, X1, X2n)
            return symmetric_part(K) if X2n is None else K
    J1 = per_example_gradients(model, X1, w)
    if X2n is None:
        return symmetric_part(J1 @ J1.T)
    return J1 @ per_example_gradients(model, X2n, w).T


# --------------------------------------------------------------------------------------------
# activation patterns
# --------------------------------------------------------------------------------------------


def _pattern_recorder(model: torch.nn.Module, patterns: Any):
    """Return ``(fn, cleanup)``: ``fn(X)`` gives the boolean ReLU pattern after a forward pass.

    ``patterns`` may be a callable ``(model, X) -> tensor of pre-activations``; ``"auto"`` uses
    ``model.preactivations(X)`` if the model has it, else forward hooks on ``torch.nn.ReLU``
    submodules; ``None`` records nothing.
    """
    if patterns is None:
        return None, lambda: None
    if callable(patterns):
        return (
            lambda X, _last: torch.cat(
                [p.reshape(X.shape[0], -1) > 0 for p in _as_list(patterns(model, X))], 1
            ),
            lambda: None,
        )
    if patterns != "auto":
        raise ValueError(
            "patterns must be 'auto', None or a callable (model, X) -> pre-activations"
        )
    if hasattr(model, "preactivations"):
        return (
            lambda X, _last: torch.cat(
                [p.reshape(X.shape[0], -1) > 0 for p in _as_list(model.preactivations(X))], 1
            ),
            lambda: None,
        )
    store: list[torch.Tensor] = []
    active = [False]

    def hook(_mod, inp, _out):
        if active[0]:
            store.append(inp[0].detach() > 0)

    handles = [
        mod.register_forward_hook(hook) for mod in model.modules() if isinstance(mod, torch.nn.ReLU)
    ]
    if not handles:
        return None, lambda: None

    def from_hooks(X, _last):
        store.clear()
        active[0] = True
        try:
            with torch.no_grad():
                model(X)
        finally:
            active[0] = False
        out = torch.cat([s.reshape(X.shape[0], -1) for s in store], 1)
        store.clear()
        return out

    def cleanup():
        for hd in handles:
            hd.remove()

    return from_hooks, cleanup


def _as_list(p):
    return list(p) if isinstance(p, (list, tuple)) else [p]


# --------------------------------------------------------------------------------------------
# gradient descent on the network
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingHistory:
    """What :func:`gradient_descent` recorded; arrays are indexed by the iteration ``k = 0..K``.

    Attributes
    ----------
    h : the course's step size (on the sum-of-squares loss)
    loss : (K+1,) course loss ``||u(w_k) - y||^2``
    distance : (K+1,) ``||w_k - w_0||`` over the trainable parameters
    outputs : (K+1, m) training outputs ``u(w_k)``
    pattern_change : (K+1,) fraction of (example, neuron) pairs whose ReLU pattern differs from
        the one at ``w_0``, or ``None`` when the model has no detectable ReLU
    max_row_distance : (K+1,) ``max_r ||W_r(k) - W_r(0)||`` over the rows of ``row_parameter``
    test_outputs : (K+1, N_test) outputs on ``x_test`` or ``None``
    kernels : ``{k: Theta_hat(w_k)}`` on the training inputs for the requested steps
    model : the trained model (a copy unless ``copy=False``)
    w0 : flat initial parameters
    """

    h: float
    loss: torch.Tensor
    distance: torch.Tensor
    outputs: torch.Tensor
    pattern_change: torch.Tensor | None
    max_row_distance: torch.Tensor | None
    test_outputs: torch.Tensor | None
    kernels: dict[int, torch.Tensor]
    model: torch.nn.Module
    w0: torch.Tensor
    row_parameter: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.loss.shape[0] - 1


def _step_check(kernel_eigs: torch.Tensor, h: float, mode: str) -> None:
    lam_max = float(kernel_eigs[-1])
    if lam_max <= 0 or mode == "off":
        return
    limit = stability_limit(lam_max)
    if h >= limit:
        msg = (
            f"step size h = {h:.6g} (course normalization) is at or above the stability limit "
            f"1/lambda_max = {limit:.6g} of the linearized dynamics (lambda_max of the tangent "
            f"kernel at w_0 = {lam_max:.6g}); gradient descent is expected to diverge"
        )
        if mode == "error":
            raise ValueError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def gradient_descent(
    model: torch.nn.Module,
    X: Any,
    y: Any,
    h: float,
    steps: int,
    *,
    loss: str = "sum",
    x_test: Any | None = None,
    kernel_steps: Iterable[int] = (),
    patterns: Any = "auto",
    row_parameter: str | None = None,
    check_step: str = "error",
    divergence_factor: float = 1e8,
    copy_model: bool = True,
    progress: bool | None = None,
) -> TrainingHistory:
    """Full-batch gradient descent ``w_{k+1} = w_k - h grad L(w_k)`` (11.4.5) on ``model``.

    Parameters
    ----------
    model : scalar-output ``torch.nn.Module``; its trainable parameters are ``w``
    X : (m, d) training inputs; y : (m,) targets
    h : step size on the loss named by ``loss`` (converted to the course's step, stored in the
        result as ``h``)
    steps : number of iterations ``K >= 1``
    loss : ``"sum"`` (the course's, default), ``"half_sum"``, ``"mean"`` or ``"half_mean"``
    x_test : optional (N, d) inputs whose outputs are recorded at every step
    kernel_steps : iterations ``k`` at which the tangent kernel ``Theta_hat(w_k)`` is stored
    patterns : how ReLU activation patterns are read (see the module docs); ``None`` skips them
    row_parameter : name of a 2-D trainable parameter whose largest row displacement
        ``max_r ||W_r(k) - W_r(0)||`` is recorded (Du et al.'s figure 1c); default: the first 2-D
        trainable parameter
    check_step : ``"error"`` (default), ``"warn"`` or ``"off"``: compare ``h`` with the stability
        limit ``1/lambda_max`` of the tangent kernel at ``w_0`` before training (costs one kernel)
    divergence_factor : stop with :class:`DivergenceError` once the loss is non-finite or exceeds
        this factor times the initial loss
    copy_model : train a deep copy (default) rather than the caller's model

    Per step the work is one forward and one backward pass on ``X`` (plus a forward pass on
    ``x_test`` if given); the kernel is only formed at ``kernel_steps``.
    """
    model = _check_model(model)
    X, y = _data(model, X, y)
    m = X.shape[0]
    steps = check_positive_int(steps, "steps")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    h_course = course_step(h, m, loss)
    check_step = check_choice(check_step, "check_step", ("error", "warn", "off"))
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    kernel_steps = sorted({check_nonnegative_int(k, "kernel_steps") for k in kernel_steps})
    if kernel_steps and kernel_steps[-1] > steps:
        raise ValueError(f"kernel_steps must lie in [0, steps={steps}], got {kernel_steps[-1]}")
    if x_test is not None:
        x_test = _data(model, x_test, X_name="x_test")
        if x_test.shape[1] != X.shape[1]:
            raise ValueError(
                f"x_test must have {X.shape[1]} columns like X, got shape {tuple(x_test.shape)}"
            )
    _outputs(model, X)  # scalar-output check before any work

    net = copy.deepcopy(model) if copy_model else model
    params = [p for _, p in _trainable(net)]
    names = [n for n, _ in _trainable(net)]
    p0 = [p.detach().clone() for p in params]
    if row_parameter is None:
        row_parameter = next((n for n, p in zip(names, params, strict=False) if p.dim() == 2), None)
    elif row_parameter not in names:
        raise ValueError(f"row_parameter must name a trainable parameter, one of {names}")
    row_index = names.index(row_parameter) if row_parameter is not None else None

    if check_step != "off":
        K0 = tangent_kernel(net, X)
        eigs = torch.linalg.eigvalsh(K0)
        _step_check(eigs, h_course, check_step)

    pattern_fn, cleanup = _pattern_recorder(net, patterns)
    n_rec = steps + 1
    dtype, device = X.dtype, X.device
    losses = torch.empty(n_rec, dtype=dtype, device=device)
    dists = torch.empty(n_rec, dtype=dtype, device=device)
    outs = torch.empty(n_rec, m, dtype=dtype, device=device)
    changes = torch.empty(n_rec, dtype=dtype, device=device) if pattern_fn else None
    rows = torch.empty(n_rec, dtype=dtype, device=device) if row_index is not None else None
    tests = (
        torch.empty(n_rec, x_test.shape[0], dtype=dtype, device=device)
        if x_test is not None
        else None
    )
    kernels: dict[int, torch.Tensor] = {}
    pattern0 = None
    loss0 = None
    try:
        for k in _progress(range(n_rec), enabled=progress, desc="gradient descent"):
            u = _outputs(net, X)
            r = u - y
            L = (r * r).sum()
            Lv = float(L.detach())
            if loss0 is None:
                loss0 = max(Lv, torch.finfo(dtype).tiny)
            if not math.isfinite(Lv) or Lv > divergence_factor * loss0:
                raise DivergenceError(
                    f"gradient descent diverged at iteration {k} with step size h = {h_course:.6g} "
                    f"(course normalization; {h:.6g} on the {loss!r} loss): loss = {Lv:.3g} "
                    f"against {loss0:.3g} at w_0. Use a smaller step size (see "
                    "ntklab.course.convergence.theorem_11_13_step_size)."
                )
            with torch.no_grad():
                losses[k] = L.detach()
                outs[k] = u.detach()
                sq = sum(((p - q) ** 2).sum() for p, q in zip(params, p0, strict=True))
                dists[k] = torch.sqrt(sq)
                if rows is not None:
                    rows[k] = (params[row_index] - p0[row_index]).norm(dim=1).max()
                if pattern_fn is not None:
                    pat = pattern_fn(X, None)
                    if pattern0 is None:
                        pattern0 = pat
                    changes[k] = (pat != pattern0).to(dtype).mean()
                if tests is not None:
                    tests[k] = _outputs(net, x_test, "x_test")
            if k in kernel_steps:
                kernels[k] = tangent_kernel(net, X)
            if k == steps:
                break
            grads = torch.autograd.grad(L, params)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=False):
                    p.sub_(h_course * g)
    finally:
        cleanup()
    return TrainingHistory(
        h=h_course,
        loss=losses,
        distance=dists,
        outputs=outs,
        pattern_change=changes,
        max_row_distance=rows,
        test_outputs=tests,
        kernels=kernels,
        model=net,
        w0=torch.cat([q.reshape(-1) for q in p0]),
        row_parameter=row_parameter,
    )


# --------------------------------------------------------------------------------------------
# the linearized model
# --------------------------------------------------------------------------------------------


@dataclass
class LinearizedTrajectory:
    """The linearized model trained by GD, indexed by ``k = 0..K`` (or by the requested times).

    ``outputs`` (T, m) training outputs, ``loss`` (T,) course loss, ``distance`` (T,)
    ``||p_k - p_0||``, ``test_outputs`` (T, N) or ``None``, ``alpha`` (T, m) with
    ``p_k - p_0 = J_0^T alpha_k``.
    """

    outputs: torch.Tensor
    loss: torch.Tensor
    distance: torch.Tensor
    test_outputs: torch.Tensor | None
    alpha: torch.Tensor


class LinearDynamics:
    """Linearized training dynamics around ``w_0`` from the tangent kernel at ``w_0``.

    For the linearization ``f_lin(x; p) = f(x; w_0) + grad f(x; w_0) . (p - w_0)`` (11.3.1),
    GD with step ``h`` on the course's loss keeps ``p_k - p_0 = J_0^T alpha_k`` and moves the
    training outputs by (11.5.9)

        u_{k+1} = u_k - A (u_k - y),   A = 2 h Theta,   B = I - A,

    so that (Remark 11.24, with the power inside the sum corrected to ``B^j``)

        u_k = B^k u_0 + sum_{j=0}^{k-1} B^j A y,  i.e.  u_k - y = B^k (u_0 - y),
        alpha_k = -2 h sum_{j<k} B^j (u_0 - y) = V diag(((1 - 2 h l)^k - 1) / l) V^T (u_0 - y).

    Gradient flow ``du/dt = -2 Theta (u - y)`` gives ``u(t) - y = exp(-2 t Theta)(u_0 - y)`` and
    ``alpha(t) = V diag(expm1(-2 t l) / l) V^T (u_0 - y)``.  Zero eigenvalues take the limits
    ``-2 h k`` and ``-2 t``.  Test outputs are ``f_lin(x; p_k) = f(x; w_0) + Theta(x, X) alpha_k``
    and ``||p_k - p_0||^2 = alpha_k^T Theta alpha_k``.  One eigendecomposition serves every
    ``k`` and ``t``.

    Parameters
    ----------
    theta : (m, m) tangent kernel at ``w_0`` on the training inputs
    u0 : (m,) outputs at ``w_0``; y : (m,) targets
    theta_test : optional (N, m) kernel between test and training inputs; f0_test : (N,)
    """

    def __init__(self, theta: Any, u0: Any, y: Any, *, theta_test: Any = None, f0_test: Any = None):
        theta = as_tensor(theta, "theta", ndim=2)
        if theta.shape[0] != theta.shape[1]:
            raise ValueError(f"theta must be square, got shape {tuple(theta.shape)}")
        m = theta.shape[0]
        self.u0 = as_tensor(u0, "u0", dtype=theta.dtype, device=theta.device, ndim=1)
        self.y = as_tensor(y, "y", dtype=theta.dtype, device=theta.device, ndim=1)
        for vec, nm in ((self.u0, "u0"), (self.y, "y")):
            if vec.shape[0] != m:
                raise ValueError(f"{nm} must have {m} entries to match theta, got {vec.shape[0]}")
        if (theta_test is None) != (f0_test is None):
            raise ValueError("pass theta_test and f0_test together")
        self.theta = symmetric_part(theta)
        self.eig = SymmetricEigen(self.theta)
        self.theta_test = None
        self.f0_test = None
        if theta_test is not None:
            tt = as_tensor(theta_test, "theta_test", dtype=theta.dtype, device=theta.device, ndim=2)
            if tt.shape[1] != m:
                raise ValueError(f"theta_test must have {m} columns, got shape {tuple(tt.shape)}")
            f0 = as_tensor(f0_test, "f0_test", dtype=theta.dtype, device=theta.device, ndim=1)
            if f0.shape[0] != tt.shape[0]:
                raise ValueError("f0_test must have one entry per row of theta_test")
            self.theta_test, self.f0_test = tt, f0
        lam = self.eig.eigenvalues
        self._zero = lam.abs() <= lam.abs().max() * m * torch.finfo(lam.dtype).eps

    @property
    def eigenvalues(self) -> torch.Tensor:
        return self.eig.eigenvalues

    def _trajectory(self, residual_factor, alpha_factor) -> LinearizedTrajectory:
        V = self.eig.eigenvectors
        c0 = V.T @ (self.u0 - self.y)  # (m,)
        R = residual_factor  # (T, m)
        outputs = self.y + (R * c0) @ V.T
        a_coef = alpha_factor * c0
        alpha = a_coef @ V.T
        lam = self.eig.eigenvalues.clamp_min(0)
        distance = torch.sqrt(((a_coef**2) * lam).sum(1))
        test = None
        if self.theta_test is not None:
            test = self.f0_test + alpha @ self.theta_test.T
        loss = ((outputs - self.y) ** 2).sum(1)
        return LinearizedTrajectory(outputs, loss, distance, test, alpha)

    def gradient_descent(self, h: float, ks: Any) -> LinearizedTrajectory:
        """Closed form of GD with course step ``h`` at the iterations ``ks`` (Remark 11.24)."""
        h = check_positive(h, "h")
        if isinstance(ks, range):
            ks = list(ks)
        ks = as_tensor(ks, "ks", dtype=self.theta.dtype, device=self.theta.device, ndim=(0, 1))
        ks = ks.reshape(-1, 1)
        if bool((ks < 0).any()) or bool((ks != ks.round()).any()):
            raise ValueError("ks must be nonnegative integers (iteration counts)")
        lam = self.eig.eigenvalues
        base = 1 - 2 * h * lam
        powk = base**ks
        safe = torch.where(self._zero, torch.ones_like(lam), lam)
        alpha_f = torch.where(self._zero, -2 * h * ks, (powk - 1) / safe)
        return self._trajectory(powk, alpha_f)

    def gradient_flow(self, ts: Any) -> LinearizedTrajectory:
        """Gradient flow ``du/dt = -2 Theta (u - y)`` at the times ``ts`` (course time)."""
        ts = as_tensor(ts, "ts", dtype=self.theta.dtype, device=self.theta.device, ndim=(0, 1))
        ts = ts.reshape(-1, 1)
        if bool((ts < 0).any()):
            raise ValueError("ts must be nonnegative times")
        lam = self.eig.eigenvalues
        safe = torch.where(self._zero, torch.ones_like(lam), lam)
        alpha_f = torch.where(self._zero, -2 * ts, torch.expm1(-2 * ts * lam) / safe)
        return self._trajectory(torch.exp(-2 * ts * lam), alpha_f)

    @classmethod
    def from_model(cls, model: torch.nn.Module, X: Any, y: Any, x_test: Any = None):
        """Build the dynamics of ``model``'s linearization at its current parameters."""
        model = _check_model(model)
        X, y = _data(model, X, y)
        with torch.no_grad():
            u0 = _outputs(model, X)
        if x_test is None:
            return cls(tangent_kernel(model, X), u0, y)
        x_test = _data(model, x_test, X_name="x_test")
        with torch.no_grad():
            f0 = _outputs(model, x_test, "x_test")
        return cls(
            tangent_kernel(model, X), u0, y, theta_test=tangent_kernel(model, x_test, X), f0_test=f0
        )


def linearized_gradient_descent(
    model: torch.nn.Module,
    X: Any,
    y: Any,
    h: float,
    steps: int,
    *,
    loss: str = "sum",
    x_test: Any = None,
    dynamics: LinearDynamics | None = None,
    progress: bool | None = None,
) -> LinearizedTrajectory:
    """GD on the linearized model (11.3.1) with the same step as :func:`gradient_descent`.

    Iterates (11.5.9) in function space, ``u_{k+1} = u_k - 2 h Theta_0 (u_k - y)`` and
    ``alpha_{k+1} = alpha_k - 2 h (u_k - y)`` (``p_k - p_0 = J_0^T alpha_k``), which is exactly
    GD on the parameters ``p`` without ever forming them.  Pass ``dynamics`` to reuse kernels.
    Returns the trajectory for ``k = 0..steps``.
    """
    steps = check_positive_int(steps, "steps")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    if dynamics is None:
        dynamics = LinearDynamics.from_model(model, X, y, x_test)
    m = dynamics.theta.shape[0]
    h = course_step(h, m, loss)
    theta, y_ = dynamics.theta, dynamics.y
    u = dynamics.u0.clone()
    alpha = torch.zeros_like(u)
    outs = torch.empty(steps + 1, m, dtype=u.dtype, device=u.device)
    alphas = torch.empty_like(outs)
    for k in _progress(range(steps + 1), enabled=progress, desc="linearized GD"):
        outs[k], alphas[k] = u, alpha
        if k == steps:
            break
        r = u - y_
        if (
            not bool(torch.isfinite(r).all())
            or float(r.norm()) > 1e4 * float((dynamics.u0 - y_).norm()) + 1.0
        ):
            raise DivergenceError(
                f"linearized gradient descent diverged at iteration {k} with step size "
                f"h = {h:.6g}; the stability limit is 1/lambda_max = "
                f"{1.0 / float(dynamics.eigenvalues[-1]):.6g}"
            )
        alpha = alpha - 2 * h * r
        u = u - 2 * h * (theta @ r)
    loss_v = ((outs - y_) ** 2).sum(1)
    dist = torch.sqrt(torch.einsum("ki,ij,kj->k", alphas, theta, alphas).clamp_min(0))
    test = None
    if dynamics.theta_test is not None:
        test = dynamics.f0_test + alphas @ dynamics.theta_test.T
    return LinearizedTrajectory(outs, loss_v, dist, test, alphas)


# --------------------------------------------------------------------------------------------
# natural gradient descent
# --------------------------------------------------------------------------------------------


@dataclass
class NaturalGradientHistory:
    """``loss`` (K+1,) course loss, ``distance`` (K+1,) ``||w_k - w_0||``, ``model``."""

    eta: float
    loss: torch.Tensor
    distance: torch.Tensor
    model: torch.nn.Module


def natural_gradient_descent(
    model: torch.nn.Module,
    X: Any,
    y: Any,
    eta: float,
    steps: int,
    *,
    ridge: float = 0.0,
    copy_model: bool = True,
    progress: bool | None = None,
) -> NaturalGradientHistory:
    """Natural gradient descent for the square loss (Zhang, Martens & Grosse 2019):

        w_{k+1} = w_k - eta J^T (J J^T)^{-1} (u(w_k) - y),   J = J(w_k).

    The step is independent of the loss normalization (the Fisher matrix and the gradient scale
    together).  ``(J J^T + ridge I)`` is solved by :func:`ntklab.linalg.psd_solve` (Cholesky, no
    inverse).  With a stable Jacobian ``||u_k - y||^2 <= (1 - eta)^k ||u_0 - y||^2`` (slides 001);
    for the linearized model ``u_{k+1} - y = (1 - eta)(u_k - y)`` exactly.
    """
    model = _check_model(model)
    X, y = _data(model, X, y)
    eta = check_positive(eta, "eta")
    if eta > 2:
        raise ValueError(f"eta must be at most 2 (|1 - eta| < 1 is needed), got {eta}")
    steps = check_positive_int(steps, "steps")
    ridge = check_nonnegative(ridge, "ridge")
    _outputs(model, X)
    net = copy.deepcopy(model) if copy_model else model
    w0 = flat_parameters(net)
    w = w0.clone()
    losses = torch.empty(steps + 1, dtype=X.dtype, device=X.device)
    dists = torch.empty_like(losses)
    params = [p for _, p in _trainable(net)]
    for k in _progress(range(steps + 1), enabled=progress, desc="natural gradient"):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(w, params)
            r = _outputs(net, X) - y
        losses[k] = (r * r).sum()
        dists[k] = (w - w0).norm()
        if not math.isfinite(float(losses[k])):
            raise DivergenceError(f"natural gradient descent diverged at iteration {k}, eta={eta}")
        if k == steps:
            break
        J = per_example_gradients(net, X, w)
        alpha = psd_solve(J @ J.T, r, ridge=ridge)
        w = w - eta * (J.T @ alpha)
    return NaturalGradientHistory(eta, losses, dists, net)


@dataclass
class Proximity:
    """Largest deviations of the trained network from its linearization over ``k = 0..K``.

    ``distance``: ``max_k ||w_k - w_0||``;
    ``kernel``: ``max_k ||Theta_hat(w_k) - Theta_hat(w_0)||_2``
    over the recorded kernel steps; ``outputs``: ``max_k max_x |f(x; w_k) - f_lin(x; p_k)|`` over
    the test inputs; plus the two histories.
    """

    distance: float
    kernel: float
    outputs: float
    full: TrainingHistory
    linear: LinearizedTrajectory


def compare_with_linearization(
    model: torch.nn.Module,
    X: Any,
    y: Any,
    h: float,
    steps: int,
    x_test: Any,
    *,
    kernel_every: int | None = None,
    progress: bool | None = None,
) -> Proximity:
    """Train ``model`` and its linearization with the same step ``h`` and measure how far apart
    they get (Propositions 11.25 and 11.26 of Petersen & Zech).

    The kernel ``Theta_hat(w_k)`` is compared with ``Theta_hat(w_0)`` every ``kernel_every``
    steps (default: ``steps // 10``), in the spectral norm.
    """
    steps = check_positive_int(steps, "steps")
    every = (
        max(1, steps // 10)
        if kernel_every is None
        else check_positive_int(kernel_every, "kernel_every")
    )
    ks = sorted(set(range(0, steps + 1, every)) | {steps})
    full = gradient_descent(
        model, X, y, h, steps, x_test=x_test, kernel_steps=ks, patterns=None, progress=progress
    )
    lin = linearized_gradient_descent(model, X, y, h, steps, x_test=x_test, progress=progress)
    K0 = full.kernels[0]
    kern = max(float(torch.linalg.matrix_norm(full.kernels[k] - K0, 2)) for k in ks)
    return Proximity(
        distance=float(full.distance.max()),
        kernel=kern,
        outputs=float((full.test_outputs - lin.test_outputs).abs().max()),
        full=full,
        linear=lin,
    )

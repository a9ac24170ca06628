"""Training dynamics: gradient descent on a network, on its linearization, and in closed form.

The course's loss is the plain sum of squares (Petersen & Zech (11.0.1b))

    L(w) = sum_i (f(x_i; w) - y_i)^2 = ||u(w) - y||^2,

and gradient descent is ``w_{k+1} = w_k - step_size grad L(w_k)`` (the book's step ``h``).
Other normalizations are accepted through ``loss=``: a step ``s`` on ``c L`` makes the same
iterates as the step ``c s`` on ``L`` (``c = 1/2`` for ``"half_sum"``, ``1/n`` for ``"mean"``,
``1/(2n)`` for ``"half_mean"``, the loss of neural-tangents and of the GD/SGD slides, with
``n = y.numel()`` target entries).  :func:`to_course_step` and :func:`from_course_step` convert
(a neural-tangents ``learning_rate`` is ``from_course_step(step_size, n, "half_mean")``).
Every result stores the *course's* step and the course's loss.

Targets are ``(m,)`` for a model with one output per point or ``(m, O)`` for O outputs;
outputs, kernels and trajectories follow (an O-output tangent kernel is the full
``(m, m, O, O)`` kernel of :func:`ntklab.empirical.ntk`).  Tangent kernels and Jacobians come
from :mod:`ntklab.empirical`.

What lives here:

* :func:`gradient_descent` - full-batch GD on any ``torch.nn.Module``, recording the loss,
  ``||w_k - w_0||``, the fraction of changed ReLU activation patterns, the largest row
  displacement of a weight matrix, outputs on test inputs and the tangent kernel at chosen steps;
* :func:`stochastic_gradient_descent` - mini-batch SGD (batch size, with or without
  replacement, seeded) with the same records once per epoch;
* :func:`linearized_gradient_descent` - the linearized model (11.3.1) trained with the same step,
  iterated in function space (11.5.9) through the tangent kernel at ``w_0``;
* :class:`LinearDynamics` - the closed-form trajectory of the linearized model (Remark 11.24 with
  the power inside the sum corrected to ``B^j``) and gradient flow ``du/dt = -2 Theta (u - y)``,
  both from one eigendecomposition (:class:`ntklab.linalg.SymmetricEigen`);
* :func:`natural_gradient_descent` - natural gradient descent for the square loss,
  ``w <- w - step_size J^T (J J^T)^{-1} (u - y)`` (Zhang et al. 2019);
* :func:`compare_with_linearization`, :func:`stability_limit`, :func:`flat_parameters`.

Only parameters with ``requires_grad=True`` are trained (and enter ``w``, ``J`` and the kernel),
so freezing a layer (as Du et al. do with the output weights) is done the usual torch way.
Data must have the dtype of the model's parameters (another dtype is a ``TypeError``).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ._multioutput import OutputLayout, flat_kernel
from .empirical import jacobian, ntk
from .linalg import SymmetricEigen, psd_solve, symmetric_part
from .progress import progress as _progress
from .validation import (
    as_tensor,
    as_tensor_like,
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    make_generator,
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
    "flat_parameters",
    "from_course_step",
    "gradient_descent",
    "linearized_gradient_descent",
    "natural_gradient_descent",
    "stability_limit",
    "stochastic_gradient_descent",
    "to_course_step",
]

#: Loss normalizations: name -> factor c(n) with loss = c(n) * sum (f - y)^2, n = y.numel().
LOSS_SCALES: dict[str, Callable[[int], float]] = {
    "sum": lambda n: 1.0,
    "half_sum": lambda n: 0.5,
    "mean": lambda n: 1.0 / n,
    "half_mean": lambda n: 0.5 / n,
}


class DivergenceError(RuntimeError):
    """Gradient descent produced a non-finite or exploding loss (the step size is too large)."""


def to_course_step(step_size: float, n: int, loss: str = "sum") -> float:
    """The course's step (on ``sum (f - y)^2``) equal to ``step_size`` on the loss ``loss``.

    GD with step ``s`` on ``c L`` makes the iterates of GD with step ``c s`` on the course's
    ``L``, so this returns ``c(n) * step_size`` (:data:`LOSS_SCALES`).  Times (step times
    iterations) convert the same way.

    Parameters
    ----------
    step_size : float > 0
        Step (or gradient-flow time) on the loss ``loss``.
    n : int >= 1
        Number of target entries, ``y.numel()`` (``m`` for one output).
    loss : {"sum", "half_sum", "mean", "half_mean"}

    Returns
    -------
    float : the course's step.

    Raises
    ------
    ValueError, TypeError
        On a non-positive step, a bad ``n`` or an unknown ``loss``.

    Examples
    --------
    >>> to_course_step(20.0, 10, "half_mean")  # a neural-tangents learning_rate of 20, m = 10
    1.0
    """
    step_size = check_positive(step_size, "step_size")
    n = check_positive_int(n, "n")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    return LOSS_SCALES[loss](n) * step_size


def from_course_step(step_size: float, n: int, loss: str = "half_mean") -> float:
    """The step on the loss ``loss`` equal to the course's ``step_size``: inverse of
    :func:`to_course_step`.

    With ``loss="half_mean"`` (the default) this is neural-tangents' ``learning_rate = 2 n h``,
    and a course gradient-flow time ``t`` becomes :mod:`ntklab.predict`'s time ``2 n t``.

    Parameters
    ----------
    step_size : float > 0
        The course's step ``h`` (or a course time).
    n : int >= 1
        Number of target entries, ``y.numel()``.
    loss : {"sum", "half_sum", "mean", "half_mean"}

    Returns
    -------
    float : ``step_size / c(n)``.

    Raises
    ------
    ValueError, TypeError
        On a non-positive step, a bad ``n`` or an unknown ``loss``.

    Examples
    --------
    >>> from_course_step(0.05, 10)  # neural-tangents' learning_rate for h = 0.05, m = 10
    1.0
    """
    step_size = check_positive(step_size, "step_size")
    n = check_positive_int(n, "n")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    return step_size / LOSS_SCALES[loss](n)


def stability_limit(lambda_max: float) -> float:
    """``1 / lambda_max``: GD on the linearized model converges iff ``step_size < 1 / lambda_max``.

    On the training outputs the linearized model moves by ``u - y <- (I - 2 h Theta)(u - y)``
    (course step ``h``, (11.5.9)), which contracts every eigen-direction iff
    ``|1 - 2 h lambda| < 1`` for all eigenvalues ``lambda`` of the tangent kernel.

    Parameters
    ----------
    lambda_max : float > 0
        Largest eigenvalue of the tangent kernel on the training inputs (flattened over
        outputs for an O-output model).

    Returns
    -------
    float : the course step at which the linearized dynamics stop converging.

    Raises
    ------
    ValueError
        If ``lambda_max <= 0``.

    Examples
    --------
    >>> stability_limit(4.0)
    0.25
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
    """The trainable parameters of ``model`` as one flat vector ``w`` (a detached copy).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    tensor, (P,) : the parameters with ``requires_grad=True``, in ``named_parameters`` order.

    Raises
    ------
    TypeError, ValueError
        If ``model`` is not a module or has no trainable parameter.

    Examples
    --------
    >>> import torch
    >>> flat_parameters(torch.nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    model = _check_model(model)
    return torch.cat([p.detach().reshape(-1) for _, p in _trainable(model)]).clone()


def _unflatten(model: torch.nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for name, p in _trainable(model):
        out[name] = flat[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out


def _reference(model: torch.nn.Module) -> torch.Tensor:
    return next(p for p in model.parameters() if p.requires_grad)


def _outputs(
    model: torch.nn.Module, x: torch.Tensor, name: str = "x", width: int | None = None
) -> torch.Tensor:
    """``model(x)`` as ``(N,)`` (``width=None``: one output per point) or ``(N, width)``."""
    try:
        out = model(x)
    except RuntimeError as err:
        raise ValueError(
            f"{name} of shape {tuple(x.shape)} does not fit the model's input layer: {err}"
        ) from err
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model must return a tensor, got {type(out).__name__}")
    flat = out.reshape(x.shape[0], -1) if out.numel() or x.shape[0] else out
    if flat.shape[1] != (1 if width is None else width):
        want = "one output per point" if width is None else f"{width} outputs per point"
        raise ValueError(
            f"the model's output of shape {tuple(out.shape)} for {name} of {x.shape[0]} rows "
            f"does not match the targets ({want})"
        )
    return flat[:, 0] if width is None else flat


def _data(model, x, y=None, *, x_name="x", y_name="y"):
    """Validate data against the model: ``x`` (m, ...), ``y`` (m,) or (m, O), model's dtype."""
    ref = _reference(model)
    x = as_tensor_like(x, x_name, ref, "the model")
    if x.dim() == 0:
        raise ValueError(f"{x_name} must have a leading axis of points, got a scalar")
    if y is None:
        return x
    y = as_tensor_like(y, y_name, ref, "the model", ndim=(1, 2))
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same length, got {x.shape[0]} and {y.shape[0]}"
        )
    return x, y


def _width(y: torch.Tensor) -> int | None:
    """Output width implied by targets: ``None`` for (m,), ``O`` for (m, O)."""
    return None if y.dim() == 1 else y.shape[1]


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
    step_size : float
        The course's step (on the sum-of-squares loss).
    loss : tensor, (K+1,)
        Course loss ``||u(w_k) - y||^2``.
    distance : tensor, (K+1,)
        ``||w_k - w_0||`` over the trainable parameters.
    outputs : tensor, (K+1, m) or (K+1, m, O)
        Training outputs ``u(w_k)``, shaped like the targets.
    pattern_change : tensor (K+1,) or None
        Fraction of (example, neuron) pairs whose ReLU pattern differs from the one at
        ``w_0``; ``None`` when the model has no detectable ReLU.
    max_row_distance : tensor (K+1,) or None
        ``max_r ||W_r(k) - W_r(0)||`` over the rows of ``row_parameter``.
    test_outputs : tensor (K+1, N) or (K+1, N, O), or None
        Outputs on ``x_test``.
    kernels : dict
        ``{k: Theta_hat(w_k)}`` on the training inputs for the requested steps, (m, m) or
        (m, m, O, O) (:func:`ntklab.empirical.ntk`).
    model : torch.nn.Module
        The trained model (a copy unless ``copy_model=False``).
    w0 : tensor, (P,)
        Flat initial parameters.
    """

    step_size: float
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
        """Number of iterations ``K``."""
        return self.loss.shape[0] - 1


def _step_check(lam_max: float, step_size: float, mode: str) -> None:
    if lam_max <= 0 or mode == "off":
        return
    limit = stability_limit(lam_max)
    if step_size >= limit:
        msg = (
            f"step_size = {step_size:.6g} (course normalization) is at or above the stability "
            f"limit 1/lambda_max = {limit:.6g} of the linearized dynamics (lambda_max of the "
            f"tangent kernel at w_0 = {lam_max:.6g}); gradient descent is expected to diverge"
        )
        if mode == "error":
            raise ValueError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def gradient_descent(
    model: torch.nn.Module,
    x: Any,
    y: Any,
    step_size: float,
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

    Per step the work is one forward and one backward pass on ``x`` (plus a forward pass on
    ``x_test`` if given); the kernel is only formed at ``kernel_steps`` (and once at ``w_0``
    for the step check).

    Parameters
    ----------
    model : torch.nn.Module
        Its trainable parameters are ``w``; one output per point for (m,) targets, O outputs
        for (m, O) targets.
    x : tensor, (m, ...)
        Training inputs, of the model's dtype.
    y : tensor, (m,) or (m, O)
        Targets.
    step_size : float > 0
        Step on the loss named by ``loss`` (converted to the course's step ``h`` by
        :func:`to_course_step` and stored in the result).
    steps : int >= 1
        Number of iterations ``K``.
    loss : {"sum", "half_sum", "mean", "half_mean"}
        Normalization of the squared loss (``"sum"``, the course's, by default).
    x_test : tensor (N, ...), optional
        Inputs whose outputs are recorded at every step.
    kernel_steps : iterable of int
        Iterations ``k`` at which the tangent kernel ``Theta_hat(w_k)`` is stored.
    patterns : "auto", None or callable
        How ReLU activation patterns are read: a callable ``(model, x) -> pre-activations``;
        ``"auto"`` uses ``model.preactivations(x)`` if present, else hooks on ``nn.ReLU``;
        ``None`` skips them.
    row_parameter : str, optional
        Name of a 2-D trainable parameter whose largest row displacement is recorded
        (Du et al.'s figure 1c); default: the first 2-D trainable parameter.
    check_step : {"error", "warn", "off"}
        Compare the course step with :func:`stability_limit` of the tangent kernel at ``w_0``
        before training (costs one kernel).
    divergence_factor : float > 0
        Stop with :class:`DivergenceError` once the loss is non-finite or exceeds this factor
        times the initial loss.
    copy_model : bool
        Train a deep copy (default) rather than the caller's model.
    progress : bool or None
        Show a progress bar (``None``: ntklab's default).

    Returns
    -------
    TrainingHistory

    Raises
    ------
    ValueError
        On bad arguments (named), or with ``check_step="error"`` a step at or above the
        stability limit.
    TypeError
        If ``model`` is not a module or the data has another dtype than its parameters.
    DivergenceError
        If the loss explodes during training.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> net = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> hist = gradient_descent(net, x, y, step_size=0.1, steps=100)
    >>> hist.outputs.shape, round(float(hist.loss[-1]), 6)
    (torch.Size([101, 2]), 0.0)
    """
    model = _check_model(model)
    x, y = _data(model, x, y)
    width = _width(y)
    steps = check_positive_int(steps, "steps")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    h = to_course_step(step_size, y.numel(), loss)
    check_step = check_choice(check_step, "check_step", ("error", "warn", "off"))
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    kernel_steps = sorted({check_nonnegative_int(k, "kernel_steps") for k in kernel_steps})
    if kernel_steps and kernel_steps[-1] > steps:
        raise ValueError(f"kernel_steps must lie in [0, steps={steps}], got {kernel_steps[-1]}")
    if x_test is not None:
        x_test = _data(model, x_test, x_name="x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"x_test must have shape (N, {', '.join(map(str, x.shape[1:]))}) like x, "
                f"got {tuple(x_test.shape)}"
            )
    _outputs(model, x, "x", width)  # output-width check before any work

    net = copy.deepcopy(model) if copy_model else model
    rec = _Recorder(net, x, y, width, steps, patterns, row_parameter, x_test)
    if check_step != "off":
        K0 = flat_kernel(ntk(net, x))
        _step_check(float(torch.linalg.eigvalsh(K0)[-1]), h, check_step)
    kernels: dict[int, torch.Tensor] = {}
    try:
        for k in _progress(range(steps + 1), enabled=progress, desc="gradient descent"):
            L = rec.record(k)
            rec.check_divergence(k, divergence_factor, h, step_size, loss, "gradient descent")
            if k in kernel_steps:
                kernels[k] = ntk(net, x)
            if k == steps:
                break
            grads = torch.autograd.grad(L, rec.params)
            with torch.no_grad():
                for p, g in zip(rec.params, grads, strict=False):
                    p.sub_(h * g)
    finally:
        rec.cleanup()
    return rec.history(h, kernels)


class _Recorder:
    """Per-iteration records of a training run (loss, distance, outputs, patterns, rows, tests).

    ``record(k)`` evaluates the full-batch course loss at the current parameters, stores every
    quantity of :class:`TrainingHistory` at slot ``k`` and returns the loss (with its graph).
    """

    def __init__(self, net, x, y, width, steps, patterns, row_parameter, x_test):
        self.net, self.x, self.y, self.width, self.x_test = net, x, y, width, x_test
        self.params = [p for _, p in _trainable(net)]
        names = [n for n, _ in _trainable(net)]
        self.p0 = [p.detach().clone() for p in self.params]
        if row_parameter is None:
            row_parameter = next(
                (n for n, p in zip(names, self.params, strict=False) if p.dim() == 2), None
            )
        elif row_parameter not in names:
            raise ValueError(f"row_parameter must name a trainable parameter, one of {names}")
        self.row_parameter = row_parameter
        self.row_index = names.index(row_parameter) if row_parameter is not None else None
        self.pattern_fn, self.cleanup = _pattern_recorder(net, patterns)
        n_rec = steps + 1
        kw = {"dtype": x.dtype, "device": x.device}
        self.losses = torch.empty(n_rec, **kw)
        self.dists = torch.empty(n_rec, **kw)
        self.outs = torch.empty(n_rec, *y.shape, **kw)
        self.changes = torch.empty(n_rec, **kw) if self.pattern_fn else None
        self.rows = torch.empty(n_rec, **kw) if self.row_index is not None else None
        self.tests = (
            torch.empty(n_rec, x_test.shape[0], *y.shape[1:], **kw) if x_test is not None else None
        )
        self.pattern0 = None
        self.loss0 = None
        self.last = math.nan

    def record(self, k: int) -> torch.Tensor:
        u = _outputs(self.net, self.x, "x", self.width)
        r = u - self.y
        L = (r * r).sum()
        self.last = float(L.detach())
        if self.loss0 is None:
            self.loss0 = max(self.last, torch.finfo(self.x.dtype).tiny)
        with torch.no_grad():
            self.losses[k] = L.detach()
            self.outs[k] = u.detach()
            sq = sum(((p - q) ** 2).sum() for p, q in zip(self.params, self.p0, strict=True))
            self.dists[k] = torch.sqrt(sq)
            if self.rows is not None:
                i = self.row_index
                self.rows[k] = (self.params[i] - self.p0[i]).norm(dim=1).max()
            if self.pattern_fn is not None:
                pat = self.pattern_fn(self.x, None)
                if self.pattern0 is None:
                    self.pattern0 = pat
                self.changes[k] = (pat != self.pattern0).to(self.x.dtype).mean()
            if self.tests is not None:
                self.tests[k] = _outputs(self.net, self.x_test, "x_test", self.width)
        return L

    def check_divergence(self, k, factor, h, step_size, loss, what):
        Lv = self.last
        if not math.isfinite(Lv) or Lv > factor * self.loss0:
            raise DivergenceError(
                f"{what} diverged at iteration {k} with step size {h:.6g} "
                f"(course normalization; {step_size:.6g} on the {loss!r} loss): "
                f"loss = {Lv:.3g} against {self.loss0:.3g} at w_0. Use a smaller step size "
                "(see ntklab.dynamics.stability_limit)."
            )

    def history(self, h, kernels, **extra) -> TrainingHistory:
        return TrainingHistory(
            step_size=h,
            loss=self.losses,
            distance=self.dists,
            outputs=self.outs,
            pattern_change=self.changes,
            max_row_distance=self.rows,
            test_outputs=self.tests,
            kernels=kernels,
            model=self.net,
            w0=torch.cat([q.reshape(-1) for q in self.p0]),
            row_parameter=self.row_parameter,
            extra=extra,
        )


def _batches(m: int, batch_size: int, replacement: bool, gen: torch.Generator):
    """The index batches of one epoch: ``ceil(m / batch_size)`` of them.

    Without replacement a random permutation cut into consecutive pieces (the last one may be
    smaller), so every point is used once per epoch; with replacement each batch is drawn
    uniformly with replacement.
    """
    count = -(-m // batch_size)
    if replacement:
        return list(torch.randint(m, (count, batch_size), generator=gen))
    return list(torch.randperm(m, generator=gen).split(batch_size))


def stochastic_gradient_descent(
    model: torch.nn.Module,
    x: Any,
    y: Any,
    step_size: float,
    epochs: int,
    *,
    batch_size: int,
    replacement: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    loss: str = "sum",
    x_test: Any | None = None,
    patterns: Any = "auto",
    row_parameter: str | None = None,
    divergence_factor: float = 1e8,
    copy_model: bool = True,
    progress: bool | None = None,
) -> TrainingHistory:
    """Mini-batch SGD ``w <- w - h (m / |B|) grad sum_{i in B} (f(x_i; w) - y_i)^2``.

    The batch loss is scaled by ``m / |B|`` so that its gradient is an unbiased estimate of the
    full gradient of the course loss and ``h`` means what it means for :func:`gradient_descent`:
    with ``batch_size = m`` (without replacement) one epoch is exactly one gradient-descent
    step.  An epoch is ``ceil(m / batch_size)`` steps (Zou & Gu's Theorem 3.8, slides 001).
    Everything is recorded once per epoch, on the full training set, so a run compares with
    :func:`gradient_descent` at equal epochs; the full-batch loss after every step is in
    ``extra["step_loss"]``.

    Parameters
    ----------
    model : torch.nn.Module
        As in :func:`gradient_descent`.
    x : tensor, (m, ...)
        Training inputs, of the model's dtype, finite.
    y : tensor, (m,) or (m, O)
        Targets, finite.
    step_size : float > 0
        Step on the loss named by ``loss`` (stored as the course's step ``h``).
    epochs : int >= 1
        Number of passes ``K``.
    batch_size : int
        ``1 <= batch_size <= m``.
    replacement : bool
        Draw each batch with replacement (``True``) or cut a fresh random permutation per
        epoch (``False``, the default).
    seed, generator : optional
        The batches' randomness (one or the other, see :func:`ntklab.validation.make_generator`).
    loss, x_test, patterns, row_parameter, divergence_factor, copy_model, progress
        As in :func:`gradient_descent`.

    Returns
    -------
    TrainingHistory
        Arrays indexed by the epoch ``k = 0..K``; ``extra["step_loss"]`` (shape
        ``(K ceil(m / batch_size) + 1,)``) and ``extra["batch_size"]``.

    Raises
    ------
    ValueError
        On bad arguments (named): ``batch_size`` below 1 or above ``m``, non-finite data,
        both ``seed`` and ``generator``.
    TypeError
        If ``model`` is not a module or the data has another dtype than its parameters.
    DivergenceError
        If the loss explodes during training.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> net = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> hist = stochastic_gradient_descent(net, x, y, 0.05, 200, batch_size=1, seed=0)
    >>> hist.loss.shape, hist.extra["step_loss"].shape, round(float(hist.loss[-1]), 6)
    (torch.Size([201]), torch.Size([401]), 0.0)
    """
    model = _check_model(model)
    x, y = _data(model, x, y)
    width = _width(y)
    m = x.shape[0]
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size > m:
        raise ValueError(
            f"batch_size must be at most the number of points m = {m}, got {batch_size}"
        )
    if not isinstance(replacement, bool):
        raise TypeError(f"replacement must be a bool, got {type(replacement).__name__}")
    gen = make_generator(seed, generator)
    loss = check_choice(loss, "loss", LOSS_SCALES)
    h = to_course_step(step_size, y.numel(), loss)
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    if x_test is not None:
        x_test = _data(model, x_test, x_name="x_test")
    _outputs(model, x, "x", width)

    net = copy.deepcopy(model) if copy_model else model
    rec = _Recorder(net, x, y, width, epochs, patterns, row_parameter, x_test)
    step_loss = [rec.record(0).detach()]
    try:
        for k in _progress(range(1, epochs + 1), enabled=progress, desc="SGD"):
            for batch in _batches(m, batch_size, replacement, gen):
                b = batch.to(x.device)
                r = _outputs(net, x[b], "x", width) - y[b]
                grads = torch.autograd.grad((r * r).sum() * (m / b.numel()), rec.params)
                with torch.no_grad():
                    for p, g in zip(rec.params, grads, strict=False):
                        p.sub_(h * g)
                    r_all = _outputs(net, x, "x", width) - y
                    step_loss.append((r_all * r_all).sum())
            rec.record(k)
            rec.check_divergence(k, divergence_factor, h, step_size, loss, "SGD")
    finally:
        rec.cleanup()
    return rec.history(h, {}, step_loss=torch.stack(step_loss), batch_size=batch_size)


# --------------------------------------------------------------------------------------------
# the linearized model
# --------------------------------------------------------------------------------------------


@dataclass
class LinearizedTrajectory:
    """The linearized model trained by GD, indexed by ``k = 0..K`` (or by the requested times).

    Attributes
    ----------
    outputs : tensor, (T, m) or (T, m, O)
        Training outputs, shaped like the targets.
    loss : tensor, (T,)
        Course loss ``||u - y||^2``.
    distance : tensor, (T,)
        ``||p_k - p_0||``.
    test_outputs : tensor (T, N) or (T, N, O), or None
    alpha : tensor, (T, m) or (T, m, O)
        Coefficients with ``p_k - p_0 = J_0^T alpha_k``.
    """

    outputs: torch.Tensor
    loss: torch.Tensor
    distance: torch.Tensor
    test_outputs: torch.Tensor | None
    alpha: torch.Tensor


class LinearDynamics:
    """Linearized training dynamics around ``w_0`` from the tangent kernel at ``w_0``.

    For the linearization ``f_lin(x; p) = f(x; w_0) + grad f(x; w_0) . (p - w_0)`` (11.3.1),
    GD with course step ``h`` keeps ``p_k - p_0 = J_0^T alpha_k`` and moves the training
    outputs by (11.5.9)

        u_{k+1} = u_k - A (u_k - y),   A = 2 h Theta,   B = I - A,

    so that (Remark 11.24, with the power inside the sum corrected to ``B^j``)

        u_k = B^k u_0 + sum_{j=0}^{k-1} B^j A y,  i.e.  u_k - y = B^k (u_0 - y),
        alpha_k = -2 h sum_{j<k} B^j (u_0 - y) = V diag(((1 - 2 h l)^k - 1) / l) V^T (u_0 - y).

    Gradient flow ``du/dt = -2 Theta (u - y)`` gives ``u(t) - y = exp(-2 t Theta)(u_0 - y)`` and
    ``alpha(t) = V diag(expm1(-2 t l) / l) V^T (u_0 - y)``.  Zero eigenvalues take the limits
    ``-2 h k`` and ``-2 t``.  Test outputs are ``f_lin(x; p_k) = f(x; w_0) + Theta(x, X) alpha_k``
    and ``||p_k - p_0||^2 = alpha_k^T Theta alpha_k``.  One eigendecomposition serves every
    ``k`` and ``t``.

    Several outputs: an (m, m) ``theta`` with (m, O) targets is the same kernel for each output
    (each column evolves on its own); a full (m, m, O, O) ``theta`` is used as is (the
    ``(m O, m O)`` system of the flattened outputs).

    Parameters
    ----------
    theta : tensor, (m, m) or (m, m, O, O)
        Tangent kernel at ``w_0`` on the training inputs.
    u0 : tensor, (m,) or (m, O)
        Outputs at ``w_0``.
    y : tensor, (m,) or (m, O)
        Targets (the shape of ``u0``).
    theta_test : tensor (N, m) or (N, m, O, O), optional
        Kernel between test and training inputs, in ``theta``'s layout.
    f0_test : tensor (N,) or (N, O), optional
        Outputs at ``w_0`` on the test inputs (with ``theta_test``).

    Raises
    ------
    ValueError
        On mismatched shapes (named).
    TypeError
        If a tensor argument has another dtype than ``theta``.

    Examples
    --------
    >>> import torch
    >>> theta = torch.eye(2, dtype=torch.float64)
    >>> dyn = LinearDynamics(theta, torch.zeros(2).double(), torch.tensor([1.0, 2.0]).double())
    >>> dyn.gradient_descent(0.25, [0, 1, 2]).outputs.tolist()  # u_k - y = (1/2)^k (u_0 - y)
    [[0.0, 0.0], [0.5, 1.0], [0.75, 1.5]]
    """

    def __init__(self, theta: Any, u0: Any, y: Any, *, theta_test: Any = None, f0_test: Any = None):
        theta = as_tensor(theta, "theta", ndim=(2, 4))
        if theta.shape[0] != theta.shape[1]:
            raise ValueError(f"theta must be square over points, got shape {tuple(theta.shape)}")
        m = theta.shape[0]
        self.u0 = as_tensor_like(u0, "u0", theta, "theta", ndim=(1, 2))
        self.y = as_tensor_like(y, "y", theta, "theta", ndim=(1, 2))
        for vec, nm in ((self.u0, "u0"), (self.y, "y")):
            if vec.shape[0] != m:
                raise ValueError(f"{nm} must have {m} rows to match theta, got {vec.shape[0]}")
        if self.u0.shape != self.y.shape:
            raise ValueError(
                f"u0 and y must have the same shape, got {tuple(self.u0.shape)} and "
                f"{tuple(self.y.shape)}"
            )
        if (theta_test is None) != (f0_test is None):
            raise ValueError("pass theta_test and f0_test together")
        self.layout = OutputLayout(theta, "theta", self.y, "y")
        self.theta = theta
        self._m = m
        self._K = symmetric_part(self.layout.kernel(theta, "theta"))
        # copies: the caller may change its tensors in place after this call
        self.u0, self.y = self.u0.clone(), self.y.clone()
        self._u0, self._y = self.layout.targets(self.u0), self.layout.targets(self.y)
        self.eig = SymmetricEigen(self._K)
        self.theta_test = self.f0_test = self._K_te = None
        if theta_test is not None:
            tt = as_tensor_like(theta_test, "theta_test", theta, "theta")
            self._n_test = tt.shape[0] if tt.dim() else 0
            self._K_te = self.layout.kernel(tt, "theta_test", cols=m).clone()
            f0 = as_tensor_like(f0_test, "f0_test", theta, "theta", ndim=(1, 2))
            if tuple(f0.shape) != (self._n_test, *self.y.shape[1:]):
                raise ValueError(
                    f"f0_test must have shape {(self._n_test, *self.y.shape[1:])} "
                    f"(one row per row of theta_test), got {tuple(f0.shape)}"
                )
            self.theta_test, self.f0_test = tt, f0
            self._f0_test = self.layout.targets(f0).clone()
        lam = self.eig.eigenvalues
        self._zero = lam.abs() <= lam.abs().max() * lam.shape[0] * torch.finfo(lam.dtype).eps

    @property
    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of the (flattened) kernel, ascending: (m,) or (m O,)."""
        return self.eig.eigenvalues

    def _trajectory(self, residual_factor, alpha_factor) -> LinearizedTrajectory:
        V = self.eig.eigenvectors
        c0 = V.T @ (self._u0 - self._y)  # (n, c)
        outputs = self._y + V @ (residual_factor.unsqueeze(-1) * c0)  # (T, n, c)
        a_coef = alpha_factor.unsqueeze(-1) * c0
        alpha = V @ a_coef
        lam = self.eig.eigenvalues.clamp_min(0)
        distance = torch.sqrt(((a_coef**2) * lam.unsqueeze(-1)).sum((1, 2)))
        test = None
        if self._K_te is not None:
            test = self.layout.outputs(self._f0_test + self._K_te @ alpha, self._n_test)
        loss = ((outputs - self._y) ** 2).sum((1, 2))
        m = self._m
        return LinearizedTrajectory(
            self.layout.outputs(outputs, m), loss, distance, test, self.layout.outputs(alpha, m)
        )

    def gradient_descent(self, step_size: float, ks: Any) -> LinearizedTrajectory:
        """Closed form of GD with course step ``step_size`` at the iterations ``ks``.

        Remark 11.24 with the power inside the sum corrected to ``B^j``.

        Parameters
        ----------
        step_size : float > 0
            The course's step ``h``.
        ks : int or sequence of int >= 0
            Iteration counts.

        Returns
        -------
        LinearizedTrajectory, indexed by ``ks``.

        Raises
        ------
        ValueError
            On a non-positive step or negative / non-integer iteration counts.
        """
        h = check_positive(step_size, "step_size")
        if isinstance(ks, range):
            ks = list(ks)
        ks = as_tensor(ks, "ks", dtype=self._K.dtype, device=self._K.device, ndim=(0, 1))
        ks = ks.reshape(-1, 1)
        if bool((ks < 0).any()) or bool((ks != ks.round()).any()):
            raise ValueError("ks must be nonnegative integers (iteration counts)")
        lam = self.eig.eigenvalues
        powk = (1 - 2 * h * lam) ** ks
        safe = torch.where(self._zero, torch.ones_like(lam), lam)
        alpha_f = torch.where(self._zero, -2 * h * ks, (powk - 1) / safe)
        return self._trajectory(powk, alpha_f)

    def gradient_flow(self, ts: Any) -> LinearizedTrajectory:
        """Gradient flow ``du/dt = -2 Theta (u - y)`` at the course times ``ts``.

        Parameters
        ----------
        ts : float or sequence of float >= 0

        Returns
        -------
        LinearizedTrajectory, indexed by ``ts``.

        Raises
        ------
        ValueError
            On negative times.

        Examples
        --------
        >>> import torch
        >>> one = torch.ones(1, dtype=torch.float64)
        >>> dyn = LinearDynamics(one[:, None], 0 * one, one)
        >>> round(float(dyn.gradient_flow(0.5).outputs[0, 0]), 6)  # 1 - exp(-1)
        0.632121
        """
        ts = as_tensor(ts, "ts", dtype=self._K.dtype, device=self._K.device, ndim=(0, 1))
        ts = ts.reshape(-1, 1)
        if bool((ts < 0).any()):
            raise ValueError("ts must be nonnegative times")
        lam = self.eig.eigenvalues
        safe = torch.where(self._zero, torch.ones_like(lam), lam)
        alpha_f = torch.where(self._zero, -2 * ts, torch.expm1(-2 * ts * lam) / safe)
        return self._trajectory(torch.exp(-2 * ts * lam), alpha_f)

    @classmethod
    def from_model(cls, model: torch.nn.Module, x: Any, y: Any, x_test: Any = None):
        """The dynamics of ``model``'s linearization at its current parameters.

        Kernels by :func:`ntklab.empirical.ntk` (full (m, m, O, O) for an O-output model).

        Parameters
        ----------
        model : torch.nn.Module
        x : tensor, (m, ...)
        y : tensor, (m,) or (m, O)
        x_test : tensor (N, ...), optional

        Returns
        -------
        LinearDynamics

        Raises
        ------
        TypeError, ValueError
            As :func:`gradient_descent` does for its data.

        Examples
        --------
        >>> import torch
        >>> net = torch.nn.Linear(2, 3, dtype=torch.float64)
        >>> x, y = torch.eye(2, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64)
        >>> LinearDynamics.from_model(net, x, y).theta.shape
        torch.Size([2, 2, 3, 3])
        """
        model = _check_model(model)
        x, y = _data(model, x, y)
        width = _width(y)
        with torch.no_grad():
            u0 = _outputs(model, x, "x", width)
        theta = ntk(model, x)
        if width is not None and theta.dim() == 2:  # one output: ntk returns (m, m)
            theta = theta[:, :, None, None]
        if x_test is None:
            return cls(theta, u0, y)
        x_test = _data(model, x_test, x_name="x_test")
        with torch.no_grad():
            f0 = _outputs(model, x_test, "x_test", width)
        theta_test = ntk(model, x_test, x)
        if width is not None and theta_test.dim() == 2:
            theta_test = theta_test[:, :, None, None]
        return cls(theta, u0, y, theta_test=theta_test, f0_test=f0)


def linearized_gradient_descent(
    model: torch.nn.Module,
    x: Any,
    y: Any,
    step_size: float,
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
    GD on the parameters ``p`` without ever forming them.

    Parameters
    ----------
    model : torch.nn.Module
    x : tensor, (m, ...)
    y : tensor, (m,) or (m, O)
    step_size : float > 0
        Step on the loss named by ``loss`` (see :func:`gradient_descent`).
    steps : int >= 1
    loss : {"sum", "half_sum", "mean", "half_mean"}
    x_test : tensor (N, ...), optional
    dynamics : LinearDynamics, optional
        Reuse its kernels (then ``model``, ``x``, ``y``, ``x_test`` are not read).
    progress : bool or None

    Returns
    -------
    LinearizedTrajectory for ``k = 0..steps``.

    Raises
    ------
    ValueError, TypeError
        On bad arguments (named).
    DivergenceError
        If the residual explodes (a step above :func:`stability_limit`).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> x, y = torch.eye(2, dtype=torch.float64), torch.tensor([1.0, -1.0]).double()
    >>> traj = linearized_gradient_descent(net, x, y, 0.1, 200)
    >>> [round(v, 6) for v in traj.outputs[-1].tolist()]
    [1.0, -1.0]
    """
    steps = check_positive_int(steps, "steps")
    loss = check_choice(loss, "loss", LOSS_SCALES)
    if dynamics is None:
        dynamics = LinearDynamics.from_model(model, x, y, x_test)
    elif not isinstance(dynamics, LinearDynamics):
        raise TypeError(f"dynamics must be a LinearDynamics, got {type(dynamics).__name__}")
    h = to_course_step(step_size, dynamics.y.numel(), loss)
    theta, y_ = dynamics._K, dynamics._y
    u = dynamics._u0.clone()
    alpha = torch.zeros_like(u)
    outs = torch.empty(steps + 1, *u.shape, dtype=u.dtype, device=u.device)
    alphas = torch.empty_like(outs)
    r0 = float((dynamics._u0 - y_).norm())
    for k in _progress(range(steps + 1), enabled=progress, desc="linearized GD"):
        outs[k], alphas[k] = u, alpha
        if k == steps:
            break
        r = u - y_
        if not bool(torch.isfinite(r).all()) or float(r.norm()) > 1e4 * r0 + 1.0:
            raise DivergenceError(
                f"linearized gradient descent diverged at iteration {k} with step size "
                f"{h:.6g}; the stability limit is 1/lambda_max = "
                f"{1.0 / float(dynamics.eigenvalues[-1]):.6g}"
            )
        alpha = alpha - 2 * h * r
        u = u - 2 * h * (theta @ r)
    loss_v = ((outs - y_) ** 2).sum((1, 2))
    dist = torch.sqrt(torch.einsum("kia,ij,kja->k", alphas, theta, alphas).clamp_min(0))
    test = None
    if dynamics._K_te is not None:
        test = dynamics.layout.outputs(
            dynamics._f0_test + dynamics._K_te @ alphas, dynamics._n_test
        )
    m = dynamics._m
    return LinearizedTrajectory(
        dynamics.layout.outputs(outs, m),
        loss_v,
        dist,
        test,
        dynamics.layout.outputs(alphas, m),
    )


# --------------------------------------------------------------------------------------------
# natural gradient descent
# --------------------------------------------------------------------------------------------


@dataclass
class NaturalGradientHistory:
    """What :func:`natural_gradient_descent` recorded.

    Attributes
    ----------
    step_size : float
    loss : tensor, (K+1,) course loss
    distance : tensor, (K+1,) ``||w_k - w_0||``
    model : torch.nn.Module, the trained model
    jacobian_drift : tensor, (K+1,) spectral norm ``||J(w_k) - J(w_0)||`` (Condition 2 of
        Zhang, Martens & Grosse bounds it on a ball)
    """

    step_size: float
    loss: torch.Tensor
    distance: torch.Tensor
    model: torch.nn.Module
    jacobian_drift: torch.Tensor


def natural_gradient_descent(
    model: torch.nn.Module,
    x: Any,
    y: Any,
    step_size: float,
    steps: int,
    *,
    ridge: float = 0.0,
    copy_model: bool = True,
    progress: bool | None = None,
) -> NaturalGradientHistory:
    """Natural gradient descent for the square loss (Zhang, Martens & Grosse 2019).

        w_{k+1} = w_k - step_size J^T (J J^T + ridge I)^{-1} (u(w_k) - y),   J = J(w_k),

    with ``J`` from :func:`ntklab.empirical.jacobian`.  The step is independent of the loss
    normalization (the Fisher matrix and the gradient scale together).  The system is solved by
    :func:`ntklab.linalg.psd_solve` (Cholesky, no inverse).  With a stable Jacobian
    ``||u_k - y||^2 <= (1 - step_size)^k ||u_0 - y||^2`` (slides 001); for the linearized model
    ``u_{k+1} - y = (1 - step_size)(u_k - y)`` exactly.  One output per point.

    Parameters
    ----------
    model : torch.nn.Module
        One output per point.
    x : tensor, (m, ...)
    y : tensor, (m,)
    step_size : float in (0, 2]
    steps : int >= 1
    ridge : float >= 0
        Absolute regularizer of ``J J^T``.
    copy_model : bool
    progress : bool or None

    Returns
    -------
    NaturalGradientHistory
        Loss, distance and Jacobian drift ``||J(w_k) - J(w_0)||_2``, each of shape (K+1,).

    Raises
    ------
    ValueError, TypeError
        On bad arguments (named).
    DivergenceError
        On a non-finite loss.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, dtype=torch.float64)
    >>> x, y = torch.eye(2, 3, dtype=torch.float64), torch.tensor([1.0, -1.0]).double()
    >>> hist = natural_gradient_descent(net, x, y, 0.5, 3)
    >>> [round(float(hist.loss[k] / hist.loss[0]), 6) for k in range(4)]  # (1 - 1/2)^(2k)
    [1.0, 0.25, 0.0625, 0.015625]
    """
    model = _check_model(model)
    x, y = _data(model, x, y)
    step_size = check_positive(step_size, "step_size")
    if step_size > 2:
        raise ValueError(f"step_size must be at most 2 (|1 - step_size| < 1), got {step_size}")
    if y.dim() != 1:
        raise ValueError(f"y must be (m,): one output per point, got shape {tuple(y.shape)}")
    steps = check_positive_int(steps, "steps")
    ridge = check_nonnegative(ridge, "ridge")
    _outputs(model, x)
    net = copy.deepcopy(model) if copy_model else model
    w0 = flat_parameters(net)
    w = w0.clone()
    losses = torch.empty(steps + 1, dtype=x.dtype, device=x.device)
    dists = torch.empty_like(losses)
    drift = torch.empty_like(losses)
    params = [p for _, p in _trainable(net)]
    J0 = None
    for k in _progress(range(steps + 1), enabled=progress, desc="natural gradient"):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(w, params)
            r = _outputs(net, x) - y
        losses[k] = (r * r).sum()
        dists[k] = (w - w0).norm()
        if not math.isfinite(float(losses[k])):
            raise DivergenceError(
                f"natural gradient descent diverged at iteration {k}, step_size={step_size}"
            )
        J = jacobian(net, x)
        J0 = J if J0 is None else J0
        drift[k] = torch.linalg.matrix_norm(J - J0, ord=2)
        if k == steps:
            break
        alpha = psd_solve(J @ J.T, r, ridge=ridge)
        w = w - step_size * (J.T @ alpha)
    return NaturalGradientHistory(step_size, losses, dists, net, drift)


@dataclass
class Proximity:
    """Largest deviations of the trained network from its linearization over ``k = 0..K``.

    Attributes
    ----------
    distance : float
        ``max_k ||w_k - w_0||``.
    kernel : float
        ``max_k ||Theta_hat(w_k) - Theta_hat(w_0)||_2`` over the recorded kernel steps
        (kernels flattened over outputs).
    outputs : float
        ``max_k max_x |f(x; w_k) - f_lin(x; p_k)|`` over the test inputs.
    full : TrainingHistory
    linear : LinearizedTrajectory
    """

    distance: float
    kernel: float
    outputs: float
    full: TrainingHistory
    linear: LinearizedTrajectory


def compare_with_linearization(
    model: torch.nn.Module,
    x: Any,
    y: Any,
    step_size: float,
    steps: int,
    x_test: Any,
    *,
    kernel_every: int | None = None,
    progress: bool | None = None,
) -> Proximity:
    """Train ``model`` and its linearization with the same step and measure how far apart they
    get (Propositions 11.25 and 11.26 of Petersen & Zech).

    Parameters
    ----------
    model : torch.nn.Module
    x : tensor, (m, ...)
    y : tensor, (m,) or (m, O)
    step_size : float > 0
        The course's step.
    steps : int >= 1
    x_test : tensor, (N, ...)
    kernel_every : int, optional
        Compare ``Theta_hat(w_k)`` with ``Theta_hat(w_0)`` every this many steps (default
        ``steps // 10``), in the spectral norm.
    progress : bool or None

    Returns
    -------
    Proximity

    Raises
    ------
    ValueError, TypeError, DivergenceError
        As :func:`gradient_descent`.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> net = torch.nn.Linear(2, 1, dtype=torch.float64)  # a linear model is its linearization
    >>> x, y = torch.eye(2, dtype=torch.float64), torch.tensor([1.0, -1.0]).double()
    >>> prox = compare_with_linearization(net, x, y, 0.1, 20, x)
    >>> prox.outputs < 1e-12, prox.kernel < 1e-12
    (True, True)
    """
    steps = check_positive_int(steps, "steps")
    every = (
        max(1, steps // 10)
        if kernel_every is None
        else check_positive_int(kernel_every, "kernel_every")
    )
    ks = sorted(set(range(0, steps + 1, every)) | {steps})
    full = gradient_descent(
        model,
        x,
        y,
        step_size,
        steps,
        x_test=x_test,
        kernel_steps=ks,
        patterns=None,
        progress=progress,
    )
    lin = linearized_gradient_descent(
        model, x, y, step_size, steps, x_test=x_test, progress=progress
    )
    K0 = flat_kernel(full.kernels[0])
    kern = max(float(torch.linalg.matrix_norm(flat_kernel(full.kernels[k]) - K0, 2)) for k in ks)
    return Proximity(
        distance=float(full.distance.max()),
        kernel=kern,
        outputs=float((full.test_outputs - lin.test_outputs).abs().max()),
        full=full,
        linear=lin,
    )

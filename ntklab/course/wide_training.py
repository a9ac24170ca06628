"""Chapter 4's helpers for the slides on wide networks (001): Zou & Gu, SGD, natural gradient.

* Zou & Gu's Proposition 3.6: the separation ``phi`` of the inputs (Assumption 3.2), inputs
  that satisfy Assumption 3.1 (unit norm, last coordinate ``mu``), and ``lambda_0`` of a pair;
* mini-batch SGD against gradient descent at equal epochs (:func:`sgd_against_gd`), with the
  activation patterns of a deep :class:`ntklab.networks.MLP` (:func:`mlp_preactivations`);
* Zhang, Martens & Grosse: the step bound of their Theorem 1 (:func:`ngd_step_bound`), the
  constant of their Condition 2 along a run (:func:`condition_2_constant`) and the natural
  gradient written with the Fisher matrix of a Gaussian likelihood (:func:`fisher_direction`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ntklab import dynamics, empirical
from ntklab.validation import check_positive, check_positive_int, make_generator

__all__ = [
    "SGDComparison",
    "arc_points",
    "assumption_3_1_points",
    "condition_2_constant",
    "fisher_direction",
    "lambda_0_pair",
    "mlp_preactivations",
    "ngd_step_bound",
    "separation",
    "sgd_against_gd",
]


def _matrix(X: Any, name: str = "X") -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[0] < 2:
        raise ValueError(f"{name} must be (m, d) with m >= 2, got shape {tuple(X.shape)}")
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name} must be finite")
    return X


def separation(X: Any) -> float:
    """Zou & Gu's ``phi`` (Assumption 3.2): the smallest distance ``||x_i - x_j||``, ``i != j``.

    Parameters
    ----------
    X : tensor, (m, d)
        Inputs, ``m >= 2``, finite.

    Returns
    -------
    float
        ``min_{i != j} ||x_i - x_j||_2``.

    Raises
    ------
    ValueError
        If ``X`` is not a finite (m, d) matrix with ``m >= 2``.

    Examples
    --------
    >>> import torch
    >>> round(separation(torch.eye(3, dtype=torch.float64)), 6)  # sqrt(2)
    1.414214
    """
    X = _matrix(X)
    D = torch.cdist(X, X)
    D.fill_diagonal_(math.inf)
    return float(D.min())


def _check_mu(mu: float) -> float:
    mu = float(mu)
    if not 0 < mu < 1:
        raise ValueError(f"mu must lie in (0, 1), got {mu}")
    return mu


def assumption_3_1_points(
    m: int, d: int, mu: float, *, seed: int | None = None, generator: Any = None
) -> torch.Tensor:
    """Random unit vectors with last coordinate ``mu`` (Zou & Gu's Assumption 3.1).

    The first ``d - 1`` coordinates are uniform on the sphere of radius ``sqrt(1 - mu^2)``.

    Parameters
    ----------
    m, d : int
        Number of points and dimension (``d >= 2``).
    mu : float in (0, 1)
        The fixed last coordinate.
    seed, generator : optional
        One or the other (a CPU generator).

    Returns
    -------
    torch.Tensor
        Shape (m, d), float64, unit rows.

    Raises
    ------
    ValueError
        On ``m < 1``, ``d < 2``, ``mu`` outside (0, 1), both ``seed`` and ``generator``.

    Examples
    --------
    >>> X = assumption_3_1_points(5, 4, 0.5, seed=0)
    >>> X.shape, round(float(X.norm(dim=1).max()), 6), float(X[:, -1].min())
    (torch.Size([5, 4]), 1.0, 0.5)
    """

    m, d = check_positive_int(m, "m"), check_positive_int(d, "d")
    if d < 2:
        raise ValueError(f"d must be at least 2, got {d}")
    mu = _check_mu(mu)
    gen = make_generator(seed, generator)
    z = torch.randn(m, d - 1, generator=gen, dtype=torch.float64)
    z = torch.nn.functional.normalize(z, dim=1) * math.sqrt(1 - mu**2)
    return torch.cat([z, torch.full((m, 1), mu, dtype=torch.float64)], 1)


def arc_points(m: int, phi: float, *, d: int = 3, mu: float = 0.5) -> torch.Tensor:
    """``m`` points of Assumption 3.1 along a circle, neighbours at distance ``phi``.

    ``x_j = (rho cos(j t), rho sin(j t), 0, ..., 0, mu)`` with ``rho = sqrt(1 - mu^2)`` and
    ``2 rho sin(t / 2) = phi``: a chain of nearly parallel inputs, the hard case of Zou & Gu's
    Proposition 3.6 (the separation is ``phi`` while the arc does not close, ``(m-1) t < pi``).

    Parameters
    ----------
    m : int >= 2
    phi : float, ``0 < phi <= 2 rho``
    d : int >= 3
    mu : float in (0, 1)

    Returns
    -------
    torch.Tensor
        Shape (m, d), float64.

    Raises
    ------
    ValueError
        On ``m < 2``, ``d < 3``, ``mu`` outside (0, 1), ``phi`` outside its range or an arc
        that wraps past a half circle.

    Examples
    --------
    >>> X = arc_points(4, 0.1)
    >>> round(separation(X), 6), round(float(X.norm(dim=1).max()), 6)
    (0.1, 1.0)
    """
    m = check_positive_int(m, "m")
    if m < 2:
        raise ValueError(f"m must be at least 2, got {m}")
    d = check_positive_int(d, "d")
    if d < 3:
        raise ValueError(f"d must be at least 3, got {d}")
    mu = _check_mu(mu)
    rho = math.sqrt(1 - mu**2)
    phi = check_positive(phi, "phi")
    if phi > 2 * rho:
        raise ValueError(f"phi must be at most 2 sqrt(1 - mu^2) = {2 * rho:.6g}, got {phi}")
    t = 2 * math.asin(phi / (2 * rho))
    if (m - 1) * t >= math.pi:
        raise ValueError(f"m = {m} points at separation {phi} wrap past a half circle")
    ang = torch.arange(m, dtype=torch.float64) * t
    X = torch.zeros(m, d, dtype=torch.float64)
    X[:, 0], X[:, 1], X[:, -1] = rho * torch.cos(ang), rho * torch.sin(ang), mu
    return X


def lambda_0_pair(phi: float) -> float:
    """``lambda_min`` of ``H^inf`` for two unit vectors at distance ``phi`` (closed form).

    With ``c = 1 - phi^2 / 2`` the cosine of the angle ``t``, ``H^inf`` is
    ``[[1/2, c (pi - t) / (2 pi)], [., 1/2]]``, so ``lambda_0 = 1/2 - |c (pi - t) / (2 pi)|``,
    which is ``phi / (2 pi) + O(phi^2)`` for small ``phi`` (Du et al.'s Gram matrix).

    Parameters
    ----------
    phi : float in (0, 2]

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``phi`` is not in (0, 2].

    Examples
    --------
    >>> round(lambda_0_pair(2 ** 0.5), 6)  # orthogonal: H^inf = I / 2
    0.5
    """
    phi = check_positive(phi, "phi")
    if phi > 2:
        raise ValueError(f"phi must be at most 2 for unit vectors, got {phi}")
    c = 1 - phi**2 / 2
    t = 2 * math.asin(phi / 2)  # the angle, stable for small phi
    return 0.5 - abs(c * (math.pi - t) / (2 * math.pi))  # eigenvalues 1/2 +- off-diagonal


def mlp_preactivations(model: torch.nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """The hidden pre-activations ``h_l`` of an :class:`ntklab.networks.MLP`, one per layer.

    Passed as ``patterns=`` to :func:`ntklab.dynamics.gradient_descent` and
    :func:`ntklab.dynamics.stochastic_gradient_descent`, it records which ReLU units of every
    hidden layer are active.

    Parameters
    ----------
    model : ntklab.networks.MLP
    X : tensor, (N, d)

    Returns
    -------
    list of tensors
        ``depth`` tensors of shape (N, width).

    Raises
    ------
    TypeError
        If ``model`` is not an MLP.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import MLP
    >>> net = MLP(3, 8, 2, seed=0)
    >>> [h.shape for h in mlp_preactivations(net, torch.ones(4, 3, dtype=torch.float64))]
    [torch.Size([4, 8]), torch.Size([4, 8])]
    """
    from ntklab.networks import MLP

    if not isinstance(model, MLP):
        raise TypeError(f"model must be an ntklab.networks.MLP, got {type(model).__name__}")
    out, a = [], X
    with torch.no_grad():
        for l in range(model.depth):
            h = model._layer(l, a)
            out.append(h)
            a = model._act.phi(h)
    return out


@dataclass
class SGDComparison:
    """Summaries of SGD runs against gradient descent at equal epochs (one width).

    Attributes
    ----------
    gd : TrainingHistory
        The gradient-descent run (``epochs`` steps).
    sgd : dict
        ``batch_size -> TrainingHistory`` of :func:`ntklab.dynamics.stochastic_gradient_descent`.
    loss : dict
        ``batch_size -> final loss / initial loss`` (``0`` is gradient descent).
    envelope : dict
        ``batch_size ->`` largest full-batch loss over the last epoch's steps / initial loss.
    distance : dict
        ``batch_size -> ||w_K - w_0||``.
    patterns : dict
        ``batch_size ->`` fraction of (point, unit) activation patterns changed at the end.
    """

    gd: Any
    sgd: dict
    loss: dict
    envelope: dict
    distance: dict
    patterns: dict


def sgd_against_gd(
    make_net: Callable[[], torch.nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    step_size: float,
    epochs: int,
    batch_sizes: Sequence[int],
    *,
    seed: int = 0,
    patterns: Any = "auto",
) -> SGDComparison:
    """Run gradient descent and mini-batch SGD (each batch size) from the same start.

    ``make_net()`` must return the same initialization on every call.  Gradient descent makes
    ``epochs`` steps, SGD ``epochs`` passes of ``ceil(m / B)`` steps each (course step ``h``,
    batch loss scaled by ``m / B``), so the runs compare at equal epochs (Zou & Gu's
    Theorem 3.8 against their Theorem 3.3, slides 001).

    Parameters
    ----------
    make_net : callable
        Builds the network (same seed every call).
    x, y : tensors, (m, d) and (m,)
    step_size : float
        Course step ``h`` on the sum of squares.
    epochs : int >= 1
    batch_sizes : sequence of int
        Each in ``1..m``.
    seed : int
        Seed of the batches.
    patterns : "auto", None or callable
        As in :func:`ntklab.dynamics.gradient_descent` (e.g. :func:`mlp_preactivations`).

    Returns
    -------
    SGDComparison
        Key ``0`` of its dicts is gradient descent.

    Raises
    ------
    ValueError
        If ``batch_sizes`` is empty or the dynamics reject an argument.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import DuNetwork
    >>> x = torch.eye(4, 3, dtype=torch.float64) + 0.1
    >>> y = torch.tensor([1.0, -1.0, 0.5, 0.0], dtype=torch.float64)
    >>> c = sgd_against_gd(lambda: DuNetwork(3, 64, seed=0), x, y, 0.1, 5, [1, 4])
    >>> sorted(c.loss), bool(abs(c.loss[4] - c.loss[0]) < 1e-12)  # batch of m = GD
    ([0, 1, 4], True)
    """
    if len(batch_sizes) == 0:
        raise ValueError("batch_sizes must name at least one batch size")
    gd = dynamics.gradient_descent(make_net(), x, y, step_size, epochs, patterns=patterns)
    sgd = {
        b: dynamics.stochastic_gradient_descent(
            make_net(), x, y, step_size, epochs, batch_size=b, seed=seed, patterns=patterns
        )
        for b in batch_sizes
    }
    runs = {0: gd, **sgd}
    loss0 = float(gd.loss[0])

    def envelope(b, r):
        if b == 0:
            return float(r.loss[-1]) / loss0
        per_epoch = -(-x.shape[0] // b)
        return float(r.extra["step_loss"][-per_epoch - 1 :].max()) / loss0

    def changed(r):
        return math.nan if r.pattern_change is None else float(r.pattern_change[-1])

    return SGDComparison(
        gd=gd,
        sgd=sgd,
        loss={b: float(r.loss[-1]) / loss0 for b, r in runs.items()},
        envelope={b: envelope(b, r) for b, r in runs.items()},
        distance={b: float(r.distance[-1]) for b, r in runs.items()},
        patterns={b: changed(r) for b, r in runs.items()},
    )


def ngd_step_bound(C: float) -> float:
    """The largest step of Zhang, Martens & Grosse's Theorem 1: ``(1 - 2C) / (1 + C)^2``.

    Parameters
    ----------
    C : float in [0, 1/2)
        The constant of their Condition 2 (stable Jacobian).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``C`` is negative, not finite or at least 1/2.

    Examples
    --------
    >>> ngd_step_bound(0.0), round(ngd_step_bound(0.25), 6)
    (1.0, 0.32)
    """
    C = float(C)
    if not (math.isfinite(C) and 0 <= C < 0.5):
        raise ValueError(f"C must lie in [0, 1/2), got {C}")
    return (1 - 2 * C) / (1 + C) ** 2


def condition_2_constant(jacobian_drift: Any, lambda_min_gram: float) -> float:
    """Smallest ``C`` with ``||J(w_k) - J(w_0)|| <= (C / 3) sqrt(lambda_min(G(0)))`` on a run.

    Condition 2 of Zhang, Martens & Grosse asks this on the whole ball of radius
    ``3 ||y - u(0)|| / sqrt(lambda_min(G(0)))``; along a run it is a lower estimate of theirs.

    Parameters
    ----------
    jacobian_drift : array_like
        ``||J(w_k) - J(w_0)||_2`` along the run
        (``jacobian_drift`` of :class:`ntklab.dynamics.NaturalGradientHistory`).
    lambda_min_gram : float > 0
        ``lambda_min(J(0) J(0)^T)``.

    Returns
    -------
    float
        ``3 max_k ||J(w_k) - J(w_0)|| / sqrt(lambda_min_gram)``.

    Raises
    ------
    ValueError
        On a non-positive ``lambda_min_gram`` or non-finite drift.

    Examples
    --------
    >>> round(condition_2_constant([0.0, 0.01, 0.02], 0.36), 6)
    0.1
    """
    lam = check_positive(lambda_min_gram, "lambda_min_gram")
    drift = torch.as_tensor(jacobian_drift, dtype=torch.float64)
    if drift.numel() == 0 or not bool(torch.isfinite(drift).all()):
        raise ValueError("jacobian_drift must be a non-empty finite sequence")
    return 3 * float(drift.max()) / math.sqrt(lam)


def fisher_direction(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, sigma: float = 1.0
) -> torch.Tensor:
    """The natural-gradient direction ``F^+ grad`` with the Fisher matrix of a Gaussian model.

    The predictive distribution ``p(y | x) = N(f(x; w), sigma^2)`` is an exponential family;
    its Fisher matrix is ``F = (1/m) sum_i J_i^T H_i J_i`` with ``H_i`` the Hessian of
    ``-log p(y_i | u)`` in the output ``u`` (slides 001), computed here by autograd, and the
    loss is the mean negative log-likelihood.  ``F`` is singular when there are more
    parameters than points; the pseudo-inverse gives the minimum-norm solution.  For the square
    loss this equals ``J^T (J J^T)^{-1} (u - y)`` (the update of
    :func:`ntklab.dynamics.natural_gradient_descent`), whatever ``sigma``.

    Parameters
    ----------
    model : torch.nn.Module
        One output per point; small (``F`` is a dense ``P x P`` matrix).
    x, y : tensors, (m, d) and (m,)
    sigma : float > 0
        Noise scale of the likelihood.

    Returns
    -------
    torch.Tensor
        Shape (P,).

    Raises
    ------
    ValueError
        On ``sigma <= 0``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, dtype=torch.float64)
    >>> x, y = torch.eye(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    >>> fisher_direction(net, x, y, sigma=0.5).shape
    torch.Size([4])
    """
    sigma = check_positive(sigma, "sigma")
    J = empirical.jacobian(model, x)
    with torch.no_grad():
        u = model(x).reshape(-1)
    m = u.shape[0]

    def nll(v):  # mean negative log-likelihood of N(v, sigma^2), constants dropped
        return ((v - y) ** 2).sum() / (2 * sigma**2 * m)

    H = torch.autograd.functional.hessian(lambda v: nll(v) * m, u)  # per-point Hessians
    F = J.T @ H @ J / m
    grad = J.T @ torch.autograd.functional.jacobian(nll, u)
    return torch.linalg.pinv(F, hermitian=True) @ grad

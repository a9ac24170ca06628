"""Chapters 3 and 5: the measurements behind Theorems 3.1 and 3.2 of Arora et al. (2019).

* :func:`ntk_error_by_width` - Theorem 3.1: the empirical tangent kernel of a finite-width ReLU
  network against its infinite-width limit, at several widths and depths;
* :class:`ScaledOutput` and :func:`kernel_regression_distance` - Theorem 3.2: a network whose
  output is multiplied by a small ``kappa``, trained to convergence, against NTK regression.

The networks are :class:`ntklab.networks.MLP` in the NTK parameterization; the limits come from
:func:`ntklab.analytic.mlp_kernels` with the same ``W_std`` and ``b_std``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import analytic, empirical
from ..networks import MLP
from ..predict import train_ensemble
from ..validation import check_nonnegative, check_positive, check_positive_int

__all__ = ["ScaledOutput", "kernel_regression_distance", "ntk_error_by_width", "unrolled_ntk"]


def _int_list(values: Any, name: str) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must not be empty")
    return [check_positive_int(v, name) for v in values]


def _inputs(x: Any, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor of shape (N, d)")
    return x


def ntk_error_by_width(
    x: torch.Tensor,
    widths: Any,
    depths: Any,
    *,
    seeds: int = 8,
    W_std: float = 2**0.5,
    b_std: float = 0.0,
) -> dict[int, list[float]]:
    """Distance of the empirical NTK of random ReLU MLPs to the limit, per depth and width.

    Theorem 3.1 of Arora et al. (2019) bounds ``|Theta_hat(x, x') - Theta(x, x')|`` by
    ``(L + 1) eps`` once every hidden width is at least of order ``L^6 / eps^4``; this function
    measures the distance. For each depth ``L`` and width ``n`` it draws ``seeds`` networks
    ``MLP(d, n, L, W_std=W_std, b_std=b_std)`` (seeds ``1000 L + s``), computes
    :func:`ntklab.empirical.ntk` on ``x`` and returns the root-mean-square of
    ``Theta_hat - Theta`` over the entries and the draws, ``Theta`` being
    ``mlp_kernels(x, depth=L, W_std=W_std, b_std=b_std).ntk``.

    Parameters
    ----------
    x : tensor, (N, d)
        Inputs (float64 for the book's checks).
    widths, depths : iterable of int >= 1
        Hidden widths ``n`` and numbers of hidden layers ``L``.
    seeds : int >= 1, default 8
        Networks drawn per (depth, width).
    W_std, b_std : float, default sqrt(2) and 0
        neural-tangents' weight and bias scales; ``sqrt(2)`` is Arora et al.'s ``c_sigma = 2``.

    Returns
    -------
    dict
        ``{L: [error at widths[0], error at widths[1], ...]}``, floats.

    Raises
    ------
    TypeError
        If ``x`` is not a floating tensor of shape (N, d).
    ValueError
        If a width, depth or ``seeds`` is not a positive integer, ``widths`` or ``depths`` is
        empty, or ``W_std``/``b_std`` is negative.

    Examples
    --------
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> err = ntk_error_by_width(x, [16, 256], [1], seeds=4)
    >>> list(err), len(err[1]), err[1][1] < err[1][0]
    ([1], 2, True)
    """
    x = _inputs(x, "x")
    widths, depths = _int_list(widths, "widths"), _int_list(depths, "depths")
    seeds = check_positive_int(seeds, "seeds")
    W_std, b_std = check_nonnegative(W_std, "W_std"), check_nonnegative(b_std, "b_std")
    errors: dict[int, list[float]] = {}
    for depth in depths:
        limit = analytic.mlp_kernels(x, depth=depth, W_std=W_std, b_std=b_std).ntk
        errors[depth] = []
        for width in widths:
            diffs = [
                empirical.ntk(
                    MLP(
                        x.shape[1],
                        width,
                        depth,
                        W_std=W_std,
                        b_std=b_std,
                        seed=1000 * depth + s,
                        dtype=x.dtype,
                    ),
                    x,
                )
                - limit
                for s in range(seeds)
            ]
            errors[depth].append(float(torch.stack(diffs).pow(2).mean().sqrt()))
    return errors


class ScaledOutput(nn.Module):
    """The network ``kappa * f(x)``: Arora et al.'s ``f_nn`` of Theorem 3.2.

    Scaling the output by ``kappa`` scales the tangent kernel by ``kappa**2`` and the output at
    initialization by ``kappa``, so for small ``kappa`` the start ``f_0`` is negligible.

    Parameters
    ----------
    net : torch.nn.Module
        The network ``f``.
    kappa : float > 0
        The output scale.

    Raises
    ------
    TypeError
        If ``net`` is not a module.
    ValueError
        If ``kappa`` is not positive.

    Examples
    --------
    >>> net = ScaledOutput(MLP(2, 8, 1, seed=0), 0.1)
    >>> x = torch.ones(3, 2, dtype=torch.float64)
    >>> bool(torch.allclose(net(x), 0.1 * net.net(x)))
    True
    """

    def __init__(self, net: nn.Module, kappa: float):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError("net must be a torch.nn.Module")
        self.net = net
        self.kappa = check_positive(kappa, "kappa")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kappa * self.net(x)


def kernel_regression_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    widths: Any,
    *,
    kappa: float,
    seeds: int = 4,
    steps: int = 800,
    learning_rate: float = 5.0,
    b_std: float = 0.1,
) -> dict[str, list[float]]:
    """Trained ``kappa``-scaled one-hidden-layer ReLU networks against NTK regression.

    For each width ``n`` it trains ``seeds`` networks ``kappa * MLP(d, n, 1, b_std=b_std)``
    (seeds ``0 .. seeds - 1``) by gradient descent on the half-mean loss, with the step
    ``learning_rate / kappa**2`` (the kernel of ``kappa f`` is ``kappa**2`` that of ``f``),
    and measures at ``x_test`` the largest distance to the NTK regressor
    ``f_ntk = Theta(x_test, x) Theta(x, x)^{-1} y`` of Theorem 3.2 (``Theta`` from
    :func:`ntklab.analytic.mlp_kernels`), and to ``f_ntk`` plus the start term
    ``kappa (f_0(x_test) - Theta(x_test, x) Theta^{-1} f_0(x))``.

    Parameters
    ----------
    x, x_test : tensor, (m, d) and (N, d)
        Training and test inputs (float64).
    y : tensor, (m,)
        Targets.
    widths : iterable of int >= 1
        Hidden widths.
    kappa : float > 0
        Output scale.
    seeds : int >= 1, default 4
        Networks per width (trained together by :func:`ntklab.predict.train_ensemble`).
    steps : int >= 1, default 800
        Gradient steps.
    learning_rate : float > 0, default 5.0
        Step on the half-mean loss of the unscaled kernel (stable below
        ``2 m / lambda_max``).
    b_std : float >= 0, default 0.1
        Bias scale of the networks and the kernel.

    Returns
    -------
    dict
        ``"distance"``: mean over the seeds of ``max |f_nn - f_ntk|`` at ``x_test``, one per
        width; ``"distance_with_start"``: the same against ``f_ntk`` plus the start term;
        ``"residual"``: the largest ``|f_nn - y|`` on the training inputs, one per width.

    Raises
    ------
    TypeError
        If ``x``, ``x_test`` are not floating (N, d) tensors.
    ValueError
        On a non-positive ``kappa``, ``learning_rate``, width, ``seeds`` or ``steps``, or if
        ``y`` does not have one entry per training input.

    Examples
    --------
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> out = kernel_regression_distance(
    ...     x, torch.tensor([1.0, -1.0], dtype=torch.float64), -x, [64], kappa=0.5,
    ...     seeds=2, steps=60, learning_rate=4.0)
    >>> sorted(out), out["residual"][0] < 1e-3
    (['distance', 'distance_with_start', 'residual'], True)
    """
    x, x_test = _inputs(x, "x"), _inputs(x_test, "x_test")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),):
        raise ValueError("y must be a tensor of shape (m,), one target per row of x")
    widths = _int_list(widths, "widths")
    kappa = check_positive(kappa, "kappa")
    seeds, steps = check_positive_int(seeds, "seeds"), check_positive_int(steps, "steps")
    learning_rate = check_positive(learning_rate, "learning_rate")
    b_std = check_nonnegative(b_std, "b_std")
    m, both = len(x), torch.cat([x, x_test])
    theta = analytic.mlp_kernels(x, depth=1, b_std=b_std).ntk
    theta_test = analytic.mlp_kernels(x_test, x, depth=1, b_std=b_std).ntk
    f_ntk = theta_test @ torch.linalg.solve(theta, y)
    out: dict[str, list[float]] = {"distance": [], "distance_with_start": [], "residual": []}
    for width in widths:
        nets = [
            ScaledOutput(MLP(x.shape[1], width, 1, b_std=b_std, seed=s, dtype=x.dtype), kappa)
            for s in range(seeds)
        ]
        with torch.no_grad():
            start = torch.stack([net(both) for net in nets])
        start_term = start[:, m:] - (theta_test @ torch.linalg.solve(theta, start[:, :m].T)).T
        trained = train_ensemble(
            nets,
            x,
            y,
            steps=steps,
            step_size=learning_rate / kappa**2,
            loss="half_mean",
            x_test=both,
        )
        gap = (trained[:, m:] - f_ntk).abs().max(1).values
        gap_start = (trained[:, m:] - f_ntk - start_term).abs().max(1).values
        out["distance"].append(float(gap.mean()))
        out["distance_with_start"].append(float(gap_start.mean()))
        out["residual"].append(float((trained[:, :m] - y).abs().max()))
    return out


def unrolled_ntk(x: torch.Tensor, depth: int, *, dots: bool = True) -> torch.Tensor:
    """Arora et al.'s unrolled NTK of a ReLU network, or the short notes' version without dots.

    ``Theta^(L) = sum_{h=1}^{L+1} Sigma^(h-1) prod_{h'=h}^{L+1} dSigma^(h')`` with
    ``Sigma^(0) = x^T x'``, ``dSigma^(L+1) = 1``, ``c_sigma = 2``,
    ``Sigma^(h) = c_sigma E[relu(u) relu(v)]`` and ``dSigma^(h) = c_sigma E[relu'(u) relu'(v)]``
    for ``(u, v)`` Gaussian with covariance ``Sigma^(h-1)``. ``dots=False`` puts ``Sigma`` where
    ``dSigma`` belongs, as the short notes print it.

    Parameters
    ----------
    x : tensor, (N, d)
        Inputs (no zero rows).
    depth : int >= 1
        Number ``L`` of hidden layers.
    dots : bool, default True
        The correct formula (``True``) or the notes' misprint.

    Returns
    -------
    tensor, (N, N)

    Raises
    ------
    TypeError
        If ``x`` is not a floating (N, d) tensor.
    ValueError
        If ``depth`` is not a positive integer.

    Examples
    --------
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> [round(float(v), 6) for v in unrolled_ntk(x, 1)[0]]
    [2.0, 0.31831]
    """
    x = _inputs(x, "x")
    depth = check_positive_int(depth, "depth")
    sig, dsig = [x @ x.T], [torch.ones_like(x[:, :1] @ x[:, :1].T)]
    for _ in range(depth + 1):
        q = sig[-1].diagonal().sqrt()
        rho = (sig[-1] / torch.outer(q, q)).clamp(-1, 1)
        dsig.append(analytic.kappa0(rho))  # c_sigma E[relu'(u) relu'(v)]
        sig.append(torch.outer(q, q) * analytic.kappa1(rho))  # c_sigma E[relu relu]
    ones = torch.ones_like(sig[0])
    factors = [*dsig[: depth + 1], ones] if dots else sig
    theta = torch.zeros_like(sig[0])
    for h in range(1, depth + 2):
        prod = ones
        for hp in range(h, depth + 2):
            prod = prod * factors[hp]
        theta = theta + sig[h - 1] * prod
    return theta

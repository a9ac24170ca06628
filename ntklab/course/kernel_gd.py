"""Chapter 3: kernel gradient descent with a random-feature kernel (Jacot et al., section 3).

:func:`random_feature_kernel_gd` runs gradient descent on the parameters of a random-feature
model side by side with kernel gradient descent in function space and returns the quantities
the chapter's proposition on kernel gradient descent is checked with.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..validation import check_positive, check_positive_int

__all__ = ["KernelGDRun", "random_feature_kernel_gd"]


class KernelGDRun(NamedTuple):
    """Result of :func:`random_feature_kernel_gd` (floats, and a list of floats for ``costs``)."""

    #: largest ``|f_theta - f_kgd|`` on the data after the steps (parameter vs function space)
    path_gap: float
    #: ``dC/dt`` by a finite difference along kernel gradient descent, at a second start
    rate_measured: float
    #: ``-||d||_K^2`` at that start
    rate_formula: float
    #: the cost at every step of the parameter run
    costs: list
    #: smallest eigenvalue of the random kernel on the data
    lambda_min: float
    #: largest difference of the limits of two starts at the test inputs
    limit_gap: float


def random_feature_kernel_gd(
    x: torch.Tensor,
    x_test: torch.Tensor,
    target: torch.Tensor,
    *,
    features: int = 500,
    steps: int = 4000,
    dt: float = 0.5,
    seed: int = 0,
) -> KernelGDRun:
    """Gradient descent on a ReLU random-feature model against kernel gradient descent.

    The model is ``f_theta = P^{-1/2} sum_p theta_p relu(a_p . x)`` with ``a_p ~ N(0, I/d)`` and
    ``theta ~ N(0, I)``; its random kernel is ``K = (1/P) sum_p f^(p) (x) f^(p)``. The cost is
    ``C(f) = (1/2N) sum_i (f(x_i) - target_i)^2`` (so ``d = f - target``), and kernel gradient
    descent is ``f <- f - dt K (f - target) / N`` (Jacot et al., section 3; the review's
    ``||d||_K^2 = (1/N^2) d^T K d``).

    Parameters
    ----------
    x, x_test : tensor, (N, d) and (M, d)
        Training and test inputs (float64).
    target : tensor, (N,)
        ``f*`` on the data.
    features : int >= 1, default 500
        Number ``P`` of random features.
    steps : int >= 1, default 4000
        Euler steps of both runs.
    dt : float > 0, default 0.5
        Step (stable for ``dt lambda_max(K) / N < 2``).
    seed : int, default 0
        Seed of the features and of the two starts.

    Returns
    -------
    KernelGDRun

    Raises
    ------
    TypeError
        If ``x``, ``x_test`` are not floating (N, d) tensors.
    ValueError
        If ``target`` does not have one entry per row of ``x``, or on non-positive
        ``features``, ``steps`` or ``dt``.

    Examples
    --------
    >>> x = torch.eye(3, dtype=torch.float64)
    >>> run = random_feature_kernel_gd(x, -x[:1], torch.ones(3, dtype=torch.float64),
    ...                                features=50, steps=10)
    >>> run.path_gap < 1e-12, len(run.costs)
    (True, 10)
    """
    for name, v in (("x", x), ("x_test", x_test)):
        if not isinstance(v, torch.Tensor) or v.ndim != 2 or not v.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor of shape (N, d)")
    if not isinstance(target, torch.Tensor) or target.shape != (len(x),):
        raise ValueError("target must be a tensor of shape (N,), one value per row of x")
    P = check_positive_int(features, "features")
    steps = check_positive_int(steps, "steps")
    dt = check_positive(dt, "dt")
    N, d = x.shape
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(P, d, generator=gen, dtype=x.dtype) / math.sqrt(d)
    feats, feats_test = torch.relu(x @ A.T), torch.relu(x_test @ A.T)  # f^(p)(x)
    K = feats @ feats.T / P
    K_test = feats_test @ feats.T / P

    def cost(u):
        return 0.5 * ((u - target) ** 2).mean()

    # Euler steps on theta against Euler steps of kernel gradient descent with K
    theta = torch.randn(P, generator=gen, dtype=x.dtype)
    f_kgd = feats @ theta / math.sqrt(P)
    costs = []
    for _ in range(steps):
        u = feats @ theta / math.sqrt(P)
        costs.append(float(cost(u)))
        theta = theta - dt * feats.T @ ((u - target) / N) / math.sqrt(P)  # dC/dtheta
        f_kgd = f_kgd - dt * K @ (f_kgd - target) / N
    path_gap = float((feats @ theta / math.sqrt(P) - f_kgd).abs().max())
    # the decay of the cost at a second start: finite difference against -||d||_K^2
    theta1 = torch.randn(P, generator=gen, dtype=x.dtype)
    u1 = feats @ theta1 / math.sqrt(P)
    d1 = u1 - target
    eps = 1e-6
    rate_measured = float((cost(u1 - eps * K @ d1 / N) - cost(u1)) / eps)
    rate_formula = -float(d1 @ K @ d1) / N**2

    def limit(theta_start):  # the limit of kernel gradient descent at the test inputs
        u_s = feats @ theta_start / math.sqrt(P)
        g_s = feats_test @ theta_start / math.sqrt(P)
        return g_s + K_test @ torch.linalg.solve(K, target - u_s)

    return KernelGDRun(
        path_gap=path_gap,
        rate_measured=rate_measured,
        rate_formula=rate_formula,
        costs=costs,
        lambda_min=float(torch.linalg.eigvalsh(K)[0]),
        limit_gap=float((limit(theta) - limit(theta1)).abs().max()),
    )

r"""The generalization bounds of the slides (001, second half), computed for data (chapter 7).

Course notation: :math:`m` training points (the slides and the papers write :math:`n`), width
:math:`n` (the papers' :math:`m`), kernel matrix :math:`H = H^\infty` of the two-layer ReLU
network (:func:`ntklab.analytic.h_infinity`).

* Arora, Du, Hu, Li & Wang (2019), Theorem 5.1 (the slides' Theorem 3.3): test loss at most
  :math:`\sqrt{2 y^\top H^{-1} y / m} + O\big(\sqrt{\log(m / (\lambda_0 \delta)) / m}\big)` -
  :func:`arora_bound` (the hidden constant is a parameter);
* Zhang, Martens & Grosse (2019), Theorem 6 (natural gradient descent): the same first term
  plus :math:`3 \sqrt{\log(6 / \delta) / (2 m)} + \epsilon`, all constants explicit -
  :func:`zhang_bound`;
* the Rademacher complexity of :math:`\mathcal F_{A,B}` (Arora et al., Lemma 5.4) -
  :func:`rademacher_bound`, and a Monte Carlo estimate of the empirical Rademacher complexity
  of a ball of the tangent features - :func:`rademacher_ball_mc`;
* Cao & Gu (2019): the smallest NTRF norm that fits the labels with margin 1,
  :math:`\min\{\sqrt{t^\top H^{-1} t} : t_i y_i \ge 1\}` (Corollary 3.10) - :func:`margin_norm`,
  and the minimum norm of a tangent-feature fit computed from a Jacobian - :func:`ntrf_min_norm`;
* the experiments of chapter 7 on the digits - :func:`label_noise_runs`, :func:`measure_sweep`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize

from ..linalg import psd_solve
from ..validation import (
    as_tensor,
    check_nonnegative,
    check_positive_int,
    check_probability,
    make_generator,
)
from .convergence import generalization_measure

__all__ = [
    "arora_bound",
    "label_noise_runs",
    "margin_norm",
    "measure_sweep",
    "ntrf_min_norm",
    "rademacher_ball_mc",
    "rademacher_bound",
    "zhang_bound",
]


def _square(H: Any) -> torch.Tensor:
    H = as_tensor(H, "H", ndim=2)
    if H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be square, got shape {tuple(H.shape)}")
    return H


def arora_bound(H: Any, y: Any, delta: float, *, constant: float = 1.0) -> float:
    r"""Arora et al.'s Theorem 5.1 bound with its :math:`O(\cdot)` constant set to ``constant``.

    :math:`\sqrt{2 y^\top H^{-1} y / m} + c\,\sqrt{\log(m / (\lambda_0 \delta)) / m}` with
    :math:`c` = ``constant`` and :math:`\lambda_0 = \lambda_{\min}(H)`.  The paper leaves the
    constant unspecified, so this is an illustration of the bound's size, not a certified
    bound.

    Parameters
    ----------
    H : array_like
        ``H^infinity`` on the training inputs, shape ``(m, m)``, positive definite.
    y : array_like
        Labels, shape ``(m,)``.
    delta : float
        Failure probability, ``0 < delta < 1``.
    constant : float, optional
        The constant of the second term (default 1).

    Returns
    -------
    float
        The bound on the test loss of a 1-Lipschitz loss with values in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``H`` is not square, ``y`` has the wrong length, ``delta`` is not in ``(0, 1)``,
        ``constant < 0``, or ``H`` is not positive definite.

    Examples
    --------
    >>> # measure sqrt(2 * 8 / 4) = 2, plus sqrt(log(4 / (0.5 * 0.1)) / 4)
    >>> round(arora_bound(torch.eye(4) / 2, torch.ones(4), 0.1), 4)
    3.0467
    """
    H = _square(H)
    delta = check_probability(delta, "delta")
    constant = check_nonnegative(constant, "constant")
    lam0 = float(torch.linalg.eigvalsh(H)[0])
    if lam0 <= 0:
        raise ValueError(f"H must be positive definite, its smallest eigenvalue is {lam0}")
    m = H.shape[0]
    return generalization_measure(H, y) + constant * math.sqrt(math.log(m / (lam0 * delta)) / m)


def zhang_bound(H: Any, y: Any, delta: float, *, epsilon: float = 0.0) -> float:
    r"""Zhang, Martens & Grosse's Theorem 6 bound for natural gradient descent.

    :math:`\sqrt{2 y^\top (G^\infty)^{-1} y / m} + 3 \sqrt{\log(6 / \delta) / (2 m)} + \epsilon`;
    for the two-layer ReLU network with a fixed output layer :math:`G^\infty = H^\infty`.

    Parameters
    ----------
    H : array_like
        ``G^infinity = H^infinity`` on the training inputs, shape ``(m, m)``.
    y : array_like
        Labels, shape ``(m,)``.
    delta : float
        Failure probability, ``0 < delta < 1``.
    epsilon : float, optional
        The target error of the theorem (default 0, its limit for infinite width).

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ValueError
        If ``H`` is not square, ``y`` has the wrong length, ``delta`` is not in ``(0, 1)`` or
        ``epsilon < 0``.

    Examples
    --------
    >>> # measure 2, plus 3 sqrt(log(60) / 8)
    >>> round(zhang_bound(torch.eye(4) / 2, torch.ones(4), 0.1), 4)
    4.1462
    """
    H = _square(H)
    delta = check_probability(delta, "delta")
    epsilon = check_nonnegative(epsilon, "epsilon")
    m = H.shape[0]
    return generalization_measure(H, y) + 3 * math.sqrt(math.log(6 / delta) / (2 * m)) + epsilon


def rademacher_bound(A: float, B: float, m: int, width: int, delta: float) -> float:
    r"""Arora et al.'s Lemma 5.4: empirical Rademacher complexity of :math:`\mathcal F_{A,B}`.

    :math:`\mathcal F_{A,B}` holds the two-layer ReLU networks (:math:`w_r(0) \sim N(0, I)`,
    the slides' scale :math:`\kappa = 1`) whose rows moved by at most :math:`A` and whose whole
    weight matrix moved by at most :math:`B` (Frobenius) from initialization; with probability
    :math:`1 - \delta` over the initialization, for :math:`m` unit-norm points and width
    :math:`n`,

    .. math::

       \mathcal R_S \le \frac{B}{\sqrt{2m}}\Big(1 + \big(2\log(2/\delta)/n\big)^{1/4}\Big)
       + 2 A^2 \sqrt{n} + A \sqrt{2 \log(2/\delta)}.

    Parameters
    ----------
    A, B : float
        Radii, ``>= 0``.
    m : int
        Number of points.
    width : int
        Number of hidden neurons.
    delta : float
        Failure probability, ``0 < delta < 1``.

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ValueError
        If a radius is negative, ``m`` or ``width`` is below 1 or ``delta`` is outside ``(0, 1)``.

    Examples
    --------
    >>> # B / sqrt(2 m) = 0.5 times 1 + (2 log 4 / 10^12)^{1/4}
    >>> round(rademacher_bound(0.0, 2.0, 8, 10**12, 0.5), 6)
    0.500645
    """
    A = check_nonnegative(A, "A")
    B = check_nonnegative(B, "B")
    m = check_positive_int(m, "m")
    width = check_positive_int(width, "width")
    delta = check_probability(delta, "delta")
    log_term = 2 * math.log(2 / delta)
    return (
        B / math.sqrt(2 * m) * (1 + (log_term / width) ** 0.25)
        + 2 * A**2 * math.sqrt(width)
        + A * math.sqrt(log_term)
    )


def rademacher_ball_mc(
    J: Any,
    B: float,
    samples: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    r"""Monte Carlo estimate of the empirical Rademacher complexity of a ball of features.

    The ball is :math:`\{x_i \mapsto \langle J_i, v\rangle : \lVert v\rVert \le B\}`, and
    :math:`\mathcal R_S = \mathbb E_\varepsilon \sup_v \frac1m \sum_i \varepsilon_i
    \langle J_i, v\rangle = \frac Bm \mathbb E_\varepsilon \lVert J^\top \varepsilon\rVert`
    (the supremum is attained at :math:`v` along :math:`J^\top \varepsilon`), averaged over
    ``samples`` Rademacher vectors drawn on the CPU. By Jensen's inequality it is at most
    :math:`B \sqrt{\operatorname{tr}(J J^\top)} / m`.

    Parameters
    ----------
    J : array_like
        Features (e.g. the Jacobian of a network at initialization), shape ``(m, P)``.
    B : float
        Radius, ``>= 0``.
    samples : int
        Number of Rademacher vectors.
    seed, generator : optional
        Randomness, never both.

    Returns
    -------
    mean, standard_error : float
        The estimate and its standard error.

    Raises
    ------
    ValueError
        If ``J`` is not a matrix, ``B < 0``, ``samples < 2`` or both ``seed`` and ``generator``.

    Examples
    --------
    >>> mean, se = rademacher_ball_mc(torch.eye(3), 1.0, 10, seed=0)
    >>> round(mean, 6), round(se, 6)  # ||eps|| = sqrt(3) for every draw
    (0.57735, 0.0)
    """
    J = as_tensor(J, "J", ndim=2)
    B = check_nonnegative(B, "B")
    samples = check_positive_int(samples, "samples", minimum=2)
    gen = make_generator(seed, generator)
    eps = torch.randint(0, 2, (samples, J.shape[0]), generator=gen).to(J.dtype) * 2 - 1
    values = B / J.shape[0] * (eps.to(J.device) @ J).norm(dim=1)
    return float(values.mean()), float(values.std() / math.sqrt(samples))


def ntrf_min_norm(J: Any, target: Any) -> float:
    r"""Smallest :math:`\lVert v\rVert` with :math:`J v` = ``target``: the NTRF radius to fit it.

    Computed from the features with the pseudo-inverse of ``J`` (no kernel matrix is formed),
    so it checks the kernel expression :math:`\sqrt{t^\top (J J^\top)^{-1} t}` (:math:`t` =
    ``target``) independently.

    Parameters
    ----------
    J : array_like
        Features, shape ``(m, P)`` with ``P >= m`` and full row rank.
    target : array_like
        Shape ``(m,)``.

    Returns
    -------
    float
        ``||J^+ target||``.

    Raises
    ------
    ValueError
        If the shapes disagree or ``J`` has fewer columns than rows.

    Examples
    --------
    >>> J = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    >>> round(ntrf_min_norm(J, torch.tensor([2.0, 3.0])), 6)  # v = (1, 3, 0)
    3.162278
    """
    J = as_tensor(J, "J", ndim=2)
    target = as_tensor(target, "target", dtype=J.dtype, device=J.device, ndim=1)
    if target.shape[0] != J.shape[0]:
        raise ValueError(f"target must have {J.shape[0]} entries to match J, got {target.shape[0]}")
    if J.shape[1] < J.shape[0]:
        raise ValueError(f"J must have at least as many columns as rows, got {tuple(J.shape)}")
    v = torch.linalg.pinv(J) @ target
    return float(v.norm())


def margin_norm(H: Any, y: Any) -> tuple[float, torch.Tensor]:
    r"""Cao & Gu's Corollary 3.10 quantity :math:`\min\{\sqrt{t^\top H^{-1} t} : t_i y_i \ge 1\}`.

    Labels ``y = +-1``.  Writing ``t = y * (1 + s)`` with ``s >= 0`` turns it into a convex
    quadratic programme over the non-negative orthant, solved with L-BFGS-B (scipy).  Taking
    ``s = 0`` shows the value is at most ``sqrt(y^T H^{-1} y)``.

    Parameters
    ----------
    H : array_like
        Positive definite kernel matrix (``H^infinity`` or ``Theta``), shape ``(m, m)``.
    y : array_like
        Labels ``+-1``, shape ``(m,)``.

    Returns
    -------
    value : float
        The minimum of ``sqrt(t^T H^{-1} t)``.
    t : torch.Tensor
        The minimizing targets, shape ``(m,)``.

    Raises
    ------
    ValueError
        If ``H`` is not square, ``y`` has the wrong length or entries other than ``+-1``.

    Examples
    --------
    >>> v, t = margin_norm(torch.tensor([[1.0, 0.9], [0.9, 1.0]]), torch.tensor([1.0, 1.0]))
    >>> round(v, 6), t.tolist()
    (1.025978, [1.0, 1.0])
    """
    H = _square(H)
    y = as_tensor(y, "y", dtype=H.dtype, device=H.device, ndim=1)
    if y.shape[0] != H.shape[0]:
        raise ValueError(f"y must have {H.shape[0]} entries to match H, got {y.shape[0]}")
    if not bool((y.abs() == 1).all()):
        raise ValueError("y must hold labels +1 and -1")
    Hinv = psd_solve(H, torch.eye(H.shape[0], dtype=H.dtype, device=H.device))
    Q = (y[:, None] * Hinv * y[None, :]).cpu().numpy().astype(np.float64)
    Q = (Q + Q.T) / 2
    ones = np.ones(H.shape[0])

    def f(s):
        u = ones + s
        g = Q @ u
        return float(u @ g), 2 * g

    res = minimize(
        f,
        np.zeros(H.shape[0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * H.shape[0],
        options={"maxiter": 5000, "gtol": 1e-10},
    )
    t = y * (1 + torch.as_tensor(res.x, dtype=H.dtype, device=H.device))
    return math.sqrt(max(float(t @ psd_solve(H, t)), 0.0)), t


def label_noise_runs(
    x: Any,
    y: Any,
    x_test: Any,
    y_test: Any,
    fractions: Any,
    *,
    width: int,
    steps: int,
    step_size: float,
    label_seed: int = 1,
    network_seed: int = 2,
) -> np.ndarray:
    r"""Chapter 7's label-noise experiment (after Arora et al. 2019, Figure 1).

    For each fraction ``p`` a fraction ``p`` of the labels ``y`` is flipped
    (:func:`ntklab.data.corrupt_labels` with seed ``label_seed``); the measure
    :math:`\sqrt{2 y^\top (H^\infty)^{-1} y / m}` of the corrupted labels is computed before
    training, then a symmetric two-layer ReLU network
    (:class:`ntklab.networks.TwoLayerReLU`, seed ``network_seed``) is trained by full-batch
    gradient descent on the course loss and scored on the clean test set.

    Parameters
    ----------
    x, x_test : torch.Tensor
        Training and test inputs on the unit sphere, shapes ``(m, d)`` and ``(m_test, d)``.
    y, y_test : torch.Tensor
        Labels in ``{-1, 1}``, shapes ``(m,)`` and ``(m_test,)``.
    fractions : sequence of float
        Fractions of flipped training labels, each in ``[0, 1]``.
    width : int
        Hidden units of the network.
    steps : int
        Gradient descent steps.
    step_size : float
        Step size ``h`` of the course loss (below ``1 / lambda_max(H)``).
    label_seed, network_seed : int, optional
        Seeds of the label flips and of the network.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(fractions), 4)``: per fraction, ``p``, the measure, the test
        classification error and the final training loss divided by the initial one.

    Raises
    ------
    ValueError
        If the shapes disagree or ``width``, ``steps`` are not positive integers.

    Examples
    --------
    >>> from ntklab import data
    >>> x = data.uniform_sphere(20, 3, seed=0)
    >>> y = torch.sign(x[:, 0])
    >>> rows = label_noise_runs(x[:12], y[:12], x[12:], y[12:], [0.0, 0.5],
    ...                         width=50, steps=5, step_size=0.1)
    >>> rows.shape
    (2, 4)
    """
    from ..analytic import h_infinity
    from ..data import corrupt_labels
    from ..dynamics import gradient_descent
    from ..networks import TwoLayerReLU

    x, x_test = as_tensor(x, "x", ndim=2), as_tensor(x_test, "x_test", ndim=2)
    y, y_test = as_tensor(y, "y", ndim=1), as_tensor(y_test, "y_test", ndim=1)
    if y.shape[0] != x.shape[0] or y_test.shape[0] != x_test.shape[0]:
        raise ValueError("y and y_test must have one label per row of x and x_test")
    width = check_positive_int(width, "width")
    steps = check_positive_int(steps, "steps")
    H = h_infinity(x)
    rows = []
    for p in fractions:
        y_p = corrupt_labels(y, p, seed=label_seed)
        net = TwoLayerReLU(x.shape[1], width, seed=network_seed)
        run = gradient_descent(net, x, y_p, step_size, steps, patterns=None, x_test=x_test)
        wrong = torch.sign(run.test_outputs[-1]) != y_test
        rows.append(
            (
                float(p),
                generalization_measure(H, y_p),
                float(wrong.double().mean()),
                float(run.loss[-1] / run.loss[0]),
            )
        )
    return np.array(rows)


def measure_sweep(
    x: Any, y: Any, sizes: Any, shuffles: int, delta: float, *, seed: int = 10
) -> dict[str, np.ndarray]:
    r"""The measure and the bounds of chapter 7 against the number of training points.

    For each shuffle ``s`` the points are permuted with seed ``seed + s`` and random labels
    are drawn with seed ``seed + 10 + s``; for every ``k`` in ``sizes`` the first ``k``
    points give :math:`H^\infty` (:func:`ntklab.analytic.h_infinity`) and

    * ``"true"``: :func:`~ntklab.course.convergence.generalization_measure` of ``y``;
    * ``"random"``: the same for the random labels;
    * ``"arora"``, ``"zhang"``: :func:`arora_bound` (constant 1) and :func:`zhang_bound`
      of ``y`` at ``delta``.

    Parameters
    ----------
    x : torch.Tensor
        Inputs on the unit sphere, shape ``(N, d)``.
    y : torch.Tensor
        Labels in ``{-1, 1}``, shape ``(N,)``.
    sizes : sequence of int
        Training set sizes, each at most ``N``.
    shuffles : int
        Number of random orders averaged.
    delta : float
        Failure probability of the bounds, in ``(0, 1)``.
    seed : int, optional
        First seed (default 10).

    Returns
    -------
    dict of str to numpy.ndarray
        Each of shape ``(len(sizes),)``, averaged over the shuffles.

    Raises
    ------
    ValueError
        If a size exceeds ``N`` or the shapes disagree.

    Examples
    --------
    >>> from ntklab import data
    >>> x = data.uniform_sphere(30, 4, seed=0)
    >>> out = measure_sweep(x, torch.sign(x[:, 0]), [10, 20], 1, 0.1)
    >>> sorted(out), out["true"].shape
    (['arora', 'random', 'true', 'zhang'], (2,))
    """
    from ..analytic import h_infinity

    x, y = as_tensor(x, "x", ndim=2), as_tensor(y, "y", ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have {x.shape[0]} labels, got {y.shape[0]}")
    sizes = [check_positive_int(k, "sizes") for k in sizes]
    if max(sizes) > x.shape[0]:
        raise ValueError(f"sizes must be at most {x.shape[0]}, got {max(sizes)}")
    shuffles = check_positive_int(shuffles, "shuffles")
    out: dict[str, list[float]] = {"true": [], "random": [], "arora": [], "zhang": []}
    for s in range(shuffles):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + s))
        noise = torch.randn(len(y), generator=torch.Generator().manual_seed(seed + 10 + s))
        y_random = torch.sign(noise).to(y.dtype)
        for k in sizes:
            idx = order[:k]
            Hk, yk = h_infinity(x[idx]), y[idx]
            out["true"].append(generalization_measure(Hk, yk))
            out["random"].append(generalization_measure(Hk, y_random[idx]))
            out["arora"].append(arora_bound(Hk, yk, delta))
            out["zhang"].append(zhang_bound(Hk, yk, delta))
    return {key: np.mean(np.reshape(v, (shuffles, len(sizes))), axis=0) for key, v in out.items()}

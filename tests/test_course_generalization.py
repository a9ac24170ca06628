import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from ntklab import analytic, data
from ntklab.course import generalization as gen


def _spd(m, seed):
    x = data.uniform_sphere(m, 4, seed=seed)
    return analytic.h_infinity(x)


def test_arora_and_zhang_bounds_match_the_formulas():
    H = _spd(30, 0)
    y = torch.sign(torch.randn(30, generator=torch.Generator().manual_seed(1)))
    Hn, yn = H.numpy(), y.numpy()
    measure = math.sqrt(2 * yn @ np.linalg.inv(Hn) @ yn / 30)
    lam0 = np.linalg.eigvalsh(Hn)[0]
    ref_arora = measure + 2.0 * math.sqrt(math.log(30 / (lam0 * 0.1)) / 30)
    ref_zhang = measure + 3 * math.sqrt(math.log(6 / 0.1) / 60) + 0.01
    assert gen.arora_bound(H, y, 0.1, constant=2.0) == pytest.approx(ref_arora, rel=1e-10)
    assert gen.zhang_bound(H, y, 0.1, epsilon=0.01) == pytest.approx(ref_zhang, rel=1e-10)


def test_rademacher_bound_formula_and_limits():
    ref = 3 / math.sqrt(20) * (1 + (2 * math.log(2 / 0.2) / 100) ** 0.25)
    ref += 2 * 0.01 * 10 + 0.1 * math.sqrt(2 * math.log(2 / 0.2))
    assert gen.rademacher_bound(0.1, 3.0, 10, 100, 0.2) == pytest.approx(ref, rel=1e-12)
    # A = 0 and infinite width leave B / sqrt(2 m)
    assert gen.rademacher_bound(0.0, 3.0, 10, 10**15, 0.2) == pytest.approx(
        3 / math.sqrt(20), rel=1e-3
    )


def test_rademacher_ball_mc_matches_exact_enumeration():
    # exact R_S: average of (B/m) ||J^T eps|| over all 2^m sign vectors
    J = torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=6)), dtype=torch.float64)
    exact = float((2.5 / 6 * (signs @ J).norm(dim=1)).mean())
    mean, se = gen.rademacher_ball_mc(J, 2.5, 20000, seed=3)
    assert abs(mean - exact) < 4 * se
    assert se < 0.01 * exact
    # the supremum over the ball is attained along J^T eps: a random point of the ball is below
    eps = signs[5]
    v = torch.randn(4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    v = 2.5 * v / v.norm()
    assert float(eps @ J @ v) / 6 <= 2.5 / 6 * float((eps @ J).norm()) + 1e-12


def test_ntrf_min_norm_is_the_kernel_expression():
    J = torch.randn(5, 40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    t = torch.randn(5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    Jn, tn = J.numpy(), t.numpy()
    ref = math.sqrt(tn @ np.linalg.solve(Jn @ Jn.T, tn))
    assert gen.ntrf_min_norm(J, t) == pytest.approx(ref, rel=1e-9)


def test_margin_norm_against_a_constrained_solver():
    H = _spd(8, 7)
    y = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    value, t = gen.margin_norm(H, y)
    # independent formulation: SLSQP over t with the constraints y_i t_i >= 1
    Hinv = np.linalg.inv(H.numpy())
    yn = y.numpy()
    res = minimize(
        lambda s: s @ Hinv @ s,
        yn.copy(),
        jac=lambda s: 2 * Hinv @ s,
        constraints=[{"type": "ineq", "fun": lambda s: yn * s - 1, "jac": lambda s: np.diag(yn)}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert value == pytest.approx(math.sqrt(res.fun), rel=1e-5)
    assert bool((t * y >= 1 - 1e-8).all())
    # one constraint is slack here, so the optimum is strictly below the plain labels' value
    assert value < math.sqrt(float(yn @ Hinv @ yn)) - 0.01


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: gen.arora_bound(torch.eye(3), torch.ones(3), 1.5), ValueError, "delta"),
        (lambda: gen.arora_bound(torch.ones(2, 3), torch.ones(2), 0.1), ValueError, "square"),
        (lambda: gen.zhang_bound(torch.eye(3), torch.ones(2), 0.1), ValueError, "entries"),
        (lambda: gen.zhang_bound(torch.eye(3), torch.ones(3), 0.1, epsilon=-1), ValueError, "eps"),
        (lambda: gen.rademacher_bound(-1.0, 1.0, 3, 3, 0.1), ValueError, "A"),
        (lambda: gen.rademacher_bound(0.1, 1.0, 0, 3, 0.1), ValueError, "m"),
        (lambda: gen.rademacher_ball_mc(torch.eye(3), 1.0, 1), ValueError, "samples"),
        (lambda: gen.ntrf_min_norm(torch.eye(3)[:, :2], torch.ones(3)), ValueError, "columns"),
        (lambda: gen.margin_norm(torch.eye(2), torch.tensor([1.0, 0.5])), ValueError, "\\+1"),
        (lambda: gen.arora_bound(-torch.eye(2), torch.ones(2), 0.1), ValueError, "definite"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_label_noise_runs_measure_and_errors_from_their_definitions():
    from ntklab import data
    from ntklab.course.generalization import label_noise_runs

    x = data.uniform_sphere(40, 3, seed=3)
    y = torch.sign(x[:, 0])
    rows = label_noise_runs(
        x[:30], y[:30], x[30:], y[30:], [0.0, 0.5], width=40, steps=20, step_size=0.2
    )
    assert rows.shape == (2, 4)
    # reference: the measure by a dense solve of the closed-form H^infinity
    cos = (x[:30] @ x[:30].T).clamp(-1, 1)
    H = cos * (torch.pi - torch.arccos(cos)) / (2 * torch.pi)
    for p, measure, error, ratio in rows:
        y_p = data.corrupt_labels(y[:30], p, seed=1)
        ref = torch.sqrt(2 * y_p @ torch.linalg.solve(H, y_p) / 30)
        assert measure == pytest.approx(float(ref), rel=1e-6)  # H is ill-conditioned
        assert 0.0 <= error <= 1.0
        assert 0.0 < ratio < 1.0
    with pytest.raises(ValueError, match="label"):
        label_noise_runs(x, y[:5], x, y, [0.0], width=4, steps=1, step_size=0.1)


def test_measure_sweep_matches_a_direct_computation():
    from ntklab import data
    from ntklab.course.generalization import measure_sweep

    x = data.uniform_sphere(25, 4, seed=4)
    y = torch.sign(x[:, 1])
    out = measure_sweep(x, y, [10, 25], 1, 0.1, seed=7)
    # reference: the first 10 points of the documented permutation, dense solve
    idx = torch.randperm(25, generator=torch.Generator().manual_seed(7))[:10]
    cos = (x[idx] @ x[idx].T).clamp(-1, 1)
    H = cos * (torch.pi - torch.arccos(cos)) / (2 * torch.pi)
    ref = torch.sqrt(2 * y[idx] @ torch.linalg.solve(H, y[idx]) / 10)
    assert out["true"][0] == pytest.approx(float(ref), rel=1e-8)
    assert np.all(out["arora"] > out["true"])
    assert np.all(out["zhang"] > out["true"])
    with pytest.raises(ValueError, match="sizes"):
        measure_sweep(x, y, [30], 1, 0.1)

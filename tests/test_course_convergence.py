import copy
import math

import pytest
import torch

from ntklab import dynamics as D
from ntklab.course import convergence as T


class _Smooth(torch.nn.Module):
    """LeCun-style shallow erf network (test-local; smooth so L is finite)."""

    def __init__(self, d, n, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.U = torch.nn.Parameter(torch.randn(n, d, generator=g, dtype=torch.float64) / d**0.5)
        self.v = torch.nn.Parameter(torch.randn(n, generator=g, dtype=torch.float64) / n**0.5)

    def forward(self, x):
        return torch.erf(x @ self.U.T) @ self.v


def _problem(n=400, seed=0, eps=0.002):
    g = torch.Generator().manual_seed(100 + seed)
    X = (
        torch.nn.functional.normalize(torch.randn(3, 3, generator=g, dtype=torch.float64), dim=1)
        * 2
    )
    net = _Smooth(3, n, seed)
    with torch.no_grad():
        y = net(X) + eps * torch.randn(3, generator=g, dtype=torch.float64)
    return net, X, y


def test_closed_forms():
    assert T.theorem_11_13_step_size(1.0, 3.0) == 0.25
    assert T.radius(2.0, 4.0, 4, 9.0) == pytest.approx(2 * 2 * 2 * 3 / 4)
    assert T.admissible_lipschitz(2.0, 4.0, 4, 9.0) == pytest.approx(16 / (12 * 8 * 4 * 3))
    # Theorem 11.23's step is (11.4.4) with Lemma 11.19's bounds n lmin/2 and 2 n lmax
    n, a, b = 1000, 0.3, 2.0
    assert T.theorem_11_23_step_size(a, b, n) == pytest.approx(
        T.theorem_11_13_step_size(n * a / 2, 2 * n * b)
    )
    h = 0.5 * T.theorem_11_23_step_size(a, b, n)
    assert T.theorem_11_23_rate(h, n, a, 3).item() == pytest.approx((1 - h * n * a / 2) ** 6)
    H = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    ref = math.sqrt(2 * float(y @ torch.linalg.solve(H, y)) / 2)
    assert T.generalization_measure(H, y) == pytest.approx(ref)


def _jacobian_at(net, X, w):
    """Per-example gradients at the flat parameters w: one autograd backward per example."""
    net = copy.deepcopy(net)
    params = [p for p in net.parameters() if p.requires_grad]
    torch.nn.utils.vector_to_parameters(w, params)
    rows = [torch.autograd.grad(net(x[None]).sum(), params) for x in X]
    return torch.stack([torch.cat([g.reshape(-1) for g in r]) for r in rows])


def test_estimates_bound_independent_samples():
    net, X, _ = _problem(n=300)
    r = 0.5
    U = T.estimate_gradient_bound(net, X, r, samples=16, ascent_steps=10, seed=0)
    L = T.estimate_gradient_lipschitz(net, X, r, samples=16, ascent_steps=10, seed=0)
    w0 = D.flat_parameters(net)
    gen = torch.Generator().manual_seed(12345)  # independent of the estimator's draws
    W = T.sample_ball(w0, r, 20, generator=gen)
    for w in W:
        assert _jacobian_at(net, X, w).norm(dim=1).max() <= U.value
    for w, v in zip(W[:10], W[10:], strict=False):
        diff = (_jacobian_at(net, X, w) - _jacobian_at(net, X, v)).norm(dim=1)
        assert diff.max() / (w - v).norm() <= L.value
    assert U.optimized >= U.sampled
    assert L.optimized >= L.sampled
    assert "lower bound" in U.direction_of_error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theorem_11_13_guarantees_hold_where_assumption_verified(seed):
    net, X, y = _problem(n=600, seed=seed)
    A = T.check_assumption_11_12(net, X, y, samples=8, ascent_steps=5, seed=seed)
    assert A.holds_a
    assert A.holds_c, A
    h, K = A.step_size_limit, 60
    hist = D.gradient_descent(net, X, y, h, K)
    r, env = T.theorem_11_13_bounds(
        A.lambda_min, A.lambda_max, A.U.value, A.m, A.loss0, h, range(K + 1)
    )
    assert bool((hist.loss <= env * (1 + 1e-9)).all())
    assert bool((hist.distance <= r).all())
    assert A.r <= A.r_checked


def test_bad_input():
    with pytest.raises(ValueError, match=r"^lambda_max = .* must be >= lambda_min"):
        T.theorem_11_13_step_size(2.0, 1.0)
    with pytest.raises(ValueError, match=r"^lambda_min must"):
        T.theorem_11_13_step_size(0.0, 1.0)
    with pytest.raises(ValueError, match=r"^step size h = .* exceeds the limit"):
        T.theorem_11_13_bounds(1.0, 3.0, 1.0, 2, 1.0, 0.3, [0, 1])
    with pytest.warns(RuntimeWarning, match=r"^step size h = 0\.3 exceeds the limit .* = 0\.25 "):
        T.theorem_11_13_bounds(1.0, 3.0, 1.0, 2, 1.0, 0.3, [0, 1], check="warn")
    with pytest.raises(ValueError, match=r"^n must"):
        T.theorem_11_23_step_size(1.0, 2.0, 0)
    with pytest.raises(ValueError, match=r"^y must have 3 entries"):
        T.generalization_measure(torch.eye(3), torch.ones(2))
    net, X, y = _problem(n=50)
    with pytest.raises(ValueError, match=r"^inflate must"):
        T.check_assumption_11_12(net, X, y, inflate=1.0)
    with pytest.raises(ValueError, match=r"^X and y must have the same length"):
        T.check_assumption_11_12(net, X, y[:2])


def test_sample_ball_takes_seed_or_generator():
    center = torch.zeros(5, dtype=torch.float64)
    a = T.sample_ball(center, 2.0, 50, seed=3)
    b = T.sample_ball(center, 2.0, 50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert a.shape == (50, 5)
    assert bool((a.norm(dim=1) <= 2.0).all())
    s = T.sample_ball(center, 2.0, 10, seed=1, surface=True)
    assert torch.allclose(s.norm(dim=1), torch.full((10,), 2.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="either seed or generator"):
        T.sample_ball(center, 1.0, 2, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"^count must"):
        T.sample_ball(center, 1.0, 0, seed=1)
    with pytest.raises(ValueError, match=r"^r must"):
        T.sample_ball(center, -1.0, 2, seed=1)


def test_sample_ball_same_numbers_on_every_device(device):
    center = torch.ones(4, dtype=torch.float64)
    ref = T.sample_ball(center, 1.0, 6, seed=0)
    out = T.sample_ball(center.to(device), 1.0, 6, seed=0)
    assert out.device.type == device.type
    assert torch.allclose(out.cpu(), ref, rtol=1e-12, atol=1e-14)


def test_lemma_11_20_probability_against_monte_carlo():
    # reference: the fraction of Gaussian matrices with ||W|| <= sqrt(n (d + 1)), from draws
    n, d = 20, 4
    g = torch.Generator().manual_seed(0)
    W = torch.randn(4000, n, d, generator=g, dtype=torch.float64)
    frac = float((torch.linalg.matrix_norm(W, ord=2) <= math.sqrt(n * (d + 1))).double().mean())
    assert T.lemma_11_20_probability(n, d, 3.0) == pytest.approx(0.4)
    assert frac >= T.lemma_11_20_probability(n, d, 3.0)
    with pytest.raises(ValueError, match="n"):
        T.lemma_11_20_probability(0, d, 3.0)
    with pytest.raises(ValueError, match="mu4"):
        T.lemma_11_20_probability(n, d, -1.0)


def test_lemma_11_21_constants_are_the_sums_of_the_component_bounds():
    R = 0.7
    c = T.lemma_11_21_constants(R)
    blocks1 = [6 * R + 9 * R**2, 6 * R**2 + 9 * R**3, 2 * R + 3 * R**2, 1.0]
    blocks2 = [5 * R + 6 * R**2, 5 * R**2 + 6 * R**3, R + R**2]
    assert pytest.approx(sum(blocks1)) == c.M1
    assert pytest.approx(sum(blocks2)) == c.M2
    assert max(c.M1, c.M2) == c.M
    # the printed constants are below the sums for every R > 0
    assert c.M1_printed < c.M1
    assert c.M2_printed < c.M2
    with pytest.raises(ValueError, match="R"):
        T.lemma_11_21_constants(0.0)


def test_lemma_11_22_bound_holds_in_monte_carlo():
    # Var f(x; w_0) = E sigma(u.x)^2 for a LeCun net; estimated here from the draws themselves
    g = torch.Generator().manual_seed(3)
    X = torch.nn.functional.normalize(torch.randn(3, 3, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0.5, -0.5, 1.0], dtype=torch.float64)
    losses, outs = [], []
    for seed in range(300):
        with torch.no_grad():
            u = _Smooth(3, 32, seed)(X)
        outs.append(u)
        losses.append(float(((u - y) ** 2).sum()))
    C = float(torch.stack(outs).var(0).max())
    R0 = T.lemma_11_22_bound(C, 3, 0.1, 1.0)
    assert pytest.approx(3 * (math.sqrt(C * 3 / 0.1) + 1.0) ** 2) == R0
    assert sum(v <= R0 for v in losses) / len(losses) >= 0.9
    with pytest.raises(ValueError, match="delta"):
        T.lemma_11_22_bound(C, 3, 1.5, 1.0)


def test_averaged_jacobian_run_against_gradient_descent_and_quadratic_model():
    net, X, y = _problem(n=64, seed=1, eps=0.5)
    h = 0.5 * T.theorem_11_13_step_size(*T.kernel_eigenvalues(net, X))
    run = T.averaged_jacobian_run(net, X, y, h, 5)
    ref = D.gradient_descent(net, X, y, h, 5)  # an independent implementation of the same steps
    torch.testing.assert_close(run.loss, ref.loss, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(run.distance, ref.distance, rtol=1e-10, atol=1e-14)
    # the segment average makes (eq-ch4-step) exact; the endpoint Jacobian alone does not
    assert float(run.identity_error.max()) < 1e-9
    assert float(run.drift.min()) > 0


class _Quadratic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.3], dtype=torch.float64))

    def forward(self, x):
        return x[:, 0] * self.w**2


def test_averaged_jacobian_run_closed_form():
    # f(x; w) = x w^2: J = 2 x w, bar J_0 = x (w_0 + w_1) exactly (midpoint rule)
    X = torch.tensor([[1.0]], dtype=torch.float64)
    y = torch.tensor([1.0], dtype=torch.float64)
    run = T.averaged_jacobian_run(_Quadratic(), X, y, 0.1, 1, quadrature_order=1)
    w0 = 0.3
    w1 = w0 - 2 * 0.1 * (2 * w0) * (w0**2 - 1)
    assert float(run.drift[0]) == pytest.approx(abs((w0 + w1) * 2 * w0 - (2 * w0) ** 2))
    with pytest.raises(ValueError, match="quadrature_order"):
        T.averaged_jacobian_run(_Quadratic(), X, y, 0.1, 1, quadrature_order=0)


def test_lemma_11_19_draws_against_direct_eigenvalues():
    from ntklab import analytic, empirical
    from ntklab.networks import ShallowLeCun

    g = torch.Generator().manual_seed(3)
    X = torch.nn.functional.normalize(torch.randn(4, 3, generator=g, dtype=torch.float64), dim=1)
    r = T.lemma_11_19_draws(X, 30, 4)
    lc = torch.linalg.eigvalsh(analytic.k_lecun(X, activation="erf"))
    inside = 0
    for s in range(4):  # the same draws, counted here with numpy's eigenvalues
        G = empirical.ntk(ShallowLeCun(3, 30, activation="erf", seed=s), X).numpy() / 30
        import numpy as np

        ev = np.linalg.eigvalsh(G)
        inside += int(ev[0] >= float(lc[0]) / 2 and ev[-1] <= 2 * float(lc[-1]))
    assert r.inside == inside
    assert r.draws == 4
    assert r.weyl_excess <= 1e-12
    assert r.top_gap < 1e-10
    assert 0 <= r.near <= r.inside  # the proof's event implies the bracket
    with pytest.raises(ValueError, match="draws"):
        T.lemma_11_19_draws(X, 30, 0)


def _lecun_problem():
    g = torch.Generator().manual_seed(5)
    X = torch.nn.functional.normalize(torch.randn(4, 3, generator=g, dtype=torch.float64), dim=1)
    return X, torch.sin(X.sum(1)), (0.2, 1.0)


def test_proposition_11_25_sweep_rate_ratio_by_hand():
    from ntklab.networks import ShallowLeCun

    X, y, lam = _lecun_problem()
    out = T.proposition_11_25_sweep(X, y, [40], 4, lam)
    h = 0.9 * 2 / ((lam[0] + 4 * lam[1]) * 40)  # the step of Theorem 11.23, by hand
    run = T.averaged_jacobian_run(
        ShallowLeCun(3, 40, activation="erf", seed=0), X, y, h, 4, quadrature_order=2
    )
    rate = torch.tensor(
        [(1 - h * 40 * lam[0] / 2) ** (2 * k) for k in range(5)], dtype=torch.float64
    )
    assert math.isclose(out[40][1], float((run.loss[1:] / (run.loss[0] * rate[1:])).max()))
    assert math.isclose(out[40][0], float(run.drift.max()) / 40)
    assert out[40][2] < 1e-8


def test_proposition_11_26_sweep_averages_seeds():
    from ntklab.networks import ShallowLeCun

    X, y, lam = _lecun_problem()
    table, ratio = T.proposition_11_26_sweep(X, y, X / 2, [30], 3, lam, seeds=2)
    h = 0.9 * 2 / ((lam[0] + 4 * lam[1]) * 30)
    direct = [
        D.compare_with_linearization(
            ShallowLeCun(3, 30, activation="erf", seed=s), X, y, h, 3, X / 2
        )
        for s in range(2)
    ]
    assert math.isclose(table[0, 0], (direct[0].distance + direct[1].distance) / 2)
    assert math.isclose(table[0, 2], (direct[0].outputs + direct[1].outputs) / 2)
    assert ratio <= 1 + 1e-9
    with pytest.raises(ValueError, match="seeds"):
        T.proposition_11_26_sweep(X, y, X / 2, [30], 3, lam, seeds=0)


def test_one_parameter_gradient_by_hand():
    net = T.OneParameter(torch.sin)
    with torch.no_grad():
        net.w.fill_(0.3)
    out = net(torch.ones(2, 1, dtype=torch.float64))
    (g,) = torch.autograd.grad(out.sum(), [net.w])
    assert math.isclose(float(g), 2 * math.cos(0.3))
    with pytest.raises(TypeError, match="fn"):
        T.OneParameter(3.0)

import math

import numpy as np
import pytest
import torch
from scipy.special import erf

from ntklab.course import lazy_relu as lr
from ntklab.course.stats import wilson_interval
from ntklab.networks import TwoLayerReLU


def _setup(d=4, n=40, p=6, seed=0, alpha=2.0, device="cpu", dtype=torch.float64):
    w0, c = lr.symmetric_xavier_init(d, n, seed=seed, dtype=dtype, device=device)
    g = torch.Generator(device=device).manual_seed(seed + 100)
    x = torch.randn(p, d, generator=g, dtype=dtype, device=device)
    u = lr.random_perturbation(w0, alpha, seed=seed + 200)
    return w0, c, x, u


# ----------------------------------------------------------------------------- Lemma 1-3
def test_network_output_matches_module(device):
    net = TwoLayerReLU(3, 12, seed=1, device=device)
    x = torch.randn(5, 3, dtype=torch.float64, device=device)
    with torch.no_grad():
        net.w.add_(0.5 * torch.randn_like(net.w))
        torch.testing.assert_close(lr.network_output(x, net.w, net.c), net(x))
        assert lr.network_output(x[0], net.w, net.c).shape == ()


def test_gradient_features_match_autograd():
    net = TwoLayerReLU(3, 10, seed=2)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    feats = lr.gradient_features(x, net.w.detach(), net.c)
    assert feats.shape == (4, 10, 3)
    for j in range(4):  # pre-activations are a.s. nonzero, so relu'(0) conventions do not matter
        (grad,) = torch.autograd.grad(net(x[j]), net.w)
        torch.testing.assert_close(feats[j], grad, rtol=1e-12, atol=1e-15)


def test_lemma1_identity_and_subgradient_inequality(device):
    # (2): grad_w F . w = F for any w, c (not only at initialization)
    g = torch.Generator(device=device).manual_seed(3)
    w = torch.randn(7, 50, 5, generator=g, dtype=torch.float64, device=device)
    c = torch.randn(7, 50, generator=g, dtype=torch.float64, device=device)
    x = torch.randn(9, 5, generator=g, dtype=torch.float64, device=device)
    lhs = torch.einsum("bpnd,bnd->bp", lr.gradient_features(x, w, c), w)
    torch.testing.assert_close(lhs, lr.network_output(x, w, c), rtol=1e-12, atol=1e-13)
    # (1): relu(t'.x) >= relu(t.x) + 1{t.x >= 0} x.(t' - t) on random pairs, incl. t.x = 0
    t = torch.randn(10_000, 5, generator=g, dtype=torch.float64, device=device)
    t2 = torch.randn(10_000, 5, generator=g, dtype=torch.float64, device=device)
    xs = torch.randn(10_000, 5, generator=g, dtype=torch.float64, device=device)
    t[:100] -= ((t[:100] * xs[:100]).sum(1) / (xs[:100] ** 2).sum(1)).unsqueeze(1) * xs[:100]
    z, z2 = (t * xs).sum(1), (t2 * xs).sum(1)
    lower = torch.relu(z) + (z >= 0).double() * (z2 - z)
    assert bool((torch.relu(z2) >= lower - 1e-12).all())


def test_lemma3_taylor_identity_far_from_init():
    w0, c, x, _ = _setup(n=60)
    w = w0 + torch.randn_like(w0)  # far away: the identity is exact, not asymptotic
    d1, d2 = lr.remainder_parts(x, w, w0, c)
    grad_diff = lr.gradient_features(x, w, c) - lr.gradient_features(x, w0, c)
    nonlin = torch.einsum("pnd,nd->p", grad_diff, w)
    torch.testing.assert_close(d1 + d2, nonlin, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(
        lr.network_output(x, w, c), lr.linearization(x, w, w0, c) + nonlin, rtol=1e-12, atol=1e-13
    )
    torch.testing.assert_close(lr.remainder(x, w, w0, c), d1 + d2, rtol=1e-12, atol=1e-13)


def test_linearization_matches_autograd_directional_derivative():
    w0, c, x, u = _setup(n=30)
    w = w0.clone().requires_grad_(True)
    out = lr.network_output(x, w, c)
    ref = torch.stack(
        [(torch.autograd.grad(out[j], w, retain_graph=True)[0] * u).sum() for j in range(len(x))]
    )
    torch.testing.assert_close(lr.linearization(x, w0 + u, w0, c), ref, rtol=1e-12, atol=1e-14)


def test_nonsymmetric_init_remainder_contains_initial_output():
    g = torch.Generator().manual_seed(4)
    w0 = torch.randn(50, 3, generator=g, dtype=torch.float64)
    c = torch.randint(0, 2, (50,), generator=g).double() * 2 - 1
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    u = lr.random_perturbation(w0, 1.0, seed=0)
    d1, d2 = lr.remainder_parts(x, w0 + u, w0, c)
    torch.testing.assert_close(
        lr.remainder(x, w0 + u, w0, c), lr.network_output(x, w0, c) + d1 + d2, atol=1e-13, rtol=0
    )


def test_exact_form_of_remainder():
    # F - F_lin = n^{-1/2} sum_{i in S} c_i |w_i . x| (computed here by a slow loop)
    w0, c, x, u = _setup(n=40, alpha=4.0)
    w = w0 + u
    r = lr.remainder(x, w, w0, c)
    S = lr.sign_changes(x, w, w0)
    for j in range(x.shape[0]):
        ref = sum(
            float(c[i]) * abs(float(w[i] @ x[j])) for i in range(40) if bool(S[j, i])
        ) / math.sqrt(40)
        assert abs(float(r[j]) - ref) < 1e-13


def test_sign_changes_slow_loop_and_near_zero_superset():
    w0, _c, x, u = _setup(n=50, alpha=3.0)
    S = lr.sign_changes(x, w0 + u, w0)
    assert S.shape == (6, 50)
    assert S.dtype == torch.bool
    for j in range(6):
        for i in range(50):
            assert bool(S[j, i]) == ((float(w0[i] @ x[j]) >= 0) != (float((w0 + u)[i] @ x[j]) >= 0))
    N = lr.near_zero_fraction(x, w0, 3.0)
    assert bool((S.double().mean(-1) <= N).all())


# ----------------------------------------------------------------------------- worst case
def test_worst_case_attained_by_adversary_and_never_beaten():
    w0, c, x, _ = _setup(d=3, n=200, p=1, alpha=3.0)
    x1 = x[0]
    worst = lr.worst_case_remainder(x1, w0, c, 3.0)
    u = lr.adversarial_perturbation(x1, w0, c, 3.0)
    assert float(u.norm(dim=-1).max()) <= 3.0 / math.sqrt(200) * (1 + 1e-12)
    assert abs(abs(float(lr.remainder(x1, w0 + u, w0, c))) - float(worst)) < 1e-14
    assert float(worst) > 0
    # 2000 random perturbations inside the ball never exceed the supremum
    w0b = w0.expand(2000, 200, 3)
    ub = lr.random_perturbation(w0b, 3.0, radius="ball", seed=9)
    assert float(lr.remainder(x1, w0b + ub, w0b, c).abs().max()) <= float(worst) + 1e-14


def test_worst_case_brute_force_in_one_dimension():
    # d = 1: u_i is a number in [-a, a]; search a grid of the whole ball for n = 4
    w0 = torch.tensor([[0.3], [-0.1], [0.3], [-0.1]], dtype=torch.float64)
    c = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
    x = torch.tensor([1.0], dtype=torch.float64)
    alpha = 1.0  # a = 0.5
    grid = torch.linspace(-0.5, 0.5, 21, dtype=torch.float64)
    U = torch.cartesian_prod(grid, grid, grid, grid).unsqueeze(-1)  # (21^4, 4, 1)
    best = float(lr.remainder(x, w0 + U, w0, c).abs().max())
    worst = float(lr.worst_case_remainder(x, w0, c, alpha))
    assert abs(best - worst) < 1e-12  # the grid contains the maximiser (+-a)
    assert abs(worst - ((0.5 - 0.3) + (0.5 - 0.1)) / 2) < 1e-12


def test_flip_all_adversary_flips_near_zero_set_and_cancels():
    w0, c, x, _ = _setup(d=3, n=400, p=1, alpha=5.0)
    x1 = x[0]
    u = lr.adversarial_perturbation(x1, w0, c, 5.0, target="flips")
    S = lr.sign_changes(x1, w0 + u, w0)
    assert abs(float(S.double().mean()) - float(lr.near_zero_fraction(x1, w0, 5.0))) < 1e-15
    assert float(S.double().mean()) > 0
    assert abs(float(lr.remainder(x1, w0 + u, w0, c))) < 1e-14  # pairs move together


def test_gradient_perturbation_norm():
    w0, c, x, _ = _setup(n=100, p=1)
    u = lr.gradient_perturbation(x[0], w0, c, 2.0)
    torch.testing.assert_close(u.norm(dim=-1).max(), torch.tensor(0.2, dtype=torch.float64))


@pytest.mark.parametrize("radius", ["sphere", "ball"])
def test_random_perturbation_norms(radius):
    w0, _ = lr.symmetric_xavier_init(5, 1000, seed=0)
    u = lr.random_perturbation(w0, 3.0, radius=radius, seed=1)
    norms = u.norm(dim=-1)
    a = 3.0 / math.sqrt(1000)
    assert float(norms.max()) <= a * (1 + 1e-12)
    if radius == "sphere":
        torch.testing.assert_close(norms, torch.full_like(norms, a))
    else:  # E||u_i|| = a d/(d+1) for uniform in the ball; sd of the mean < a/sqrt(1000)/5
        assert abs(float(norms.mean()) - a * 5 / 6) < 4 * a / (5 * math.sqrt(1000))


# ----------------------------------------------------------------------------- probabilities
def test_sign_change_fractions_match_predictions():
    d, n, alpha, draws = 3, 200, 4.0, 400
    w0, _c = lr.symmetric_xavier_init(d, n, batch=(draws,), seed=11)
    x = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    u = lr.random_perturbation(w0, alpha, seed=12)
    got = float(lr.sign_changes(x, w0 + u, w0).double().mean())
    pred = lr.expected_sign_change_fraction(alpha, n, d)
    # independent Monte Carlo of the same law: g ~ N(0,1), v = first coordinate on S^2 ~ U[-1, 1]
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, 2_000_000)
    mc = float(np.mean(erf(alpha / math.sqrt(n) * np.abs(v) / math.sqrt(2)))) / 2
    assert abs(pred - mc) < 1e-4
    # 400 * 100 independent pairs (each pair counted twice): sd of the mean <= sqrt(p/40000)
    assert abs(got - pred) < 4 * math.sqrt(pred / (draws * n / 2))
    adv = lr.expected_sign_change_fraction(alpha, n, perturbation="adversarial")
    N = float(lr.near_zero_fraction(x, w0, alpha).mean())
    assert abs(N - adv) < 4 * math.sqrt(adv / (draws * n / 2))
    assert adv <= math.sqrt(2 / math.pi) * alpha / math.sqrt(n)  # Lemma 5
    assert lr.expected_sign_change_fraction(alpha, n, 1) == pytest.approx(adv / 2)


def test_sign_change_bound_holds_with_probability_1_minus_delta():
    delta, draws = 0.3, 600
    w0, c = lr.symmetric_xavier_init(2, 100, batch=(draws,), seed=21)
    x = torch.tensor([1.0, -1.0], dtype=torch.float64)
    N = lr.near_zero_fraction(x, w0, 2.0)
    ok = int((lr.sign_change_bound(2.0, 100, delta) >= N).sum())
    assert wilson_interval(ok, draws, alpha=0.001)[1] >= 1 - delta
    worst = lr.worst_case_remainder(x, w0, c, 2.0)
    bound = lr.remainder_bound(2.0, 100, float(x.norm()), delta)
    ok = int((worst <= bound).sum())
    assert wilson_interval(ok, draws, alpha=0.001)[1] >= 1 - delta


def test_bounds_formulas_and_ordering():
    assert lr.theorem1_bound(2.0, 100, 1.0, math.exp(-4)) == pytest.approx(0.2 * 2 * (2 + 2))
    assert lr.remainder_bound(2.0, 100, 3.0, math.exp(-1)) == pytest.approx(
        0.6 * (math.sqrt(2 / math.pi) * 2 + 1)
    )
    assert lr.sign_change_bound(1.0, 4, math.exp(-9)) == pytest.approx(
        (math.sqrt(2 / math.pi) + 3) / 2
    )
    widths = np.array([10, 100, 1000])
    b = lr.theorem1_bound(1.5, widths, 2.0, 0.1)
    assert isinstance(b, np.ndarray)
    assert b.shape == (3,)
    alpha, xn = np.meshgrid(np.geomspace(0.01, 100, 30), np.geomspace(1e-3, 1e3, 30))
    for delta in (1e-6, 0.5, 0.999):
        assert np.all(
            lr.theorem1_bound(alpha, 50, xn, delta) >= lr.remainder_bound(alpha, 50, xn, delta)
        )
    assert lr.remainder_bound(1.0, 10, 0.0, 0.5) == 0.0


# ----------------------------------------------------------------------------- dtype / device
def test_dtype_and_device_kept(device):
    w0, c, x, u = _setup(dtype=torch.float32, device=device)
    for out in (
        lr.network_output(x, w0 + u, c),
        lr.linearization(x, w0 + u, w0, c),
        lr.remainder(x, w0 + u, w0, c),
        lr.worst_case_remainder(x, w0, c, 2.0),
        lr.near_zero_fraction(x, w0, 2.0),
        lr.adversarial_perturbation(x[0], w0, c, 2.0),
        lr.gradient_perturbation(x[0], w0, c, 2.0),
        *lr.remainder_parts(x, w0 + u, w0, c),
    ):
        assert out.dtype == torch.float32
        assert out.device.type == device.type
    assert u.dtype == torch.float32
    assert u.device.type == device.type


def test_batched_shapes():
    w0, c = lr.symmetric_xavier_init(3, 8, batch=(5,), seed=0)
    x = torch.randn(4, 3, dtype=torch.float64)
    u = lr.random_perturbation(w0, 1.0, seed=0)
    assert lr.remainder(x, w0 + u, w0, c).shape == (5, 4)
    assert lr.remainder(x[0], w0 + u, w0, c).shape == (5,)
    assert lr.sign_changes(x, w0 + u, w0).shape == (5, 4, 8)
    assert lr.adversarial_perturbation(x[0], w0, c, 1.0).shape == (5, 8, 3)
    res = lr.width_sweep([4, 10], d=2, alpha=1.0, draws=3, seed=0)
    assert set(res) >= {"random", "adversarial", "worst", "near_zero"}
    assert all(v.shape == (2, 3) for v in res.values())
    np.testing.assert_allclose(res["adversarial"], res["worst"], atol=1e-14)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_naming_the_argument():
    w0, c, x, u = _setup()
    with pytest.raises(ValueError, match=r"^alpha\b"):
        lr.worst_case_remainder(x, w0, c, 0.0)
    with pytest.raises(ValueError, match=r"^alpha\b"):
        lr.random_perturbation(w0, -1.0)
    with pytest.raises(ValueError, match=r"^alpha\b"):
        lr.theorem1_bound(-1.0, 10, 1.0, 0.1)
    for delta in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"^delta\b"):
            lr.remainder_bound(1.0, 10, 1.0, delta)
        with pytest.raises(ValueError, match=r"^delta\b"):
            lr.theorem1_bound(1.0, 10, 1.0, delta)
    with pytest.raises(ValueError, match=r"^x_norm\b"):
        lr.theorem1_bound(1.0, 10, -1.0, 0.1)
    with pytest.raises(ValueError, match=r"^n\b"):
        lr.sign_change_bound(1.0, 0, 0.1)
    with pytest.raises(ValueError, match=r"^x\b"):
        lr.remainder(torch.ones(3, 7), w0 + u, w0, c)
    with pytest.raises(ValueError, match=r"^x\b"):
        lr.network_output(torch.tensor([[float("inf")] * 4]), w0, c)
    with pytest.raises(ValueError, match=r"^w0\b"):
        lr.remainder(x, w0 + u, torch.tensor([float("nan")] * 4), c)
    with pytest.raises(ValueError, match=r"^w\b"):
        lr.linearization(x, torch.ones(3, 4, dtype=torch.float64), w0, c)
    with pytest.raises(ValueError, match=r"^c\b"):
        lr.network_output(x, w0, torch.ones(5))
    with pytest.raises(ValueError, match=r"^x\b"):
        lr.adversarial_perturbation(torch.zeros(4), w0, c, 1.0)
    with pytest.raises(ValueError, match=r"^x\b"):
        lr.adversarial_perturbation(x, w0, c, 1.0)  # one point only
    with pytest.raises(ValueError, match=r"^target\b"):
        lr.adversarial_perturbation(x[0], w0, c, 1.0, target="most")
    with pytest.raises(ValueError, match=r"^radius\b"):
        lr.random_perturbation(w0, 1.0, radius="cube")
    with pytest.raises(ValueError, match=r"^width\b"):
        lr.symmetric_xavier_init(3, 5)
    with pytest.raises(ValueError, match=r"^widths\b"):
        lr.width_sweep([5], d=2, alpha=1.0, draws=1)
    with pytest.raises(TypeError, match=r"^w\b"):
        lr.network_output(x, "weights", c)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_alpha_everywhere(alpha):
    w0, c, x, _ = _setup()
    for call in (
        lambda: lr.adversarial_perturbation(x[0], w0, c, alpha),
        lambda: lr.gradient_perturbation(x[0], w0, c, alpha),
        lambda: lr.near_zero_fraction(x, w0, alpha),
        lambda: lr.expected_sign_change_fraction(alpha, 10, 3),
        lambda: lr.expected_sign_change_fraction(alpha, 10, perturbation="adversarial"),
        lambda: lr.sign_change_bound(alpha, 10, 0.1),
    ):
        with pytest.raises(ValueError, match=r"^alpha\b"):
            call()


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.5, 2.0, float("nan")])
def test_bad_delta_sign_change_bound(delta):
    with pytest.raises(ValueError, match=r"^delta\b"):
        lr.sign_change_bound(1.0, 10, delta)


def test_width_sweep_bad_dtype():
    with pytest.raises(TypeError, match=r"^dtype\b"):
        lr.width_sweep([4], d=2, alpha=1.0, draws=1, dtype=torch.int64)


def test_gradient_move_half_of_worst_case_in_mean():
    # only active neurons with c_i < 0 can flip under the gradient move: of each pair near zero
    # only those with w_i(0).x >= 0 count, so the mean remainder is half the mean supremum
    # (the law of w_i(0).x is symmetric). 4000 draws of about 16 (sup) and 8 (gradient) flipped
    # slacks: the ratio of the means has standard error about 0.004.
    n, alpha = 400, 2.0
    w0, c = lr.symmetric_xavier_init(3, n, batch=(4000,), seed=3)
    x = torch.tensor([0.0, 0.0, 1.5], dtype=torch.float64)
    grad = lr.remainder(x, w0 + lr.gradient_perturbation(x, w0, c, alpha), w0, c)
    sup = lr.worst_case_remainder(x, w0, c, alpha)
    # the gradient move only bends the network down
    assert bool((grad <= 1e-15).all())
    assert abs(float(grad.abs().mean() / sup.mean()) - 0.5) < 0.03
    # every active neuron moved by exactly alpha / sqrt(n), inactive ones not at all
    v = lr.gradient_perturbation(x, w0[0], c[0], alpha)
    active = w0[0] @ x >= 0
    norms = v.norm(dim=1)
    torch.testing.assert_close(norms[active], torch.full_like(norms[active], alpha / n**0.5))
    assert bool((norms[~active] == 0).all())


def test_near_zero_fraction_at_zero_input_is_one():
    w0, _, _, _ = _setup()
    assert float(lr.near_zero_fraction(torch.zeros(w0.shape[-1], dtype=w0.dtype), w0, 1.0)) == 1


def test_random_perturbation_same_numbers_on_every_device(device):
    w0, _ = lr.symmetric_xavier_init(3, 8, seed=0)
    ref = lr.random_perturbation(w0, 1.0, radius="ball", seed=5)
    out = lr.random_perturbation(w0.to(device), 1.0, radius="ball", seed=5)
    assert out.device.type == device.type
    assert torch.allclose(out.cpu(), ref, rtol=1e-12, atol=1e-14)


def test_width_sweep_same_numbers_on_every_device(device):
    ref = lr.width_sweep([4, 10], d=2, alpha=1.0, draws=3, seed=0)
    out = lr.width_sweep([4, 10], d=2, alpha=1.0, draws=3, seed=0, device=device)
    for key, value in ref.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-10, atol=1e-14)

"""Tests of ntklab.predict against references outside the code under test.

References: scipy's ODE solver and matrix exponential, iterated gradient descent of a linear
(random-feature) model, numpy's explicit inverses in the textbook GP formulas, Monte Carlo.
"""

from __future__ import annotations

import copy
from collections import namedtuple

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import torch

from ntklab.analytic import kappa0, kappa1
from ntklab.dynamics import from_course_step
from ntklab.predict import (
    Gaussian,
    gp_inference,
    gradient_descent_mse,
    gradient_descent_mse_ensemble,
    log_marginal_likelihood,
    train_ensemble,
)

Kernel = namedtuple("Kernel", "nngp ntk")


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def relu_kernel_fn(x1, x2=None):
    """Two-layer ReLU kernels of unit inputs (arc-cosine forms; a test helper)."""
    x2 = x1 if x2 is None else x2
    u = (x1 @ x2.T).clamp(-1, 1)
    nngp = kappa1(u) / 2 + 0.1
    ntk = nngp + u * kappa0(u) / 2
    return Kernel(nngp, ntk)


def _features(seed, m=8, n_test=5, P=40):
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(m + n_test, P, generator=g, dtype=torch.float64)
    return phi[:m], phi[m:]


# ----------------------------------------------------------------------------------------------
# gradient_descent_mse


@pytest.mark.parametrize("k_out", [None, 2])
def test_closed_form_matches_scipy_ode(k_out):
    phi_tr, phi_te = _features(0)
    K, K_te = phi_tr @ phi_tr.T / 40, phi_te @ phi_tr.T / 40
    g = torch.Generator().manual_seed(1)
    shape = (8,) if k_out is None else (8, k_out)
    y = torch.randn(shape, generator=g, dtype=torch.float64)
    f0 = torch.randn(shape, generator=g, dtype=torch.float64)
    g0 = torch.randn((5, *shape[1:]), generator=g, dtype=torch.float64)
    lr, N = 0.7, y.numel()
    predict = gradient_descent_mse(K, y, learning_rate=lr)
    times = np.array([0.0, 0.5, 3.0, 20.0, 150.0])

    def rhs(_, z):
        f = z[: f0.numel()].reshape(shape)
        r = f - y.numpy()
        return np.concatenate(
            [-(lr / N) * (K.numpy() @ r).ravel(), -(lr / N) * (K_te.numpy() @ r).ravel()]
        )

    z0 = np.concatenate([f0.numpy().ravel(), g0.numpy().ravel()])
    sol = scipy.integrate.solve_ivp(rhs, (0, times[-1]), z0, t_eval=times, rtol=1e-11, atol=1e-12)
    f_t, g_t = predict(times, f0, g0, K_te)
    assert f_t.shape == (len(times), *shape)
    assert g_t.shape == (len(times), 5, *shape[1:])
    ref_f = sol.y[: f0.numel()].T.reshape(f_t.shape)
    ref_g = sol.y[f0.numel() :].T.reshape(g_t.shape)
    np.testing.assert_allclose(f_t.numpy(), ref_f, atol=1e-8)
    np.testing.assert_allclose(g_t.numpy(), ref_g, atol=1e-8)


def test_closed_form_matches_iterated_linearized_gradient_descent():
    """Linear model f = phi.w, GD on ||f - y||^2 / (2 m): the flow is the small-step limit."""
    phi_tr, phi_te = _features(2)
    g = torch.Generator().manual_seed(3)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    w0 = torch.randn(40, generator=g, dtype=torch.float64)
    K, K_te = phi_tr @ phi_tr.T, phi_te @ phi_tr.T
    lam_max = float(torch.linalg.eigvalsh(K)[-1])
    errors = []
    for eta in (0.02 * 8 / lam_max, 0.01 * 8 / lam_max):
        steps = round(2.0 / eta)  # tau = eta * steps = 2
        w = w0.clone()
        for _ in range(steps):
            w = w - eta / 8 * phi_tr.T @ (phi_tr @ w - y)
        predict = gradient_descent_mse(K, y, learning_rate=eta)
        f_t, g_t = predict(steps, phi_tr @ w0, phi_te @ w0, K_te)
        err = max(float((f_t - phi_tr @ w).abs().max()), float((g_t - phi_te @ w).abs().max()))
        errors.append(err)
    assert errors[0] < 0.05
    # gradient descent is a first-order scheme: halving the step halves the gap to the flow
    assert 1.7 < errors[0] / errors[1] < 2.3


def test_t_none_equals_very_large_t_and_kernel_regression():
    x, xt = _unit(12, 3, 4), _unit(6, 3, 5)
    K, K_te = relu_kernel_fn(x).ntk, relu_kernel_fn(xt, x).ntk
    y = torch.randn(12, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    predict = gradient_descent_mse(K, y)
    f_inf, g_inf = predict(None, 0.0, None, K_te)
    f_big, g_big = predict(1e9, 0.0, None, K_te)
    torch.testing.assert_close(f_inf, y)
    torch.testing.assert_close(f_big, y, atol=1e-8, rtol=0)
    torch.testing.assert_close(g_big, g_inf, atol=1e-8, rtol=0)
    ref = K_te.numpy() @ np.linalg.solve(K.numpy(), y.numpy())
    np.testing.assert_allclose(g_inf.numpy(), ref, atol=1e-10)


def test_learning_rate_and_diag_reg_conventions():
    x, xt = _unit(10, 3, 7), _unit(4, 3, 8)
    K, K_te = relu_kernel_fn(x).ntk, relu_kernel_fn(xt, x).ntk
    y = torch.randn(10, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    a = gradient_descent_mse(K, y, learning_rate=0.25)(40.0, 0.0, None, K_te)[1]
    b = gradient_descent_mse(K, y, learning_rate=1.0)(10.0, 0.0, None, K_te)[1]
    torch.testing.assert_close(a, b)
    r = 0.3
    g_inf = gradient_descent_mse(K, y, diag_reg=r)(None, 0.0, None, K_te)[1]
    Kr = K.numpy() + r * np.trace(K.numpy()) / 10 * np.eye(10)
    np.testing.assert_allclose(
        g_inf.numpy(), K_te.numpy() @ np.linalg.inv(Kr) @ y.numpy(), atol=1e-10
    )


def test_from_course_step_matches_course_gradient_descent():
    """Course loss sum_i (f_i - y_i)^2 with step h: t_course = h k corresponds to tau = 2 m h k."""
    phi_tr, _ = _features(10)
    g = torch.Generator().manual_seed(11)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    K = phi_tr @ phi_tr.T
    h = 1e-4 / float(torch.linalg.eigvalsh(K)[-1])
    w = torch.zeros(40, dtype=torch.float64)
    k = 3000
    for _ in range(k):
        w = w - h * 2 * phi_tr.T @ (phi_tr @ w - y)
    f = gradient_descent_mse(K, y)(from_course_step(h * k, 8, "half_mean"))
    torch.testing.assert_close(f, phi_tr @ w, atol=1e-4, rtol=0)


def test_dtype_and_device_kept(device):
    x, xt = _unit(10, 3, 12), _unit(4, 3, 13)
    K = relu_kernel_fn(x).ntk.to(device=device, dtype=torch.float32)
    K_te = relu_kernel_fn(xt, x).ntk.to(device=device, dtype=torch.float32)
    y = torch.linspace(-1, 1, 10, device=device, dtype=torch.float32)
    f, g = gradient_descent_mse(K, y)(5.0, 0.0, None, K_te)
    assert f.dtype == g.dtype == torch.float32
    assert f.device.type == g.device.type == device.type
    _f64, g64 = gradient_descent_mse(K.double(), y.double())(5.0, 0.0, None, K_te.double())
    torch.testing.assert_close(g.double(), g64, atol=1e-4, rtol=0)


def test_one_eigendecomposition_for_all_times(monkeypatch):
    calls = []
    original = torch.linalg.eigh

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", counting)
    x, xt = _unit(20, 3, 14), _unit(7, 3, 15)
    y = torch.randn(20, generator=torch.Generator().manual_seed(16), dtype=torch.float64)
    predict = gradient_descent_mse(relu_kernel_fn(x).ntk, y)
    for t in np.linspace(0, 50, 11):
        predict(float(t), 0.0, None, relu_kernel_fn(xt, x).ntk)
    assert len(calls) == 1
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    for t in (0.5, 2.0, [1.0, 3.0, 9.0]):
        for get in ("ntk", "nngp"):
            ens(t, xt, get, compute_cov=True)
    assert len(calls) == 3  # one more per kernel (ntk, nngp)


# ----------------------------------------------------------------------------------------------
# ensembles and GP posteriors


def _setup(seed=20, m=10, n_test=6, k_out=None):
    x, xt = _unit(m, 3, seed), _unit(n_test, 3, seed + 1)
    shape = (m,) if k_out is None else (m, k_out)
    y = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    return x, xt, y


def test_ensemble_mean_equals_linearized_dynamics_from_zero():
    x, xt, y = _setup()
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y, learning_rate=0.5)
    single = gradient_descent_mse(relu_kernel_fn(x).ntk, y, learning_rate=0.5)
    times = [0.0, 1.0, 7.0, 30.0]
    torch.testing.assert_close(
        ens(times, xt), single(times, 0.0, None, relu_kernel_fn(xt, x).ntk)[1]
    )
    torch.testing.assert_close(ens(None, xt), single(None, 0.0, None, relu_kernel_fn(xt, x).ntk)[1])


def test_nngp_mode_is_the_textbook_gp_posterior():
    x, xt, y = _setup(30)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    out = ens(None, xt, "nngp", compute_cov=True)
    K = relu_kernel_fn(x).nngp.numpy()
    K_te = relu_kernel_fn(xt, x).nngp.numpy()
    K_tt = relu_kernel_fn(xt).nngp.numpy()
    Kinv = np.linalg.inv(K)
    np.testing.assert_allclose(out.mean.numpy(), K_te @ Kinv @ y.numpy(), atol=1e-9)
    np.testing.assert_allclose(out.covariance.numpy(), K_tt - K_te @ Kinv @ K_te.T, atol=1e-9)
    gp = gp_inference(K, y)(K_te, K_tt)
    np.testing.assert_allclose(gp.mean.numpy(), out.mean.numpy(), atol=1e-10)
    np.testing.assert_allclose(gp.covariance.numpy(), out.covariance.numpy(), atol=1e-10)
    # finite t: readout-only training; the covariance is K_tt - K_te K^-1 (I - e^{-2Kt/m}) K_et
    t = 3.0
    fin = ens(t, xt, "nngp", compute_cov=True)
    E2 = scipy.linalg.expm(-2 * t * K / 10)
    np.testing.assert_allclose(
        fin.covariance.numpy(), K_tt - K_te @ Kinv @ (np.eye(10) - E2) @ K_te.T, atol=1e-9
    )


def test_ntk_mode_reduces_to_gp_posterior_when_ntk_equals_nngp():
    def same(x1, x2=None):
        k = relu_kernel_fn(x1, x2).nngp
        return Kernel(k, k)

    x, xt, y = _setup(40)
    a = gradient_descent_mse_ensemble(same, x, y)(None, xt, "ntk", compute_cov=True)
    b = gradient_descent_mse_ensemble(same, x, y)(None, xt, "nngp", compute_cov=True)
    torch.testing.assert_close(a.mean, b.mean)
    torch.testing.assert_close(a.covariance, b.covariance, atol=1e-9, rtol=0)


@pytest.mark.parametrize("t", [0.0, 0.7, 5.0, None])
def test_ntk_mode_covariance_is_the_pushforward_of_the_prior(t):
    """Push N(0, K) through f_0(test) - Theta_te Theta^-1 (I - e^{-Theta t/m}) (f_0(train) - y)."""
    x, xt, y = _setup(50)
    m = 10
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    out = ens(t, xt, "ntk", compute_cov=True)
    T = relu_kernel_fn(x).ntk.numpy()
    T_te = relu_kernel_fn(xt, x).ntk.numpy()
    joint = relu_kernel_fn(torch.cat([xt, x])).nngp.numpy()
    D = np.eye(m) if t is None else np.eye(m) - scipy.linalg.expm(-t * T / m)
    A = np.hstack([np.eye(6), -T_te @ np.linalg.inv(T) @ D])
    np.testing.assert_allclose(out.covariance.numpy(), A @ joint @ A.T, atol=1e-9)
    np.testing.assert_allclose(out.mean.numpy(), T_te @ np.linalg.inv(T) @ D @ y.numpy(), atol=1e-9)


@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_covariance_symmetric_psd_and_t_none_limit(get):
    x, xt, y = _setup(60, k_out=2)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y, diag_reg=1e-3)
    out = ens([0.0, 1.0, 10.0, 1e3], xt, get, compute_cov=True)
    assert out.mean.shape == (4, 6, 2)
    assert out.covariance.shape == (4, 6, 6)
    torch.testing.assert_close(out.covariance, out.covariance.transpose(1, 2), atol=0, rtol=0)
    assert float(torch.linalg.eigvalsh(out.covariance).min()) > -1e-10
    # t = 0 is the prior
    torch.testing.assert_close(out.covariance[0], relu_kernel_fn(xt).nngp)
    assert float(out.mean[0].abs().max()) == 0.0
    inf = ens(None, xt, get, compute_cov=True)
    big = ens(1e9, xt, get, compute_cov=True)
    torch.testing.assert_close(big.mean, inf.mean, atol=1e-8, rtol=0)
    torch.testing.assert_close(big.covariance, inf.covariance, atol=1e-8, rtol=0)


def test_training_inputs_default_and_variance_vanishes_there():
    x, _xt, y = _setup(70)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    out = ens(None, None, "ntk", compute_cov=True)
    torch.testing.assert_close(out.mean, y)
    assert float(out.covariance.abs().max()) < 1e-9


def test_gaussian_sampling_and_quantiles():
    x = _unit(5, 3, 80)
    C = relu_kernel_fn(x).nngp
    mean = torch.linspace(-1, 1, 5, dtype=torch.float64)
    S = 20000
    draws = Gaussian(mean, C).sample(S, seed=0)
    assert draws.shape == (S, 5)
    # sample mean: standard error sqrt(C_ii / S) <= 0.006; allow 5 standard errors
    assert float((draws.mean(0) - mean).abs().max()) < 5 * float(C.diagonal().max().sqrt()) / S**0.5
    emp = torch.cov(draws.T)
    # entries of the sample covariance have sd about sqrt(2/S) * C_ii <= 0.01 * max C
    assert float((emp - C).abs().max()) < 0.05 * float(C.max())
    q = Gaussian(mean, C).quantile(0.9)
    frac = (draws < q).double().mean(0)
    assert float((frac - 0.9).abs().max()) < 0.01
    # a singular covariance (posterior at training points) is sampled without failure
    post = gp_inference(C, mean)(C, C)
    s = post.sample(3, seed=1)
    torch.testing.assert_close(s, mean.expand(3, 5), atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------------------------
# bad input


def test_bad_input_gradient_descent_mse():
    K = torch.eye(3, dtype=torch.float64)

    def ones(*shape):
        return torch.ones(*shape, dtype=torch.float64)

    with pytest.raises(TypeError, match=r"^y_train has dtype torch\.float32 but k_train_train"):
        gradient_descent_mse(K, torch.ones(3))
    with pytest.raises(ValueError, match=r"^y_train\b"):
        gradient_descent_mse(K, ones(4))
    with pytest.raises(ValueError, match=r"^y_train\b"):
        gradient_descent_mse(K, torch.tensor([1.0, float("nan"), 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^k_train_train\b"):
        gradient_descent_mse(ones(3, 2), ones(3))
    with pytest.raises(ValueError, match=r"^learning_rate\b"):
        gradient_descent_mse(K, ones(3), learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"^diag_reg\b"):
        gradient_descent_mse(K, ones(3), diag_reg=-0.1)
    predict = gradient_descent_mse(K, ones(3))
    with pytest.raises(ValueError, match="t must be >= 0"):
        predict(-1.0)
    with pytest.raises(ValueError, match="t must be finite"):
        predict(float("inf"))
    with pytest.raises(ValueError, match=r"^k_test_train\b"):
        predict(1.0, 0.0, None, ones(2, 4))
    with pytest.raises(ValueError, match=r"^fx_test_0\b"):
        predict(1.0, 0.0, ones(2), None)
    with pytest.raises(ValueError, match=r"^fx_train_0\b"):
        predict(1.0, ones(5))
    with pytest.raises(TypeError, match="t must be"):
        predict(True)


def test_bad_input_ensemble():
    x, xt, y = _setup(90)
    with pytest.raises(ValueError, match="same length"):
        gradient_descent_mse_ensemble(relu_kernel_fn, x, y[:-1])
    with pytest.raises(ValueError, match=r"^y_train\b"):
        gradient_descent_mse_ensemble(
            relu_kernel_fn, x, torch.full((10,), float("inf"), dtype=torch.float64)
        )
    with pytest.raises(ValueError, match=r"^learning_rate\b"):
        gradient_descent_mse_ensemble(relu_kernel_fn, x, y, learning_rate=0.0)
    with pytest.raises(TypeError, match=r"^kernel_fn\b"):
        gradient_descent_mse_ensemble("relu", x, y)
    with pytest.raises(ValueError, match=r"kernel_fn returned \.nngp of shape"):
        gradient_descent_mse_ensemble(
            lambda a, b=None: Kernel(torch.ones(3, 3), torch.ones(3, 3)), x, y
        )
    with pytest.raises(TypeError, match=r"\.nngp and \.ntk"):
        gradient_descent_mse_ensemble(lambda a, b=None: torch.ones(10, 10), x, y)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    with pytest.raises(ValueError, match=r"^get\b"):
        ens(1.0, xt, "rbf")
    with pytest.raises(ValueError, match="t must be >= 0"):
        ens(-0.5, xt)
    with pytest.raises(ValueError, match=r"^x_test\b"):
        ens(1.0, torch.ones(4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^compute_cov\b"):
        ens(1.0, xt, "ntk", "yes")
    with pytest.raises(ValueError, match=r"^num_samples\b"):
        ens(1.0, xt, "ntk", True).sample(0)
    with pytest.raises(ValueError, match="q must"):
        ens(1.0, xt, "ntk", True).quantile(1.5)
    with pytest.raises(ValueError, match=r"^step_size\b"):
        from_course_step(-1.0, 3)


# ----------------------------------------------------------------------------------------------
# train_ensemble


@pytest.mark.parametrize("loss", ["sum", "half_sum", "mean", "half_mean"])
def test_train_ensemble_matches_one_model_at_a_time(loss):
    from ntklab.networks import ShallowLeCun

    x = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    y = torch.sin(3 * x[:, 0])
    models = [ShallowLeCun(1, 16, activation="tanh", seed=s) for s in range(3)]
    copies = [ShallowLeCun(1, 16, activation="tanh", seed=s) for s in range(3)]
    out = train_ensemble(models, x, y, steps=25, step_size=0.05, loss=loss)
    scale = {"sum": 1.0, "half_sum": 0.5, "mean": 1 / 5, "half_mean": 1 / (2 * 5)}[loss]
    for model, ref in zip(models, copies, strict=True):
        for _ in range(25):
            value = scale * ((ref(x) - y) ** 2).sum()
            grads = torch.autograd.grad(value, list(ref.parameters()))
            with torch.no_grad():
                for p, g in zip(ref.parameters(), grads, strict=True):
                    p -= 0.05 * g
        for p, q in zip(model.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q)
    torch.testing.assert_close(out, torch.stack([m(x).detach() for m in copies]))


def test_train_ensemble_bad_input():
    from ntklab.networks import ShallowLeCun

    x = torch.zeros(4, 2, dtype=torch.float64)
    nets = [ShallowLeCun(2, 4, seed=0)]
    with pytest.raises(TypeError, match=r"^models\b"):
        train_ensemble(["net"], x, torch.zeros(4, dtype=torch.float64), steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="same length"):
        train_ensemble(nets, x, torch.zeros(3, dtype=torch.float64), steps=1, step_size=0.1)
    with pytest.raises(ValueError, match=r"^step_size\b"):
        train_ensemble(nets, x, torch.zeros(4, dtype=torch.float64), steps=1, step_size=-1.0)
    with pytest.raises(ValueError, match=r"^steps\b"):
        train_ensemble(nets, x, torch.zeros(4, dtype=torch.float64), steps=-1, step_size=0.1)
    with pytest.raises(ValueError, match=r"^loss\b"):
        train_ensemble(
            nets, x, torch.zeros(4, dtype=torch.float64), steps=1, step_size=0.1, loss="mse"
        )
    with pytest.raises(ValueError, match="same parameter"):
        train_ensemble(
            [nets[0], ShallowLeCun(2, 5, seed=1)],
            x,
            torch.zeros(4, dtype=torch.float64),
            steps=1,
            step_size=0.1,
        )


# ----------------------------------------------------------------------------------------------
# no stale caches, dtype policy


def test_ensemble_sees_x_test_changed_in_place():
    """Regression: test kernels were cached by the identity of x_test (stale predictions)."""
    x, xt, y = _setup(100)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)
    other = _unit(6, 3, 202)
    for t in (None, 3.0):
        xt_mut = xt.clone()
        ens(t, xt_mut, "ntk", compute_cov=True)
        xt_mut.copy_(other)  # same object, new content
        got = ens(t, xt_mut, "ntk", compute_cov=True)
        ref = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)(t, other, "ntk", compute_cov=True)
        torch.testing.assert_close(got.mean, ref.mean)
        torch.testing.assert_close(got.covariance, ref.covariance)


def test_ensemble_refuses_mixed_dtypes():
    x, xt, y = _setup(110)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, x.float(), y.float())
    with pytest.raises(TypeError, match=r"x_test.*float64.*x_train.*float32"):
        ens(1.0, xt)
    assert ens(1.0, xt.float()).dtype == torch.float32


# ----------------------------------------------------------------------------------------------
# log marginal likelihood


def _psd(n, seed, jitter=0.1):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A @ A.T / n + jitter * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("k_out", [None, 3])
@pytest.mark.parametrize("diag_reg", [0.0, 0.2])
def test_log_marginal_likelihood_matches_scipy(k_out, diag_reg):
    import scipy.stats

    K = _psd(7, 1)
    shape = (7,) if k_out is None else (7, k_out)
    y = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    C = K.numpy() + diag_reg * np.trace(K.numpy()) / 7 * np.eye(7)
    cols = y.numpy().reshape(7, -1).T
    ref = sum(scipy.stats.multivariate_normal(np.zeros(7), C).logpdf(c) for c in cols)
    got = log_marginal_likelihood(K, y, diag_reg=diag_reg)
    assert float(got) == pytest.approx(ref, rel=1e-12)


def test_log_marginal_likelihood_full_kernel_is_the_joint_density():
    import scipy.stats

    K, B = _psd(5, 3), _psd(2, 4)
    K4 = K[:, :, None, None] * B[None, None]  # K (x) B over outputs
    y = torch.randn(5, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ref = scipy.stats.multivariate_normal(np.zeros(10), np.kron(K, B)).logpdf(y.numpy().ravel())
    assert float(log_marginal_likelihood(K4, y)) == pytest.approx(ref, rel=1e-12)


def test_log_marginal_likelihood_gradcheck_and_errors():
    y = torch.randn(6, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    A = torch.randn(6, 6, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    A.requires_grad_(True)

    def f(A):
        return log_marginal_likelihood(A @ A.T + 0.5 * torch.eye(6, dtype=A.dtype), y, diag_reg=0.1)

    assert torch.autograd.gradcheck(f, (A,))
    with pytest.raises(ValueError, match="not positive definite"):
        log_marginal_likelihood(-torch.eye(3, dtype=torch.float64), torch.ones(3).double())
    with pytest.raises(TypeError, match=r"^y_train has dtype"):
        log_marginal_likelihood(torch.eye(3, dtype=torch.float64), torch.ones(3))


# ----------------------------------------------------------------------------------------------
# several outputs: (N1, N2) kernels shared by outputs, full (N1, N2, O, O) kernels


def test_shared_kernel_with_several_outputs_equals_per_output_solves():
    phi_tr, phi_te = _features(40)
    K, K_te = phi_tr @ phi_tr.T / 40, phi_te @ phi_tr.T / 40
    y = torch.randn(8, 3, generator=torch.Generator().manual_seed(41), dtype=torch.float64)
    times = [0.0, 2.0, 50.0]
    f, g = gradient_descent_mse(K, y, learning_rate=1.5)(times, 0.0, None, K_te)
    assert f.shape == (3, 8, 3)
    assert g.shape == (3, 5, 3)
    for a in range(3):
        # N = 8 * 3 entries in the joint loss, 8 in one column's: learning rate / 3 per column
        fa, ga = gradient_descent_mse(K, y[:, a], learning_rate=0.5)(times, 0.0, None, K_te)
        torch.testing.assert_close(f[..., a], fa)
        torch.testing.assert_close(g[..., a], ga)


def test_full_kernel_against_explicit_kronecker_system():
    phi_tr, phi_te = _features(50)
    K, K_te = phi_tr @ phi_tr.T / 40, phi_te @ phi_tr.T / 40
    B = _psd(2, 51)
    K4, K4_te = K[:, :, None, None] * B, K_te[:, :, None, None] * B
    y = torch.randn(8, 2, generator=torch.Generator().manual_seed(52), dtype=torch.float64)
    f0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(53), dtype=torch.float64)
    Kf, Kf_te = np.kron(K.numpy(), B.numpy()), np.kron(K_te.numpy(), B.numpy())
    r0 = (f0 - y).numpy().ravel()
    tau, N = 7.0, 16
    f_ref = y.numpy().ravel() + scipy.linalg.expm(-Kf * tau / N) @ r0
    A = np.linalg.solve(Kf, np.eye(16) - scipy.linalg.expm(-Kf * tau / N))
    g_ref = -Kf_te @ A @ r0
    f, g = gradient_descent_mse(K4, y)(tau, f0, None, K4_te)
    np.testing.assert_allclose(f.numpy().ravel(), f_ref, atol=1e-10)
    np.testing.assert_allclose(g.numpy().ravel(), g_ref, atol=1e-10)
    # GP posterior with the full kernel: textbook formulas on the flat system
    K4_tt = (phi_te @ phi_te.T / 40)[:, :, None, None] * B
    post = gp_inference(K4, y)(K4_te, K4_tt)
    Kf_tt = np.kron((phi_te @ phi_te.T / 40).numpy(), B.numpy())
    mean_ref = Kf_te @ np.linalg.inv(Kf) @ y.numpy().ravel()
    cov_ref = Kf_tt - Kf_te @ np.linalg.inv(Kf) @ Kf_te.T
    assert post.mean.shape == (5, 2)
    assert post.covariance.shape == (5, 5, 2, 2)
    np.testing.assert_allclose(post.mean.numpy().ravel(), mean_ref, atol=1e-8)
    cov = post.covariance.permute(0, 2, 1, 3).reshape(10, 10).numpy()
    np.testing.assert_allclose(cov, cov_ref, atol=1e-8)
    np.testing.assert_allclose(
        post.std().numpy().ravel(), np.sqrt(np.diag(cov_ref).clip(0)), atol=1e-6
    )
    assert post.sample(3, seed=0).shape == (3, 5, 2)
    with pytest.raises(ValueError, match=r"^y_train must have shape \(m, 2\)"):
        gradient_descent_mse(K4, y[:, 0])
    with pytest.raises(ValueError, match=r"^k_test_train must be \(N1, N2, O, O\)"):
        gradient_descent_mse(K4, y)(1.0, 0.0, None, K4_te[..., :1])


def test_ensemble_with_full_identity_kernel_equals_shared_kernel():
    x, xt, y = _setup(60, k_out=2)
    eye = torch.eye(2, dtype=torch.float64)

    def full_fn(x1, x2=None):
        k = relu_kernel_fn(x1, x2)
        return Kernel(k.nngp[:, :, None, None] * eye, k.ntk[:, :, None, None] * eye)

    for t in (None, 4.0):
        for get in ("ntk", "nngp"):
            a = gradient_descent_mse_ensemble(relu_kernel_fn, x, y)(t, xt, get, compute_cov=True)
            b = gradient_descent_mse_ensemble(full_fn, x, y)(t, xt, get, compute_cov=True)
            torch.testing.assert_close(b.mean, a.mean)
            assert b.covariance.shape == (6, 6, 2, 2)
            torch.testing.assert_close(b.covariance[:, :, 0, 0], a.covariance)
            torch.testing.assert_close(b.covariance[:, :, 0, 1], torch.zeros_like(a.covariance))


def test_train_ensemble_several_outputs_matches_manual_loop():
    torch.manual_seed(3)
    nets = [
        torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
        for _ in range(2)
    ]
    refs = [copy.deepcopy(n) for n in nets]
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y = torch.randn(5, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out = train_ensemble(nets, x, y, steps=10, step_size=0.3, loss="half_mean")
    assert out.shape == (2, 5, 3)
    for ref in refs:
        for _ in range(10):
            value = ((ref(x) - y) ** 2).sum() / (2 * 15)
            grads = torch.autograd.grad(value, list(ref.parameters()))
            with torch.no_grad():
                for p, g in zip(ref.parameters(), grads, strict=True):
                    p -= 0.3 * g
    torch.testing.assert_close(out, torch.stack([r(x).detach() for r in refs]))


def test_predictors_snapshot_their_training_data():
    """Changing the caller's train tensors in place after construction changes nothing."""
    x, xt, y = _setup(120)
    K = relu_kernel_fn(x).ntk
    K_te = relu_kernel_fn(xt, x).ntk
    ref_f = gradient_descent_mse(K.clone(), y.clone())(2.0, 0.0, None, K_te)[1]
    ref_gp = gp_inference(K.clone(), y.clone())(K_te).mean
    ref_ens = gradient_descent_mse_ensemble(relu_kernel_fn, x.clone(), y.clone())(2.0, xt)
    Km, ym, xm = K.clone(), y.clone(), x.clone()
    f_fn, gp_fn = gradient_descent_mse(Km, ym), gp_inference(Km, ym)
    ens = gradient_descent_mse_ensemble(relu_kernel_fn, xm, ym)
    Km.mul_(3.0)
    ym.add_(1.0)
    xm.copy_(_unit(10, 3, 999))
    torch.testing.assert_close(f_fn(2.0, 0.0, None, K_te)[1], ref_f)
    torch.testing.assert_close(gp_fn(K_te).mean, ref_gp)
    torch.testing.assert_close(ens(2.0, xt), ref_ens)

import math

import pytest
import torch

from ntklab import dynamics as D
from ntklab.empirical import ntk
from ntklab.networks import DuNetwork


def _net(d=3, n=64, seed=0, act=torch.nn.Tanh, device="cpu"):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, n), act(), torch.nn.Linear(n, 1)).to(
        dtype=torch.float64, device=device
    )


def _data(m=6, d=3, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=g, dtype=torch.float64)
    return X.to(device), torch.randn(m, generator=g, dtype=torch.float64).to(device)


def _jacobian_reference(net, X):
    """Independent Jacobian: one autograd backward per example."""
    rows = []
    for x in X:
        net.zero_grad()
        out = net(x.unsqueeze(0)).sum()
        gs = torch.autograd.grad(out, [p for p in net.parameters()])
        rows.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(rows)


def _safe_step(net, X, frac=0.5):
    lam = torch.linalg.eigvalsh(ntk(net, X))
    return frac / (lam[0] + lam[-1]).item()


def test_recorded_kernels_match_autograd_jacobians(device):
    net, (X, y) = _net(device=device), _data(device=device)
    hist = D.gradient_descent(net, X, y, _safe_step(net, X), 1, kernel_steps=[0, 1])
    J = _jacobian_reference(net, X)
    assert hist.kernels[0].dtype == torch.float64
    assert hist.kernels[0].device.type == device.type
    torch.testing.assert_close(hist.kernels[0], J @ J.T, rtol=1e-10, atol=1e-10)
    J1 = _jacobian_reference(hist.model, X)
    torch.testing.assert_close(hist.kernels[1], J1 @ J1.T, rtol=1e-10, atol=1e-10)


def test_gradient_descent_matches_manual_loop(device):
    net, (X, y) = _net(device=device), _data(device=device)
    h = _safe_step(net, X)
    hist = D.gradient_descent(net, X, y, h, 20)
    ref = _net(device=device)  # same seed, same init
    for _ in range(20):
        loss = ((ref(X)[:, 0] - y) ** 2).sum()
        gs = torch.autograd.grad(loss, list(ref.parameters()))
        with torch.no_grad():
            for p, g in zip(ref.parameters(), gs, strict=False):
                p -= h * g
    torch.testing.assert_close(hist.outputs[-1], ref(X)[:, 0].detach(), rtol=1e-12, atol=1e-12)
    w_ref = torch.cat([p.detach().reshape(-1) for p in ref.parameters()])
    assert math.isclose(hist.distance[-1].item(), (w_ref - hist.w0).norm().item(), rel_tol=1e-10)
    # the caller's model is untouched
    torch.testing.assert_close(D.flat_parameters(net), hist.w0)


@pytest.mark.parametrize(
    ("loss", "factor"), [("half_sum", 2.0), ("mean", 6.0), ("half_mean", 12.0)]
)
def test_loss_normalizations_rescale_the_step(loss, factor):
    net, (X, y) = _net(), _data()
    h = _safe_step(net, X)
    a = D.gradient_descent(net, X, y, h, 10)
    b = D.gradient_descent(net, X, y, factor * h, 10, loss=loss)
    assert b.step_size == pytest.approx(h)
    torch.testing.assert_close(a.outputs, b.outputs, rtol=1e-12, atol=1e-12)


def test_linearized_iteration_equals_parameter_space_gd_and_closed_form():
    net, (X, y) = _net(), _data()
    Xt = _data(m=4, seed=5)[0]
    h, K = _safe_step(net, X), 30
    traj = D.linearized_gradient_descent(net, X, y, h, K, x_test=Xt)
    # reference: GD on p for f_lin(x; p) = f(x; w0) + J(x) (p - w0), explicit Jacobians
    J, Jt = _jacobian_reference(net, X), _jacobian_reference(net, Xt)
    with torch.no_grad():
        u0, f0t = net(X)[:, 0], net(Xt)[:, 0]
    dp = torch.zeros(J.shape[1], dtype=torch.float64)
    for k in range(K + 1):
        torch.testing.assert_close(traj.outputs[k], u0 + J @ dp, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(traj.test_outputs[k], f0t + Jt @ dp, rtol=1e-10, atol=1e-10)
        assert traj.distance[k].item() == pytest.approx(dp.norm().item(), rel=1e-8, abs=1e-12)
        dp = dp - h * 2 * J.T @ (u0 + J @ dp - y)
    closed = D.LinearDynamics.from_model(net, X, y, x_test=Xt).gradient_descent(h, range(K + 1))
    torch.testing.assert_close(closed.outputs, traj.outputs, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(closed.test_outputs, traj.test_outputs, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(closed.distance, traj.distance, rtol=1e-9, atol=1e-11)


def test_remark_11_24_corrected_sum_and_gradient_flow():
    g = torch.Generator().manual_seed(3)
    A0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    theta = A0 @ A0.T  # singular (rank 3): exercises the zero-eigenvalue limits
    u0, y = (
        torch.randn(5, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    )
    h, k = 0.3 / torch.linalg.eigvalsh(theta)[-1].item(), 7
    A = 2 * h * theta
    B = torch.eye(5, dtype=torch.float64) - A
    literal = torch.linalg.matrix_power(B, k) @ u0 + sum(
        torch.linalg.matrix_power(B, j) @ A @ y for j in range(k)
    )
    dyn = D.LinearDynamics(theta, u0, y)
    torch.testing.assert_close(
        dyn.gradient_descent(h, k).outputs[0], literal, rtol=1e-12, atol=1e-12
    )
    t = 0.8
    flow = torch.linalg.matrix_exp(-2 * t * theta) @ (u0 - y) + y
    torch.testing.assert_close(dyn.gradient_flow(t).outputs[0], flow, rtol=1e-10, atol=1e-10)
    # alpha(t) solves d alpha/dt = -2 (u - y): check by a finite difference
    e = 1e-6
    da = (dyn.gradient_flow(t + e).alpha[0] - dyn.gradient_flow(t - e).alpha[0]) / (2 * e)
    torch.testing.assert_close(da, -2 * (flow - y), rtol=1e-6, atol=1e-6)


def test_patterns_and_row_distance_du_network():
    X = torch.nn.functional.normalize(_data(m=10, d=5)[0], dim=1)
    y = _data(m=10, d=5, seed=2)[1]
    net = DuNetwork(5, 200, seed=0)
    hist = D.gradient_descent(net, X, y, 0.2, 30, check_step="off")
    W0 = hist.w0.view(200, 5)
    W = hist.model.W.detach()
    changed = ((X @ W.T > 0) != (X @ W0.T > 0)).double().mean()
    assert hist.pattern_change[-1].item() == pytest.approx(changed.item())
    assert hist.max_row_distance[-1].item() == pytest.approx((W - W0).norm(dim=1).max().item())
    assert hist.pattern_change[0].item() == 0.0
    # the output signs a are a buffer, not trained
    torch.testing.assert_close(hist.model.a, net.a)


def test_relu_hooks_record_patterns():
    net, (X, y) = _net(act=torch.nn.ReLU), _data()
    hist = D.gradient_descent(net, X, y, _safe_step(net, X), 5)
    assert hist.pattern_change is not None
    assert hist.pattern_change[0] == 0


def test_natural_gradient_rate_on_linear_model():
    # a linear model is its own linearization: NGD contracts the residual by (1 - eta) exactly
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 1).double()
    X, y = _data(m=5, d=8)
    hist = D.natural_gradient_descent(net, X, y, 0.3, 6)
    ratio = hist.loss[1:] / hist.loss[:-1]
    torch.testing.assert_close(ratio, torch.full_like(ratio, 0.7**2), rtol=1e-9, atol=0)
    # a linear model's Jacobian does not move
    assert float(hist.jacobian_drift.abs().max()) < 1e-12


def test_natural_gradient_jacobian_drift_against_autograd():
    net, (X, y) = _net(), _data()
    hist = D.natural_gradient_descent(net, X, y, 0.5, 3)
    assert hist.jacobian_drift.shape == (4,)
    assert float(hist.jacobian_drift[0]) == 0.0
    J1, J0 = _jacobian_reference(hist.model, X), _jacobian_reference(net, X)
    expected = torch.linalg.matrix_norm(J1 - J0, ord=2)
    torch.testing.assert_close(hist.jacobian_drift[-1], expected, rtol=1e-10, atol=1e-12)
    assert float(expected) > 1e-6  # the check is not vacuous: the Jacobian moved


def test_divergence_error_names_step():
    net, (X, y) = _net(), _data()
    lam = torch.linalg.eigvalsh(ntk(net, X))[-1].item()
    with pytest.raises(ValueError, match=r"^step_size = "):
        D.gradient_descent(net, X, y, 3.0 / lam, 5)
    with (
        pytest.warns(RuntimeWarning, match=r"^step_size = .* stability limit"),
        pytest.raises(
            D.DivergenceError,
            match=r"^gradient descent diverged .*ntklab\.dynamics\.stability_limit",
        ),
    ):
        D.gradient_descent(net, X, y, 50.0 / lam, 200, check_step="warn")


def test_bad_input():
    net, (X, y) = _net(), _data()
    with pytest.raises(ValueError, match=r"^x and y must have the same length"):
        D.gradient_descent(net, X, y[:-1], 0.01, 3)
    with pytest.raises(ValueError, match=r"^steps must"):
        D.gradient_descent(net, X, y, 0.01, 0)
    with pytest.raises(ValueError, match=r"^x of shape"):
        D.gradient_descent(net, X[:, :2], y, 0.01, 3)
    with pytest.raises(ValueError, match=r"does not match the targets \(one output per point\)"):
        D.gradient_descent(torch.nn.Linear(3, 2).double(), X, y, 0.01, 3)
    with pytest.raises(TypeError, match=r"^model must be a torch\.nn\.Module"):
        D.gradient_descent("net", X, y, 0.01, 3)
    with pytest.raises(ValueError, match=r"^step_size must"):
        D.gradient_descent(net, X, y, -1.0, 3)
    with pytest.raises(ValueError, match=r"^loss must be one of"):
        D.gradient_descent(net, X, y, 0.01, 3, loss="l1")
    with pytest.raises(ValueError, match=r"^kernel_steps must"):
        D.gradient_descent(net, X, y, 0.01, 3, kernel_steps=[5])
    with pytest.raises(ValueError, match=r"^step_size must"):
        D.natural_gradient_descent(net, X, y, 2.5, 3)
    with pytest.raises(ValueError, match=r"^ks must"):
        D.LinearDynamics(torch.eye(2), [0.0, 0.0], [1.0, 1.0]).gradient_descent(0.1, [-1])
    with pytest.raises(ValueError, match=r"^u0 must have 2 rows"):
        D.LinearDynamics(torch.eye(2), [0.0], [1.0, 1.0])


def test_linearized_trajectory_matches_training_the_linearize_module():
    from ntklab.networks import ShallowLeCun, linearize

    X, y = _data(m=5, d=3)
    net = ShallowLeCun(3, 50, activation="tanh", seed=0)
    h = _safe_step(net, X)
    traj = D.linearized_gradient_descent(net, X, y, h, 15)
    lin_run = D.gradient_descent(linearize(net), X, y, h, 15, check_step="off", patterns=None)
    torch.testing.assert_close(lin_run.outputs, traj.outputs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lin_run.distance, traj.distance, rtol=1e-8, atol=1e-10)


def test_structured_kernel_path_agrees_with_jacobian():
    from ntklab.networks import ShallowLeCun

    X, _ = _data(m=7, d=3)
    net = ShallowLeCun(3, 40, activation="erf", seed=1)
    J = _jacobian_reference(net, X)
    theta = D.LinearDynamics.from_model(net, X, torch.zeros(7, dtype=torch.float64)).theta
    torch.testing.assert_close(theta, J @ J.T, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# several outputs


def _net3(d=3, n=32, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d, n), torch.nn.Tanh(), torch.nn.Linear(n, 3)
    ).double()


def _jacobian_reference_multi(net, X):
    """Independent (m O, P) Jacobian: one autograd backward per (example, output)."""
    rows = []
    for x in X:
        out = net(x.unsqueeze(0))[0]
        for a in range(out.shape[0]):
            gs = torch.autograd.grad(out[a], list(net.parameters()), retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(rows)


def test_gradient_descent_several_outputs_matches_manual_loop():
    net, (X, _) = _net3(), _data()
    Y = torch.randn(6, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    hist = D.gradient_descent(net, X, Y, 0.01, 15, loss="mean", x_test=X[:2], kernel_steps=[0])
    ref = _net3()
    for _ in range(15):
        loss = ((ref(X) - Y) ** 2).sum() / 18
        gs = torch.autograd.grad(loss, list(ref.parameters()))
        with torch.no_grad():
            for p, g in zip(ref.parameters(), gs, strict=True):
                p -= 0.01 * g
    assert hist.outputs.shape == (16, 6, 3)
    assert hist.test_outputs.shape == (16, 2, 3)
    assert hist.step_size == pytest.approx(0.01 / 18)
    torch.testing.assert_close(hist.outputs[-1], ref(X).detach(), rtol=1e-12, atol=1e-12)
    J = _jacobian_reference_multi(net, X)
    K0 = hist.kernels[0].permute(0, 2, 1, 3).reshape(18, 18)
    torch.testing.assert_close(K0, J @ J.T, rtol=1e-10, atol=1e-10)


def test_linearized_dynamics_several_outputs_equal_parameter_space_gd():
    net, (X, _) = _net3(seed=1), _data()
    Xt = _data(m=4, seed=5)[0]
    Y = torch.randn(6, 3, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    J, Jt = _jacobian_reference_multi(net, X), _jacobian_reference_multi(net, Xt)
    h = 0.4 / torch.linalg.eigvalsh(J @ J.T)[-1].item()
    traj = D.linearized_gradient_descent(net, X, Y, h, 12, x_test=Xt)
    closed = D.LinearDynamics.from_model(net, X, Y, x_test=Xt).gradient_descent(h, range(13))
    with torch.no_grad():
        u0, f0t = net(X).reshape(-1), net(Xt).reshape(-1)
    dp = torch.zeros(J.shape[1], dtype=torch.float64)
    for k in range(13):
        for run in (traj, closed):
            torch.testing.assert_close(run.outputs[k].reshape(-1), u0 + J @ dp, atol=1e-10, rtol=0)
            torch.testing.assert_close(
                run.test_outputs[k].reshape(-1), f0t + Jt @ dp, atol=1e-10, rtol=0
            )
            assert run.distance[k].item() == pytest.approx(dp.norm().item(), rel=1e-7, abs=1e-11)
        dp = dp - h * 2 * J.T @ (u0 + J @ dp - Y.reshape(-1))


def test_linear_dynamics_shared_kernel_is_per_output():
    theta = torch.randn(5, 5, generator=torch.Generator().manual_seed(11)).double()
    theta = theta @ theta.T
    g = torch.Generator().manual_seed(12)
    U0, Y = (torch.randn(5, 2, generator=g, dtype=torch.float64) for _ in range(2))
    tt = torch.randn(3, 5, generator=g, dtype=torch.float64)
    f0t = torch.randn(3, 2, generator=g, dtype=torch.float64)
    both = D.LinearDynamics(theta, U0, Y, theta_test=tt, f0_test=f0t).gradient_flow([0.0, 0.3])
    for a in range(2):
        one = D.LinearDynamics(theta, U0[:, a], Y[:, a], theta_test=tt, f0_test=f0t[:, a])
        one = one.gradient_flow([0.0, 0.3])
        torch.testing.assert_close(both.outputs[..., a], one.outputs)
        torch.testing.assert_close(both.test_outputs[..., a], one.test_outputs)
        torch.testing.assert_close(both.alpha[..., a], one.alpha)
    with pytest.raises(TypeError, match=r"^u0 has dtype torch\.float32 but theta"):
        D.LinearDynamics(theta, U0.float(), Y)


def test_dtype_mismatch_is_refused():
    net, (X, y) = _net(), _data()
    with pytest.raises(
        TypeError, match=r"^x has dtype torch\.float32 but the model has dtype torch\.float64"
    ):
        D.gradient_descent(net, X.float(), y, 0.01, 3)

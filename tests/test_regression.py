"""Tests of ntklab.regression (chapter 2) and of the psd_solve extensions it relies on."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntklab import regression as R
from ntklab.course.examples import example_11_5_data
from ntklab.linalg import _eigh_lstsq, _symmetrize_, psd_solve


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _low_rank(m, P, rank, seed, dtype=torch.float64):
    g = _gen(seed)
    return torch.randn(m, rank, generator=g, dtype=dtype) @ torch.randn(
        rank, P, generator=g, dtype=dtype
    )


# ------------------------------------------------------------------ minimum-norm least squares
@pytest.mark.parametrize(("shape", "rank"), [((8, 5), 5), ((5, 8), 5), ((10, 12), 4), ((12, 6), 2)])
def test_min_norm_matches_numpy_pinv(shape, rank):
    A = _low_rank(*shape, rank, seed=rank)
    y = torch.randn(shape[0], generator=_gen(99), dtype=torch.float64)
    w = R.min_norm_least_squares(A, y)
    ref = np.linalg.pinv(A.numpy(), rcond=1e-10) @ y.numpy()
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-8, atol=1e-10)
    # the normal equations hold and w lies in the row space
    assert torch.allclose(A.T @ (A @ w - y), torch.zeros(shape[1], dtype=A.dtype), atol=1e-9)
    _, hat = R.row_space_split(A, w)
    assert hat.norm() < 1e-10


def test_min_norm_invertible_is_the_solution():
    A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    # closed form: A^{-1} y = (1/5) [[3, -1], [-1, 2]] y = (1/5, 3/5)
    assert torch.allclose(R.min_norm_least_squares(A, y), torch.tensor([0.2, 0.6]).double())


def test_min_norm_one_row_closed_form():
    # one equation a.w = b: w_* = b a / |a|^2
    a = torch.tensor([[3.0, 4.0, 0.0]], dtype=torch.float64)
    w = R.min_norm_least_squares(a, torch.tensor([10.0]))
    assert torch.allclose(w, torch.tensor([1.2, 1.6, 0.0], dtype=torch.float64))


def test_min_norm_ill_conditioned_matches_scipy():
    U, _ = torch.linalg.qr(torch.randn(30, 30, generator=_gen(1), dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(20, 20, generator=_gen(2), dtype=torch.float64))
    s = torch.logspace(0, -9, 20, dtype=torch.float64)
    A = U[:, :20] @ torch.diag(s) @ V.T  # condition number 1e9
    y = torch.randn(30, generator=_gen(3), dtype=torch.float64)
    w = R.min_norm_least_squares(A, y)
    ref = scipy.linalg.lstsq(A.numpy(), y.numpy(), lapack_driver="gelsd")[0]
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-5)


def test_min_norm_svd_path_agrees_with_lstsq():
    A = _low_rank(9, 14, 3, seed=4)
    y = torch.randn(9, generator=_gen(5), dtype=torch.float64)
    assert torch.allclose(R._svd_solve(A, y, None), R.min_norm_least_squares(A, y), atol=1e-10)


def test_min_norm_dtype_and_device(device):
    A = _low_rank(6, 9, 3, seed=6, dtype=torch.float32).to(device)
    y = torch.randn(6, generator=_gen(7)).to(device)
    w = R.min_norm_least_squares(A, y)
    assert w.dtype == torch.float32
    assert w.device.type == device.type
    assert w.shape == (9,)
    ref = np.linalg.pinv(A.cpu().double().numpy(), rcond=1e-5) @ y.cpu().double().numpy()
    np.testing.assert_allclose(w.cpu().numpy(), ref, rtol=1e-3, atol=1e-3)


def test_min_norm_accepts_numpy():
    w = R.min_norm_least_squares(np.eye(3), np.array([1.0, 2.0, 3.0]))
    assert w.dtype == torch.float64
    assert torch.allclose(w, torch.tensor([1.0, 2.0, 3.0]).double())


# ------------------------------------------------------------------ gradient descent (Thm 11.3)
def test_admissible_step_closed_form():
    A = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    assert R.admissible_step_size(A) == pytest.approx(1 / 18)


def test_gradient_descent_converges_to_theorem_limit_rank_deficient():
    A = _low_rank(8, 12, 3, seed=8)
    y = torch.randn(8, generator=_gen(9), dtype=torch.float64)
    w0 = torch.randn(12, generator=_gen(10), dtype=torch.float64)
    h = 0.95 * R.admissible_step_size(A)
    traj = R.gradient_descent(A, y, h, 4000, w0=w0)
    assert traj.shape == (4001, 12)
    assert torch.equal(traj[0], w0)
    # independent reference: min-norm via numpy pinv, kernel projector from scipy null_space
    Z = torch.from_numpy(scipy.linalg.null_space(A.numpy()))
    expected = torch.from_numpy(np.linalg.pinv(A.numpy()) @ y.numpy()) + Z @ (Z.T @ w0)
    assert torch.allclose(traj[-1], expected, atol=1e-9)
    assert torch.allclose(R.gradient_descent_limit(A, y, w0=w0), expected, atol=1e-10)


def test_gradient_descent_closed_form_matches_iteration():
    A = _low_rank(7, 10, 4, seed=11)
    y = torch.randn(7, generator=_gen(12), dtype=torch.float64)
    w0 = torch.randn(10, generator=_gen(13), dtype=torch.float64)
    h = 0.5 * R.admissible_step_size(A)
    traj = R.gradient_descent(A, y, h, 200, w0=w0)
    closed = R.gradient_descent_closed_form(A, y, h, torch.arange(201), w0=w0)
    assert torch.allclose(traj, closed, atol=1e-10)
    assert torch.allclose(R.gradient_descent_closed_form(A, y, h, 37, w0=w0), traj[37], atol=1e-10)


def test_gradient_descent_one_dimensional_closed_form():
    # A = [a], y = [b]: w_k = b/a + (1 - 2 h a^2)^k (w0 - b/a)
    a, b, w0, h = 2.0, 3.0, -1.0, 0.1
    traj = R.gradient_descent([[a]], [b], h, 5, w0=[w0])
    expected = [b / a + (1 - 2 * h * a * a) ** k * (w0 - b / a) for k in range(6)]
    assert torch.allclose(traj[:, 0], torch.tensor(expected, dtype=torch.float64))


def test_gradient_descent_keeps_dtype_and_device(device):
    A = torch.randn(5, 3, generator=_gen(14)).to(device)
    y = torch.randn(5, generator=_gen(15)).to(device)
    traj = R.gradient_descent(A, y, 0.5 * R.admissible_step_size(A), 3)
    assert traj.dtype == torch.float32
    assert traj.device.type == device.type
    assert torch.equal(traj[0], torch.zeros(3, device=device))


def test_step_outside_range_states_limit():
    A = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    y = torch.ones(2, dtype=torch.float64)
    for h in (1 / 18, 0.1):
        with pytest.raises(
            ValueError,
            match=r"^step_size must lie in \(0, 1/\(2 s_max\(A\)\^2\)\) = \(0, 0.0555556\)",
        ):
            R.gradient_descent(A, y, h, 3)
    with pytest.raises(ValueError, match=r"^step_size must be a finite number > 0"):
        R.gradient_descent(A, y, -0.01, 3)
    with pytest.raises(ValueError, match=r"^step_size must lie in"):
        R.gradient_descent_closed_form(A, y, 1.0, 3)
    with pytest.raises(TypeError, match=r"^step_size must be a real number"):
        R.gradient_descent(A, y, "0.01", 3)


def test_least_squares_bad_input():
    A, y = torch.ones(4, 2), torch.ones(4)
    with pytest.raises(ValueError, match=r"^y must have one entry per row of A"):
        R.min_norm_least_squares(A, torch.ones(3))
    with pytest.raises(ValueError, match=r"^A must be 2-D"):
        R.min_norm_least_squares(torch.ones(4), y)
    with pytest.raises(ValueError, match=r"^A contains NaN"):
        R.min_norm_least_squares(torch.tensor([[1.0, float("nan")]]), [1.0])
    with pytest.raises(ValueError, match=r"^y contains NaN"):
        R.gradient_descent(A, [1.0, 2.0, float("inf"), 0.0], 0.01, 2)
    with pytest.raises(ValueError, match=r"^w0 must have one entry per column"):
        R.gradient_descent(A, y, 0.01, 2, w0=torch.zeros(3))
    with pytest.raises(TypeError, match=r"^steps must be an integer"):
        R.gradient_descent(A, y, 0.01, 2.5)
    with pytest.raises(TypeError, match=r"^A must be"):
        R.min_norm_least_squares("A", y)
    with pytest.raises(ValueError, match=r"^k must hold non-negative"):
        R.gradient_descent_closed_form(A, y, 0.01, [1, -2])
    with pytest.raises(ValueError, match=r"^rcond must be a finite number > 0"):
        R.min_norm_least_squares(A, y, rcond=-1.0)


# ------------------------------------------------------------------ kernels
def test_kernels_match_scipy_cdist():
    X = torch.randn(9, 3, generator=_gen(16), dtype=torch.float64)
    Z = torch.randn(4, 3, generator=_gen(17), dtype=torch.float64)
    D2 = scipy.spatial.distance.cdist(X.numpy(), Z.numpy(), "sqeuclidean")
    np.testing.assert_allclose(R.rbf_kernel(X, Z, c=0.7).numpy(), np.exp(-0.7 * D2), rtol=1e-12)
    np.testing.assert_allclose(
        R.laplace_kernel(X, Z, c=1.3).numpy(), np.exp(-1.3 * np.sqrt(D2)), rtol=1e-12
    )
    np.testing.assert_allclose(
        R.polynomial_kernel(X, Z, c=0.5, r=3).numpy(), (X.numpy() @ Z.numpy().T + 0.5) ** 3
    )


def test_kernels_high_dimension_path():
    X = torch.randn(20, 50, generator=_gen(18), dtype=torch.float64) + 3.0
    D2 = scipy.spatial.distance.cdist(X.numpy(), X.numpy(), "sqeuclidean")
    G = R.rbf_kernel(X, c=0.01)
    np.testing.assert_allclose(G.numpy(), np.exp(-0.01 * D2), rtol=1e-10)
    assert torch.equal(G.diagonal(), torch.ones(20, dtype=torch.float64))
    L = R.laplace_kernel(X, X[:3], c=0.1)
    np.testing.assert_allclose(L.numpy(), np.exp(-0.1 * np.sqrt(D2[:, :3])), rtol=1e-10)


@pytest.mark.parametrize("kernel", [R.rbf_kernel, R.laplace_kernel, R.polynomial_kernel])
def test_kernel_dtype_device_shape(kernel, device):
    X = torch.randn(6, 2, generator=_gen(19)).to(device)
    G = kernel(X, X[:4])
    assert G.shape == (6, 4)
    assert G.dtype == torch.float32
    assert G.device.type == device.type


@st.composite
def _points(draw):
    m = draw(st.integers(1, 12))
    d = draw(st.integers(1, 5))
    coord = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(coord, min_size=m * d, max_size=m * d))
    return torch.tensor(flat, dtype=torch.float64).reshape(m, d)


def _assert_psd(G):
    assert torch.allclose(G, G.T, atol=1e-12 * max(1.0, G.abs().max().item()))
    evals = torch.linalg.eigvalsh(0.5 * (G + G.T))
    # rounding of each entry is about eps * |G|; Weyl's inequality bounds the eigenvalue shift
    tol = G.shape[0] * 1e-13 * max(1.0, G.abs().max().item())
    assert evals.min().item() >= -tol, (evals.min().item(), tol)


@settings(max_examples=60, deadline=None)
@given(_points(), st.floats(1e-3, 10.0))
def test_rbf_and_laplace_gram_psd(X, c):
    _assert_psd(R.rbf_kernel(X, c=c))
    _assert_psd(R.laplace_kernel(X, c=c))


@settings(max_examples=60, deadline=None)
@given(_points(), st.floats(0.0, 5.0), st.integers(1, 4))
def test_polynomial_gram_psd(X, c, r):
    _assert_psd(R.polynomial_kernel(X, c=c, r=r))


def test_kernel_bad_input():
    X = torch.ones(3, 2)
    for kernel in (R.rbf_kernel, R.laplace_kernel):
        with pytest.raises(ValueError, match=r"^c must be a finite number > 0"):
            kernel(X, c=-1.0)
        with pytest.raises(ValueError, match=r"^c must be a finite number > 0"):
            kernel(X, c=0.0)
    with pytest.raises(ValueError, match=r"^c must be a finite number >= 0"):
        R.polynomial_kernel(X, c=-0.5)
    with pytest.raises(ValueError, match=r"^r must be an integer >= 1"):
        R.polynomial_kernel(X, r=0)
    with pytest.raises(TypeError, match=r"^r must be an integer"):
        R.polynomial_kernel(X, r=2.0)
    with pytest.raises(ValueError, match=r"^x2 must have 2 columns"):
        R.rbf_kernel(X, torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"^x1 contains NaN"):
        R.rbf_kernel(torch.tensor([[float("nan"), 1.0]]))


# ------------------------------------------------------------------ feature maps
def test_quadratic_features_example_11_5():
    X = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    assert torch.equal(R.quadratic_features(X)[0], torch.tensor([1, 2, 3, 6, 4, 9.0]).double())
    assert R.quadratic_features(torch.ones(2, 4)).shape == (2, 1 + 4 + 6 + 4)


@pytest.mark.parametrize(
    ("d", "r", "c"), [(1, 3, 1.0), (2, 2, 1.0), (3, 3, 0.5), (4, 2, 0.0), (2, 5, 2.0)]
)
def test_polynomial_features_reproduce_kernel(d, r, c):
    X = torch.randn(7, d, generator=_gen(20), dtype=torch.float64)
    F = R.polynomial_features(X, c=c, r=r)
    expected_dim = math.comb(r + d, d) if c else math.comb(r + d - 1, d - 1)
    assert F.shape == (7, expected_dim)
    K = (X @ X.T + c) ** r
    # terms of mixed sign cancel: compare with the scale sum_alpha |phi_alpha(x) phi_alpha(z)|
    scale = F.abs() @ F.abs().T
    assert bool(((F @ F.T - K).abs() <= 1e-13 * scale).all())


def test_polynomial_features_closed_form_d2_r2():
    # (1 + x.z)^2 features: (1, sqrt2 x1, sqrt2 x2, x1^2, sqrt2 x1 x2, x2^2) in graded order
    X = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    s = math.sqrt(2)
    expected = torch.tensor([1, 2 * s, 3 * s, 4, 6 * s, 9], dtype=torch.float64)
    assert torch.allclose(R.polynomial_features(X)[0], expected)


def test_rbf_features_one_dimensional_closed_form_and_bound():
    # Exercise 11.34: phi_k(x) = exp(-x^2) 2^{k/2} x^k / sqrt(k!)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    F = R.rbf_features(x, c=1.0, degree=4)[0]
    expected = [
        math.exp(-0.49) * 2 ** (k / 2) * 0.7**k / math.sqrt(math.factorial(k)) for k in range(5)
    ]
    assert torch.allclose(F, torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("degree", [0, 1, 3, 6, 12])
def test_rbf_truncation_error_within_bound(degree):
    X = torch.randn(15, 2, generator=_gen(21), dtype=torch.float64)
    F = R.rbf_features(X, c=0.5, degree=degree)
    err = (R.rbf_kernel(X, c=0.5) - F @ F.T).abs()
    bound = R.rbf_truncation_bound(X, c=0.5, degree=degree)
    assert bool((err <= bound * (1 + 1e-9) + 1e-14).all())
    # the crude bound (2c|x||z|)^{N+1}/(N+1)! dominates the sharp one
    n = X.norm(dim=1)
    crude = (2 * 0.5 * n[:, None] * n[None, :]) ** (degree + 1) / math.factorial(degree + 1)
    assert bool((bound <= crude * (1 + 1e-12)).all())


def test_rbf_features_converge():
    X = torch.randn(10, 3, generator=_gen(22), dtype=torch.float64)
    X = X / X.norm(dim=1).max()  # |x| <= 1
    F = R.rbf_features(X, c=1.0, degree=14)
    crude = 2.0**15 / math.factorial(15)  # (2c|x||z|)^{N+1}/(N+1)! with |x|, |z| <= 1
    assert torch.allclose(F @ F.T, R.rbf_kernel(X), atol=crude)


def test_feature_bad_input():
    with pytest.raises(ValueError, match=r"^degree must be an integer >= 0"):
        R.rbf_features(torch.ones(2, 2), degree=-1)
    with pytest.raises(ValueError, match=r"^c must be a finite number > 0"):
        R.rbf_features(torch.ones(2, 2), c=-1.0, degree=2)
    with pytest.raises(ValueError, match=r"^c must be a finite number >= 0"):
        R.polynomial_features(torch.ones(2, 2), c=-1.0)
    with pytest.raises(ValueError, match=r"^x must be 2-D"):
        R.quadratic_features(torch.ones(3))


# ------------------------------------------------------------------ kernel least squares
def test_kernel_least_squares_interpolates_and_matches_scipy():
    X = torch.randn(30, 2, generator=_gen(23), dtype=torch.float64)
    y = torch.randn(30, generator=_gen(24), dtype=torch.float64)
    fit = R.kernel_least_squares(X, y, functools.partial(R.rbf_kernel, c=2.0))
    G = np.exp(-2.0 * scipy.spatial.distance.cdist(X.numpy(), X.numpy(), "sqeuclidean"))
    ref = scipy.linalg.solve(G, y.numpy(), assume_a="pos")
    np.testing.assert_allclose(fit.alpha.numpy(), ref, rtol=1e-6)
    assert torch.allclose(fit.predict(X), y, atol=1e-8)


def test_kernel_least_squares_singular_equals_feature_min_norm():
    # polynomial kernel of degree 2 in d = 2 has 6 features: G (20 x 20) has rank 6
    X = torch.randn(20, 2, generator=_gen(25), dtype=torch.float64)
    y = torch.randn(20, generator=_gen(26), dtype=torch.float64)
    kernel = functools.partial(R.polynomial_kernel, c=1.0, r=2)
    fit = R.kernel_least_squares(X, y, kernel)
    F = R.polynomial_features(X)
    w_star = torch.from_numpy(np.linalg.pinv(F.numpy()) @ y.numpy())
    Z = torch.randn(11, 2, generator=_gen(27), dtype=torch.float64)
    assert torch.allclose(fit.predict(Z), R.polynomial_features(Z) @ w_star, atol=1e-8)
    assert fit.norm() == pytest.approx(w_star.norm().item(), rel=1e-7)


def test_kernel_ridge_matches_closed_form_and_blocks():
    X = torch.randn(25, 3, generator=_gen(28), dtype=torch.float64)
    y = torch.randn(25, generator=_gen(29), dtype=torch.float64)
    fit = R.kernel_least_squares(X, y, R.laplace_kernel, ridge=0.3)
    G = R.laplace_kernel(X).numpy()
    ref = scipy.linalg.solve(G + 0.3 * np.eye(25), y.numpy(), assume_a="pos")
    np.testing.assert_allclose(fit.alpha.numpy(), ref, rtol=1e-10)
    Z = torch.randn(13, 3, generator=_gen(30), dtype=torch.float64)
    assert torch.allclose(fit.predict(Z, block=4), fit.predict(Z), atol=1e-13)


def test_kernel_least_squares_device_and_dtype(device):
    X = torch.randn(12, 2, generator=_gen(31)).to(device)
    y = torch.randn(12, generator=_gen(32)).to(device)
    fit = R.kernel_least_squares(X, y, R.rbf_kernel, ridge=1e-2)
    pred = fit.predict(X)
    assert pred.dtype == torch.float32
    assert pred.device.type == device.type
    ref = R.kernel_least_squares(X.cpu().double(), y.cpu().double(), R.rbf_kernel, ridge=1e-2)
    assert torch.allclose(pred.cpu().double(), ref.predict(X.cpu().double()), atol=1e-3)


def test_kernel_least_squares_bad_input():
    X, y = torch.ones(4, 2), torch.ones(4)
    with pytest.raises(TypeError, match=r"^kernel must be a callable"):
        R.kernel_least_squares(X, y, "rbf")
    with pytest.raises(ValueError, match=r"^y must have one entry per row of x"):
        R.kernel_least_squares(X, torch.ones(5), R.rbf_kernel)
    with pytest.raises(ValueError, match=r"^ridge must be a finite number >= 0"):
        R.kernel_least_squares(X, y, R.rbf_kernel, ridge=-1.0)
    with pytest.raises(ValueError, match="kernel\\(x, x\\) must return"):
        R.kernel_least_squares(X, y, lambda a, b: torch.ones(3))
    fit = R.kernel_least_squares(X, y, R.rbf_kernel, ridge=1.0)
    with pytest.raises(ValueError, match=r"^x_test must have shape \(N, 2\) like the training"):
        fit.predict(torch.ones(2, 3))


def test_example_data():
    X, y = example_11_5_data(40, kind="ring", seed=0)
    r = X.norm(dim=1)
    assert bool((r[y > 0] <= 0.5).all())
    assert bool(((r[y < 0] >= 1) & (r[y < 0] <= 1.5)).all())
    X, y = example_11_5_data(40, kind="blobs", seed=0)
    assert X.shape == (40, 2)
    assert int((y > 0).sum()) == 20
    with pytest.raises(ValueError, match=r"^kind must be 'blobs' or 'ring'"):
        example_11_5_data(10, kind="moons")
    with pytest.raises(ValueError, match=r"^m must be even"):
        example_11_5_data(11)


# ------------------------------------------------------------------ linalg extensions
def test_psd_solve_overwrite_matches_copy_and_symmetrizes_in_place():
    A = torch.randn(40, 40, generator=_gen(33), dtype=torch.float64)
    K = A @ A.T + A * 1e-3  # slightly asymmetric
    B = torch.randn(40, 2, generator=_gen(34), dtype=torch.float64)
    expected = psd_solve(K, B, ridge=0.1)
    K2 = K.clone()
    got = psd_solve(K2, B, ridge=0.1, overwrite_K=True)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.allclose(K2, 0.5 * (K + K.T) + 0.1 * torch.eye(40, dtype=K.dtype), atol=1e-13)
    with pytest.raises(TypeError, match=r"^overwrite_K must be a bool"):
        psd_solve(K, B, overwrite_K=1)


def test_symmetrize_blocks_and_eigh_lstsq():
    K = torch.randn(37, 37, generator=_gen(35), dtype=torch.float64)
    ref = 0.5 * (K + K.T)
    _symmetrize_(K, block=8)
    assert torch.equal(K, ref)
    S = _low_rank(15, 15, 4, seed=36)
    S = S @ S.T
    b = torch.randn(15, 1, generator=_gen(37), dtype=torch.float64)
    np.testing.assert_allclose(
        _eigh_lstsq(S, b).numpy(), np.linalg.pinv(S.numpy(), rcond=1e-10) @ b.numpy(), atol=1e-8
    )


def test_kernel_least_squares_does_not_modify_a_users_gram_matrix():
    X = torch.randn(8, 2, generator=_gen(38), dtype=torch.float64)
    G = R.rbf_kernel(X)
    A = G @ G.T + G * 1e-3  # slightly asymmetric, cached by the user's kernel below
    kept = A.clone()
    fit = R.kernel_least_squares(X, torch.ones(8, dtype=X.dtype), lambda a, b: A, ridge=0.5)
    assert torch.equal(A, kept)
    ref = scipy.linalg.solve(0.5 * (kept + kept.T).numpy() + 0.5 * np.eye(8), np.ones(8))
    np.testing.assert_allclose(fit.alpha.numpy(), ref, rtol=1e-10)


# ------------------------------------------------------------------ differentiable kernels
@pytest.mark.parametrize(
    ("kernel", "c"), [(R.rbf_kernel, 0.7), (R.laplace_kernel, 1.3), (R.polynomial_kernel, 0.5)]
)
def test_kernels_gradcheck_in_inputs_and_c(kernel, c):
    x1 = torch.randn(4, 3, generator=_gen(40), dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(3, 3, generator=_gen(41), dtype=torch.float64, requires_grad=True)
    c_t = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, t: kernel(a, b, c=t), (x1, x2, c_t))
    assert torch.autograd.gradcheck(lambda a, t: kernel(a, c=t), (x1, c_t))
    # the same numbers as with a Python float, and no gradient bookkeeping without autograd
    assert torch.allclose(kernel(x1, x2, c=c_t), kernel(x1, x2, c=c), rtol=1e-14)
    with torch.no_grad():
        assert not kernel(x1, x2, c=c_t).requires_grad


def test_laplace_gradient_on_the_diagonal_is_finite():
    # exp(-c |x1 - x2|) has a cone at x1 == x2: autograd returns the mean of the one-sided
    # derivatives there, which is 0 for the cone term
    x = torch.randn(3, 2, generator=_gen(42), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(R.laplace_kernel(x, x.detach().clone()).sum(), x)
    assert torch.isfinite(g).all()


def test_kernel_least_squares_is_differentiable_in_c():
    x = torch.randn(6, 2, generator=_gen(43), dtype=torch.float64)
    y = torch.randn(6, generator=_gen(44), dtype=torch.float64)
    x_test = torch.randn(2, 2, generator=_gen(45), dtype=torch.float64)
    c = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)

    def f(t):
        kernel = functools.partial(R.rbf_kernel, c=t)
        return R.kernel_least_squares(x, y, kernel, ridge=0.1).predict(x_test)

    assert torch.autograd.gradcheck(f, (c,))


@pytest.mark.parametrize(
    "call",
    [R.rbf_kernel, R.laplace_kernel, R.polynomial_kernel, R.rbf_truncation_bound],
)
def test_kernels_refuse_mixed_dtypes(call):
    kw = {"degree": 2} if call is R.rbf_truncation_bound else {}
    with pytest.raises(TypeError, match=r"^x1 .*x2"):
        call(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64), **kw)
    with pytest.raises(TypeError, match=r"^c .*x1"):
        call(torch.ones(2, 3, dtype=torch.float64), c=torch.tensor(1.0), **kw)


def test_kernel_least_squares_refuses_mixed_dtypes():
    x = torch.randn(5, 2, generator=_gen(46), dtype=torch.float64)
    fit = R.kernel_least_squares(x, torch.ones(5, dtype=torch.float64), R.rbf_kernel)
    with pytest.raises(TypeError, match=r"^x_test .*x"):
        fit.predict(x.float())
    with pytest.raises(TypeError, match=r"^x .*y"):
        R.kernel_least_squares(x, torch.ones(5), R.rbf_kernel)


# ------------------------------------------------------------------ multi-output targets
@pytest.mark.parametrize("ridge", [0.0, 0.2])
def test_kernel_least_squares_multi_output_matches_per_column_solves(ridge):
    x = torch.randn(15, 3, generator=_gen(47), dtype=torch.float64)
    y = torch.randn(15, 4, generator=_gen(48), dtype=torch.float64)
    x_test = torch.randn(7, 3, generator=_gen(49), dtype=torch.float64)
    fit = R.kernel_least_squares(x, y, R.laplace_kernel, ridge=ridge)
    pred = fit.predict(x_test, block=3)
    assert fit.alpha.shape == (15, 4)
    assert pred.shape == (7, 4)
    G = R.laplace_kernel(x).numpy() + ridge * np.eye(15)
    K_test = R.laplace_kernel(x_test, x).numpy()
    for o in range(4):
        alpha = scipy.linalg.solve(G, y[:, o].numpy(), assume_a="pos")
        np.testing.assert_allclose(pred[:, o].numpy(), K_test @ alpha, rtol=1e-9, atol=1e-11)
        single = R.kernel_least_squares(x, y[:, o], R.laplace_kernel, ridge=ridge)
        assert fit.norm()[o].item() == pytest.approx(single.norm(), rel=1e-10)


def test_kernel_least_squares_rejects_three_dimensional_targets():
    with pytest.raises(ValueError, match=r"^y must be 1-D or 2-D"):
        R.kernel_least_squares(torch.ones(4, 2), torch.ones(4, 2, 1), R.rbf_kernel)


def test_kernel_least_squares_takes_inputs_of_any_shape():
    # images (m, C, H, W) with a kernel on flattened pixels equal the same fit on (m, C*H*W)
    gen = torch.Generator().manual_seed(0)
    imgs = torch.randn(12, 2, 3, 3, generator=gen, dtype=torch.float64)
    tests = torch.randn(5, 2, 3, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(12, 2, generator=gen, dtype=torch.float64)

    def flat_rbf(a, b):
        return R.rbf_kernel(a.flatten(1), b.flatten(1))

    fit = R.kernel_least_squares(imgs, y, flat_rbf, ridge=0.1)
    flat = R.kernel_least_squares(imgs.flatten(1), y, R.rbf_kernel, ridge=0.1)
    torch.testing.assert_close(fit.predict(tests), flat.predict(tests.flatten(1)))
    with pytest.raises(ValueError, match=r"^x_test must have shape \(N, 2, 3, 3\)"):
        fit.predict(tests.flatten(1))
    with pytest.raises(ValueError, match=r"^x must have shape \(m, \.\.\.\)"):
        R.kernel_least_squares(torch.ones(3), torch.ones(3), R.rbf_kernel)

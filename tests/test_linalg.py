import numpy as np
import pytest
import scipy.linalg
import torch

from ntklab.linalg import SymmetricEigen, psd_solve


def _random_psd(m, rank, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, rank, generator=g, dtype=torch.float64)
    return A @ A.T


def test_psd_solve_matches_scipy_on_definite_system():
    K = _random_psd(20, 30, 0)
    b = torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = psd_solve(K, b)
    ref = scipy.linalg.solve(K.numpy(), b.numpy(), assume_a="pos")
    np.testing.assert_allclose(x.numpy(), ref, rtol=1e-8, atol=1e-10)


def test_psd_solve_singular_gives_minimum_norm_least_squares():
    K = _random_psd(20, 5, 2)  # rank 5
    b = torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x = psd_solve(K, b)
    ref = np.linalg.pinv(K.numpy(), rcond=1e-12) @ b.numpy()
    np.testing.assert_allclose(x.numpy(), ref, rtol=1e-6, atol=1e-8)


def test_psd_solve_ridge_and_matrix_rhs():
    K = _random_psd(10, 3, 4)
    B = torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    X = psd_solve(K, B, ridge=0.5)
    assert torch.allclose((K + 0.5 * torch.eye(10, dtype=K.dtype)) @ X, B, atol=1e-10)


def test_psd_solve_bad_input():
    with pytest.raises(ValueError, match="square"):
        psd_solve(torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="B must have 2 rows"):
        psd_solve(torch.eye(2), torch.ones(3))
    with pytest.raises(ValueError, match="ridge"):
        psd_solve(torch.eye(2), torch.ones(2), ridge=-1.0)


def test_symmetric_eigen_apply_matches_scipy_expm():
    K = _random_psd(15, 15, 6) / 15
    eig = SymmetricEigen(K)
    b = torch.randn(15, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    t = 0.7
    ref = scipy.linalg.expm(-t * K.numpy()) @ b.numpy()
    np.testing.assert_allclose(eig.apply(lambda l: torch.exp(-t * l), b).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(eig.matrix(lambda l: l).numpy(), K.numpy(), atol=1e-12)

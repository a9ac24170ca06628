"""Tests of ntklab.course.convolutional (chapter 8)."""

import pytest
import torch

from ntklab.course import convolutional as cv


def test_kernel_classifier_matches_direct_solve():
    # reference: a direct solve of (K + r I) A = onehot - 1/k, written out here
    g = torch.Generator().manual_seed(0)
    f = torch.randn(12, 5, generator=g, dtype=torch.float64)
    ft = torch.randn(7, 5, generator=g, dtype=torch.float64)
    labels = torch.arange(12) % 3
    labels_test = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    K, Kt = f @ f.T, ft @ f.T
    y = torch.nn.functional.one_hot(labels, 3).double() - 1 / 3
    pred = Kt @ torch.linalg.solve(K + 0.5 * torch.eye(12, dtype=torch.float64), y)
    want = float((pred.argmax(1) == labels_test).double().mean())
    got = cv.kernel_classifier_accuracy(K, Kt, labels, labels_test, ridge=0.5)
    assert got == want


def test_kernel_classifier_interpolates_training_points():
    # with no ridge and an invertible Gram matrix, the training points are classified exactly
    x = torch.randn(20, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.arange(20) % 4
    K = x @ x.T
    assert cv.kernel_classifier_accuracy(K, K, labels, labels) == 1.0


def test_kernel_classifier_bad_input():
    k = torch.eye(3, dtype=torch.float64)
    lab = torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match="k_train"):
        cv.kernel_classifier_accuracy(torch.eye(2), k, lab, lab)
    with pytest.raises(ValueError, match="k_test"):
        cv.kernel_classifier_accuracy(k, torch.eye(2), lab, lab)
    with pytest.raises(ValueError, match="ridge"):
        cv.kernel_classifier_accuracy(k, k, lab, lab, ridge=-1.0)


def test_train_cnn_fits_separable_images_and_is_seeded():
    # two classes told apart by the sign of the mean pixel: trivially learnable
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(40) % 2
    x = torch.randn(40, 1, 6, 6, generator=g) * 0.3 + (2.0 * labels - 1).view(-1, 1, 1, 1)
    net = cv.train_cnn(x, labels, width=8, steps=60, seed=0)
    with torch.no_grad():
        assert cv.accuracy(net(x), labels) == 1.0
        again = cv.train_cnn(x, labels, width=8, steps=60, seed=0)
        assert torch.equal(net(x), again(x))


def test_train_cnn_bad_input():
    with pytest.raises(ValueError, match="x"):
        cv.train_cnn(torch.zeros(3, 4), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="labels"):
        cv.train_cnn(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="width"):
        cv.train_cnn(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 0]), width=0)


def test_accuracy():
    assert cv.accuracy(torch.tensor([[0.0, 1.0], [3.0, 1.0]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError, match="scores"):
        cv.accuracy(torch.zeros(3), torch.tensor([1, 1, 1]))


def test_train_cnn_is_float32_under_a_float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        net = cv.train_cnn(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), width=2, steps=1, seed=0)
    finally:
        torch.set_default_dtype(old)
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_relative_error_closed_form_and_bad_input():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    assert cv.relative_error(a, b) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shape"):
        cv.relative_error(a, b.T)
    with pytest.raises(ValueError, match="zero"):
        cv.relative_error(a, torch.zeros(1, 2))


def test_nngp_monte_carlo_matches_the_closed_form_of_a_relu_layer():
    from ntklab import layers as L

    arch = L.serial(L.Dense(W_std=1.0), L.ReLU(), L.Dense(W_std=1.0))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mean, se = cv.nngp_monte_carlo(arch, x, 128, 10, d_out=64)
    # reference: the arc-cosine closed form E[relu(u) relu(v)] for the Gaussian pair
    # of covariance x x^T / d (one dense layer, W_std = 1, no bias)
    s = x @ x.T / 3
    norms = s.diagonal().sqrt()
    cos = (s / norms[:, None] / norms[None, :]).clamp(-1, 1)
    theta = torch.arccos(cos)
    closed = (
        norms[:, None]
        * norms[None, :]
        * (torch.sin(theta) + (torch.pi - theta) * cos)
        / (2 * torch.pi)
    )
    assert torch.all((mean - closed).abs() < 5 * se + 1e-12)
    with pytest.raises(ValueError, match="draws"):
        cv.nngp_monte_carlo(arch, x, 8, 1)


def test_ntk_width_errors_fall_with_width():
    from ntklab import layers as L

    x = torch.eye(3, dtype=torch.float64)
    linear = L.serial(L.Dense(W_std=1.0, b_std=0.5))
    # one dense layer: the tangent kernel is exactly its limit at every width
    assert max(cv.ntk_width_errors(linear, x, [2, 5], 2)) < 1e-12
    relu = L.serial(L.Dense(W_std=2**0.5), L.ReLU(), L.Dense(W_std=2**0.5))
    small, large = cv.ntk_width_errors(relu, x, [16, 1024], 3)
    assert large < small / 3  # width^(-1/2): a factor 8 expected
    with pytest.raises(ValueError, match="seeds"):
        cv.ntk_width_errors(relu, x, [4], 0)

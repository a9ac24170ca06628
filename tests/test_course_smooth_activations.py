import math

import numpy as np
import pytest
import torch

from ntklab.course import smooth_activations


def test_activation_gammas_and_smooth_ntk():
    def ex(u):
        return np.exp(u - 2)

    g = smooth_activations.activation_gammas([ex, ex, ex])
    assert np.allclose(g, np.exp(-2), rtol=1e-12)  # E[e^{2u - 4}] = e^{2 - 4}
    assert smooth_activations.lipschitz_bound_smooth(g) == pytest.approx(math.sqrt(3) / math.e)
    u = torch.linspace(-0.95, 1, 9, dtype=torch.float64)
    K = smooth_activations.smooth_activation_ntk(ex, ex, u)
    assert torch.allclose(K, (u + 1) * torch.exp(u - 3), rtol=1e-10)  # E[e^{a+b-4}] = e^{u-3}


def test_quadrature_order_controls_accuracy():
    # E[u^8] = 105 needs 5 Gauss-Hermite nodes; 4 nodes integrate degree 7 exactly, not 8
    def octic(u):
        return u**4

    assert smooth_activations.activation_gammas([octic], quadrature_order=5)[0] == pytest.approx(
        105.0, rel=1e-12
    )
    assert smooth_activations.activation_gammas([octic], quadrature_order=4)[0] != pytest.approx(
        105.0, rel=1e-6
    )


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda: smooth_activations.lipschitz_bound_smooth([0.0, 1.0, 1.0]),
            ValueError,
            r"^gammas must be \(gamma_0 > 0",
        ),
        (
            lambda: smooth_activations.activation_gammas(np.exp),
            TypeError,
            r"^derivatives must be a sequence",
        ),
        (
            lambda: smooth_activations.activation_gammas([np.exp], quadrature_order=0),
            ValueError,
            r"^quadrature_order must be",
        ),
        (
            lambda: smooth_activations.smooth_activation_ntk(
                np.exp, np.exp, 0.5, quadrature_order=0
            ),
            ValueError,
            r"^quadrature_order must be",
        ),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()

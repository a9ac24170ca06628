"""Chapter 3: how much a network's Jacobian, tangent kernel and parameters move in training.

:func:`training_changes` trains :class:`ntklab.networks.MLP` networks of several widths by
full-batch gradient descent and measures the relative changes that "lazy training" says vanish
as the width grows (the short NTK notes, section 2.6; Chizat et al. 2019).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .. import empirical
from ..dynamics import gradient_descent
from ..networks import MLP
from ..validation import check_nonnegative, check_positive, check_positive_int

__all__ = ["TrainingChanges", "training_changes"]


class TrainingChanges(NamedTuple):
    """Result of :func:`training_changes`: one float per width in each list."""

    #: ``||J_T - J_0||_F / ||J_0||_F`` (Jacobian on the training inputs)
    jacobian: list
    #: ``||Theta_T - Theta_0||_F / ||Theta_0||_F`` with ``Theta = J J^T``
    kernel: list
    #: ``||w_T - w_0||`` (Euclidean distance travelled by the parameters)
    parameters: list


def training_changes(
    x: torch.Tensor,
    y: torch.Tensor,
    widths: Any,
    *,
    activation: str = "relu",
    depth: int = 2,
    steps: int = 100,
    step_size: float = 1.0,
    b_std: float = 0.1,
    seed: int = 0,
) -> TrainingChanges:
    """Relative changes of Jacobian and tangent kernel, and the parameter move, in training.

    For each width ``n`` it draws ``MLP(d, n, depth, activation=activation, b_std=b_std,
    seed=seed)`` (NTK parameterization), trains it with ``steps`` gradient steps of size
    ``step_size`` on the half-mean loss ``sum (f - y)^2 / (2m)``
    (:func:`ntklab.dynamics.gradient_descent`) and compares the Jacobian
    (:func:`ntklab.empirical.jacobian`) on ``x`` before and after.

    Parameters
    ----------
    x : tensor, (m, d)
        Training inputs (float64).
    y : tensor, (m,)
        Targets.
    widths : iterable of int >= 1
    activation : str, default "relu"
        Any activation :class:`ntklab.networks.MLP` accepts.
    depth : int >= 1, default 2
        Hidden layers.
    steps : int >= 1, default 100
    step_size : float > 0, default 1.0
        Step on the half-mean loss.
    b_std : float >= 0, default 0.1
    seed : int, default 0

    Returns
    -------
    TrainingChanges

    Raises
    ------
    TypeError
        If ``x`` is not a floating (m, d) tensor.
    ValueError
        If ``y`` does not have one entry per row of ``x``, or on a non-positive width,
        ``depth``, ``steps`` or ``step_size``.

    Examples
    --------
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> ch = training_changes(x, torch.tensor([1.0, -1.0], dtype=torch.float64), [8, 512],
    ...                       steps=5)
    >>> ch.jacobian[1] < ch.jacobian[0], len(ch.kernel)
    (True, 2)
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise TypeError("x must be a floating tensor of shape (m, d)")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),):
        raise ValueError("y must be a tensor of shape (m,), one target per row of x")
    widths = [check_positive_int(n, "widths") for n in widths]
    depth = check_positive_int(depth, "depth")
    steps = check_positive_int(steps, "steps")
    step_size = check_positive(step_size, "step_size")
    b_std = check_nonnegative(b_std, "b_std")
    flat = torch.nn.utils.parameters_to_vector
    out = TrainingChanges([], [], [])
    for n in widths:
        net = MLP(x.shape[1], n, depth, activation=activation, b_std=b_std, seed=seed)
        J0, w0 = empirical.jacobian(net, x), flat(net.parameters()).detach()
        gradient_descent(
            net, x, y, step_size, steps, loss="half_mean", copy_model=False, patterns=None
        )
        JT = empirical.jacobian(net, x)
        out.jacobian.append(float((JT - J0).norm() / J0.norm()))
        out.kernel.append(float((JT @ JT.T - J0 @ J0.T).norm() / (J0 @ J0.T).norm()))
        out.parameters.append(float((flat(net.parameters()).detach() - w0).norm()))
    return out

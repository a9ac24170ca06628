"""Activation functions shared by :mod:`ntklab.networks` and :mod:`ntklab.analytic`.

An activation is given by name (``"relu"``, ``"erf"``, ``"tanh"``, ``"sigmoid"``, ``"arctan"``,
``"identity"``) or as a callable acting elementwise on tensors.  Its derivative is known in closed
form for the names and taken by autograd for callables (unless one is given).

The derivative of ReLU at 0 is taken to be 0, as torch's autograd does, so that empirical kernels
computed by hand and by autodiff agree exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

ACTIVATIONS = ("relu", "erf", "tanh", "sigmoid", "arctan", "identity")

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _relu_prime(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


def _erf_prime(x: torch.Tensor) -> torch.Tensor:
    return _TWO_OVER_SQRT_PI * torch.exp(-x * x)


def _tanh_prime(x: torch.Tensor) -> torch.Tensor:
    return 1 - torch.tanh(x) ** 2


def _sigmoid_prime(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _arctan_prime(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + x * x)


_TABLE: dict[str, tuple[Callable, Callable]] = {
    "relu": (torch.relu, _relu_prime),
    "erf": (torch.erf, _erf_prime),
    "tanh": (torch.tanh, _tanh_prime),
    "sigmoid": (torch.sigmoid, _sigmoid_prime),
    "arctan": (torch.arctan, _arctan_prime),
    "identity": (lambda x: x, torch.ones_like),
}


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``phi`` with its derivative ``dphi`` and a name."""

    name: str
    phi: Callable[[torch.Tensor], torch.Tensor]
    dphi: Callable[[torch.Tensor], torch.Tensor]


def _autograd_derivative(phi: Callable) -> Callable:
    def dphi(x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            # keep the graph, so that kernels built from phi' can be differentiated again
            (g,) = torch.autograd.grad(phi(x).sum(), x, create_graph=True, allow_unused=True)
            return torch.zeros_like(x) if g is None else g
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            y = phi(xg)
            (g,) = torch.autograd.grad(y.sum(), xg, allow_unused=True)
        return torch.zeros_like(x) if g is None else g.detach()

    return dphi


def resolve_activation(
    activation: str | Callable, name: str = "activation", derivative: Callable | None = None
) -> Activation:
    """Return the :class:`Activation` for a name or a callable (derivative by autograd)."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        if activation not in _TABLE:
            raise ValueError(
                f"{name} must be one of {ACTIVATIONS} or a callable, got {activation!r}"
            )
        phi, dphi = _TABLE[activation]
        return Activation(activation, phi, derivative if derivative is not None else dphi)
    if callable(activation):
        if derivative is not None and not callable(derivative):
            raise TypeError(f"derivative must be callable, got {type(derivative).__name__}")
        label = getattr(activation, "__name__", "callable")
        if derivative is None:
            derivative = _autograd_derivative(activation)
        return Activation(label, activation, derivative)
    raise TypeError(
        f"{name} must be one of {ACTIVATIONS} or a callable, got {type(activation).__name__}"
    )


def quiet_jvp(*args, **kwargs):
    """``torch.func.jvp`` without the DeprecationWarning torch emits when forward-mode AD loads
    its decompositions (``torch.jit.script`` is deprecated) on first use."""
    from torch.func import jvp

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*torch.jit.script.*", category=DeprecationWarning
        )
        return jvp(*args, **kwargs)

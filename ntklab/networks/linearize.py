"""Linearization of a model around its current parameters (Petersen & Zech (11.3.1)).

``f_lin(x; w) = f(x; w0) + J(x; w0) (w - w0)``, evaluated with one forward-mode product
(``torch.func.jvp``), never forming the Jacobian ``J``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from .._activations import quiet_jvp as jvp

__all__ = ["LinearizedModel", "linearize"]


class LinearizedModel(nn.Module):
    """The first-order Taylor model of ``model`` around its parameters at construction (w0).

    ``f_lin(x; w) = f(x; w0) + J(x; w0) (w - w0)`` (11.3.1).  Its trainable parameters ``w``
    start at ``w0`` (copies), so at construction it computes the same outputs as ``model``.
    ``model`` itself is copied and never changed.  Use :meth:`displacement` for ``w - w0`` and
    :attr:`base` for the frozen copy of the model.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; inputs and outputs of any shape, as ``model`` takes and returns them.

    Attributes
    ----------
    params : nn.ParameterList
        The parameters ``w``, in ``model.named_parameters()`` order.

    Raises
    ------
    TypeError
        ``model`` is not a ``torch.nn.Module``.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import MLP, LinearizedModel
    >>> net = MLP(2, 16, 1, seed=0)
    >>> lin = LinearizedModel(net)
    >>> x = torch.ones(3, 2, dtype=torch.float64)
    >>> bool(torch.allclose(lin(x), net(x)))
    True
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        super().__init__()
        base = copy.deepcopy(model)
        for p in base.parameters():
            p.requires_grad_(False)
        object.__setattr__(self, "_base", base)  # not a submodule: its parameters stay frozen
        self._names = [name for name, _ in model.named_parameters()]
        self.params = nn.ParameterList(
            nn.Parameter(p.detach().clone()) for _, p in model.named_parameters()
        )
        for i, (_, p) in enumerate(base.named_parameters()):
            self.register_buffer(f"w0_{i}", p.detach().clone())

    @property
    def base(self) -> nn.Module:
        """The frozen copy of the model at w0."""
        return self._base

    def _w0(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"w0_{i}") for i, n in enumerate(self._names)}

    def displacement(self) -> dict[str, torch.Tensor]:
        """``w - w0`` for every named parameter."""
        w0 = self._w0()
        return {n: p - w0[n] for n, p in zip(self._names, self.params, strict=True)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x; w0) + J(x; w0) (w - w0)``, by one ``torch.func.jvp`` (never forms ``J``)."""
        w0 = self._w0()
        delta = self.displacement()

        def f(params):
            return functional_call(self._base, params, (x,))

        out, tangent = jvp(f, (w0,), (delta,))
        return out + tangent


def linearize(model: nn.Module) -> LinearizedModel:
    """Return the linearization (11.3.1) of ``model`` around its current parameters.

    Parameters
    ----------
    model : torch.nn.Module
        The model to linearize (copied, never changed).

    Returns
    -------
    LinearizedModel
        ``f_lin(x; w) = f(x; w0) + J(x; w0) (w - w0)`` with trainable ``w`` starting at ``w0``.

    Raises
    ------
    TypeError
        ``model`` is not a ``torch.nn.Module``.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import ShallowNTK, linearize
    >>> lin = linearize(ShallowNTK(2, 8, seed=0))
    >>> sorted(k for k in lin.displacement())
    ['U', 'b', 'c', 'v']
    """
    return LinearizedModel(model)

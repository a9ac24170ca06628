"""Deep fully connected network in NTK parameterization, with neural-tangents' conventions.

``MLP(d, width, depth)`` has ``depth`` hidden layers of ``width`` neurons and a scalar output.
Every weight and bias is drawn N(0, 1); layer ``l`` computes

    h_l = W_std / sqrt(n_{l-1}) * W_l a_{l-1} + b_std * b_l,     a_l = phi(h_l),   a_0 = x,

and the output is ``h_{depth+1}`` (shape ``(N,)``).  This is the network of
``stax.serial(Dense(width, W_std, b_std), act, ..., Dense(1, W_std, b_std))`` in neural-tangents
(``parameterization="ntk"``), so its NNGP and tangent kernels tend, as the width grows, to
:func:`ntklab.analytic.mlp_kernels` with the same ``depth``, ``activation``, ``W_std``, ``b_std``.
Jacot et al. (2018) use ``W_std = 1`` and ``b_std = beta``; Arora et al. (2019) use
``W_std = sqrt(2)`` (``c_sigma = 2``) for ReLU and no biases.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from .._activations import resolve_activation
from ..validation import (
    DEFAULT_DTYPE,
    check_nonnegative,
    check_nonnegative_int,
    check_positive_int,
    make_generator,
    resolve_device,
)

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected network, ``depth`` hidden layers of ``width``, NTK parameterization.

    Parameters: ``d`` input dimension, ``width`` (n), ``depth`` (L >= 0 hidden layers),
    ``activation`` a name or callable, ``W_std``, ``b_std`` (>= 0), ``seed``, ``dtype``
    (float64 by default), ``device``.  Parameters ``weights[l]`` of shape (n_{l+1}, n_l) and
    ``biases[l]`` of shape (n_{l+1},), all N(0, 1) at initialization.
    """

    def __init__(
        self,
        d: int,
        width: int,
        depth: int,
        *,
        activation: Any = "relu",
        W_std: float = 1.0,
        b_std: float = 0.0,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__()
        self.d = check_positive_int(d, "d")
        self.width = check_positive_int(width, "width")
        self.depth = check_nonnegative_int(depth, "depth")
        self.W_std = check_nonnegative(W_std, "W_std")
        self.b_std = check_nonnegative(b_std, "b_std")
        self._act = resolve_activation(activation)
        self.activation = activation
        gen = make_generator(seed)
        kw = {"dtype": dtype or DEFAULT_DTYPE, "device": resolve_device(device)}
        sizes = [self.d] + [self.width] * self.depth + [1]
        self.sizes = sizes
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(o, i, generator=gen, dtype=torch.float64).to(**kw))
            for i, o in itertools.pairwise(sizes)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.randn(o, generator=gen, dtype=torch.float64).to(**kw))
            for o in sizes[1:]
        )

    @property
    def in_features(self) -> int:
        return self.d

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, width={self.width}, depth={self.depth}, activation={self._act.name!r}, "
            f"W_std={self.W_std}, b_std={self.b_std}"
        )

    def _layer(self, l: int, a: torch.Tensor) -> torch.Tensor:
        scale = self.W_std / math.sqrt(self.sizes[l])
        return (a @ self.weights[l].T) * scale + self.b_std * self.biases[l]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x
        for l in range(self.depth):
            a = self._act.phi(self._layer(l, a))
        return self._layer(self.depth, a).squeeze(-1)

    def _forward_backward(self, x: torch.Tensor):
        """Inputs ``a_{l-1}`` of every layer and backpropagated ``delta_l = df/dh_l``."""
        inputs, slopes = [x], []
        a = x
        for l in range(self.depth):
            h = self._layer(l, a)
            slopes.append(self._act.dphi(h))
            a = self._act.phi(h)
            inputs.append(a)
        deltas = [torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)]
        for l in range(self.depth - 1, -1, -1):
            scale = self.W_std / math.sqrt(self.sizes[l + 1])
            deltas.append(slopes[l] * ((deltas[-1] @ self.weights[l + 1]) * scale))
        deltas.reverse()
        return inputs, deltas

    @torch.no_grad()
    def structured_ntk(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Tangent kernel without Jacobians: a sum over layers of products of Gram matrices.

        ``Theta(x, x') = sum_l (delta_l.delta_l') (W_std^2 a_{l-1}.a_{l-1}' / n_{l-1} + b_std^2)``
        with ``delta_l = df/dh_l`` and ``a_{l-1}`` the input of layer ``l``.
        """
        in1, de1 = self._forward_backward(x1)
        same = x2 is x1
        in2, de2 = (in1, de1) if same else self._forward_backward(x2)
        out = None
        for l in range(self.depth + 1):
            gram = (in1[l] @ in2[l].T) * (self.W_std**2 / self.sizes[l]) + self.b_std**2
            gram *= de1[l] @ de2[l].T
            out = gram if out is None else out.add_(gram)
        return out

"""Deep fully connected network with neural-tangents' conventions (``stax.Dense``).

``MLP(d, width, depth, d_out=1)`` has ``depth`` hidden layers of ``width`` neurons and
``d_out`` outputs.  With ``parameterization="ntk"`` (the default) every weight and bias is
drawn N(0, 1) and layer ``l`` computes

    h_l = W_std / sqrt(n_{l-1}) * W_l a_{l-1} + b_std * b_l,     a_l = phi(h_l),   a_0 = x;

with ``parameterization="standard"`` the weights are drawn N(0, W_std^2 / n_{l-1}), the biases
N(0, b_std^2), and ``h_l = W_l a_{l-1} + b_l``.  The output is ``h_{depth+1}``.  This is
``stax.serial(Dense(width, W_std, b_std, parameterization=...), act, ..., Dense(d_out, ...))``
in neural-tangents.  Both parameterizations draw the same functions (the same seed gives the
same outputs), so their NNGP kernels agree and tend to :func:`ntklab.analytic.mlp_kernels`
(``MLP.architecture``, the network as ``ntklab.layers.serial(Dense, act, ..., Dense)``);
their tangent kernels differ: the gradient with respect to a standard weight is
``sqrt(n_{l-1}) / W_std`` times the NTK one, and with respect to a bias ``1 / b_std`` times,
so a layer's weights contribute ``n_{l-1} / W_std^2`` times as much (neural-tangents' standard
NTK, which grows with the width).  Jacot et al. (2018) use ``W_std = 1`` and ``b_std = beta``;
Arora et al. (2019) use ``W_std = sqrt(2)`` (``c_sigma = 2``) for ReLU and no biases.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from .._activations import resolve_activation
from ..validation import (
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive_int,
    make_generator,
)
from ._common import network_input, tensor_kwargs

__all__ = ["MLP", "PARAMETERIZATIONS"]

PARAMETERIZATIONS = ("ntk", "standard")


class MLP(nn.Module):
    """Fully connected network: ``depth`` hidden layers of ``width``, ``d_out`` outputs.

    Parameters
    ----------
    d : int
        Input dimension (inputs have shape ``(N, d)`` or ``(d,)``).
    width : int
        Number of neurons of every hidden layer.
    depth : int
        Number of hidden layers (``0``: an affine map).
    d_out : int, default 1
        Number of outputs.
    activation : str or callable, default "relu"
        One of ``"relu"``, ``"erf"``, ``"tanh"``, ``"sigmoid"``, ``"arctan"``, ``"identity"``, or an
        elementwise callable.
    W_std, b_std : float, default 1.0 and 0.0
        Weight and bias standard deviations (neural-tangents' names), ``>= 0``.
    parameterization : {"ntk", "standard"}, default "ntk"
        neural-tangents' definitions (see the module docs).
    seed, generator : int or torch.Generator, optional
        Source of the draws, never both; a CPU generator (draws are made on the CPU in
        float64, then moved), so a seed gives the same network on every device.
    dtype : torch.dtype, optional
        Of the parameters (float64 by default).
    device : str, int or torch.device, optional
        Of the parameters (the CPU by default).

    Attributes
    ----------
    weights : nn.ParameterList
        ``weights[l]`` of shape ``(n_{l+1}, n_l)`` with ``n_0 = d``, ``n_{depth+1} = d_out``.
    biases : nn.ParameterList
        ``biases[l]`` of shape ``(n_{l+1},)``.

    Raises
    ------
    TypeError
        ``d``, ``width``, ``depth``, ``d_out`` or ``seed`` not integers, ``generator`` not a
        ``torch.Generator``, ``dtype`` not floating.
    ValueError
        Widths below 1, ``depth < 0``, negative or non-finite ``W_std``/``b_std``, an unknown
        ``parameterization`` or ``activation``, both ``seed`` and ``generator``.

    Examples
    --------
    >>> import torch
    >>> from ntklab.networks import MLP
    >>> net = MLP(3, 64, 2, d_out=2, seed=0)
    >>> net(torch.ones(5, 3, dtype=torch.float64)).shape
    torch.Size([5, 2])
    >>> MLP(3, 64, 2, seed=0)(torch.ones(5, 3, dtype=torch.float64)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        d: int,
        width: int,
        depth: int,
        *,
        d_out: int = 1,
        activation: Any = "relu",
        W_std: float = 1.0,
        b_std: float = 0.0,
        parameterization: str = "ntk",
        seed: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__()
        self.d = check_positive_int(d, "d")
        self.width = check_positive_int(width, "width")
        self.depth = check_nonnegative_int(depth, "depth")
        self.d_out = check_positive_int(d_out, "d_out")
        self.W_std = check_nonnegative(W_std, "W_std")
        self.b_std = check_nonnegative(b_std, "b_std")
        self.parameterization = check_choice(
            parameterization, "parameterization", PARAMETERIZATIONS
        )
        self._act = resolve_activation(activation)
        self.activation = activation
        kw = tensor_kwargs(dtype, device)
        gen = make_generator(seed, generator)
        sizes = [self.d] + [self.width] * self.depth + [self.d_out]
        self.sizes = sizes
        standard = self.parameterization == "standard"
        # (alpha_l, beta): h_l = alpha_l W_l a_{l-1} + beta b_l
        self._alpha = [1.0 if standard else self.W_std / math.sqrt(n) for n in sizes[:-1]]
        self._beta = 1.0 if standard else self.b_std
        w_scale = [self.W_std / math.sqrt(n) if standard else 1.0 for n in sizes[:-1]]
        b_scale = self.b_std if standard else 1.0
        self.weights = nn.ParameterList(
            nn.Parameter((s * torch.randn(o, i, generator=gen, dtype=torch.float64)).to(**kw))
            for (i, o), s in zip(itertools.pairwise(sizes), w_scale, strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter((b_scale * torch.randn(o, generator=gen, dtype=torch.float64)).to(**kw))
            for o in sizes[1:]
        )

    @property
    def architecture(self):
        """The network as an :mod:`ntklab.layers` architecture, for its infinite-width kernels.

        ``serial(Dense(W_std, b_std), act, ..., Dense(W_std, b_std))``
        (:func:`ntklab.analytic.mlp_architecture`), so ``net.architecture.kernels(x1, x2)``
        is :func:`ntklab.analytic.mlp_kernels`: the limit of this network's kernels as the
        width grows.

        Returns
        -------
        ntklab.layers.Layer
            The architecture (``kernels`` gives ``.nngp``, ``.ntk`` of shape (N1, N2)).

        Raises
        ------
        ValueError
            For ``parameterization="standard"``, whose tangent kernel grows with the width
            (no infinite-width limit to compute).

        Examples
        --------
        >>> import torch
        >>> from ntklab.networks import MLP
        >>> net = MLP(2, 16, 1, W_std=1.5, seed=0)
        >>> k = net.architecture.kernels(torch.eye(2, dtype=torch.float64))
        >>> print(round(float(k.ntk[0, 1]), 6))
        0.402861
        """
        if self.parameterization != "ntk":
            raise ValueError(
                "parameterization='standard': the tangent kernel grows with the width, so the "
                "network has no infinite-width kernels; use parameterization='ntk'"
            )
        from ..analytic import mlp_architecture

        return mlp_architecture(self.depth, self.activation, self.W_std, self.b_std)

    @property
    def in_features(self) -> int:
        """The input dimension ``d``."""
        return self.d

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, width={self.width}, depth={self.depth}, d_out={self.d_out}, "
            f"activation={self._act.name!r}, W_std={self.W_std}, b_std={self.b_std}, "
            f"parameterization={self.parameterization!r}"
        )

    def _layer(self, l: int, a: torch.Tensor) -> torch.Tensor:
        return (a @ self.weights[l].T) * self._alpha[l] + self._beta * self.biases[l]

    def forward(self, x: Any) -> torch.Tensor:
        """The outputs: shape ``(N, d_out)``, or ``(N,)`` when ``d_out == 1``.

        ``x`` has shape ``(N, d)`` (or ``(d,)``: then the batch dimension is dropped too) and
        the dtype of the parameters (``TypeError`` otherwise; numpy arrays are cast).
        """
        a = network_input(x, self.d, self.weights[0])
        for l in range(self.depth):
            a = self._act.phi(self._layer(l, a))
        out = self._layer(self.depth, a)
        return out.squeeze(-1) if self.d_out == 1 else out

    def _forward_backward(self, x: torch.Tensor):
        """Inputs ``a_{l-1}`` of every layer and ``delta_l = df_o/dh_l``, shape (N, O, n_l)."""
        inputs, slopes = [x], []
        a = x
        for l in range(self.depth):
            h = self._layer(l, a)
            slopes.append(self._act.dphi(h))
            a = self._act.phi(h)
            inputs.append(a)
        eye = torch.eye(self.d_out, dtype=x.dtype, device=x.device)
        deltas = [eye.expand(x.shape[0], self.d_out, self.d_out)]
        for l in range(self.depth - 1, -1, -1):
            back = (deltas[-1] @ self.weights[l + 1]) * self._alpha[l + 1]
            deltas.append(slopes[l][:, None, :] * back)
        deltas.reverse()
        return inputs, deltas

    def structured_ntk(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Tangent kernel without Jacobians: a sum over layers of products of Gram matrices.

        ``Theta_oo'(x, x') = sum_l (delta_l^o . delta_l^o') (alpha_l^2 a_{l-1}.a_{l-1}' + beta^2)``
        with ``delta_l^o = df_o/dh_l``, ``a_{l-1}`` the input of layer ``l`` and
        ``h_l = alpha_l W_l a_{l-1} + beta b_l`` (``alpha_l = W_std / sqrt(n_{l-1})``,
        ``beta = b_std`` in NTK parameterization, both 1 in standard).

        Parameters
        ----------
        x1, x2 : torch.Tensor
            Shapes ``(N1, d)`` and ``(N2, d)``, already checked (no input checks here).

        Returns
        -------
        torch.Tensor
            ``(N1, N2)`` when ``d_out == 1``, else ``(N1, N2, d_out, d_out)``.

        Examples
        --------
        >>> import torch
        >>> from ntklab.networks import MLP
        >>> x = torch.eye(3, dtype=torch.float64)
        >>> MLP(3, 8, 1, d_out=2, seed=0).structured_ntk(x, x).shape
        torch.Size([3, 3, 2, 2])
        """
        in1, de1 = self._forward_backward(x1)
        same = x2 is x1
        in2, de2 = (in1, de1) if same else self._forward_backward(x2)
        out = 0
        for l in range(self.depth + 1):
            gram = (in1[l] @ in2[l].T) * self._alpha[l] ** 2 + self._beta**2
            if self.d_out == 1:  # one output: a plain matrix product of the derivatives
                out = out + gram * (de1[l][:, 0] @ de2[l][:, 0].T)
            else:
                dd = torch.einsum("aon,bpn->abop", de1[l], de2[l])
                out = out + gram[:, :, None, None] * dd
        return out

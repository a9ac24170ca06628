"""Composition: serial, and residual branches (FanOut, parallel, FanInSum)."""

from __future__ import annotations

from ..validation import check_positive_int
from ._engine import Layer, _describe, _Pair, _Tile
from .linear import _Weighted
from .modules import _Lambda, _ParallelModule, _SerialModule


class _Serial(Layer):
    def __init__(self, layers):
        self.layers = tuple(layers)

    def _contains_pool(self):
        return any(layer._contains_pool() for layer in self.layers)

    def _shape(self, shape, arg):
        for layer in self.layers:
            shape = layer._shape(shape, arg)
        return shape

    def _apply(self, tile, full):
        for layer in self.layers:
            tile = layer._apply(tile, full)
        return tile

    def _module(self, shape, width, out, gen, dtype):
        weighted = [i for i, layer in enumerate(self.layers) if isinstance(layer, _Weighted)]
        last = weighted[-1] if weighted else -1
        modules = []
        for i, layer in enumerate(self.layers):
            module, shape = layer._module(shape, width, out if i == last else width, gen, dtype)
            modules.append(module)
        return _SerialModule(*modules), shape


def serial(*layers: Layer) -> Layer:
    """Compose layers, first applied first (neural-tangents' ``stax.serial``).

    Parameters
    ----------
    *layers : Layer
        At least one layer.

    Returns
    -------
    Layer
        The composition, with ``kernels`` and ``network``.

    Raises
    ------
    TypeError
        An argument that is not a layer.
    ValueError
        No layers.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.Dense(), L.Erf(), L.Dense())
    >>> print(round(float(arch.kernels([[1.0]]).ntk[0, 0]), 6))
    1.033969
    """
    return _Serial(_check_layers(layers, "layers"))


def _check_layers(layers, name):
    if not layers:
        raise ValueError(f"{name}: give at least one layer")
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"{name} must be ntklab.layers layers, got {type(layer).__name__}")
    return layers


class FanOut(Layer):
    """Copy the input into ``n`` branches (for :func:`parallel`, then :class:`FanInSum`).

    Examples
    --------
    >>> from ntklab import layers as L
    >>> block = L.serial(L.FanOut(2), L.parallel(L.Dense(), L.Identity()), L.FanInSum())
    >>> print(float(block.kernels([[1.0]]).nngp[0, 0]))
    2.0
    """

    def __init__(self, n: int):
        self.n = check_positive_int(n, "n")

    def _shape(self, shape, arg):
        if isinstance(shape, list):
            raise ValueError(f"FanOut needs one branch; {arg} gives several")
        return [shape] * self.n

    def _apply(self, tile, full):
        return [tile] * self.n

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda x: [x] * self.n), [shape] * self.n


class _Parallel(Layer):
    def __init__(self, branches):
        self.branches = tuple(branches)

    def _contains_pool(self):
        return any(b._contains_pool() for b in self.branches)

    def _shape(self, shape, arg):
        if not isinstance(shape, list) or len(shape) != len(self.branches):
            raise ValueError(
                f"parallel with {len(self.branches)} branches needs as many inputs (use "
                f"FanOut({len(self.branches)}) before it); {arg} gives it {_describe(shape)}"
            )
        return [b._shape(s, arg) for b, s in zip(self.branches, shape, strict=True)]

    def _apply(self, tile, full):
        return [b._apply(t, full) for b, t in zip(self.branches, tile, strict=True)]

    def _module(self, shape, width, out, gen, dtype):
        branches = zip(self.branches, shape, strict=True)
        pairs = [b._module(s, width, width, gen, dtype) for b, s in branches]
        return _ParallelModule([m for m, _ in pairs]), [s for _, s in pairs]


def parallel(*branches: Layer) -> Layer:
    """Apply branch ``i`` to input ``i`` of a list of branches (neural-tangents' ``parallel``).

    Parameters
    ----------
    *branches : Layer
        One layer (or :func:`serial`) per branch.

    Returns
    -------
    Layer

    Raises
    ------
    TypeError, ValueError
        Arguments that are not layers, none at all; at use, an input that is not a list of
        as many branches.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.FanOut(2), L.parallel(L.serial(L.Dense(), L.ReLU()), L.Identity()),
    ...                 L.FanInSum())
    >>> print(float(arch.kernels([[2.0]]).nngp[0, 0]))
    6.0
    """
    return _Parallel(_check_layers(branches, "branches"))


class FanInSum(Layer):
    """Sum the branches: their kernels add.

    As in neural-tangents this assumes the branches independent, which holds in the
    infinite-width limit when every branch but one has a Dense or Conv of its own (a
    residual block ``parallel(serial(..., Conv), Identity())``); two branches computing the
    same thing would really be correlated, and their summed kernel is then not the network's.

    Examples
    --------
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.FanOut(2), L.parallel(L.Dense(), L.Dense()), L.FanInSum())
    >>> print(float(arch.kernels([[1.0]]).nngp[0, 0]))
    2.0
    """

    def _shape(self, shape, arg):
        if not isinstance(shape, list):
            raise ValueError(f"FanInSum needs several branches (after FanOut); {arg} gives one")
        if any(s != shape[0] for s in shape):
            raise ValueError(f"FanInSum needs branches of one shape, got {shape} ({arg})")
        return shape[0]

    def _apply(self, tiles, full):
        def add(*pairs):
            return _Pair(sum(p.nngp for p in pairs), sum(p.ntk for p in pairs), pairs[0].lead)

        s1 = add(*(t.s1 for t in tiles))
        same = all(t.s2 is t.s1 for t in tiles)
        return _Tile(s1, s1 if same else add(*(t.s2 for t in tiles)), add(*(t.c for t in tiles)))

    def _module(self, shape, width, out, gen, dtype):
        return _Lambda(lambda xs: sum(xs)), shape[0]

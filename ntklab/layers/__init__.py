"""Infinite-width kernels of any architecture, and the matching finite networks.

One description of an architecture gives its NNGP and NTK in the infinite-width limit
(:meth:`Layer.kernels`) and a finite ``torch.nn.Module`` in NTK parameterization whose kernels
converge to them as the width grows (:meth:`Layer.network`)::

    from ntklab import layers as L
    arch = L.serial(L.Conv(kernel_size=3, padding="same", W_std=1.5, b_std=0.1), L.ReLU(),
                    L.GlobalAvgPool(), L.Dense(W_std=1.5, b_std=0.1))
    k = arch.kernels(x1)                         # k.nngp, k.ntk: (N1, N2)
    net = arch.network(in_shape=(1, 8, 8), width=512, seed=0)

Conventions are neural-tangents' (``stax``), so the numbers agree with it to rounding:

* inputs are vectors (N, d) or images (N, C, H, W) (PyTorch's layout; NHWC in neural-tangents);
  they enter as ``Sigma_0(x, x') = x.x' / d`` for vectors and, per pixel pair ``(p, p')``,
  ``Sigma_0 = sum_c x_{c p} x'_{c p'} / C`` for images; ``Theta_0 = 0``;
* :class:`Dense` and :class:`Conv` (NTK parameterization, weights ``N(0, W_std^2 / fan_in)``)
  map ``(Sigma, Theta)`` to ``Sigma' = W_std^2 A(Sigma) + b_std^2`` and
  ``Theta' = Sigma' + W_std^2 A(Theta)``, where ``A`` is the identity for Dense and, for Conv,
  the average of the pixel-pair covariance over the filter window,
  ``A(S)[p, p'] = mean_d S[s p + d, s p' + d]`` (out-of-image pixels count as zero for
  ``"same"``, wrap around for ``"circular"``);
* an activation maps ``Sigma`` to ``E[phi(u) phi(v)]`` and ``Theta`` to
  ``Theta E[phi'(u) phi'(v)]``, ``(u, v)`` centred Gaussian with the covariance of the pair;
* :class:`AvgPool` averages over both windows, ``mean_{d, d'} S[s p + d, s p' + d']`` (no
  weights, nothing added); :class:`GlobalAvgPool` averages over all pixel pairs;
  :class:`Flatten` takes the mean over the pixel diagonal ``mean_p S[p, p]``;
* :class:`LayerNorm` (over channels) divides by ``sqrt((eps + Var u)(eps + Var v))``;
* :func:`FanOut`, :func:`parallel` and :class:`FanInSum` build residual blocks (kernels of
  summed branches add).

Memory and time.  Before a pooling layer the kernel of a pair of images is a covariance over
pixel pairs, ``P^2`` numbers for ``P`` pixels; architectures without pooling keep only its
pixel diagonal (``P`` numbers), as neural-tangents does.  The Gram matrix is computed in
cache-sized tiles of pairs (about ``2^18`` numbers per tile tensor by default) spread over
``torch.get_num_threads()`` threads, so peak memory is the outputs plus a few tiles.  The
input NTK (zero) is never averaged, window averages add shifted views without a padded copy,
and without autograd ReLU's map works in place on its own temporaries.  Measured
(benchmarks/bench_layers.py, float64, 2 shared CPU cores): a two-convolution CNN with global
average pooling on 1 x 8 x 8 images costs about 0.27 ms of CPU time per pair (3.6 ms with the
earlier 16 MiB tiles and torch's own threads), so 500 images (125,250 pairs by symmetry) take
about 34 s and add no measurable peak memory, and scikit-learn's 1,797 digits (1.6 million
pairs) take 604 CPU-seconds (0.37 ms per pair; 316 s of wall time on 2 idle cores) and add
118 MiB of peak memory (500 images: 28 s wall, +46 MiB).  ``kernels(..., compiled=True)``
runs the activation maps compiled by ``torch.compile`` (see ``ntklab/layers/_compile.py``).

Fully connected chains, ``serial(Dense, act, Dense, ..., act, Dense)`` on vectors (nested
``serial`` flattened; an activation may end the chain), run on their own path
(``ntklab/layers/_chain.py``), which is :func:`ntklab.analytic.mlp_kernels`: the kernels of a
pair of vectors are numbers, so the ReLU recursion carries each pair's angle from layer to
layer, computed stably from the input vectors (exact zero angles, exact symmetric diagonals,
zero inputs without NaN), and large calls of ReLU chains compile into one loop over a row
block (by default from ``3e8`` pairs times ReLU layers on a CPU).

Kernels are differentiable with respect to the inputs (in-place operations touch only the
engine's own temporaries, and ReLU's in-place map runs only when nothing requires grad) and
keep the caller's dtype and device.
"""

from ._engine import PADDINGS, Kernels, Layer
from .activations import Activation, Erf, Identity, ReLU
from .branching import FanInSum, FanOut, parallel, serial
from .linear import AvgPool, Conv, Dense, Flatten, GlobalAvgPool, LayerNorm

__all__ = [
    "PADDINGS",
    "Activation",
    "AvgPool",
    "Conv",
    "Dense",
    "Erf",
    "FanInSum",
    "FanOut",
    "Flatten",
    "GlobalAvgPool",
    "Identity",
    "Kernels",
    "Layer",
    "LayerNorm",
    "ReLU",
    "parallel",
    "serial",
]

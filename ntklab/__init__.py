"""ntklab: neural tangent kernels in PyTorch.

The library (what a researcher imports):

* :mod:`ntklab.networks` - network families as ``torch.nn.Module``\\ s, linearization of any model;
* :mod:`ntklab.empirical` - empirical NTK / NNGP and Jacobians of any torch model;
* :mod:`ntklab.layers` - infinite-width NNGP/NTK of any architecture (Dense, Conv, pooling,
  LayerNorm, residual branches) and the matching finite networks;
* :mod:`ntklab.analytic` - infinite-width kernels in closed form (arc-cosine, MLP recursion);
* :mod:`ntklab.predict` - infinite-width predictions, GP inference, marginal likelihood;
* :mod:`ntklab.dynamics` - gradient descent on models, their linearizations, closed forms;
* :mod:`ntklab.regression` - linear and kernel least squares, kernels and feature maps;
* :mod:`ntklab.spherical` - spherical harmonics and Mercer spectra of dot-product kernels;
* :mod:`ntklab.linalg` - PSD solves without inverses, cached eigendecompositions;
* :mod:`ntklab.data` - synthetic data sets;
* :mod:`ntklab.scale` - Gram matrices block by block, in process or on a Dask cluster, to zarr;
* :mod:`ntklab.progress` - progress bars for long loops;
* :mod:`ntklab.validation` - the argument checks every public function uses.

The course's helpers, one chapter's theorem each, are apart in :mod:`ntklab.course`.

Conventions (the same in every module of the library):

======================  ==========================================================================
name                    meaning
======================  ==========================================================================
``x1, x2``              inputs of a kernel, shapes ``(N1, ...)`` and ``(N2, ...)``;
                        ``x2=None`` means ``x2 = x1`` (and a symmetric result)
``x, y``                training inputs ``(m, ...)`` and targets ``(m,)`` or ``(m, O)``
``x_test``              test inputs ``(N, ...)``
``width, depth``        hidden width and number of hidden layers
``d, d_out``            input and output dimension of a network
``step_size``           the gradient-descent step on the course's loss
                        ``sum_i (f(x_i) - y_i)^2``
``learning_rate``       neural-tangents' step, on its loss ``||f - y||^2 / (2 m)``, used by
                        :mod:`ntklab.predict` only (convert with
                        :func:`ntklab.dynamics.to_course_step` and
                        :func:`ntklab.dynamics.from_course_step`)
``ridge``               an absolute regularizer: ``K + ridge I``
``diag_reg``            neural-tangents' relative regularizer: ``K + diag_reg (tr K / m) I``
``quadrature_order``    number of nodes of a quadrature rule
``seed, generator``     every function that draws takes either (never both); draws are made on the
                        CPU with a CPU generator and then moved to ``device``, so a seed gives the
                        same numbers on every device
``dtype, device``       tensors keep the caller's; numpy arrays and Python numbers become float64
                        on the CPU; ``device`` is a ``str``, ``int`` (a CUDA index) or
                        ``torch.device``, and a CUDA request on a machine without CUDA is a
                        ``ValueError``
dtype mixing            two tensor arguments of different floating dtypes (or data of another dtype
                        than a network's parameters) are refused with a ``TypeError`` naming both
                        (:func:`ntklab.validation.check_same_dtype`); cast explicitly
======================  ==========================================================================

Bad input raises ``TypeError`` (wrong kind of object) or ``ValueError`` (wrong value) naming
the argument, before any work is done.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

_SUBMODULES = (
    "analytic",
    "course",
    "data",
    "dynamics",
    "empirical",
    "layers",
    "linalg",
    "networks",
    "predict",
    "progress",
    "regression",
    "scale",
    "spherical",
    "validation",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    # submodules load on first use, so ``import ntklab`` stays fast and torch-free paths stay cheap
    if name in _SUBMODULES:
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ntklab' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

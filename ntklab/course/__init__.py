"""The course's helpers: code that exists for one chapter's theorem, not for general use.

Names here may follow the sources (``theorem_11_13_bounds``, ``Assumption1112``); each
docstring says which result of which source it computes. The library proper (networks,
kernels, predictions, dynamics) is in the other subpackages of :mod:`ntklab`.

* :mod:`ntklab.course.arora` - chapters 3 and 5, Theorems 3.1 and 3.2 of Arora et al.;
* :mod:`ntklab.course.kernel_gd` - chapter 3, kernel gradient descent with random features;
* :mod:`ntklab.course.lazy_training` - chapter 3, how much training moves a wide network;
* :mod:`ntklab.course.lazy_relu` - chapter 1, the two-layer ReLU network near initialization;
* :mod:`ntklab.course.examples` - chapter 2, data sets of the sources' worked examples;
* :mod:`ntklab.course.gaussian_process` - chapter 5, the Gaussian-process checks;
* :mod:`ntklab.course.convergence` - chapter 4, the quantities of Theorems 11.13 and 11.23;
* :mod:`ntklab.course.wide_training` - chapter 4, Zou & Gu, SGD and natural gradient (slides);
* :mod:`ntklab.course.inductive_bias` - chapter 6, Bietti & Mairal's random features and
  Corollary 7;
* :mod:`ntklab.course.smooth_activations` - chapter 6, Bietti & Mairal's Proposition 9;
* :mod:`ntklab.course.generalization` - chapter 7, the generalization bounds of the slides;
* :mod:`ntklab.course.convolutional` - chapter 8, kernel and CNN classifiers on the digits;
* :mod:`ntklab.course.report` - the one visible line of a chapter's hidden check;
* :mod:`ntklab.course.stats` - power-law fits and binomial intervals used by the checks;
* :mod:`ntklab.course.plotting` - the course's figure style.
"""

from importlib import import_module as _import_module

_SUBMODULES = (
    "arora",
    "convergence",
    "convolutional",
    "examples",
    "gaussian_process",
    "generalization",
    "inductive_bias",
    "kernel_gd",
    "lazy_relu",
    "lazy_training",
    "plotting",
    "report",
    "smooth_activations",
    "stats",
    "wide_training",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ntklab.course' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

"""ntklab: neural tangent kernels in PyTorch.

Modules (one per concept of the course):

* :mod:`ntklab.validation` - argument checks shared by every public function;
* :mod:`ntklab.linalg` - PSD solves without inverses, cached eigendecompositions;
* :mod:`ntklab.data` - synthetic data sets of the chapters;
* :mod:`ntklab.analytic` - infinite-width kernels;
* :mod:`ntklab.stats` - power-law fits and binomial intervals used by the checks;
* :mod:`ntklab.plotting` - the course's figure style;
* :mod:`ntklab.progress` - progress bars for long loops.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

_SUBMODULES = (
    "analytic",
    "data",
    "dynamics",
    "empirical",
    "lazy_relu",
    "linalg",
    "networks",
    "plotting",
    "predict",
    "progress",
    "regression",
    "spherical",
    "stats",
    "theory",
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

"""One figure style for the whole course, and the plots every chapter repeats.

Call :func:`use_style` once at the top of a chapter.  :func:`loglog_with_fit` draws measured
points on log-log axes together with their fitted power law (the book's standard picture for
"error against width, slope about -1/2").
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np

from .stats import PowerLawFit, fit_power_law

__all__ = ["COLORS", "loglog_with_fit", "subplots", "use_style"]

#: Colour cycle (Okabe-Ito, readable by colour-blind readers and in greyscale print).
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

_STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
}


def use_style() -> None:
    """Apply the course's matplotlib style (and the non-interactive backend when headless)."""
    mpl.rcParams.update(_STYLE)


def subplots(nrows: int = 1, ncols: int = 1, *, width: float | None = None, **kwargs):
    """``plt.subplots`` with the course style and a width that fits the book's column."""
    import matplotlib.pyplot as plt

    use_style()
    width = width if width is not None else min(4.2 * ncols, 10.0)
    height = kwargs.pop("height", 3.4 * nrows)
    return plt.subplots(nrows, ncols, figsize=(width, height), constrained_layout=True, **kwargs)


def loglog_with_fit(
    ax: Any,
    x: Any,
    y: Any,
    *,
    label: str = "measured",
    color: str | None = None,
    marker: str = "o",
    reference_slope: float | None = None,
) -> PowerLawFit:
    """Plot ``y`` against ``x`` on log-log axes with the least-squares power-law fit.

    The fitted slope goes into the legend.  ``reference_slope`` (e.g. ``-0.5``) adds a dotted
    line of that slope through the first point, for comparison with the theory.  Returns the fit.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    fit = fit_power_law(x, y)
    (pts,) = ax.loglog(x, y, marker, color=color, label=label)
    xs = np.geomspace(x.min(), x.max(), 50)
    ax.loglog(
        xs, fit(xs), "-", color=pts.get_color(), alpha=0.7, label=f"fit: slope {fit.slope:.2f}"
    )
    if reference_slope is not None:
        ax.loglog(
            xs,
            y[np.argmin(x)] * (xs / x.min()) ** reference_slope,
            ":",
            color="0.4",
            label=f"slope {reference_slope:g}",
        )
    ax.legend()
    return fit

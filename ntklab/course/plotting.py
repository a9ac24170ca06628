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
    """Apply the course's matplotlib style (Okabe-Ito colours, light grid, no top/right spines).

    Examples
    --------
    >>> use_style()
    >>> import matplotlib as mpl
    >>> mpl.rcParams["axes.grid"]
    True
    """
    mpl.rcParams.update(_STYLE)


def subplots(nrows: int = 1, ncols: int = 1, *, width: float | None = None, **kwargs):
    """``plt.subplots`` with the course style and a size that fits the book's column.

    Parameters
    ----------
    nrows, ncols : int, optional
        Grid of axes (default one).
    width : float, optional
        Figure width in inches (default ``min(4.2 ncols, 10)``).
    **kwargs
        ``height`` (inches, default ``3.4 nrows``) and anything else ``plt.subplots`` takes.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes or numpy.ndarray of them

    Examples
    --------
    >>> fig, axes = subplots(1, 2)
    >>> axes.shape, [round(float(v), 1) for v in fig.get_size_inches()]
    ((2,), [8.4, 3.4])
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
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

    The fitted slope goes into the legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    x, y : array_like
        Positive numbers of equal length (at least 2).
    label : str, optional
        Legend entry of the points.
    color : str, optional
        Colour of the points and the fit (default: the next of the cycle).
    marker : str, optional
        Matplotlib marker of the points.
    reference_slope : float, optional
        Adds a dotted line of that slope through the point of smallest ``x``, for comparison
        with the theory (e.g. ``-0.5``).

    Returns
    -------
    PowerLawFit
        The fit of :func:`~ntklab.course.stats.fit_power_law`.

    Raises
    ------
    ValueError
        As :func:`~ntklab.course.stats.fit_power_law`.

    Examples
    --------
    >>> fig, ax = subplots()
    >>> x = np.array([10.0, 100.0, 1000.0])
    >>> fit = loglog_with_fit(ax, x, 2 / np.sqrt(x), reference_slope=-0.5)
    >>> round(fit.slope, 6)
    -0.5
    >>> import matplotlib.pyplot as plt; plt.close(fig)
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

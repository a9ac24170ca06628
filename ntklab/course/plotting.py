"""One figure style for the whole course, and the plots every chapter repeats.

Call :func:`use_style` once at the top of a chapter and make figures with :func:`subplots`.
The style is sized for the page: the book's text column is about 7 inches wide at the figure
resolution (100 dpi, 700 CSS pixels), so a figure at most :data:`MAX_WIDTH` wide is shown at
its own size and its fonts (9.5 to 11 pt) stay at least 9 pt on the page; :func:`subplots`
shrinks a wider request to that width (keeping its aspect ratio). :func:`legend_outside` puts
a legend beside or below the axes, where it hides no data. :func:`loglog_with_fit` draws
measured points on log-log axes together with their fitted power law (the book's standard
picture for "error against width, slope about -1/2").
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np

from .stats import PowerLawFit, fit_power_law

__all__ = ["COLORS", "MAX_WIDTH", "legend_outside", "loglog_with_fit", "subplots", "use_style"]

#: Widest figure (inches) that the book shows without scaling it down: the text column.
MAX_WIDTH = 7.0

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
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
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
        Figure width in inches (default ``min(3.5 ncols, 7)``). A width above
        :data:`MAX_WIDTH` is reduced to it and the height scaled by the same factor, so that
        the fonts are not shrunk below 9 pt on the page.
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
    ((2,), [7.0, 3.4])
    >>> fig2, ax = subplots(width=10.0, height=4.0)  # too wide for the page: scaled to 7 in
    >>> [round(float(v), 1) for v in fig2.get_size_inches()]
    [7.0, 2.8]
    >>> import matplotlib.pyplot as plt; plt.close(fig); plt.close(fig2)
    """
    import matplotlib.pyplot as plt

    use_style()
    width = width if width is not None else min(3.5 * ncols, MAX_WIDTH)
    height = kwargs.pop("height", 3.4 * nrows)
    if width > MAX_WIDTH:  # wider figures would be scaled down on the page, fonts too
        width, height = MAX_WIDTH, height * MAX_WIDTH / width
    return plt.subplots(nrows, ncols, figsize=(width, height), constrained_layout=True, **kwargs)


def legend_outside(target: Any, *, where: str = "right", ncols: int | None = None, **kwargs):
    """Put the legend outside the data: to the right of the axes, or below the figure.

    Parameters
    ----------
    target : matplotlib.axes.Axes or matplotlib.figure.Figure
        An axes (its own legend entries) or a figure (the entries of all its axes, each label
        once, in one legend below the axes; legends already on the axes are removed).
    where : {"right", "below"}, optional
        For an axes: beside it, on the right (default), or under it.
    ncols : int, optional
        Columns of the legend (default 1 on the right, 2 below).
    **kwargs
        Passed to ``legend``.

    Returns
    -------
    matplotlib.legend.Legend

    Raises
    ------
    ValueError
        If ``where`` is not "right" or "below".

    Examples
    --------
    >>> fig, ax = subplots()
    >>> _ = ax.plot([1, 2], [1, 2], label="data")
    >>> leg = legend_outside(ax)
    >>> [t.get_text() for t in leg.get_texts()]
    ['data']
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    from matplotlib.figure import Figure

    if where not in ("right", "below"):
        raise ValueError(f"where must be 'right' or 'below', got {where!r}")
    if isinstance(target, Figure):
        handles, labels = {}, []
        for ax in target.axes:
            if ax.get_legend() is not None:  # e.g. drawn by loglog_with_fit: moved below
                ax.get_legend().remove()
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in handles:
                    handles[lab] = h
                    labels.append(lab)
        return target.legend(
            [handles[lab] for lab in labels],
            labels,
            loc="outside lower center",
            ncols=ncols or 2,
            **kwargs,
        )
    if where == "right":
        return target.legend(
            loc="upper left", bbox_to_anchor=(1.02, 1.0), ncols=ncols or 1, **kwargs
        )
    return target.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=ncols or 2, **kwargs
    )


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

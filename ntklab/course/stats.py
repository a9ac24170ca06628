"""Small statistics used to check the book's claims: power-law slopes and binomial intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..validation import check_positive_int, check_probability

__all__ = ["PowerLawFit", "fit_power_law", "wilson_interval"]


class PowerLawFit(tuple):
    """Result of :func:`fit_power_law`: ``(slope, prefactor)`` with ``y ~ prefactor * x**slope``.

    A tuple; calling it evaluates the fitted law.

    Parameters
    ----------
    slope, prefactor : float
        The exponent and the factor of the law.

    Examples
    --------
    >>> fit = PowerLawFit(-0.5, 3.0)
    >>> fit.slope, float(fit(4.0))
    (-0.5, 1.5)
    """

    __slots__ = ()

    def __new__(cls, slope: float, prefactor: float):
        return super().__new__(cls, (slope, prefactor))

    @property
    def slope(self) -> float:
        """The exponent of the fitted law."""
        return self[0]

    @property
    def prefactor(self) -> float:
        """The factor of the fitted law."""
        return self[1]

    def __call__(self, x: Any) -> np.ndarray:
        """``prefactor * x**slope`` for the numbers or array ``x``."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope

    def __repr__(self) -> str:
        return f"PowerLawFit(slope={self.slope:.4g}, prefactor={self.prefactor:.4g})"


def fit_power_law(x: Any, y: Any) -> PowerLawFit:
    """Least-squares fit of ``log y = slope * log x + log prefactor``.

    Used for the "error against width on log-log axes, slope about -1/2" checks of the book.

    Parameters
    ----------
    x, y : array_like
        Positive finite numbers, the same number (at least 2) of each.

    Returns
    -------
    PowerLawFit
        ``(slope, prefactor)``.

    Raises
    ------
    ValueError
        If the lengths differ, there are fewer than 2 points, or an entry is not finite and
        positive.

    Examples
    --------
    >>> x = np.array([10.0, 100.0, 1000.0])
    >>> fit = fit_power_law(x, 3.0 * x**-0.5)
    >>> round(fit.slope, 9), round(fit.prefactor, 9)
    (-0.5, 3.0)
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"need at least 2 points to fit a power law, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive to fit a power law on log-log axes")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLawFit(float(slope), float(math.exp(intercept)))


def wilson_interval(successes: int, trials: int, *, alpha: float = 0.01) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` Wilson score interval for a binomial proportion.

    Used where the book claims "the bound holds with probability at least ``1 - delta``": the
    observed fraction of ``trials`` random draws is compared with ``1 - delta`` through this
    interval rather than exactly, because the observed fraction itself is random.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= trials``.
    trials : int
        Number of trials, ``>= 1``.
    alpha : float, optional
        One minus the confidence level, in ``(0, 1)`` (default 0.01: a 99% interval).

    Returns
    -------
    low, high : float
        The interval's ends, clipped to ``[0, 1]``.

    Raises
    ------
    TypeError
        If ``successes`` or ``trials`` is not an integer.
    ValueError
        If ``successes`` is outside ``[0, trials]`` or ``alpha`` outside ``(0, 1)``.

    Examples
    --------
    >>> low, high = wilson_interval(90, 100, alpha=0.05)
    >>> round(low, 4), round(high, 4)
    (0.8256, 0.9448)
    """
    trials = check_positive_int(trials, "trials")
    if isinstance(successes, bool) or not isinstance(successes, (int, np.integer)):
        raise TypeError(f"successes must be an integer, got {type(successes).__name__}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, trials={trials}], got {successes}")
    alpha = check_probability(alpha, "alpha")
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)

"""Small statistics used to check the book's claims: power-law slopes and binomial intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..validation import check_positive_int, check_probability

__all__ = ["PowerLawFit", "fit_power_law", "wilson_interval"]


class PowerLawFit(tuple):
    """Result of :func:`fit_power_law`: ``(slope, prefactor)`` with ``y ~ prefactor * x**slope``."""

    __slots__ = ()

    def __new__(cls, slope: float, prefactor: float):
        return super().__new__(cls, (slope, prefactor))

    @property
    def slope(self) -> float:
        return self[0]

    @property
    def prefactor(self) -> float:
        return self[1]

    def __call__(self, x: Any) -> np.ndarray:
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope

    def __repr__(self) -> str:
        return f"PowerLawFit(slope={self.slope:.4g}, prefactor={self.prefactor:.4g})"


def fit_power_law(x: Any, y: Any) -> PowerLawFit:
    """Least-squares fit of ``log y = slope * log x + log prefactor``.

    ``x`` and ``y`` are 1-D arrays of positive numbers of equal length (at least 2).  Used for
    the "error against width on log-log axes, slope about -1/2" checks of the book.
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

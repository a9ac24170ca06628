"""Progress bars for long loops (tqdm), silent where nobody watches.

``NTKLAB_PROGRESS=0`` turns every bar off, ``NTKLAB_PROGRESS=1`` forces them on; otherwise a
bar is shown only when standard error is a terminal (so tests, CI logs and the built book stay
clean).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

__all__ = ["progress", "progress_enabled"]


def progress_enabled(enabled: bool | None = None) -> bool | None:
    """Resolve the ``progress=`` argument of ntklab functions.

    Parameters
    ----------
    enabled : bool or None, optional
        ``True``/``False`` force the bar on/off; ``None`` (default) defers to the environment
        variable ``NTKLAB_PROGRESS`` (``0``/``false`` off, ``1``/``true`` on) and, if it is
        unset, to tqdm (a bar only when standard error is a terminal).

    Returns
    -------
    bool or None
        ``True`` (show), ``False`` (hide) or ``None`` (tqdm decides).

    Examples
    --------
    >>> progress_enabled(False), progress_enabled(True)
    (False, True)
    """
    if enabled is not None:
        return bool(enabled)
    env = os.environ.get("NTKLAB_PROGRESS", "").strip()
    if env in {"0", "false", "False"}:
        return False
    if env in {"1", "true", "True"}:
        return True
    return None  # tqdm decides: on for a terminal, off otherwise


def progress(iterable: Iterable[Any], *, enabled: bool | None = None, **kwargs: Any) -> tqdm:
    """Wrap ``iterable`` in a tqdm progress bar, shown according to :func:`progress_enabled`.

    Parameters
    ----------
    iterable : iterable
        What to loop over.
    enabled : bool or None, optional
        See :func:`progress_enabled`.
    **kwargs
        Passed to ``tqdm`` (e.g. ``desc``, ``total``).

    Returns
    -------
    iterable
        A ``tqdm`` object yielding the items of ``iterable``; the bar is removed when the loop
        ends.

    Examples
    --------
    >>> sum(progress(range(4), enabled=False))
    6
    """
    state = progress_enabled(enabled)
    disable = None if state is None else not state
    return tqdm(iterable, disable=disable, dynamic_ncols=True, leave=False, **kwargs)

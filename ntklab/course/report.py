"""One visible line per check: what a chapter's hidden check cell verified, and the figure it
measured, wrapped to the book's output box."""

from __future__ import annotations

import textwrap

__all__ = ["BOX_WIDTH", "checked"]

#: Characters of a code or output line that fit the book's box at 1280 px (measured: 73).
BOX_WIDTH = 72


def checked(*parts: object, width: int = BOX_WIDTH) -> None:
    """Print a check's statement, the parts joined by spaces and wrapped.

    Parameters
    ----------
    *parts : object
        Pieces of the statement; each is converted with ``str``.
    width : int
        Largest line length (default :data:`BOX_WIDTH`).

    Raises
    ------
    ValueError
        If ``width`` is below 20.

    Examples
    --------
    >>> checked("Checked: the Gram matrix is symmetric;", "error 0e+00")
    Checked: the Gram matrix is symmetric; error 0e+00
    """
    if width < 20:
        raise ValueError(f"width must be at least 20 characters, got {width}")
    # nothing returned: a notebook would show it again as the cell's value
    print(textwrap.fill(" ".join(str(p) for p in parts), width))

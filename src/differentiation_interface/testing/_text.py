"""Plain-text tables that fit a terminal: columns shrink (with an ellipsis) to a width.

The command line and the selection table print through :func:`render`. A table wider than
the terminal shrinks its widest shrinkable column one character at a time, so short columns
(numbers, statuses) stay whole and long names or messages lose their tails.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence

__all__ = ["render", "seconds", "terminal_width"]

_GAP = "  "
_MIN = 6  # a shrunk column keeps at least this many characters


def terminal_width() -> int:
    """``$COLUMNS`` if set, else the terminal's width, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((80, 24)).columns


def _clip(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 0)] + "…"


def render(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    shrink: Sequence[int] | None = None,
) -> str:
    """The table as aligned lines no wider than ``width`` (default: the terminal's).

    ``shrink`` lists the columns that may be clipped, in order (default: all but the first,
    last first): each is clipped down to a few characters before the next is touched.

    Examples
    --------
    >>> from differentiation_interface.testing._text import render
    >>> print(render(["name", "note"], [["fd", "a rather long explanation"]], width=20))
    name  note
    ----  --------------
    fd    a rather long…
    """
    width = terminal_width() if width is None else width
    columns = len(header)
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(columns)]
    order = list(range(columns - 1, 0, -1)) if shrink is None else list(shrink)
    excess = sum(widths) + len(_GAP) * (columns - 1) - width
    for i in order:
        if excess <= 0:
            break
        cut = min(excess, max(widths[i] - _MIN, 0))
        widths[i] -= cut
        excess -= cut
    lines = []
    for n, line in enumerate(table):
        cells = [_clip(cell, w).ljust(w) for cell, w in zip(line, widths, strict=True)]
        lines.append(_GAP.join(cells).rstrip())
        if n == 0:
            lines.append(_GAP.join("-" * w for w in widths))
    return "\n".join(lines)


def seconds(value: float) -> str:
    """A duration in the unit that reads best (``"-"`` for NaN).

    Examples
    --------
    >>> from differentiation_interface.testing._text import seconds
    >>> seconds(2.5e-5), seconds(0.0123), seconds(3.0)
    ('25.0 us', '12.30 ms', '3.00 s')
    """
    if math.isnan(value):
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"

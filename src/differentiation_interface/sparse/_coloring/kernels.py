"""When to use the compiled loops of the colorings and orders (:mod:`.compiled_loops`).

The greedy algorithms are sequential by nature: the color of a vertex depends on the colors
of the neighbours before it in the order, and good orders (DSATUR's) propagate a pattern
across the graph one vertex at a time. In Python they cost about 0.1 µs per adjacency entry
(0.4 s for a 2-D stencil of 10⁵ points, 13 s at 10⁶); compiled, about a hundredth of that.
So graphs with at least :data:`COMPILED_ABOVE` adjacency entries use the loops below when
numba is installed (it is part of the ``[sparse]`` extra). They compute exactly what the
Python loops of :mod:`.greedy` and :mod:`.orders` compute: the same order, tie for tie, and
the same colors (``tests/sparse/test_coloring.py`` checks it on random graphs).

Small graphs keep the Python loops: importing numba takes about 0.4 s and loading the
compiled loops from numba's cache about 0.3 s more per process (compiling them the first time
in an environment takes a few seconds), more than coloring ten thousand vertices in Python.
Without numba every graph takes the Python loops, with identical results.
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["COMPILED_ABOVE", "compiled"]

#: Graphs with at least this many adjacency entries (twice the edges) use the compiled loops.
COMPILED_ABOVE = 200_000

_loops: list[Any] = []  # the compiled loops, once built (or None without numba)


def compiled(entries: int) -> Any:
    """The compiled loops for a graph of ``entries`` adjacency entries, or ``None`` when the
    Python loops are the better choice (a small graph) or the only one (no numba)."""
    if entries < COMPILED_ABOVE:
        return None
    if not _loops:
        if importlib.util.find_spec("numba") is None:
            _loops.append(None)
        else:
            from . import compiled_loops

            _loops.append(compiled_loops)
    return _loops[0]

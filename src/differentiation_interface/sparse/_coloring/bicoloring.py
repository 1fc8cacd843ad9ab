"""Bidirectional coloring of a Jacobian: some nonzeros from pushforwards, the others from
pullbacks (``di.MixedMode``).

A one-sided coloring needs as many colors as the densest row (column coloring) or column
(row coloring): an arrowhead pattern (a dense first row and column plus the diagonal)
needs ``n`` either way. Splitting the work lets each side ignore what the other recovers:

* **dense rows by pullbacks**: the rows with the most nonzeros get a row coloring among
  themselves (two of them sharing a column differ), every other row is *neutral* (in no
  pullback seed); the remaining rows' nonzeros come from pushforwards, with a column
  coloring of the pattern without the dense rows. Nonzero ``(i, j)`` of a dense row is
  entry ``[c(i), j]`` of the compressed pullbacks (the other rows of its color have no
  nonzero in column ``j``, and neutral rows are in no seed); any other nonzero is entry
  ``[c(j), i]`` of the compressed pushforwards (row ``i`` has no other column of that color).
* **dense columns by pushforwards**: the same on the transpose.

Which rows (or columns) count as dense is a threshold on their number of nonzeros; every
threshold where that number changes, up to :data:`MAX_SPLITS` of them from the densest,
is tried in both directions, and the fewest colors in total kept (the threshold that makes
nothing dense is the one-sided coloring, so the result is never worse than it). On the
arrowhead this gives 3 colors: the first row by one pullback, the first column and the
diagonal by two pushforwards. Each split costs two greedy colorings
(:func:`~.greedy.best_coloring`), so the search stays a small multiple of a one-sided
coloring.

The decompression index is checked like every other (:func:`check_reads`): a nonzero must
be alone in the compressed entry it is read from, counting every nonzero whose row or
column is in a seed, so a wrong split can never give wrong values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _pattern as P
from .decompression import ColoringError, count_colors
from .greedy import best_coloring, column_graph

__all__ = ["MAX_SPLITS", "Bicoloring", "bicoloring", "mixed_seeds"]

#: Most thresholds tried per direction (the densest rows or columns first).
MAX_SPLITS = 12


@dataclass
class Bicoloring:
    """A bidirectional coloring and how to decompress it.

    Attributes
    ----------
    column_colors : numpy.ndarray
        Pushforward color of each column, ``-1`` for columns in no pushforward seed.
    row_colors : numpy.ndarray
        Pullback color of each row, ``-1`` for rows in no pullback seed.
    forward_colors, reverse_colors : int
        Number of pushforwards and of pullbacks per Jacobian.
    index : numpy.ndarray
        Per nonzero (CSR order), its entry in the compressed pushforwards (flattened
        ``(forward_colors, m)``) followed by the compressed pullbacks (flattened
        ``(reverse_colors, n)``).
    order : str
        The vertex order of the greedy colorings that won.
    colors_per_split : dict
        Total colors of every split tried (``"rows>=k"``: rows with at least ``k`` nonzeros
        by pullbacks; ``"columns>=k"`` likewise by pushforwards); a negative number ``-b``
        for a split skipped because it needs at least ``b`` colors, no fewer than the best.
    """

    column_colors: Any
    row_colors: Any
    forward_colors: int
    reverse_colors: int
    index: Any
    order: str
    colors_per_split: dict[str, int] = field(default_factory=dict)


def _coords(pattern: P.Pattern) -> tuple[Any, Any]:
    csr = pattern.tocsr()
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    return rows, csr.indices.astype(np.int64)


def _thresholds(counts: Any) -> list[int]:
    """Nonzero counts at which the set of dense lines changes, densest first, then one
    above the maximum, which makes no line dense (the one-sided coloring)."""
    distinct = np.unique(counts[counts > 0])[::-1]
    return [*(int(c) for c in distinct[:MAX_SPLITS]), int(counts.max(initial=0)) + 1]


def _colors(
    pattern: P.Pattern,
    orders: tuple[str, ...],
    seed: int,
    *,
    rows: Any = None,
    columns: Any = None,
) -> tuple[Any, str]:
    """Column coloring of ``pattern`` restricted to the rows and columns in the boolean
    masks (``None``: all); a column with no nonzero left is neutral (``-1``). Colors are
    numbered ``0..k-1``."""
    r, c = _coords(pattern)
    keep = np.ones(r.shape[0], dtype=bool)
    if rows is not None:
        keep &= rows[r]
    if columns is not None:
        keep &= columns[c]
    kept = sp.csr_array(
        (np.ones(int(keep.sum()), dtype=bool), (r[keep], c[keep])), shape=pattern.shape
    )
    colors, order, _ = best_coloring("column", column_graph(kept), orders, seed=seed)
    colors = np.asarray(colors, dtype=np.int64)
    colors[np.diff(kept.tocsc().indptr) == 0] = -1
    out = np.full(colors.shape, -1, dtype=np.int64)
    used = colors >= 0
    if used.any():
        out[used] = np.unique(colors[used], return_inverse=True)[1]
    return out, order


def check_reads(pattern: P.Pattern, column_colors: Any, row_colors: Any, forward: Any) -> Any:
    """The decompression index (see :class:`Bicoloring`), after checking that every
    nonzero is alone in the compressed entry it is read from (``forward``: per nonzero in
    CSR order, read from the pushforwards)."""
    m, n = pattern.shape
    rows, cols = _coords(pattern)
    nf = count_colors(column_colors)
    cc, rc = column_colors[cols], row_colors[rows]
    if np.any(forward & (cc < 0)) or np.any(~forward & (rc < 0)):
        msg = "internal error: a nonzero is read from a seed its line is not in"
        raise ColoringError(msg)
    for read, owner, color, width in ((forward, rows, cc, nf), (~forward, cols, rc, None)):
        seeded = color >= 0  # every nonzero in a seed adds to its compressed entry
        span = max(int(color.max(initial=0)) + 1, 1) if width is None else max(width, 1)
        keys = owner * span + color
        counts = np.bincount(keys[seeded], minlength=int(keys.max(initial=0)) + 1)
        if read.any() and counts[keys[read]].max() > 1:
            msg = "internal error: the bicoloring does not allow direct decompression"
            raise ColoringError(msg)
    return np.where(forward, cc * m + rows, nf * m + rc * n + cols)


def bicoloring(pattern: P.Pattern, orders: tuple[str, ...], *, seed: int) -> Bicoloring:
    """The bidirectional coloring with the fewest colors in total (see the module
    docstring) of a Jacobian pattern ``(m, n)``."""
    pattern = sp.csr_array(pattern)
    transposed = sp.csr_array(pattern.T)
    rows, cols = _coords(pattern)
    row_counts = np.diff(pattern.indptr)
    col_counts = np.diff(transposed.indptr)
    best: tuple[int, Any, Any, Any, str] | None = None
    tried: dict[str, int] = {}
    for direction, counts in (("rows", row_counts), ("columns", col_counts)):
        lines, across = (rows, cols) if direction == "rows" else (cols, rows)
        for threshold in _thresholds(counts):
            dense = counts >= threshold
            # A lower bound of this split's total: the densest line left to the other side,
            # plus the most nonzeros of dense lines that one crossing line holds. Splits
            # that cannot win are skipped before their graphs are built (a dense line
            # makes a clique of its nonzeros: the one-sided arrowhead of n = 1e4 is 1e8
            # edges).
            crossing = np.bincount(across[dense[lines]], minlength=1)
            bound = int(counts[~dense].max(initial=0)) + int(crossing.max(initial=0))
            if best is not None and bound >= best[0]:
                tried[f"{direction}>={threshold}"] = -bound  # skipped: at least this many
                continue
            if direction == "rows":  # dense rows by pullbacks
                column_colors, order = _colors(pattern, orders, seed, rows=~dense)
                row_colors, _ = _colors(transposed, orders, seed, columns=dense)
                forward = ~dense[rows]
            else:  # dense columns by pushforwards
                column_colors, order = _colors(pattern, orders, seed, columns=dense)
                row_colors, _ = _colors(transposed, orders, seed, rows=~dense)
                forward = dense[cols]
            total = count_colors(column_colors) + count_colors(row_colors)
            tried[f"{direction}>={threshold}"] = total
            if best is None or total < best[0]:
                best = (total, column_colors, row_colors, forward, order)
    assert best is not None
    _, column_colors, row_colors, forward, order = best
    index = check_reads(pattern, column_colors, row_colors, forward)
    return Bicoloring(
        column_colors,
        row_colors,
        count_colors(column_colors),
        count_colors(row_colors),
        index,
        order,
        tried,
    )


def mixed_seeds(colors: Any, ncolors: int) -> Any:
    """The 0/1 seed matrix ``(ncolors, len(colors))`` of a coloring with neutral (``-1``)
    entries, which are in no seed."""
    matrix = np.zeros((ncolors, len(colors)))
    used = colors >= 0
    matrix[colors[used], np.nonzero(used)[0]] = 1.0
    return matrix

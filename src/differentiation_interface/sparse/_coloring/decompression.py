"""From colors to seeds, and from compressed derivatives back to the sparse matrix.

Everything here runs once, at preparation: it turns a pattern and its coloring into index
arrays, so that a call costs one gather of the compressed results into the nonzeros.

Compressed results have shape ``(ncolors, k)``: for column coloring, row ``c`` is ``J s_c``
(``k = m``) with ``s_c`` the 0/1 seed of color ``c``; for row coloring it is ``J^T s_c``
(``k = n``); for Hessians ``H s_c`` (``k = n``).

* Column coloring: nonzero ``(i, j)`` is entry ``[c(j), i]``.
* Row coloring: nonzero ``(i, j)`` is entry ``[c(i), j]``.
* Star coloring: nonzero ``(i, j)`` is entry ``[c(j), i]`` if ``j`` is ``i``'s only
  neighbour of its color, else entry ``[c(i), j]`` (one of the two holds for a star
  coloring; preparation checks it, so a bad coloring can never give wrong values).
* Acyclic coloring: entries of each two-colored tree are solved for leaf by leaf; this is
  a unit lower-triangular sparse system, solved on the host with scipy.

Each index is also the proof that the coloring is valid: preparation verifies, with
vectorised counts, that every nonzero is alone in its compressed entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _pattern as P

__all__ = [
    "ColoringError",
    "column_index",
    "count_colors",
    "row_index",
    "seeds",
    "star_index",
    "substitution",
]


class ColoringError(AssertionError):
    """A coloring does not allow decompression (a bug: colorings are checked)."""


def count_colors(colors: Any) -> int:
    """The number of colors of a coloring (0 for an empty one)."""
    return int(colors.max()) + 1 if colors.shape[0] else 0


def seeds(colors: Any, ncolors: int) -> Any:
    """The 0/1 seed matrix ``(ncolors, len(colors))``: row ``c`` marks the color ``c``."""
    matrix = np.zeros((ncolors, len(colors)))
    matrix[colors, np.arange(len(colors))] = 1.0
    return matrix


def _coords(pattern: P.Pattern) -> tuple[Any, Any]:
    rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
    return rows, pattern.indices.astype(np.int64)


def _check_alone(owner: Any, color: Any, ncolors: int, what: str) -> None:
    """Every (owner, color) pair must hold exactly one nonzero."""
    keys = owner * max(ncolors, 1) + color
    if keys.shape[0] and np.bincount(keys).max() > 1:
        msg = f"internal error: the {what} coloring is not structurally orthogonal"
        raise ColoringError(msg)


def column_index(pattern: P.Pattern, colors: Any) -> Any:
    """Gather index into the flattened ``(ncolors, m)`` compressed matrix, per nonzero."""
    m = pattern.shape[0]
    rows, cols = _coords(pattern)
    ncolors = count_colors(colors)
    _check_alone(rows, colors[cols], ncolors, "column")
    return colors[cols] * m + rows


def row_index(pattern: P.Pattern, colors: Any) -> Any:
    """Gather index into the flattened ``(ncolors, n)`` compressed matrix, per nonzero."""
    n = pattern.shape[1]
    rows, cols = _coords(pattern)
    ncolors = count_colors(colors)
    _check_alone(cols, colors[rows], ncolors, "row")
    return colors[rows] * n + cols


def star_index(pattern: P.Pattern, colors: Any) -> Any:
    """Gather index into the flattened ``(ncolors, n)`` compressed Hessian, per nonzero."""
    n = pattern.shape[0]
    ncolors = count_colors(colors)
    rows, cols = _coords(pattern)
    # neighbours[i, c]: how many nonzeros row i has in columns of color c.
    neighbours = sp.csr_array(
        (np.ones(rows.shape[0], dtype=np.int64), (rows, colors[cols])), shape=(n, max(ncolors, 1))
    ).toarray()
    direct = neighbours[rows, colors[cols]] == 1  # H[i, j] alone in entry [c(j), i]
    mirrored = neighbours[cols, colors[rows]] == 1  # H[j, i] alone in entry [c(i), j]
    if not np.all(direct | mirrored):
        msg = "internal error: the star coloring does not allow direct decompression"
        raise ColoringError(msg)
    return np.where(direct, colors[cols] * n + rows, colors[rows] * n + cols)


class Substitution:
    """Acyclic-coloring decompression: a unit lower-triangular solve per call.

    Unknowns are the edges ``(i, j)``, ``i < j`` of the pattern, plus the diagonal. Peeling
    the leaves of each two-colored tree gives, for each edge in turn, ``H[leaf, j] =
    B[c(j), leaf] - (already solved edges of the leaf in that tree)``.
    """

    def __init__(
        self, pattern: P.Pattern, colors: Any, edges: list[tuple[int, int]], trees: list[int]
    ) -> None:
        n = pattern.shape[0]
        self.n = n
        order, leaf_of, other_of, solved_before = _peel(n, edges, trees)
        count = len(order)
        self.rhs_index = np.asarray(
            [colors[other_of[t]] * n + leaf_of[t] for t in range(count)], dtype=np.int64
        )
        rows = [t for t in range(count) for _ in solved_before[t]]
        cols = [s for t in range(count) for s in solved_before[t]]
        lower = sp.csr_array(
            (np.ones(len(rows)), (rows, cols)), shape=(count, count)
        ) + sp.eye_array(count, format="csr")
        self.lower = sp.csr_array(lower)
        edge_rank = {frozenset(edges[order[t]]): t for t in range(count)}
        prows, pcols = _coords(pattern)
        self.diagonal = prows == pcols
        self.entry = np.asarray(
            [
                0 if i == j else edge_rank[frozenset((int(i), int(j)))]
                for i, j in zip(prows, pcols, strict=True)
            ],
            dtype=np.int64,
        )
        self.diag_index = colors[prows] * n + prows

    def __call__(self, compressed: Any) -> Any:
        """Nonzeros in CSR order, from the flattened compressed matrix (host numpy)."""
        from scipy.sparse.linalg import spsolve_triangular

        flat = compressed.reshape(-1)
        values = flat[self.diag_index]
        if self.rhs_index.shape[0]:
            rhs = flat[self.rhs_index]
            solved = spsolve_triangular(self.lower, rhs, lower=True, unit_diagonal=True)
            values = np.where(self.diagonal, values, solved[self.entry])
        return values


def _peel(
    n: int, edges: list[tuple[int, int]], trees: list[int]
) -> tuple[list[int], list[int], list[int], list[list[int]]]:
    """Order the edges of every tree leaf first (see :class:`Substitution`)."""
    by_tree: dict[int, list[int]] = {}
    for e, t in enumerate(trees):
        by_tree.setdefault(t, []).append(e)
    order: list[int] = []
    leaf_of: list[int] = []
    other_of: list[int] = []
    solved_before: list[list[int]] = []
    for tree_edges in by_tree.values():
        incident: dict[int, list[int]] = {}
        for e in tree_edges:
            for v in edges[e]:
                incident.setdefault(v, []).append(e)
        remaining = {v: len(es) for v, es in incident.items()}
        done: set[int] = set()
        solved_at: dict[int, list[int]] = {}  # vertex -> ranks of its solved edges
        leaves = [v for v, d in remaining.items() if d == 1]
        while leaves:
            v = leaves.pop()
            if remaining[v] != 1:
                continue
            e = next(e for e in incident[v] if e not in done)
            done.add(e)
            a, b = edges[e]
            w = b if a == v else a
            rank = len(order)
            order.append(e)
            leaf_of.append(v)
            other_of.append(w)
            solved_before.append(list(solved_at.get(v, [])))
            for u in (v, w):
                solved_at.setdefault(u, []).append(rank)
                remaining[u] -= 1
            if remaining[w] == 1:
                leaves.append(w)
        if len(done) != len(tree_edges):
            msg = "internal error: a two-colored subgraph of the acyclic coloring has a cycle"
            raise ColoringError(msg)
    return order, leaf_of, other_of, solved_before


def substitution(
    pattern: P.Pattern, colors: Any, edges: list[tuple[int, int]], trees: list[int]
) -> Substitution:
    """Prepare the substitution decompression of an acyclic coloring."""
    return Substitution(pattern, colors, edges, trees)

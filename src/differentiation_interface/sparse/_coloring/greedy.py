"""Greedy graph colorings of sparsity patterns (Gebremedhin, Manne & Pothen, SIAM Review 2005;
Gebremedhin, Tarafdar, Manne & Pothen, SIAM J. Sci. Comput. 2007).

Jacobians
    Two columns may share a color when no row has a nonzero in both (*structurally
    orthogonal*): a distance-1 coloring of the column-intersection graph ``A^T A``, i.e. a
    partial distance-2 coloring of the bipartite graph. Rows: the same on the transpose.
Hessians, direct decompression
    *Star* coloring: a proper coloring in which every path on four vertices uses at least
    three colors. Then every nonzero ``H[i, j]`` is alone in its row among the columns of
    ``j``'s color, or symmetrically, and is read off one compressed column.
Hessians, substitution
    *Acyclic* coloring: a proper coloring in which every cycle uses at least three colors,
    so the subgraph of any two colors is a forest. Fewer colors than star coloring; the
    entries of each two-colored tree are recovered by peeling its leaves (substitution).

Every coloring is greedy: vertices are colored in a chosen order with the smallest color
that keeps the property, which is checked incrementally. The star test keeps, for each
vertex ``w``, the colors of the neighbours ``x`` that are centres of two-colored paths
through ``w`` (``x`` has at least two neighbours of ``w``'s color), so that a candidate color
is checked in time proportional to degrees, not to paths. The acyclic test keeps the
two-colored trees in a disjoint-set forest over edges.

The loops are plain Python over adjacency lists (about 0.1 µs per adjacency entry); the
distance-1 greedy of column and row colorings runs compiled on large graphs when numba is
installed (:mod:`.kernels`), with identical results. Star and acyclic colorings (Hessians)
are Python loops at every size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _pattern as P
from .kernels import compiled
from .orders import vertex_order

__all__ = [
    "acyclic_coloring",
    "best_coloring",
    "column_coloring",
    "column_graph",
    "star_coloring",
    "symmetric_graph",
]


class Graph(tuple):  # type: ignore[type-arg]
    """A graph as CSR adjacency arrays ``(ptr, adj)`` (int64, no self loops; unpacks as a
    pair), with ``clique``, a lower bound on the colors of any proper coloring of it (the
    size of a clique the pattern shows: the nonzeros of a row, for a column graph)."""

    clique: int

    def __new__(cls, ptr: Any, adj: Any, clique: int) -> Graph:
        graph = super().__new__(cls, (ptr, adj))
        graph.clique = clique
        return graph


def _adjacency(graph: P.Pattern, clique: int) -> Graph:
    """Adjacency arrays of a symmetric pattern, without self loops (sorted neighbours: the
    dynamic orders break ties by the order in which they meet neighbours)."""
    csr = graph.tocsr()
    csr.sum_duplicates()  # sorted, unique column indices in every row
    loops = compiled(csr.nnz)
    if loops is not None:
        ptr, adj = loops.without_diagonal(csr.indptr, csr.indices)
        return Graph(ptr, adj, clique)
    n = csr.shape[0]
    rows = np.repeat(np.arange(n), np.diff(csr.indptr))
    off = csr.indices != rows
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[off], minlength=n), out=ptr[1:])
    return Graph(ptr, csr.indices[off].astype(np.int64), clique)


def column_graph(pattern: P.Pattern) -> Graph:
    """Column-intersection graph: columns adjacent when some row has a nonzero in both."""
    csc = pattern.tocsc()
    csr = pattern.tocsr()
    row_sizes = np.diff(csr.indptr)
    clique = int(row_sizes.max()) if row_sizes.shape[0] else 0
    return _adjacency(csc.T @ csc, clique)


def symmetric_graph(pattern: P.Pattern) -> Graph:
    """Adjacency graph of a (symmetrised) Hessian pattern."""
    graph = _adjacency(pattern + pattern.T, 0)
    graph.clique = 2 if graph[1].shape[0] else min(1, pattern.shape[0])  # an edge, or none
    return graph


def _greedy(ptr: Any, adj: Any, order: Any) -> Any:
    """Distance-1 greedy coloring: each vertex takes the smallest color of no neighbour."""
    loops = compiled(len(adj))
    if loops is not None:
        return loops.greedy(ptr, adj, np.asarray(order, dtype=np.int64))
    ptr, adj = _lists(ptr), _lists(adj)
    n = len(ptr) - 1
    colors = [-1] * n
    mark = [-1] * (n + 1)  # mark[c] == v: color c is taken by a neighbour of v
    for v in _lists(order):
        for u in adj[ptr[v] : ptr[v + 1]]:
            c = colors[u]
            if c >= 0:
                mark[c] = v
        c = 0
        while mark[c] == v:
            c += 1
        colors[v] = c
    return np.asarray(colors, dtype=np.int64)


def column_coloring(graph: tuple[Any, Any], order: Any) -> Any:
    """Colors (an int64 array) of the column-intersection graph in ``order``."""
    ptr, adj = graph
    return _greedy(ptr, adj, order)


def star_coloring(graph: tuple[Any, Any], order: Any) -> Any:
    """Greedy star coloring (see the module docstring); an int64 array."""
    ptr, adj = _lists(graph[0]), _lists(graph[1])
    n = len(ptr) - 1
    colors = [-1] * n
    around: list[dict[int, int]] = [{} for _ in range(n)]  # colored neighbours per color
    hubs: list[set[int]] = [set() for _ in range(n)]  # colors of centres next to w
    for v in _lists(order):
        neighbours = adj[ptr[v] : ptr[v + 1]]
        forbidden: set[int] = set()
        by_color: dict[int, list[int]] = {}
        for w in neighbours:
            cw = colors[w]
            if cw >= 0:
                forbidden.add(cw)
                forbidden |= hubs[w]  # v - w - x - y would be two-colored with c(v) = c(x)
                by_color.setdefault(cw, []).append(w)
        for same in by_color.values():
            if len(same) > 1:  # y - w1 - v - w2 would be two-colored with c(v) = c(y)
                for w in same:
                    forbidden.update(around[w])
        c = 0
        while c in forbidden:
            c += 1
        colors[v] = c
        for u in neighbours:
            counts = around[u]
            count = counts.get(c, 0) + 1
            counts[c] = count
            cu = colors[u]
            if cu >= 0:
                if count == 2:  # u just became the centre of a path of color c
                    for z in adj[ptr[u] : ptr[u + 1]]:
                        if colors[z] == c:
                            hubs[z].add(cu)
                elif count > 2:
                    hubs[v].add(cu)
        for same in by_color.values():
            if len(same) > 1:  # v is the centre of two-colored paths
                for z in same:
                    hubs[z].add(c)
    return np.asarray(colors, dtype=np.int64)


class _Forest:
    """Disjoint sets over edge numbers (union by size, path halving)."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        self.size.append(1)
        return len(self.parent) - 1

    def find(self, e: int) -> int:
        parent = self.parent
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]


def acyclic_coloring(
    graph: tuple[Any, Any], order: Any
) -> tuple[Any, list[tuple[int, int]], list[int]]:
    """Greedy acyclic coloring (colors: an int64 array); also returns the edges and the
    two-colored tree of each."""
    ptr, adj = _lists(graph[0]), _lists(graph[1])
    n = len(ptr) - 1
    colors = [-1] * n
    forest = _Forest()
    edges: list[tuple[int, int]] = []
    # tree_at[w][k]: an edge from w to a neighbour of color k (all such edges share w, so
    # they are in one tree of the colors {c(w), k}).
    tree_at: list[dict[int, int]] = [{} for _ in range(n)]
    for v in _lists(order):
        neighbours = adj[ptr[v] : ptr[v + 1]]
        forbidden = {colors[w] for w in neighbours if colors[w] >= 0}
        seen: dict[tuple[int, int], int] = {}
        for w in neighbours:
            if colors[w] < 0:
                continue
            for k, edge in tree_at[w].items():
                if k in forbidden:
                    continue
                key = (k, forest.find(edge))
                first = seen.setdefault(key, w)
                if first != w:  # two neighbours of v in one {c(w), k} tree: a cycle
                    forbidden.add(k)
        c = 0
        while c in forbidden:
            c += 1
        colors[v] = c
        for w in neighbours:
            cw = colors[w]
            if cw < 0 or w == v:
                continue
            e = forest.add()
            edges.append((v, w))
            for owner, k in ((v, cw), (w, c)):
                known = tree_at[owner].get(k)
                if known is None:
                    tree_at[owner][k] = e
                else:
                    forest.union(e, known)
    trees = [forest.find(e) for e in range(len(edges))]
    return np.asarray(colors, dtype=np.int64), edges, trees


def best_coloring(
    kind: str,
    graph: tuple[Any, Any],
    orders: tuple[str, ...],
    *,
    seed: int,
) -> tuple[Any, str, dict[str, int]]:
    """Color with each order and keep the fewest colors (first order wins ties).

    Stops early when an order reaches the graph's lower bound (``Graph.clique``): no order
    can do better, so trying the others cannot pay off. Returns the result of the winning
    order (colors, or the acyclic triple), its name, and the number of colors per order
    tried (reported by benchmarks).
    """
    ptr, adj = graph
    bound = getattr(graph, "clique", 0)
    best: Any = None
    best_name = orders[0]
    counts: dict[str, int] = {}
    for name in orders:
        order = vertex_order(name, ptr, adj, seed=seed)
        if kind == "column":
            result: Any = column_coloring(graph, order)
            colors = result
        elif kind == "star":
            result = star_coloring(graph, order)
            colors = result
        else:
            result = acyclic_coloring(graph, order)
            colors = result[0]
        counts[name] = int(colors.max()) + 1 if colors.shape[0] else 0
        if best is None or counts[name] < counts[best_name]:
            best, best_name = result, name
        if counts[best_name] <= bound:
            break
    return best, best_name, counts


def _lists(a: Any) -> list[int]:
    """``a`` as a Python list (the Python loops index lists much faster than arrays)."""
    return a if isinstance(a, list) else np.asarray(a).tolist()

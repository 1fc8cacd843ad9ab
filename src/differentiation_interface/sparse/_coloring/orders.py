"""Vertex orders for greedy coloring, on a graph given by CSR adjacency (no self loops).

===========================  ===================================================================
order                        vertices sorted by
===========================  ===================================================================
``natural``                  index
``random``                   a random permutation (seeded: reproducible)
``largest_first``            decreasing degree (ties by index)
``smallest_last``            reverse of the order in which a vertex of smallest degree in the
                             remaining graph is removed (Matula-Beck; good on planar graphs)
``incidence_degree``         repeatedly the vertex with most already-ordered neighbours
``dynamic_largest_first``    repeatedly the vertex of largest degree in the unordered graph
``saturation``               the order in which DSATUR colors the graph: repeatedly the vertex
                             with most distinct neighbour colors (ties: largest degree)
===========================  ===================================================================

The dynamic orders keep vertices in buckets by current key (lists with lazy deletion), so
each costs O(vertices + edges) list operations.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

__all__ = ["ORDERS", "Order", "vertex_order"]

Order = Literal[
    "natural",
    "random",
    "largest_first",
    "smallest_last",
    "incidence_degree",
    "dynamic_largest_first",
    "saturation",
]
ORDERS: tuple[str, ...] = get_args(Order)


def vertex_order(order: str, indptr: Any, indices: Any, *, seed: int = 0) -> list[int]:
    """The vertices of the graph in ``order``."""
    n = len(indptr) - 1
    degree = np.diff(indptr)
    if order == "natural":
        return list(range(n))
    if order == "random":
        return [int(v) for v in np.random.default_rng(seed).permutation(n)]
    if order == "largest_first":
        return [int(v) for v in np.argsort(-degree, kind="stable")]
    if order == "smallest_last":
        removed = _bucket_order(indptr, indices, degree.tolist(), pick_largest=False, step=-1)
        return removed[::-1]
    if order == "incidence_degree":
        return _bucket_order(indptr, indices, [0] * n, pick_largest=True, step=1)
    if order == "dynamic_largest_first":
        return _bucket_order(indptr, indices, degree.tolist(), pick_largest=True, step=-1)
    if order == "saturation":
        return saturation_order(indptr, indices)
    msg = f"Unknown vertex order {order!r}; choose one of {', '.join(map(repr, ORDERS))}."
    raise ValueError(msg)


def _bucket_order(
    indptr: Any, indices: Any, key: list[int], *, pick_largest: bool, step: int
) -> list[int]:
    """Repeatedly take a vertex of largest (or smallest) ``key`` among the remaining ones;
    taking a vertex changes its remaining neighbours' key by ``step``.

    Buckets are lists with lazy deletion: a vertex is pushed again when its key changes,
    and stale entries are skipped when popped, so every operation is O(1) amortised.
    """
    n = len(key)
    if n == 0:
        return []
    ptr, adj = _lists(indptr), _lists(indices)
    top = max(key) + (n if step > 0 else 0)
    buckets: list[list[int]] = [[] for _ in range(top + 1)]
    for v in range(n - 1, -1, -1):  # popped from the end: ties go to the smallest index
        buckets[key[v]].append(v)
    done = [False] * n
    current = max(key) if pick_largest else min(key)
    order: list[int] = []
    while len(order) < n:
        bucket = buckets[current]
        while bucket and (done[bucket[-1]] or key[bucket[-1]] != current):
            bucket.pop()
        if not bucket:
            current += -1 if pick_largest else 1
            continue
        v = bucket.pop()
        done[v] = True
        order.append(v)
        for u in adj[ptr[v] : ptr[v + 1]]:
            if done[u]:
                continue
            k = key[u] + step
            key[u] = k
            buckets[k].append(u)
            if (k > current) if pick_largest else (k < current):
                current = k
    return order


def saturation_order(indptr: Any, indices: Any) -> list[int]:
    """The order in which DSATUR (Brelaz, 1979) colors the graph: repeatedly the uncolored
    vertex with the most distinct neighbour colors, ties to the largest degree.

    Greedy coloring in this order reproduces DSATUR's coloring.
    """
    ptr, adj = _lists(indptr), _lists(indices)
    n = len(ptr) - 1
    if n == 0:
        return []
    degree = [ptr[v + 1] - ptr[v] for v in range(n)]
    stride = max(degree) + 1
    key = list(degree)  # saturation * stride + degree
    buckets: list[list[int]] = [[] for _ in range(stride * (stride + 1))]
    for v in range(n - 1, -1, -1):
        buckets[key[v]].append(v)
    colored = [False] * n
    seen = [0] * n  # bit c set: a neighbour has color c
    current = max(key)
    order: list[int] = []
    while len(order) < n:
        bucket = buckets[current]
        while bucket and (colored[bucket[-1]] or key[bucket[-1]] != current):
            bucket.pop()
        if not bucket:
            current -= 1
            continue
        v = bucket.pop()
        taken = seen[v]
        bit = ~taken & (taken + 1)  # the lowest free color, as a bit
        colored[v] = True
        order.append(v)
        for u in adj[ptr[v] : ptr[v + 1]]:
            if not colored[u] and not seen[u] & bit:
                seen[u] |= bit
                k = key[u] + stride  # saturation <= degree: k stays within the buckets
                key[u] = k
                buckets[k].append(u)
                current = max(current, k)
    return order


def _lists(a: Any) -> list[int]:
    """``a`` as a Python list (the loops here index lists much faster than arrays)."""
    return a if isinstance(a, list) else np.asarray(a).tolist()

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
each costs O(vertices + edges) list operations; DSATUR's order keeps a heap. On large graphs
they run compiled when numba is installed (:mod:`.kernels`), with identical results.
"""

from __future__ import annotations

import heapq
from typing import Any, Literal, get_args

import numpy as np

from .kernels import compiled

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


def vertex_order(order: str, indptr: Any, indices: Any, *, seed: int = 0) -> Any:
    """The vertices of the graph in ``order``, as an int64 array."""
    n = len(indptr) - 1
    if order == "natural":
        return np.arange(n, dtype=np.int64)
    if order == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    degree = np.diff(np.asarray(indptr, dtype=np.int64))
    if order == "largest_first":
        return np.argsort(-degree, kind="stable").astype(np.int64)
    if order not in ORDERS:
        msg = f"Unknown vertex order {order!r}; choose one of {', '.join(map(repr, ORDERS))}."
        raise ValueError(msg)
    loops = compiled(len(indices))
    if loops is not None:
        ptr, adj = np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)
        if order == "saturation":
            return loops.saturation_order(ptr, adj)
        key, largest, step = _bucket_rule(order, degree)
        found = loops.bucket_order(ptr, adj, key, largest, step)
        return found[::-1].copy() if order == "smallest_last" else found
    if order == "saturation":
        return np.asarray(saturation_order(indptr, indices), dtype=np.int64)
    key, largest, step = _bucket_rule(order, degree)
    found = _bucket_order(indptr, indices, key.tolist(), pick_largest=largest, step=step)
    return np.asarray(found[::-1] if order == "smallest_last" else found, dtype=np.int64)


def _bucket_rule(order: str, degree: Any) -> tuple[Any, bool, int]:
    """The initial keys, the end taken and the key step of a bucket order."""
    if order == "smallest_last":
        return degree, False, -1  # the removal order, reversed by the caller
    if order == "incidence_degree":
        return np.zeros_like(degree), True, 1
    return degree, True, -1  # dynamic_largest_first


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
    vertex with the most distinct neighbour colors, ties to the largest degree, then to the
    vertex whose key rose last.

    The key ``saturation * stride + degree`` indexes buckets (lists with lazy deletion) when
    there are few of them; a vertex meeting most others (a dense row) would make ``stride**2``
    buckets, so keys then go into a heap of ``(key, push count)``, which pops the same vertex.
    Greedy coloring in this order reproduces DSATUR's coloring.
    """
    ptr, adj = _lists(indptr), _lists(indices)
    n = len(ptr) - 1
    if n == 0:
        return []
    degree = [ptr[v + 1] - ptr[v] for v in range(n)]
    stride = max(degree) + 1
    key = list(degree)  # saturation * stride + degree
    heap: list[tuple[int, int, int]] | None = None  # (-key, -push count, vertex)
    buckets: list[list[int]] = []
    if stride * (stride + 1) <= 8 * (n + len(adj)):
        buckets = [[] for _ in range(stride * (stride + 1))]
        for v in range(n - 1, -1, -1):  # popped from the end: ties to the smallest index
            buckets[key[v]].append(v)
    else:
        heap = [(-key[v], v - n, v) for v in range(n)]  # pushed from n - 1 down to 0
        heapq.heapify(heap)
    pushed = n + 1  # after every initial entry (their counts are v - n, down to -n)
    colored = [False] * n
    seen = [0] * n  # bit c set: a neighbour has color c
    current = max(key)
    order: list[int] = []
    while len(order) < n:
        if heap is None:
            bucket = buckets[current]
            while bucket and (colored[bucket[-1]] or key[bucket[-1]] != current):
                bucket.pop()
            if not bucket:
                current -= 1
                continue
            v = bucket.pop()
        else:
            negative, _, v = heapq.heappop(heap)
            if colored[v] or key[v] != -negative:
                continue  # stale
        taken = seen[v]
        bit = ~taken & (taken + 1)  # the lowest free color, as a bit
        colored[v] = True
        order.append(v)
        for u in adj[ptr[v] : ptr[v + 1]]:
            if not colored[u] and not seen[u] & bit:
                seen[u] |= bit
                k = key[u] + stride  # saturation <= degree: k stays within the buckets
                key[u] = k
                if heap is None:
                    buckets[k].append(u)
                    current = max(current, k)
                else:
                    heapq.heappush(heap, (-k, -pushed, u))
                    pushed += 1
    return order


def _lists(a: Any) -> list[int]:
    """``a`` as a Python list (the loops here index lists much faster than arrays)."""
    return a if isinstance(a, list) else np.asarray(a).tolist()

"""The greedy coloring and the dynamic vertex orders as compiled loops (numba).

Imported only by :func:`.kernels.compiled`, for large graphs when numba is installed. Each
function computes exactly what its Python counterpart in :mod:`.greedy` or :mod:`.orders`
computes, tie for tie, on CSR adjacency arrays (``ptr``, ``adj``; int64, no self loops).
``cache=True``: numba keeps the machine code on disk, so only the first process of an
environment compiles.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["bucket_order", "greedy", "saturation_order", "without_diagonal"]

_jit = numba.njit(cache=True, nogil=True)


@_jit
def without_diagonal(indptr: Any, indices: Any) -> Any:
    """CSR adjacency arrays (int64) of a square pattern without its diagonal entries."""
    n = indptr.shape[0] - 1
    ptr = np.empty(n + 1, dtype=np.int64)
    adj = np.empty(indices.shape[0], dtype=np.int64)
    ptr[0] = 0
    k = 0
    for v in range(n):
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if u != v:
                adj[k] = u
                k += 1
        ptr[v + 1] = k
    return ptr, adj[:k].copy()


@_jit
def greedy(ptr: Any, adj: Any, order: Any) -> Any:
    """Distance-1 greedy coloring: each vertex takes the smallest color of no neighbour."""
    n = ptr.shape[0] - 1
    colors = np.full(n, -1, dtype=np.int64)
    mark = np.full(n + 1, -1, dtype=np.int64)  # mark[c] == v: a neighbour of v has c
    for v in order:
        for k in range(ptr[v], ptr[v + 1]):
            c = colors[adj[k]]
            if c >= 0:
                mark[c] = v
        c = 0
        while mark[c] == v:
            c += 1
        colors[v] = c
    return colors


@_jit
def _buckets(key: Any, top: int) -> Any:
    """Linked buckets of ``key``'s vertices; each bucket's head is its smallest index (the
    Python loops' lazy stacks are filled from the largest index down)."""
    n = key.shape[0]
    head = np.full(top + 2, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    prv = np.full(n, -1, dtype=np.int64)
    for v in range(n - 1, -1, -1):
        k = key[v]
        nxt[v] = head[k]
        if head[k] >= 0:
            prv[head[k]] = v
        head[k] = v
    return head, nxt, prv


@_jit
def bucket_order(ptr: Any, adj: Any, key: Any, pick_largest: bool, step: int) -> Any:
    """:func:`.orders._bucket_order` with doubly linked buckets: a vertex whose key
    changes moves to the head of its new bucket, as the Python loop's lazy stacks push it on
    top; keys move in one direction only, so both pop the same vertex."""
    n = key.shape[0]
    order = np.empty(n, dtype=np.int64)
    if n == 0:
        return order
    key = key.copy()
    head, nxt, prv = _buckets(key, key.max() + (n if step > 0 else 0))
    done = np.zeros(n, dtype=np.bool_)
    current = key.max() if pick_largest else key.min()
    count = 0
    while count < n:
        v = head[current]
        if v < 0:
            current += -1 if pick_largest else 1
            continue
        head[current] = nxt[v]  # v is the head: pop it
        if nxt[v] >= 0:
            prv[nxt[v]] = -1
        done[v] = True
        order[count] = v
        count += 1
        for e in range(ptr[v], ptr[v + 1]):
            u = adj[e]
            if done[u]:
                continue
            k = key[u]  # move u from bucket k to the head of bucket k + step (by hand:
            if prv[u] >= 0:  # numba's inlining of a helper made these loops five times slower)
                nxt[prv[u]] = nxt[u]
            else:
                head[k] = nxt[u]
            if nxt[u] >= 0:
                prv[nxt[u]] = prv[u]
            k += step
            key[u] = k
            prv[u] = -1
            nxt[u] = head[k]
            if head[k] >= 0:
                prv[head[k]] = u
            head[k] = u
            if (k > current) if pick_largest else (k < current):
                current = k
    return order


@_jit
def _push(hk: Any, hc: Any, hv: Any, size: int, k: int, count: int, v: int) -> int:
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if hk[parent] > k or (hk[parent] == k and hc[parent] > count):
            break
        hk[i], hc[i], hv[i] = hk[parent], hc[parent], hv[parent]
        i = parent
    hk[i], hc[i], hv[i] = k, count, v
    return size + 1


@_jit
def _pop(hk: Any, hc: Any, hv: Any, size: int) -> int:
    size -= 1
    k, count, v = hk[size], hc[size], hv[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (
            hk[right] > hk[child] or (hk[right] == hk[child] and hc[right] > hc[child])
        ):
            child = right
        if hk[child] < k or (hk[child] == k and hc[child] < count):
            break
        hk[i], hc[i], hv[i] = hk[child], hc[child], hv[child]
        i = child
    if size > 0:
        hk[i], hc[i], hv[i] = k, count, v
    return size


def saturation_order(ptr: Any, adj: Any) -> Any:
    """:func:`.orders.saturation_order`: the largest key ``saturation * stride + degree``
    first, and among equal keys the vertex whose key rose last. Keys index linked buckets
    when there are few (bounded degrees: ``stride ** 2`` heads), else a binary heap of
    ``(key, push count)``. The colors of a vertex's colored neighbours are a 64-bit mask while
    they are below 64 (the Python loop's integer bit set), then a scan of its neighbours."""
    n = ptr.shape[0] - 1
    if n == 0:
        return np.empty(0, dtype=np.int64)
    stride = int((ptr[1:] - ptr[:-1]).max()) + 1
    return _saturation(ptr, adj, stride, stride * (stride + 1) > 8 * (n + adj.shape[0]))


@_jit
def _above_63(v: int, ptr: Any, adj: Any, colors: Any, mark: Any) -> int:
    """The smallest color from 64 on of no colored neighbour of ``v`` (colors 0 to 63 are
    all taken: the 64-bit mask cannot say more)."""
    for e in range(ptr[v], ptr[v + 1]):
        cw = colors[adj[e]]
        if cw >= 0:
            mark[cw] = v
    c = 64
    while mark[c] == v:
        c += 1
    return c


@_jit
def _has_color(u: int, v: int, c: int, ptr: Any, adj: Any, colors: Any) -> bool:
    """Whether a colored neighbour of ``u`` other than ``v`` has the color ``c`` (>= 64)."""
    for f in range(ptr[u], ptr[u + 1]):
        w = adj[f]
        if w != v and colors[w] == c:
            return True
    return False


@_jit
def _saturation(ptr: Any, adj: Any, stride: int, use_heap: bool) -> Any:
    n = ptr.shape[0] - 1
    key = ptr[1:] - ptr[:-1]  # a new array: saturation * stride + degree
    if use_heap:
        head, nxt, prv = _buckets(key[:0], 0)
        capacity = n + adj.shape[0] + 1
    else:
        head, nxt, prv = _buckets(key, stride * (stride + 1))
        capacity = 0
    heap_key = np.empty(capacity, dtype=np.int64)
    heap_count = np.empty(capacity, dtype=np.int64)
    heap_vertex = np.empty(capacity, dtype=np.int64)
    size = 0
    pushed = 0
    if use_heap:
        for v in range(n - 1, -1, -1):
            size = _push(heap_key, heap_count, heap_vertex, size, key[v], pushed, v)
            pushed += 1
    colors = np.full(n, -1, dtype=np.int64)
    seen = np.zeros(n, dtype=np.uint64)  # bit c: a colored neighbour has color c < 64
    mark = np.full(n + 1, -1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    current = key.max()
    count = 0
    while count < n:
        if use_heap:
            v = heap_vertex[0]
            stale = colors[v] >= 0 or key[v] != heap_key[0]
            size = _pop(heap_key, heap_count, heap_vertex, size)
            if stale:
                continue
        else:
            v = head[current]
            if v < 0:
                current -= 1
                continue
            head[current] = nxt[v]  # v is the head: pop it
            if nxt[v] >= 0:
                prv[nxt[v]] = -1
        taken = seen[v]  # the lowest color free in the mask (by hand, as every step of the
        c = 0  # loops here: numba's inlining of helpers made them up to ten times slower)
        while c < 64 and (taken >> np.uint64(c)) & np.uint64(1):
            c += 1
        if c == 64:
            c = _above_63(v, ptr, adj, colors, mark)
        colors[v] = c
        order[count] = v
        count += 1
        for e in range(ptr[v], ptr[v + 1]):
            u = adj[e]
            if colors[u] >= 0:
                continue
            if c < 64:  # is c new among u's colored neighbours?
                bit = np.uint64(1) << np.uint64(c)
                if seen[u] & bit:
                    continue
                seen[u] |= bit
            elif _has_color(u, v, c, ptr, adj, colors):
                continue
            if use_heap:
                key[u] += stride
                size = _push(heap_key, heap_count, heap_vertex, size, key[u], pushed, u)
                pushed += 1
            else:
                k = key[u]  # move u from bucket k to the head of bucket k + stride
                if prv[u] >= 0:
                    nxt[prv[u]] = nxt[u]
                else:
                    head[k] = nxt[u]
                if nxt[u] >= 0:
                    prv[nxt[u]] = prv[u]
                k += stride
                key[u] = k
                prv[u] = -1
                nxt[u] = head[k]
                if head[k] >= 0:
                    prv[head[k]] = u
                head[k] = u
                current = max(current, k)
    return order

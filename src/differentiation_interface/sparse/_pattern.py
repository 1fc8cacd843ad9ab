"""Pattern algebra on boolean CSR matrices: the arithmetic of sparsity detection.

A *pattern* of an array with ``N`` elements, for an input with ``n`` elements, is an
``N x n`` boolean ``scipy.sparse.csr_array``: row ``i`` holds the input indices element ``i``
depends on. Every operation of the tracer becomes one of the few vectorised operations here
(row selection, union, row masking, grouping of rows, stacking); none loops over elements in
Python.

Row selection is written with numpy instead of scipy's fancy indexing, which costs several
times more for the small index arrays that dominate tracing.

A leaf: it imports nothing of ``differentiation_interface``, so that the tracer, the coloring
and the glue modules of ``sparse`` may all use it without importing one another.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Pattern",
    "as_pattern",
    "empty",
    "eye",
    "group_rows",
    "mask_rows",
    "select_rows",
    "union",
    "vstack",
]

Pattern = Any  # scipy.sparse.csr_array of bool (scipy ships no precise stubs)

_INDEX = np.int64


def _csr(indptr: Any, indices: Any, shape: tuple[int, int]) -> Pattern:
    data = np.ones(indices.shape[0], dtype=bool)
    return sp.csr_array((data, indices, indptr), shape=shape)


def empty(rows: int, n: int) -> Pattern:
    """A pattern with no dependency at all."""
    return _csr(np.zeros(rows + 1, dtype=_INDEX), np.zeros(0, dtype=_INDEX), (rows, n))


def eye(n: int) -> Pattern:
    """The pattern of the input itself: element ``i`` depends on input ``i``."""
    return _csr(np.arange(n + 1, dtype=_INDEX), np.arange(n, dtype=_INDEX), (n, n))


def as_pattern(matrix: Any) -> Pattern:
    """Any scipy sparse matrix as a canonical boolean CSR pattern (explicit zeros dropped)."""
    csr = sp.csr_array(matrix)
    csr.eliminate_zeros()
    csr = csr.astype(bool)
    csr.sum_duplicates()  # also sorts the indices of each row
    return csr


def select_rows(pattern: Pattern, rows: Any) -> Pattern:
    """The pattern whose row ``k`` is row ``rows[k]`` of ``pattern`` (repeats allowed)."""
    rows = np.asarray(rows, dtype=_INDEX).reshape(-1)
    indptr = pattern.indptr
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    new_indptr = np.zeros(rows.shape[0] + 1, dtype=_INDEX)
    np.cumsum(lengths, out=new_indptr[1:])
    total = int(new_indptr[-1])
    if total == 0:
        return empty(rows.shape[0], pattern.shape[1])
    positions = np.arange(total, dtype=_INDEX) + np.repeat(starts - new_indptr[:-1], lengths)
    return _csr(new_indptr, pattern.indices[positions], (rows.shape[0], pattern.shape[1]))


def union(a: Pattern | None, b: Pattern | None) -> Pattern | None:
    """Row-wise union of two patterns of one shape (``None`` is the empty pattern)."""
    if a is None:
        return b
    if b is None or b is a:
        return a
    if b.nnz == 0:
        return a
    if a.nnz == 0:
        return b
    return a + b  # boolean addition is a logical or


def mask_rows(pattern: Pattern, keep: Any) -> Pattern:
    """``pattern`` with the rows where ``keep`` is false emptied."""
    keep = np.asarray(keep, dtype=bool).reshape(-1)
    if keep.all():
        return pattern
    lengths = np.diff(pattern.indptr) * keep
    new_indptr = np.zeros(keep.shape[0] + 1, dtype=_INDEX)
    np.cumsum(lengths, out=new_indptr[1:])
    kept = np.repeat(keep, np.diff(pattern.indptr))
    return _csr(new_indptr, pattern.indices[kept], pattern.shape)


def group_rows(pattern: Pattern, groups: Any, ngroups: int) -> Pattern:
    """Union of rows by group: row ``g`` of the result is the union of the rows ``i`` with
    ``groups[i] == g`` (the pattern of a sum over groups)."""
    groups = np.asarray(groups, dtype=_INDEX).reshape(-1)
    counts = np.diff(pattern.indptr)
    coo_rows = np.repeat(groups, counts)
    result = sp.csr_array(
        (np.ones(coo_rows.shape[0], dtype=bool), (coo_rows, pattern.indices)),
        shape=(ngroups, pattern.shape[1]),
    )
    result.sum_duplicates()
    return result


def vstack(patterns: list[Pattern]) -> Pattern:
    """Patterns stacked vertically (rows of the first, then of the second, ...)."""
    if len(patterns) == 1:
        return patterns[0]
    n = patterns[0].shape[1]
    indptrs = [patterns[0].indptr]
    offset = patterns[0].indptr[-1]
    for p in patterns[1:]:
        indptrs.append(p.indptr[1:] + offset)
        offset += p.indptr[-1]
    indptr = np.concatenate(indptrs).astype(_INDEX, copy=False)
    indices = np.concatenate([p.indices for p in patterns]).astype(_INDEX, copy=False)
    rows = sum(p.shape[0] for p in patterns)
    return _csr(indptr, indices, (rows, n))

"""Jacobians and Hessians as scipy wants them: float64, on the host, sparse ones as
``scipy.sparse.csr_array``.

The sparse engine returns a matrix of the caller's ecosystem (a torch CSR tensor, a JAX BCOO,
a scipy array); all of them list their nonzeros in CSR order of the pattern detected at
preparation, so only the values cross over and the structure is the pattern's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._array import is_array, to_numpy
from ._flat import as_float64

__all__ = ["to_scipy_matrix"]


def _sparse_values(matrix: Any) -> Any:
    """The nonzeros (CSR order) of a torch CSR tensor, a JAX BCOO or a SparseCOO, or None."""
    layout = getattr(matrix, "layout", None)
    if layout is not None and "sparse_csr" in str(layout):
        return matrix.values()
    if type(matrix).__name__ in ("BCOO", "SparseCOO"):  # AutoSparse's: in CSR order
        return matrix.data
    return None


def to_scipy_matrix(matrix: Any, pattern: Any, shape: tuple[int, int]) -> Any:
    """``matrix`` (dense of any namespace, or sparse of any ecosystem) as a float64 2-D numpy
    array or, when it is sparse, a ``scipy.sparse.csr_array`` with ``pattern``'s structure.

    ``pattern`` is the prep's boolean CSR sparsity (None for dense backends).
    """
    if sp.issparse(matrix):
        csr = matrix.tocsr()
        return csr if csr.dtype == np.float64 else csr.astype(np.float64)
    values = _sparse_values(matrix)
    if values is not None:
        data = as_float64(values)
        return sp.csr_array((data, pattern.indices.copy(), pattern.indptr.copy()), shape=shape)
    if is_array(matrix):
        dense = to_numpy(matrix).reshape(shape)
        if dense.dtype != np.float64 or not dense.flags.writeable:
            dense = np.array(dense, dtype=np.float64)
        return dense
    msg = f"unexpected matrix type {type(matrix).__name__}"  # the engines return no other
    raise TypeError(msg)

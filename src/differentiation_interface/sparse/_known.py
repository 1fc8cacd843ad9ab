"""User-given patterns: any 2-D array or scipy sparse matrix, as a canonical boolean CSR."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._array import is_array, to_numpy
from ..errors import ArgumentTypeError, ArgumentValueError
from . import _pattern as P

__all__ = ["canonical_pattern", "check_shape"]


def canonical_pattern(pattern: Any, owner: str) -> P.Pattern:
    """``pattern`` as a boolean CSR with sorted indices and no stored zeros."""
    if sp.issparse(pattern):
        matrix = pattern
    elif is_array(pattern) or isinstance(pattern, list | tuple):
        dense = np.asarray(to_numpy(pattern) if is_array(pattern) else pattern)
        if dense.ndim != 2:
            msg = f"`{owner}` needs a 2-D pattern; got an array of shape {dense.shape}."
            raise ArgumentValueError(msg)
        matrix = sp.csr_array(dense != 0)
    else:
        msg = (
            f"`{owner}` takes a 2-D array or a scipy.sparse matrix as pattern; got "
            f"{type(pattern).__name__}."
        )
        raise ArgumentTypeError(msg)
    if matrix.ndim != 2:
        msg = f"`{owner}` needs a 2-D pattern; got shape {matrix.shape}."
        raise ArgumentValueError(msg)
    csr = sp.csr_array(matrix, copy=True)
    if sp.issparse(pattern):  # every stored entry is structural, even an explicit zero
        csr.data = np.ones(csr.data.shape[0], dtype=bool)
    csr.sum_duplicates()
    return P.as_pattern(csr)


def check_shape(pattern: P.Pattern, shape: tuple[int, int], what: str, owner: str) -> None:
    """Raise unless a given pattern has the shape of the matrix it describes."""
    if tuple(pattern.shape) != tuple(shape):
        msg = (
            f"`{owner}` has a pattern of shape {tuple(pattern.shape)}, but the {what} of f "
            f"at this x has shape {tuple(shape)} ((f(x).size, x.size) for Jacobians, "
            "(x.size, x.size) for Hessians)."
        )
        raise ArgumentValueError(msg)

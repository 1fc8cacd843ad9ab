"""Sparse (or dense) matrices in the caller's ecosystem, from nonzeros in CSR order.

======================================  ==============================================
caller's arrays                         result
======================================  ==============================================
numpy, array-api-strict, dask, others   ``scipy.sparse.csr_array`` (host memory)
torch                                   ``torch.sparse_csr_tensor`` on ``x``'s device
JAX                                     ``jax.experimental.sparse.BCOO`` on ``x``'s device
CuPy                                    ``cupyx.scipy.sparse.csr_matrix`` on ``x``'s device
any, with ``output="dense"``            a dense array of the caller's namespace and device
any, with ``output="coo"``              :class:`SparseCOO`: index and value arrays of the
                                        caller's namespace and device
======================================  ==============================================

The structure (row pointers, column indices) is converted to the caller's namespace once,
at preparation; a call only wraps the new data. The engine-specific modules are imported
only for callers whose arrays already come from them (their package is then imported).
"""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._array import (
    convert,
    from_numpy,
    is_jax_namespace,
    is_numpy_namespace,
    is_torch_namespace,
    to_numpy,
)
from . import _pattern as P
from ._coo import SparseCOO

__all__ = ["Output", "output_for"]


class Output:
    """Builds result matrices with a fixed structure; subclasses per ecosystem."""

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        self.shape = tuple(int(d) for d in pattern.shape)
        self.indptr = pattern.indptr.astype(np.int64)
        self.indices = pattern.indices.astype(np.int64)
        self.xp, self.device, self.dtype = xp, device, dtype

    def __call__(self, data: Any) -> Any:
        """The matrix with these nonzeros (an array of the caller's namespace)."""
        raise NotImplementedError


class ScipyOutput(Output):
    """``scipy.sparse.csr_array`` on the host.

    scipy's constructor validates the structure at every call, a sizeable share of a small
    sparse finite-difference Jacobian's time (``docs/explanation/sparsity.md``). The
    structure is fixed at preparation, so a result is built from a validated template: its
    attributes, fresh copies of the structure arrays (a result never shares memory with
    another: ``eliminate_zeros`` and friends work in place) and the new data. Preparation
    checks that this gives exactly what the constructor gives; if scipy's internals ever
    differ, the constructor is used.
    """

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        self.numpy_dtype = np.dtype(to_numpy(xp.zeros((0,), dtype=dtype, device=device)).dtype)
        self.template = sp.csr_array(
            (np.zeros(self.indices.shape[0], dtype=self.numpy_dtype), self.indices, self.indptr),
            shape=self.shape,
        )
        self.template.has_canonical_format = True
        self.fast = False
        probe = np.arange(self.indices.shape[0], dtype=self.numpy_dtype)
        try:
            self.fast = _same_csr(self._clone(probe), self._construct(probe))
        except Exception:  # noqa: BLE001 - any surprise in scipy's internals: the slow path
            self.fast = False

    def _clone(self, values: Any) -> Any:
        result = object.__new__(type(self.template))
        result.__dict__.update(self.template.__dict__)
        result.indices = self.template.indices.copy()
        result.indptr = self.template.indptr.copy()
        result.data = values
        return result

    def _construct(self, values: Any) -> Any:
        return sp.csr_array((values, self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def __call__(self, data: Any) -> Any:
        values = np.array(to_numpy(data), dtype=self.numpy_dtype)
        return self._clone(values) if self.fast else self._construct(values)


def _same_csr(a: Any, b: Any) -> bool:
    return bool(
        type(a) is type(b)
        and a.shape == b.shape
        and a.nnz == b.nnz
        and (a.indptr == b.indptr).all()
        and (a.indices == b.indices).all()
        and (a.data == b.data).all()
        and (a != b).nnz == 0  # scipy's own arithmetic agrees on the clone
    )


class TorchOutput(Output):
    """``torch.sparse_csr_tensor`` on ``x``'s device."""

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        torch = sys.modules["torch"]
        self.torch = torch
        self.crow = torch.as_tensor(self.indptr, device=device)
        self.col = torch.as_tensor(self.indices, device=device)
        with warnings.catch_warnings():  # torch warns once per process that CSR is "beta"
            warnings.filterwarnings(
                "ignore", message=".*Sparse CSR tensor support", category=UserWarning
            )
            self(torch.zeros(self.indices.shape[0], dtype=dtype, device=device))

    def __call__(self, data: Any) -> Any:
        # Fresh index tensors: results never share memory with each other or the prep.
        return self.torch.sparse_csr_tensor(
            self.crow.clone(), self.col.clone(), data, size=self.shape, check_invariants=False
        )


class JaxOutput(Output):
    """``jax.experimental.sparse.BCOO`` (sorted, unique indices) on ``x``'s device."""

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        # The caller's arrays are JAX's, so JAX is loaded: its own sparse format is reached
        # through it, never imported here (see the import rules in docs/dev/architecture.md).
        jax = sys.modules["jax"]
        jsparse = importlib.import_module("jax.experimental.sparse")

        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        coords = np.stack([rows, self.indices], axis=1).astype(np.int32)
        self.coords = convert(coords, xp, device)
        # BCOO's constructor runs costly checks; rebuilding it from its pytree structure is
        # an order of magnitude cheaper (JAX arrays are immutable, so results may share the
        # index array).
        template = jsparse.BCOO(
            (xp.zeros(self.indices.shape[0], dtype=dtype), self.coords),
            shape=self.shape,
            indices_sorted=True,
            unique_indices=True,
        )
        self.treedef = jax.tree_util.tree_structure(template)
        self.unflatten = jax.tree_util.tree_unflatten

    def __call__(self, data: Any) -> Any:
        return self.unflatten(self.treedef, (data, self.coords))


class CupyOutput(Output):
    """``cupyx.scipy.sparse.csr_matrix`` on ``x``'s device."""

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        csp = importlib.import_module("cupyx.scipy.sparse")  # CuPy's own, as for JAX above

        self.csr = csp.csr_matrix
        self.crow = convert(self.indptr.astype(np.int32), xp, device)
        self.col = convert(self.indices.astype(np.int32), xp, device)

    def __call__(self, data: Any) -> Any:
        return self.csr((data, self.col, self.crow), shape=self.shape)


class DenseOutput(Output):
    """A dense array of the caller's namespace: nonzeros gathered into place.

    Array-API namespaces need not support scattering by index, so the dense matrix is a
    gather too: from ``[data, 0]`` with the position of each entry's nonzero (or of the
    trailing zero). numpy, torch and JAX scatter directly instead.
    """

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        m, n = self.shape
        rows = np.repeat(np.arange(m), np.diff(self.indptr))
        flat = rows * n + self.indices
        self.scatter = is_numpy_namespace(xp) or is_torch_namespace(xp) or is_jax_namespace(xp)
        if self.scatter:
            small = flat.shape[0] == 0 or int(flat.max()) < 2**31 - 1  # JAX's default int32
            self.positions = convert(flat.astype(np.int32 if small else np.int64), xp, device)
        else:
            source = np.full(m * n, self.indices.shape[0], dtype=np.int64)
            source[flat] = np.arange(self.indices.shape[0])
            self.positions = from_numpy(source, xp, device)

    def __call__(self, data: Any) -> Any:
        xp = self.xp
        m, n = self.shape
        if not self.scatter:
            padded = xp.concat([data, xp.zeros((1,), dtype=data.dtype, device=self.device)])
            return xp.reshape(xp.take(padded, self.positions), (m, n))
        if is_jax_namespace(xp):
            dense = xp.zeros(m * n, dtype=data.dtype).at[self.positions].set(data)
            return xp.reshape(dense, (m, n))
        dense = xp.zeros(m * n, dtype=data.dtype, device=self.device)
        dense[self.positions] = data
        return xp.reshape(dense, (m, n))


class CooOutput(Output):
    """:class:`SparseCOO` of the caller's namespace: the indices converted once; fresh
    copies per result where arrays are mutable (results never share memory)."""

    def __init__(self, pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any) -> None:
        super().__init__(pattern, xp, device, dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        small = max(self.shape, default=0) < 2**31 - 1
        kind = np.int32 if small else np.int64
        self.row = convert(rows.astype(kind), xp, device)
        self.col = convert(self.indices.astype(kind), xp, device)
        self.immutable = is_jax_namespace(xp)
        if self.immutable:
            _register_jax_pytree()

    def __call__(self, data: Any) -> Any:
        if self.immutable:
            return SparseCOO(data, self.row, self.col, self.shape)
        xp = self.xp
        row, col = xp.asarray(self.row, copy=True), xp.asarray(self.col, copy=True)
        return SparseCOO(data, row, col, self.shape)


_registered: list[bool] = []


def _register_jax_pytree() -> None:
    """Make :class:`SparseCOO` a JAX pytree (its arrays the leaves, the shape static), once;
    JAX is loaded: the caller's arrays are JAX's."""
    if _registered:
        return
    sys.modules["jax"].tree_util.register_pytree_node(
        SparseCOO,
        lambda c: ((c.data, c.row, c.col), c.shape),
        lambda shape, leaves: SparseCOO(leaves[0], leaves[1], leaves[2], shape),
    )
    _registered.append(True)


def output_for(pattern: P.Pattern, xp: ModuleType, device: Any, dtype: Any, *, kind: str) -> Output:
    """The output builder of ``AutoSparse(..., output=kind)`` for a caller of namespace
    ``xp`` on ``device``."""
    if kind == "dense":
        return DenseOutput(pattern, xp, device, dtype)
    if kind == "coo":
        return CooOutput(pattern, xp, device, dtype)
    if is_torch_namespace(xp):
        return TorchOutput(pattern, xp, device, dtype)
    if is_jax_namespace(xp):
        return JaxOutput(pattern, xp, device, dtype)
    if "cupy" in xp.__name__:
        return CupyOutput(pattern, xp, device, dtype)
    return ScipyOutput(pattern, xp, device, dtype)


def dense_size_ok(shape: tuple[int, ...]) -> bool:
    """Whether a dense matrix of this shape is reasonable to build (under 2**31 entries)."""
    return math.prod(shape) < 2**31

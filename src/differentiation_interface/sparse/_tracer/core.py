"""Traced arrays: what the tracing namespace computes with instead of numbers.

A :class:`TracedArray` has a shape and a dtype like any array, and instead of values it has

``pattern``
    ``None`` (the array depends on no input) or an ``N x n`` boolean CSR matrix (see
    :mod:`.._pattern`): row ``i`` lists the inputs element ``i`` depends on. First order.
``value``
    A numpy array when the values are known at tracing time (arrays ``f`` creates or closes
    over, and everything computed from them alone), else ``None``. Known values make
    patterns exact where a constant is zero (``D @ u`` with a banded ``D``), make integer
    indexing possible, and let ``int(n)`` and ``bool(flag)`` of constants work.

An array with neither is *opaque*: it depends on no input but its values are unknown
(comparisons of traced arrays, ``Constant`` contexts, which may change between calls).

``primal``
    Groundwork of local detection (not public yet; always ``None`` in global detection):
    the values at the traced point of an array that depends on the input, where the
    operation that made it knows how to compute them. Operations whose derivative depends on
    the branch taken (``where``, ``maximum``, ``minimum``, products with a zero factor) keep
    only that branch's dependencies; ``None`` keeps both, as global detection does, so a
    missing primal is never wrong, only less sparse. A primal never makes an array constant.

``zeros``
    For arrays of unknown values, the elements known to be exactly zero (or ``None``): a
    traced array padded with constant zeros keeps knowing where they are, so that
    ``padded[:-2] * padded[2:]`` does not depend on what is multiplied by a padding zero.

Second order lives on the :class:`Tape` shared by the arrays of one trace: every nonlinear
operation records pairs ``(A, B)`` of row-aligned patterns whose products ``A^T B`` bound
the Hessian pattern (``G^T G`` for ``sin(a)``, ``G_a^T G_b`` for ``a * b``). The pairs are
multiplied once, at the end, as one stacked product. Accumulating globally is conservative
(an intermediate that never reaches the output still adds its pairs), never wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...errors import UnsupportedOperationError
from .. import _pattern as P

__all__ = [
    "Tape",
    "TracedArray",
    "TracingError",
    "broadcast_pattern",
    "lift",
    "local_values",
    "nonzero_mask",
    "zero_mask",
]

_SCALARS = (bool, int, float, complex)


class TracingError(UnsupportedOperationError):
    """``f`` did something sparsity detection cannot follow (the message says what)."""


def unsupported(operation: str, why: str = "") -> TracingError:
    """The error for an operation the tracer does not implement."""
    detail = f" {why}" if why else ""
    msg = (
        f"Sparsity detection does not support `{operation}`.{detail} "
        "Rewrite f with supported Array-API operations, give the pattern with "
        "KnownJacobianSparsity / KnownHessianSparsity, or use DenseSparsityDetector "
        "(a numerical, local pattern)."
    )
    return TracingError(msg)


class Tape:
    """What one trace shares: the input size and the second-order pairs."""

    __slots__ = ("device", "n", "pairs", "second_order")

    def __init__(self, n: int, *, second_order: bool, device: Any = None) -> None:
        self.n = n
        self.second_order = second_order
        self.device = device
        self.pairs: list[tuple[P.Pattern, P.Pattern]] = []

    def record(self, a: P.Pattern | None, b: P.Pattern | None) -> None:
        """Record that the Hessian may couple, per row, the inputs of ``a`` and of ``b``."""
        if self.second_order and a is not None and b is not None and a.nnz and b.nnz:
            self.pairs.append((a, b))

    def hessian(self) -> P.Pattern:
        """The symmetric ``n x n`` Hessian pattern of everything recorded."""
        if not self.pairs:
            return P.empty(self.n, self.n)
        left = P.vstack([a for a, _ in self.pairs])
        right = P.vstack([b for _, b in self.pairs])
        product = sp.csr_array(left.T @ right)
        return P.as_pattern(product + product.T)


class TracedArray:
    """An array of the tracing namespace (see the module docstring)."""

    __array_priority__ = 1000  # numpy defers binary operators to us

    __slots__ = (
        "_diverged",
        "_root",
        "_version",
        "dtype",
        "pattern",
        "primal",
        "shape",
        "tape",
        "value",
        "zeros",
    )

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        pattern: P.Pattern | None = None,
        value: np.ndarray[Any, Any] | None = None,
        tape: Tape | None = None,
        zeros: np.ndarray[Any, Any] | None = None,
        primal: np.ndarray[Any, Any] | None = None,
    ) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.pattern = pattern
        self.value = value
        self.primal = None if value is not None or primal is None else np.asarray(primal)
        self.tape = tape
        self.zeros = zeros if zeros is not None and value is None and zeros.any() else None
        # Arrays that numpy would return as views of another array remember their base.
        # Traced arrays do not share memory, so a write is seen only by the array written
        # into: reading a view after its base changed, or a base after one of its views was
        # written into, would miss it and raises instead of giving a wrong pattern.
        self._root: TracedArray | None = None
        self._version = 0
        self._diverged = False

    # --- kinds ---

    @property
    def traced(self) -> bool:
        """Whether the array depends on the input."""
        return self.pattern is not None

    @property
    def known(self) -> bool:
        """Whether its values are known at tracing time."""
        return self.value is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def rows(self) -> P.Pattern:
        """The pattern, with an empty one for arrays that depend on nothing."""
        if self.pattern is not None:
            return self.pattern
        n = self.tape.n if self.tape is not None else 0
        return P.empty(self.size, n)

    def check_fresh(self) -> None:
        """Raise if a write this array should see went to another array (see ``__init__``)."""
        root = self._root
        if root is not None and root._version != self._version:
            msg = (
                "Sparsity detection: f reads a view (a slice, reshape or transpose) of an "
                "array that was modified after the view was taken. Take the view after "
                "writing, or write with xp.where / xp.concat instead of in place."
            )
            raise TracingError(msg)
        if self._diverged:
            msg = (
                "Sparsity detection: f reads an array after writing into a view of it (a "
                "slice, reshape or transpose). Write into the array itself with an index, "
                "e.g. a[1:3] = v rather than b = a[1:]; b[:2] = v."
            )
            raise TracingError(msg)

    def detach(self) -> None:
        """Before a write into this view: it becomes an array of its own, and its base (and
        every other view of the base) may no longer be read."""
        root = self._root
        if root is not None:
            root._diverged = True
            root._version += 1
            self._root, self._version = None, 0

    def __repr__(self) -> str:
        if self.pattern is not None:
            what = f"traced, {self.pattern.nnz} dependencies"
        elif self.value is not None:
            what = "constant"
        else:
            what = "opaque"
        return f"TracedArray(shape={self.shape}, dtype={self.dtype}, {what})"


def view_of(base: TracedArray, result: TracedArray) -> TracedArray:
    """Mark ``result`` as a numpy-style view of ``base`` (see :meth:`check_fresh`)."""
    root = base._root if base._root is not None else base
    result._root = root
    result._version = root._version
    return result


def constant(value: Any, dtype: Any = None) -> TracedArray:
    """A traced array with known values."""
    array = np.asarray(value, dtype=dtype)
    return TracedArray(array.shape, array.dtype, value=array)


def opaque(shape: tuple[int, ...], dtype: Any) -> TracedArray:
    """A traced array that depends on no input and whose values are unknown."""
    return TracedArray(shape, np.dtype(dtype))


def lift(a: Any) -> TracedArray:
    """Any operand as a :class:`TracedArray` (Python scalars and foreign arrays are known)."""
    if isinstance(a, TracedArray):
        a.check_fresh()
        return a
    if isinstance(a, (*_SCALARS, np.ndarray, np.generic)):
        return constant(a)
    if hasattr(a, "__array_namespace__") or hasattr(a, "__dlpack__"):
        from ..._array import to_numpy

        # An array f closes over (of any namespace): its values are part of f.
        return constant(np.array(to_numpy(a)))
    msg = f"Sparsity detection: cannot use a {type(a).__name__} as an array operand."
    raise TypeError(msg)


def proto(a: TracedArray | Any) -> Any:
    """A stand-in with ``a``'s dtype for computing result dtypes with numpy.

    Python scalars stay Python scalars, so that numpy applies its weak-scalar promotion
    rules (``float32 array * 2.0`` stays float32), as the Array API requires.
    """
    if isinstance(a, TracedArray):
        return np.empty((0,), dtype=a.dtype)
    return a


def tape_of(*arrays: TracedArray) -> Tape | None:
    """The tape of the first traced operand."""
    for a in arrays:
        if a.tape is not None:
            return a.tape
    return None


def broadcast_pattern(a: TracedArray, shape: tuple[int, ...]) -> P.Pattern | None:
    """``a``'s pattern after broadcasting ``a`` to ``shape`` (row selection)."""
    if a.pattern is None:
        return None
    if a.shape == shape:
        return a.pattern
    source = np.broadcast_to(np.arange(a.size).reshape(a.shape), shape)
    return P.select_rows(a.pattern, source.reshape(-1))


def zero_mask(a: TracedArray) -> Any:
    """The elements of ``a`` known to be zero (shape ``a.shape``), or ``None`` if none is."""
    if a.value is not None:
        return np.asarray(a.value == 0).reshape(a.shape)
    return a.zeros


def local_values(a: TracedArray) -> Any:
    """``a``'s values where known: constant values, or in local detection its primal."""
    return a.value if a.value is not None else a.primal


def nonzero_mask(a: TracedArray, shape: tuple[int, ...]) -> Any:
    """Where ``a`` (broadcast to ``shape``) may be nonzero: everywhere but its known zeros."""
    zeros = zero_mask(a)
    if zeros is None:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(~zeros, shape)

"""``SparseCOO``: the ``output="coo"`` result of ``AutoSparse``, plain arrays of any namespace.

Light on purpose (numpy and the array layer only): it is a public name, imported with the
package, which must not import scipy or an engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import (
    convert,
    device_of,
    is_jax_namespace,
    is_numpy_namespace,
    is_torch_namespace,
    namespace_of,
    precision_scope,
    to_numpy,
)

__all__ = ["SparseCOO"]


class SparseCOO:
    """A sparse matrix as plain arrays of the caller's namespace and device.

    ``data[k]`` is entry ``(row[k], col[k])`` of a ``shape`` matrix; entries are unique and
    in C (row-major) order. Returned by ``AutoSparse(..., output="coo")`` for callers of any
    namespace: nothing but arrays of that namespace, so it needs no sparse library (JAX's
    own sparse module is no longer developed) and, for JAX, is a pytree that may leave a
    ``jit``.

    Attributes
    ----------
    data : array
        The nonzeros (the caller's dtype).
    row, col : array
        Their row and column indices (int32 where every index fits, else int64).
    shape : tuple of int
        ``(m, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> backend = di.AutoSparse(di.AutoFiniteDiff(), output="coo")
    >>> J = di.jacobian(lambda x: x[1:] * x[:-1], backend, np.array([1.0, 2.0, 3.0]))
    >>> J.row, J.col, J.shape
    (array([0, 0, 1, 1], dtype=int32), array([0, 1, 1, 2], dtype=int32), (2, 3))
    >>> np.round(J.todense(), 6)
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """

    __slots__ = ("col", "data", "row", "shape")

    def __init__(self, data: Any, row: Any, col: Any, shape: tuple[int, ...]) -> None:
        self.data, self.row, self.col, self.shape = data, row, col, shape

    @property
    def nnz(self) -> int:
        """The number of stored entries."""
        return int(self.data.shape[0])

    def todense(self) -> Any:
        """The dense matrix, an array of the same namespace and device."""
        xp = namespace_of(self.data)
        m, n = self.shape
        if is_jax_namespace(xp):
            with precision_scope(xp, self.data):  # a float64 matrix stays float64
                flat = self.row * n + self.col
                dense = xp.zeros(m * n, dtype=self.data.dtype).at[flat].set(self.data)
                return xp.reshape(dense, (m, n))
        if is_numpy_namespace(xp) or is_torch_namespace(xp):
            dense = xp.zeros(m * n, dtype=self.data.dtype, device=device_of(self.data))
            dense[self.row * n + self.col] = self.data
            return xp.reshape(dense, (m, n))
        host = np.zeros(m * n, dtype=to_numpy(self.data).dtype)  # other namespaces: via host
        host[to_numpy(self.row) * n + to_numpy(self.col)] = to_numpy(self.data)
        return convert(host.reshape(m, n), xp, device_of(self.data))

    def __repr__(self) -> str:
        return f"SparseCOO(shape={self.shape}, nnz={self.nnz}, dtype={self.data.dtype})"

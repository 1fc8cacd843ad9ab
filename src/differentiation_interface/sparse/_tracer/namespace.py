"""The tracing namespace: what ``array_namespace(x)`` returns for a traced ``x``.

It implements the Array-API functions (2024.12) a function ``f`` may call, on
:class:`~.core.TracedArray` objects, with the pattern rules of the sibling modules.
Standard functions that have no global pattern (``nonzero``, ``unique_*``: data-dependent
shapes) or are not implemented raise :class:`~.core.TracingError` naming the
function when called; names outside the standard raise ``AttributeError``.

The namespace is stateless (a module-level singleton): the per-trace state (input size,
second-order pairs) lives on the tape that traced arrays carry.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import creation as C
from . import dtypes as T
from . import elementwise as E
from . import indexing as I
from . import linalg as L
from . import shape as S
from . import statistics as St
from .core import TracedArray, constant, lift, unsupported

__all__ = ["NAMESPACE", "TracerNamespace"]

#: Array-API names the tracer refuses, with the reason.
_REFUSED = {
    "nonzero": "Its output shape depends on the values of x.",
    "unique_all": "Its output shape depends on the values of x.",
    "unique_counts": "Its output shape depends on the values of x.",
    "unique_inverse": "Its output shape depends on the values of x.",
    "unique_values": "Its output shape depends on the values of x.",
    "isin": "",
    "eig": "",
    "eigvals": "",
}


#: Functions of the namespace, by module: the standard's names, implemented there.
_FUNCTIONS = {
    C: C.__all__,
    T: ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"],
    I: ["take", "take_along_axis"],
    S: S.__all__,
    St: St.__all__,
    L: ["matmul", "tensordot", "vecdot"],
}


class TracerNamespace:
    """The Array-API namespace of traced arrays (see the module docstring)."""

    __name__ = "differentiation_interface.sparse.tracer"
    __array_api_version__ = "2024.12"

    e, inf, nan, pi, newaxis = math.e, math.inf, math.nan, math.pi, None

    def __init__(self) -> None:
        for name, dtype in T.DTYPES.items():
            setattr(self, name, dtype)
        for name in E.UNARY:
            setattr(self, name, _unary(name))
        for name in E.BINARY:
            setattr(self, name, _binary(name))
        for module, names in _FUNCTIONS.items():
            for name in names:
                setattr(self, name, getattr(module, name))
        self.pow, self.where, self.clip = E.pow_, E.where, E.clip
        self.linalg = SimpleNamespace(
            matmul=L.matmul,
            tensordot=L.tensordot,
            vecdot=L.vecdot,
            matrix_transpose=S.matrix_transpose,
            diagonal=S.diagonal,
            outer=L.outer,
            cross=L.cross,
            trace=L.trace,
            vector_norm=L.vector_norm,
            **{name: _dense(name) for name in L.DENSE},
        )
        self.linalg.solve = L.solve
        self.fft = SimpleNamespace(
            **{name: _fft(name) for name in L.FFT},
            fftfreq=_frequencies(np.fft.fftfreq),
            rfftfreq=_frequencies(np.fft.rfftfreq),
            fftshift=lambda x, /, *, axes=None: I.remap(x, lambda e: np.fft.fftshift(e, axes)),
            ifftshift=lambda x, /, *, axes=None: I.remap(x, lambda e: np.fft.ifftshift(e, axes)),
        )

    def __getattr__(self, name: str) -> Any:
        if name in _REFUSED or name in _STANDARD:
            return _refuse(name, _REFUSED.get(name, ""))
        msg = f"The sparsity-tracing namespace has no attribute {name!r}."
        raise AttributeError(msg)

    def __repr__(self) -> str:
        return "<array namespace of differentiation_interface's sparsity tracer>"

    def __array_namespace_info__(self) -> T.Info:
        return T.Info()

    def round(self, x: Any, /, *, decimals: int = 0) -> TracedArray:
        a = lift(x)
        if decimals and a.value is not None:
            return constant(np.round(a.value, decimals))
        return E.unary("round", a)  # zero derivative whatever the decimals


def _unary(name: str) -> Any:
    def function(x: Any, /) -> TracedArray:
        return E.unary(name, x)

    function.__name__ = name
    return function


def _binary(name: str) -> Any:
    def function(x1: Any, x2: Any, /) -> TracedArray:
        return E.binary(name, x1, x2)

    function.__name__ = name
    return function


def _dense(name: str) -> Any:
    def function(*args: Any, **options: Any) -> Any:
        return L.dense_op(name, *args, **options)

    function.__name__ = name
    return function


def _fft(name: str) -> Any:
    def function(x: Any, /, **options: Any) -> TracedArray:
        return L.fft_op(name, x, **options)

    function.__name__ = name
    return function


def _frequencies(function: Any) -> Any:
    def frequencies(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
        return constant(function(n, d).astype(dtype or np.float64))

    return frequencies


def _refuse(name: str, why: str) -> Any:
    def function(*args: Any, **kwargs: Any) -> Any:
        raise unsupported(name, why)

    function.__name__ = name
    return function


#: Every function name of the Array-API standard (2024.12), so that a standard function the
#: tracer lacks is reported as unsupported rather than as a missing attribute.
_STANDARD = frozenset(
    [
        "abs",
        "acos",
        "acosh",
        "add",
        "all",
        "any",
        "arange",
        "argmax",
        "argmin",
        "argsort",
        "asarray",
        "asin",
        "asinh",
        "astype",
        "atan",
        "atan2",
        "atanh",
        "bitwise_and",
        "bitwise_invert",
        "bitwise_left_shift",
        "bitwise_or",
        "bitwise_right_shift",
        "bitwise_xor",
        "broadcast_arrays",
        "broadcast_shapes",
        "broadcast_to",
        "can_cast",
        "ceil",
        "clip",
        "concat",
        "conj",
        "copysign",
        "cos",
        "cosh",
        "count_nonzero",
        "cumulative_prod",
        "cumulative_sum",
        "diff",
        "divide",
        "empty",
        "empty_like",
        "equal",
        "exp",
        "expand_dims",
        "expm1",
        "eye",
        "finfo",
        "flip",
        "floor",
        "floor_divide",
        "from_dlpack",
        "full",
        "full_like",
        "greater",
        "greater_equal",
        "hypot",
        "iinfo",
        "imag",
        "isdtype",
        "isfinite",
        "isin",
        "isinf",
        "isnan",
        "less",
        "less_equal",
        "linspace",
        "log",
        "log10",
        "log1p",
        "log2",
        "logaddexp",
        "logical_and",
        "logical_not",
        "logical_or",
        "logical_xor",
        "matmul",
        "matrix_transpose",
        "max",
        "maximum",
        "mean",
        "meshgrid",
        "min",
        "minimum",
        "moveaxis",
        "multiply",
        "negative",
        "nextafter",
        "nonzero",
        "not_equal",
        "ones",
        "ones_like",
        "permute_dims",
        "positive",
        "pow",
        "prod",
        "real",
        "reciprocal",
        "remainder",
        "repeat",
        "reshape",
        "result_type",
        "roll",
        "round",
        "searchsorted",
        "sign",
        "signbit",
        "sin",
        "sinh",
        "sort",
        "sqrt",
        "square",
        "squeeze",
        "stack",
        "std",
        "subtract",
        "sum",
        "take",
        "take_along_axis",
        "tan",
        "tanh",
        "tensordot",
        "tile",
        "tril",
        "triu",
        "trunc",
        "unique_all",
        "unique_counts",
        "unique_inverse",
        "unique_values",
        "unstack",
        "var",
        "vecdot",
        "where",
        "zeros",
        "zeros_like",
    ]
)

NAMESPACE = TracerNamespace()

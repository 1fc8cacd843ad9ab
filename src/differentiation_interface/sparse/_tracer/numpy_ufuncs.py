"""numpy ufuncs called on traced arrays (``__array_ufunc__``): matched by ufunc object.

``np.sin(x)``, ``np.add(a, x)``, ``np.matmul(A, x)`` and numpy arrays on the left of an
operator arrive here. Each ufunc maps to the elementwise function that computes the same
thing (``np.arctan2`` to ``atan2``, ``np.power`` to ``pow``, ...); the ufunc options
(``out``, ``where``, ``dtype``, ``casting``, ``axes``, ...) raise unless given at their
defaults. Of the ufunc methods, ``reduce`` is numpy's ``sum`` / ``prod`` / ``max`` /
``min`` / ``all`` / ``any`` with ``axis=0`` by default, ``accumulate`` the cumulative
functions along ``axis=0``, ``outer`` the ufunc on every pair; ``at`` and ``reduceat``
raise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import elementwise as E
from . import linalg as L
from .core import TracedArray, lift, unsupported
from .indexing import getitem
from .numpy_dispatch import array_like, call, numpy_name
from .numpy_reductions import accumulate_piecewise
from .shape import expand_dims, reshape

__all__ = ["call_ufunc"]


def _matvec(x1: Any, x2: Any) -> TracedArray:
    return getitem(L.matmul(x1, expand_dims(x2, axis=-1)), (..., 0))


def _vecmat(x1: Any, x2: Any) -> TracedArray:
    a = lift(x1)
    if a.dtype.kind == "c":
        a = E.unary("conj", a)
    return getitem(L.matmul(expand_dims(a, axis=-2), x2), (..., 0, slice(None)))


def _table() -> tuple[dict[Any, Callable[..., TracedArray]], frozenset[Any]]:
    """Implementation of each ufunc the tracer knows; the binary ones."""
    unary = {**E.UNARY, **E.NUMPY_UNARY}
    binary = {**E.BINARY, **E.NUMPY_BINARY}
    table: dict[Any, Callable[..., TracedArray]] = {
        function: functools.partial(E.unary, name)
        for name, (_, function) in unary.items()
        if isinstance(function, np.ufunc)
    }
    pairs: dict[Any, Callable[..., TracedArray]] = {
        function: functools.partial(E.binary, name)
        for name, (_, function) in binary.items()
        if isinstance(function, np.ufunc)
    }
    pairs[np.power] = E.pow_
    pairs[np.matmul] = L.matmul
    for name, implementation in (("vecdot", L.vecdot), ("matvec", _matvec), ("vecmat", _vecmat)):
        if hasattr(np, name):  # numpy >= 2.0 / 2.2
            pairs[getattr(np, name)] = implementation
    return {**table, **pairs}, frozenset(pairs)


_UFUNCS, _BINARY = _table()

#: ufunc.reduce as the numpy reduction that computes the same
_REDUCE = {
    np.add: np.sum,
    np.multiply: np.prod,
    np.maximum: np.max,
    np.minimum: np.min,
    np.logical_and: np.all,
    np.logical_or: np.any,
}


def call_ufunc(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``getattr(ufunc, method)(*inputs, **kwargs)`` with traced arrays among the inputs."""
    name = numpy_name(ufunc)
    inputs = tuple(array_like(v) for v in inputs)
    if method == "__call__":
        implementation = _UFUNCS.get(ufunc)
        if implementation is None:
            raise unsupported(name, "The tracer does not implement this ufunc.")
        _check_options(name, kwargs)
        return implementation(*inputs)
    if method == "reduce" and ufunc in _REDUCE:
        options = {"axis": 0, **kwargs}
        if options.get("dtype", 0) is None:
            del options["dtype"]
        if "dtype" in options and ufunc not in (np.add, np.multiply):
            msg = f"{name}.reduce(..., dtype=...)"
            raise unsupported(msg, "Convert the result instead.")
        return call(_REDUCE[ufunc], inputs, options)
    if method == "accumulate" and ufunc in (np.add, np.multiply):
        function = np.cumsum if ufunc is np.add else np.cumprod
        return call(function, inputs, {"axis": 0, **kwargs})
    if method == "accumulate" and ufunc in (np.maximum, np.minimum):
        _check_options(f"{name}.accumulate", kwargs, allowed=("axis", "dtype"))
        options = {k: v for k, v in kwargs.items() if k in ("axis", "dtype")}
        return accumulate_piecewise(ufunc, *inputs, **options)
    if method == "outer" and ufunc in _BINARY:
        _check_options(f"{name}.outer", kwargs)
        a, b = lift(inputs[0]), lift(inputs[1])
        return _UFUNCS[ufunc](reshape(a, a.shape + (1,) * b.ndim), b)
    msg = f"{name}.{method}"
    raise unsupported(msg, "The tracer does not implement this ufunc method.")


def _check_options(name: str, kwargs: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    """Refuse every ufunc option not at its default (numpy leaves out ``out=None``)."""
    for option, value in kwargs.items():
        if option in allowed or (option == "where" and value is True):
            continue
        if option == "out" and all(o is None for o in value):
            continue
        hint = (
            "Assign the result instead: `y[...] = result`."
            if option == "out"
            else f"Call {name} without `{option}`."
        )
        msg = f"{name}(..., {option}=...)"
        raise unsupported(
            msg,
            f"The tracer does not implement the ufunc option `{option}`. {hint}",
        )

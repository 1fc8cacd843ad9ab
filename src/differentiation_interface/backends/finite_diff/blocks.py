"""Finite differences of dask arrays: one task per chunk of ``x``, ``f`` run on its values.

The stencils along every coordinate (the gradient, the Jacobian and the Hessian-vector
product) would otherwise put one copy of ``f``'s graph per perturbed point into the result's
graph (``4 n`` for a Hessian-vector product: 13.8 million tasks for ``n = 10_000``) and cut
the result into one chunk per coordinate. Here each chunk of ``x`` becomes one task
(:func:`~differentiation_interface._array.map_coordinates`) that receives ``x`` whole as
numpy values and evaluates ``f`` at the perturbed points of its coordinates one after the
other, perturbing a private copy of ``x`` in place. The graph has as many tasks as ``x`` has
chunks, the result is chunked like ``x``, and nothing is computed until the caller computes.

``f`` therefore receives numpy arrays inside the tasks: it must be written with the Array
API (``array_api_compat.array_namespace(x)``), or with numpy-compatible methods; an output
that is a dask array (``f`` calls ``dask.array`` functions) is computed inside the task.
A failure of ``f`` there is raised as :class:`~differentiation_interface.errors.
FunctionOutputError` when the result is computed. Steps and stencils are those of
:mod:`.first` and :mod:`.second`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._array import map_coordinates, namespace_of
from ...errors import FunctionOutputError
from .._base import Fn

__all__ = ["dask_basis", "dask_hvp_column"]


def _evaluate(f: Any, point: np.ndarray[Any, Any], args: tuple[Any, ...], op: str) -> Any:
    """``f(point, *args)`` as a numpy array (a dask output is computed here)."""
    try:
        out = f(point, *args)
        return np.asarray(out)
    except Exception as err:
        msg = (
            f"`{op}` with AutoFiniteDiff() evaluates f on numpy values of a dask x, one dask "
            f"task per chunk of x, and f raised {type(err).__name__}: {err}. Write f with the "
            "Array API (xp = array_api_compat.array_namespace(x)) so that it runs on numpy "
            "arrays as well as on dask arrays."
        )
        raise FunctionOutputError(msg) from err


def _basis_task(
    indices: np.ndarray[Any, Any],
    x: np.ndarray[Any, Any],
    *args: Any,
    f: Any,
    c: float,
    method: str,
    imaginary: bool,
    y_dtype: Any,
) -> np.ndarray[Any, Any]:
    buffer = np.array(x, copy=True)
    flat = buffer.reshape(-1)
    original = np.array(flat, copy=True)
    f0 = None if method == "central" else _evaluate(f, buffer, args, "gradient")
    rows = []
    for j in indices.tolist():
        h = c * max(1.0, abs(original[j]))
        step = h * 1j if imaginary else h
        if method == "central":
            flat[j] = original[j] + step
            plus = _evaluate(f, buffer, args, "gradient")
            flat[j] = original[j] - step
            minus = _evaluate(f, buffer, args, "gradient")
            q = (plus - minus) / (2.0 * h)
        elif method == "forward":
            flat[j] = original[j] + step
            q = (_evaluate(f, buffer, args, "gradient") - f0) / h
        else:
            flat[j] = original[j] - step
            q = (f0 - _evaluate(f, buffer, args, "gradient")) / h
        flat[j] = original[j]
        rows.append(np.asarray(q).astype(y_dtype, copy=False))
    shape = (len(rows), *np.shape(rows[0])) if rows else (0,)
    return np.stack(rows).reshape(shape) if rows else np.empty(shape, dtype=y_dtype)


def dask_basis(
    fn: Fn,
    x: Any,
    *,
    c: float,
    method: str,
    y_shape: tuple[int, ...],
    y_dtype: Any,
    imaginary: bool,
) -> Any:
    """Derivatives of ``f`` along ``e_j`` (or ``1j * e_j``) for every ``j``, lazily:
    ``(x.size, *y_shape)``, one task per chunk of ``x``."""
    return map_coordinates(
        _basis_task,
        x,
        fn.args,
        y_shape,
        y_dtype,
        f=fn.f,
        c=c,
        method=method,
        imaginary=imaginary,
        y_dtype=y_dtype,
    )


def _hvp_task(
    indices: np.ndarray[Any, Any],
    x: np.ndarray[Any, Any],
    a_t: np.ndarray[Any, Any],
    a: np.ndarray[Any, Any],
    *args: Any,
    f: Any,
    c: float,
    imaginary: bool,
) -> np.ndarray[Any, Any]:
    original = np.array(x, copy=True).reshape(-1)
    shift = np.asarray(a_t).reshape(-1)
    plus, minus = original + shift, original - shift
    buffer = np.empty_like(plus)
    point = buffer.reshape(x.shape)
    out = np.empty(len(indices), dtype=np.complex128 if np.iscomplexobj(x) else np.float64)
    scale = float(np.asarray(a))
    for k, j in enumerate(indices.tolist()):
        b = c * max(1.0, abs(original[j]))
        step = b * 1j if imaginary else b
        total = 0.0
        for base, s1 in ((plus, 1.0), (minus, -1.0)):
            for s2 in (1.0, -1.0):
                buffer[...] = base
                buffer[j] = base[j] + s2 * step
                total = total + s1 * s2 * _evaluate(f, point, args, "hvp")
        out[k] = total / (4.0 * scale * b)
    return out


def dask_hvp_column(fn: Fn, x: Any, a_t: Any, a: Any, *, c: float, imaginary: bool) -> Any:
    """``(H t)`` along real (or imaginary) coordinate directions, flattened, lazily: the
    mixed stencil of :mod:`.second` at ``x +- a t +- b_j e_j``, one task per chunk of ``x``."""
    xp = namespace_of(x)
    dtype = np.complex128 if x.dtype.kind == "c" else np.float64
    return map_coordinates(
        _hvp_task,
        x,
        (xp.reshape(a_t, (-1,)), a, *fn.args),
        (),
        dtype,
        f=fn.f,
        c=c,
        imaginary=imaginary,
    )

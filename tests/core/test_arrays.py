"""The array layer: namespaces, conversions, freshness of results, out= writes."""

from __future__ import annotations

import sys
import types
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest

from differentiation_interface import _array as arr


def test_namespace_of_numpy_is_numpy_itself() -> None:
    assert arr.namespace_of(np.ones(2)) is np
    assert arr.namespace_of(np.float64(1.0)) is np
    assert arr.namespace_of(xps.ones(2)) is xps


def test_device_of() -> None:
    assert arr.device_of(np.ones(2)) == "cpu"
    assert arr.device_of(xps.ones(2, device=xps.Device("device1"))) == xps.Device("device1")


def test_dtype_kinds() -> None:
    assert arr.is_floating_dtype(np, np.dtype(np.float32))
    assert arr.is_floating_dtype(np, np.dtype(np.complex64))
    assert not arr.is_floating_dtype(np, np.dtype(np.int64))
    assert arr.is_complex_dtype(xps, xps.complex128)
    assert arr.real_dtype(xps, xps.complex64) == xps.float32
    assert arr.real_dtype(np, np.dtype(np.float64)) == np.float64


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1", "no_float64"])
def test_convert_numpy_to_strict_and_back(device: str) -> None:
    a = np.arange(3.0, dtype=np.float32)
    s = arr.convert(a, xps, xps.Device(device))
    assert s.device == xps.Device(device)
    np.testing.assert_array_equal(arr.to_numpy(s), a)


def test_convert_read_only_and_negative_strides_to_strict() -> None:
    a = np.arange(4.0)[::-1]
    s = arr.convert(a, xps, xps.Device("CPU_DEVICE"))
    np.testing.assert_array_equal(arr.to_numpy(s), a)
    b = np.arange(4.0)
    b.flags.writeable = False
    np.testing.assert_array_equal(arr.to_numpy(arr.convert(b, xps, None)), b)


def test_fresh_copies_only_when_needed() -> None:
    x = np.arange(3.0)
    assert arr.fresh(x, np, (x,)) is not x
    y = np.arange(3.0)
    assert arr.fresh(y, np, (x,)) is y
    view = x[1:]
    assert not np.shares_memory(arr.fresh(view, np, (x,)), x)
    read_only = np.arange(3.0)
    read_only.flags.writeable = False
    assert arr.fresh(read_only, np, ()).flags.writeable
    scalar = arr.fresh(np.float64(2.0), np, ())
    assert type(scalar) is np.ndarray
    assert scalar.ndim == 0


@pytest.mark.parametrize(
    "make_source",
    [
        lambda owner: owner[:],  # a view: its base is the owner
        lambda owner: owner[::2][1:],  # a view of a view (numpy collapses the base)
        lambda owner: np.frombuffer(memoryview(owner), dtype=owner.dtype),  # base: a buffer
        lambda owner: owner.reshape(2, 2).T,
    ],
)
def test_fresh_copies_an_owner_whose_view_is_a_source(make_source: Any) -> None:
    owner = np.arange(4.0)  # e.g. a buffer f closes over and returns, x being a view of it
    source = make_source(owner)
    assert np.shares_memory(source, owner)
    result = arr.fresh(owner, np, (source,))
    assert not np.shares_memory(result, source)
    np.testing.assert_array_equal(result, owner)


def test_fresh_keeps_an_owner_no_source_sees() -> None:
    x, other = np.arange(4.0), np.arange(4.0)
    assert arr.fresh(other, np, (x, x[1:])) is other


def test_fresh_strict_arrays_sharing_a_buffer() -> None:
    x = xps.asarray([1.0, 2.0])
    assert arr.fresh(x, xps, (x,)) is not x


def test_fresh_copies_cupy_views_of_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """CuPy arrays share memory when their device-pointer bounds overlap (CuPy's own
    ``may_share_memory``): a view of ``x`` returned by ``f`` is copied, as for numpy. Before,
    no CuPy array was ever seen sharing, so a point-by-point finite difference of an ``f``
    returning a view of its argument kept views of a buffer the sweep changes afterwards.
    No GPU here: a stand-in ``cupy`` module whose arrays are numpy ones inside."""

    class ndarray:
        def __init__(self, data: np.ndarray) -> None:
            self.data = data

    def may_share_memory(a: ndarray, b: ndarray) -> bool:
        return bool(np.may_share_memory(a.data, b.data))

    class namespace:
        @staticmethod
        def asarray(a: ndarray, copy: bool = False) -> ndarray:
            return ndarray(a.data.copy() if copy else a.data)

    cupy = types.ModuleType("cupy")
    cupy.ndarray, cupy.may_share_memory = ndarray, may_share_memory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    x = ndarray(np.arange(4.0))
    view, other = ndarray(x.data[1:]), ndarray(np.arange(4.0))
    copied = arr.fresh(view, namespace, (x,))
    assert copied is not view
    assert not np.may_share_memory(copied.data, x.data)
    np.testing.assert_array_equal(copied.data, [1.0, 2.0, 3.0])
    assert arr.fresh(other, namespace, (x,)) is other


def test_basis_chunk_wraps_around() -> None:
    rows = arr.basis_chunk(np, (2, 2), 3, 2, np.float64, "cpu")
    np.testing.assert_array_equal(rows.reshape(2, 4), np.eye(4)[[3, 0]])
    imaginary = arr.basis_chunk(np, (3,), 0, 1, np.complex128, "cpu", imaginary=True)
    np.testing.assert_array_equal(imaginary, [[1j, 0, 0]])


@pytest.mark.parametrize(
    ("n", "max_batch", "expected"),
    [(2000, 524, (500, 4)), (10, 100, (10, 1)), (0, 5, (0, 0)), (7, 3, (3, 3))],
)
def test_chunking_is_balanced(n: int, max_batch: int, expected: tuple[int, int]) -> None:
    assert arr.chunking(n, max_batch) == expected


def test_stack_of_numpy_scalars_is_an_array() -> None:
    stacked = arr.stack(np, [np.float64(1.0), np.float64(2.0)])
    assert type(stacked) is np.ndarray
    np.testing.assert_array_equal(stacked, [1.0, 2.0])

"""The cache of unprepared calls never returns what a fresh preparation would not (no engine:
the sparse engine over finite differences traces f; the witness itself is engine-free)."""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._freshness import MAX_CHECKS, Witness
from differentiation_interface.operators import _call, _fastpath
from differentiation_interface.prep import PrepCache, footprint

pytest.importorskip("scipy")

SPARSE = di.AutoSparse(di.AutoFiniteDiff())


# --- the witness -------------------------------------------------------------------------------

SCALE = 2.0
GLOBAL_MATRIX = np.eye(3)


def _global_reader(x: Any) -> Any:
    return SCALE * (GLOBAL_MATRIX @ x)


class _Model:
    offset = 1.0  # a class constant read through self

    def __init__(self) -> None:
        self.w = 2.0
        self.A = np.eye(3)

    @property
    def doubled(self) -> float:
        return 2 * self.w

    def _helper(self, x: Any) -> Any:
        return self.A @ x + self.offset

    def loss(self, x: Any) -> Any:
        return (self.doubled * self._helper(x) ** 2).sum()


class _Slotted:
    __slots__ = ("k",)

    def __init__(self) -> None:
        self.k = 1.0

    def __call__(self, x: Any) -> Any:
        return self.k * x


def test_an_unchanged_state_holds() -> None:
    m = _Model()
    for f in (_global_reader, m.loss, _Slotted(), lambda x: x, functools.partial(np.dot, 2.0)):
        witness = Witness.of(f)
        assert witness is not None
        assert witness.holds()


@pytest.mark.parametrize(
    "change",
    [
        "attribute",
        "attribute through a property",
        "array attribute in place",
        "class constant",
        "instance shadows the class",
        "array attribute rebound",
    ],
)
def test_a_bound_method_sees_changes_of_its_object(change: str) -> None:
    m = _Model()
    witness = Witness.of(m.loss)
    assert witness is not None
    assert witness.holds()
    if change == "attribute":
        m.A = m.A  # same object: still holds
        assert witness.holds()
        m.w = 3.0
    elif change == "attribute through a property":
        m.w = 2.5
    elif change == "array attribute in place":
        m.A[1, 2] = 4.0
    elif change == "class constant":
        _Model.offset = 5.0
    elif change == "instance shadows the class":
        m.offset = 1.0  # the same value, but now the instance's: conservative
    else:
        m.A = np.eye(3)  # equal values, another array: contents are compared
        assert witness.holds()
        m.A = np.ones((3, 3))
    try:
        assert not witness.holds()
    finally:
        _Model.offset = 1.0


def test_globals_closures_defaults_and_slots_are_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    witness = Witness.of(_global_reader)
    assert witness is not None
    with monkeypatch.context() as patch:
        patch.setattr(sys.modules[__name__], "SCALE", 3.0)
        assert not witness.holds()
    assert witness.holds()
    GLOBAL_MATRIX[0, 0] = 7.0
    try:
        assert not witness.holds()
    finally:
        GLOBAL_MATRIX[0, 0] = 1.0

    cell = [np.zeros(2)]
    closure = lambda x: x + cell[0]  # noqa: E731
    witness = Witness.of(closure)
    assert witness is not None
    assert witness.holds()
    cell[0][1] = 1.0
    assert not witness.holds()

    def with_default(x: Any, c: Any = np.ones(2)) -> Any:  # noqa: B008 - the state under test
        return x * c

    witness = Witness.of(with_default)
    assert witness is not None
    with_default.__defaults__[0][0] = 5.0  # type: ignore[index]
    assert not witness.holds()

    slotted = _Slotted()
    witness = Witness.of(slotted)
    assert witness is not None
    assert witness.holds()
    slotted.k = 2.0
    assert not witness.holds()


def test_nan_and_containers() -> None:
    state = {"a": [1.0, float("nan")], "b": np.array([np.nan, 1.0])}
    f = lambda x: x * state["a"][0] + state["b"]  # noqa: E731
    witness = Witness.of(f)
    assert witness is not None
    assert witness.holds()
    state["a"].append(3.0)
    assert not witness.holds()


def test_a_state_too_large_is_not_witnessed() -> None:
    many = [float(k) for k in range(MAX_CHECKS + 10)]
    f = lambda x: x * many[0]  # noqa: E731
    assert Witness.of(f) is None


# --- unprepared calls ------------------------------------------------------------------------


def test_unprepared_sparse_sees_a_new_nonzero_of_a_closed_over_matrix() -> None:
    """The reported case: the pattern of A @ x depends on A, which f closes over."""
    A = np.eye(4)

    def f(x: Any) -> Any:
        return A @ x

    x = np.linspace(0.5, 1.0, 4)
    np.testing.assert_allclose(di.jacobian(f, SPARSE, x).toarray(), A, rtol=1e-6)
    A[0, 3] = 7.0
    np.testing.assert_allclose(di.jacobian(f, SPARSE, x).toarray(), A, rtol=1e-6)
    A[2, 0] = -1.5
    np.testing.assert_allclose(di.jacobian(f, SPARSE, x).toarray(), A, rtol=1e-6)


def test_an_unchanged_state_reuses_the_cached_preparation() -> None:
    A = np.diag([1.0, 2.0, 3.0])
    traced = []

    def f(x: Any) -> Any:
        traced.append(type(x).__name__)
        return A @ x

    x = np.ones(3)
    _call.clear_cache()
    first = di.jacobian(f, SPARSE, x)
    calls = len(traced)
    second = di.jacobian(f, SPARSE, 2 * x)
    np.testing.assert_allclose(second.toarray(), A, rtol=1e-6)
    np.testing.assert_allclose(first.toarray(), A, rtol=1e-6)
    # the second call only evaluates f (no detection, no preparation)
    assert "TracedArray" in traced[:calls]
    assert "TracedArray" not in traced[calls:]


def test_a_prepared_call_keeps_the_state_it_was_prepared_with() -> None:
    """Documented: a prep freezes what f reads (pass changing data as a Constant)."""
    A = np.eye(3)

    def f(x: Any) -> Any:
        return A @ x

    x = np.ones(3)
    prep = di.prepare_jacobian(f, SPARSE, x)
    A[0, 2] = 5.0
    kept = di.jacobian(f, SPARSE, x, prep=prep).toarray()
    assert kept[0, 2] == 0.0  # the prepared pattern: documented behaviour
    np.testing.assert_allclose(di.jacobian(f, SPARSE, x).toarray(), A, rtol=1e-6)


# --- bounds of the cache ---------------------------------------------------------------------


class _Holder:
    def __init__(self, nbytes: int) -> None:
        self.buffer = np.zeros(nbytes // 8)
        self.same = self.buffer  # counted once


def test_footprint_counts_each_array_once() -> None:
    assert footprint(_Holder(8000)) == 8000
    assert footprint((_Holder(800), [_Holder(1600)], {"k": np.zeros(3)})) == 800 + 1600 + 24


class _FakePrep:
    witness = None

    def __init__(self, nbytes: int) -> None:
        self.plan = _Holder(nbytes)


def test_the_cache_is_bounded_by_bytes_and_count() -> None:
    cache = PrepCache(maxsize=10, max_bytes=10_000)
    dropped: list[Any] = []
    for k in range(4):
        dropped += cache.put(("key", k), _FakePrep(4000))  # type: ignore[arg-type]
    assert len(cache) == 2
    assert cache.nbytes == 8000
    assert len(dropped) == 2
    big = _FakePrep(80_000)
    dropped = cache.put("big", big)  # type: ignore[arg-type]
    assert len(cache) == 1
    assert cache.get("big") is big
    for k in range(12):
        cache.put(k, _FakePrep(8))  # type: ignore[arg-type]
    assert len(cache) == 10


def test_unprepared_finite_differences_stay_within_the_byte_budget() -> None:
    """The reported growth: a preparation per size, each holding O(n**2) seeds."""
    _call.clear_cache()
    f = lambda x: (x**2).sum()  # noqa: E731
    for n in range(200, 1400, 100):
        di.gradient(f, di.AutoFiniteDiff(), np.ones(n))
    assert _call._cache.nbytes <= _call._cache.max_bytes + 1400**2 * 8
    di.clear_cache()
    assert len(_call._cache) == 0
    assert not _fastpath._quick_cache


def test_a_loop_mode_finite_difference_prep_holds_no_square_offsets() -> None:
    """f not batchable (it indexes x's first axis as a scalar): coordinates are swept, and the
    n x n stacked offsets the prep used to build at preparation are never needed."""

    def f(x: Any) -> Any:
        return float(x[0]) * x[1] + (x**2).sum()

    n = 1000
    prep = di.prepare_gradient(f, di.AutoFiniteDiff(), np.ones(n))
    assert footprint(prep.plan) < 100 * n * 8  # n**2 offsets would be 1000 * n * 8 * 2
    g = di.gradient(f, di.AutoFiniteDiff(), np.linspace(0.0, 1.0, n), prep=prep)
    expected = 2 * np.linspace(0.0, 1.0, n)
    expected[0] += np.linspace(0.0, 1.0, n)[1]
    expected[1] += 0.0
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)


def test_clear_cache_is_public() -> None:
    f = lambda x: (x**2).sum()  # noqa: E731
    di.gradient(f, di.AutoFiniteDiff(), np.ones(3))
    assert len(_call._cache) > 0
    di.clear_cache()
    assert len(_call._cache) == 0

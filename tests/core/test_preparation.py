"""Preparation: reuse, strict checks with per-argument reports, caching, thread safety."""

from __future__ import annotations

import threading
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.operators import clear_cache

FD = di.AutoFiniteDiff()


class Counted:
    """``f(x) = sum(sin(x) * x)`` (not batchable: it sums everything), counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: Any, *args: Any) -> Any:
        self.calls += 1
        scale = args[0] if args else 1.0
        return (np.sin(x) * x * scale).sum()


def test_prep_is_reused_at_other_points() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(5))
    for k in range(3):
        x = np.linspace(0.0, 1.0, 5) + k
        f.calls = 0
        g = di.gradient(f, FD, x, prep=prep)
        np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-8)
        assert f.calls == 2 * 5  # central differences, nothing else


def test_unprepared_calls_reuse_a_cached_preparation() -> None:
    clear_cache()
    f = Counted()
    x = np.linspace(0.0, 1.0, 4)
    di.gradient(f, FD, x)
    first = f.calls
    f.calls = 0
    di.gradient(f, FD, x + 1.0)
    assert first > 2 * 4  # the first call prepared (evaluations at x and the batching probe)
    assert f.calls == 2 * 4  # the second reused it


def test_unprepared_calls_with_other_kinds_prepare_again() -> None:
    clear_cache()
    f = Counted()
    di.gradient(f, FD, np.ones(3))
    f.calls = 0
    di.gradient(f, FD, np.ones(4))  # another shape: a new preparation
    assert f.calls > 2 * 4


def test_unhashable_functions_still_work() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, x: Any) -> Any:
            return (x**2).sum()

    f = Unhashable()
    for _ in range(2):
        np.testing.assert_allclose(di.gradient(f, FD, np.ones(2)), 2.0, rtol=1e-8)


def test_mismatch_report_lists_every_argument() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(3), di.Constant(np.ones(3)))
    x = xps.asarray(np.zeros(4), device=xps.Device("device1"))
    with pytest.raises(di.PreparationMismatchError) as info:
        di.gradient(f, FD, x, di.Constant(2.0), prep=prep)
    lines = str(info.value).splitlines()
    assert lines[0] == "`gradient` was called with arguments that do not match its preparation:"
    assert lines[1].startswith("  [ok]       f: ")
    assert lines[2] == "  [ok]       backend: AutoFiniteDiff()"
    assert lines[3] == (
        "  [mismatch] x: prepared with numpy array, shape (3,), dtype float64, device cpu; "
        "called with array_api_strict array, shape (4,), dtype array_api_strict.float64, "
        "device array_api_strict.Device('device1')"
    )
    assert lines[4] == "  [ok]       contexts: 1 context(s)"
    assert lines[5] == (
        "  [mismatch] context 0: prepared with Constant(numpy array, shape (3,), dtype float64, "
        "device cpu); called with Constant(a float)"
    )
    assert lines[6] == (
        "Prepare again for these arguments, or pass strict=False to `prepare_gradient` to skip "
        "this check at your own risk."
    )


def test_mismatch_on_function_and_backend() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(3))
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] f: prepared with"):
        di.gradient(Counted(), FD, np.zeros(3), prep=prep)
    with pytest.raises(
        di.PreparationMismatchError,
        match=r"\[mismatch\] backend: prepared with AutoFiniteDiff\(\); called with "
        r"AutoFiniteDiff\(method='forward'\)",
    ):
        di.gradient(f, di.AutoFiniteDiff(method="forward"), np.zeros(3), prep=prep)


def test_mismatch_on_dtype() -> None:
    prep = di.prepare_gradient(Counted(), FD, np.zeros(3))
    with pytest.raises(di.PreparationMismatchError, match=r"called with numpy array.*float32"):
        di.gradient(prep.f, FD, np.zeros(3, dtype=np.float32), prep=prep)


def test_bound_methods_match_themselves() -> None:
    class Model:
        def loss(self, x: Any) -> Any:
            return (x**2).sum()

    model = Model()
    prep = di.prepare_gradient(model.loss, FD, np.ones(2))
    np.testing.assert_allclose(di.gradient(model.loss, FD, np.ones(2), prep=prep), 2.0, rtol=1e-8)


def test_prep_of_another_operator_is_rejected() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(3))
    with pytest.raises(
        di.PreparationMismatchError,
        match=r"`hessian` was given a preparation made by `prepare_gradient`; use "
        r"`prepare_hessian` instead\.",
    ):
        di.hessian(f, FD, np.zeros(3), prep=prep)
    with pytest.raises(di.ArgumentTypeError, match=r"takes prep= from `prepare_gradient`"):
        di.gradient(f, FD, np.zeros(3), prep="prep")


def test_non_strict_prep_skips_the_checks() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(3), strict=False)
    assert not prep.strict
    g = di.gradient(lambda x: (x**2).sum(), FD, np.ones(3), prep=prep)  # another f: user's risk
    np.testing.assert_allclose(g, 2.0, rtol=1e-8)


def test_same_point_prep_checks_values() -> None:
    f = lambda x: x**2  # noqa: E731
    x = np.array([1.0, 2.0])
    prep = di.prepare_pushforward_same_point(f, FD, x, (x,))
    assert prep.same_point
    (ty,) = di.pushforward(f, FD, x.copy(), (np.ones(2),), prep=prep)
    np.testing.assert_allclose(ty, [2.0, 4.0], rtol=1e-8)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x values"):
        di.pushforward(f, FD, x + 1.0, (np.ones(2),), prep=prep)


def test_same_point_prep_checks_constant_values() -> None:
    f = lambda x, a: a * x**2  # noqa: E731
    x, a = np.ones(2), np.ones(2)
    prep = di.prepare_pullback_same_point(f, FD, x, (x,), di.Constant(a))
    di.pullback(f, FD, x, (x,), di.Constant(a.copy()), prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] constant values"):
        di.pullback(f, FD, x, (x,), di.Constant(a + 1.0), prep=prep)


def test_prep_repr_and_attributes() -> None:
    prep = di.prepare_hvp_same_point(lambda x: (x**2).sum(), FD, np.ones(2), (np.ones(2),))
    assert repr(prep) == "<same-point hvp preparation for AutoFiniteDiff()>"
    assert prep.operator == "hvp"
    assert prep.backend == FD
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_thing'"):
        prep.no_such_thing  # noqa: B018


def test_a_prep_can_be_shared_between_threads() -> None:
    f = lambda x: (np.sin(x) * x).sum()  # noqa: E731
    prep = di.prepare_gradient(f, FD, np.zeros(50))
    errors: list[float] = []

    def work(k: int) -> None:
        for j in range(20):
            x = np.linspace(0.0, 1.0, 50) * (k + 1) + j
            g = di.gradient(f, FD, x, prep=prep)
            errors.append(float(np.max(np.abs(g - (np.sin(x) + x * np.cos(x))))))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8 * 20
    assert max(errors) < 1e-6


def test_contexts_may_change_between_calls() -> None:
    f = Counted()
    prep = di.prepare_gradient(f, FD, np.zeros(3), di.Constant(1.0))
    x = np.linspace(0.0, 1.0, 3)
    g = di.gradient(f, FD, x, di.Constant(3.0), prep=prep)
    np.testing.assert_allclose(g, 3.0 * (np.sin(x) + x * np.cos(x)), rtol=1e-8)

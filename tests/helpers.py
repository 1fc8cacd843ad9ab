"""Test helpers: the namespaces and devices the core tests run on, and comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._array import convert, namespace_of, to_numpy


@dataclass(frozen=True)
class Target:
    """A namespace and device to run on; ``float64`` tells whether that device allows it."""

    name: str
    xp: Any
    device: Any
    float64: bool = True

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        a = np.asarray(a, dtype=dtype if dtype is not None else self.default_dtype)
        return convert(a, self.xp, self.device)

    @property
    def default_dtype(self) -> Any:
        return np.float64 if self.float64 else np.float32


TARGETS = [
    Target("numpy", np, "cpu"),
    Target("strict", xps, xps.Device("CPU_DEVICE")),
    Target("strict-device1", xps, xps.Device("device1")),
    Target("strict-no_float64", xps, xps.Device("no_float64"), float64=False),
]


def numpy_of(a: Any) -> np.ndarray:
    """Host copy of any array, for comparisons."""
    return np.array(to_numpy(a))


def assert_close(result: Any, expected: Any, *, rtol: float, atol: float = 0.0) -> None:
    """Compare an array of any namespace with a numpy reference."""
    np.testing.assert_allclose(numpy_of(result), np.asarray(expected), rtol=rtol, atol=atol)


def assert_like(result: Any, like: Any) -> None:
    """Same namespace, device and dtype as ``like`` (results follow the caller's arrays)."""
    from array_api_compat import device

    assert namespace_of(result) is namespace_of(like)
    assert device(result) == device(like)
    assert result.dtype == like.dtype


def available(backend: Any) -> Any:
    """``backend`` as a pytest parameter, skipped where its engine is not installed."""
    import pytest

    return pytest.param(
        backend,
        id=repr(backend),
        marks=pytest.mark.skipif(not di.check_available(backend), reason="engine not installed"),
    )


def stacking_refused(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Make the call path's stacking of tangents and unstacking of results fail the test
    while the returned switch's ``"on"`` is true (preparation stacks its tangents once)."""
    from differentiation_interface.operators import _call, _fastpath

    switch = {"on": False}
    for module in (_call, _fastpath):
        for name in ("stack", "unstack"):
            if hasattr(module, name):
                original = getattr(module, name)

                def guarded(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                    assert not switch["on"], "one tangent was stacked or its result unstacked"
                    return _original(*args, **kwargs)

                monkeypatch.setattr(module, name, guarded)
    return switch


def one_tangent_cases(base: np.ndarray[Any, Any]) -> list[tuple[Any, str, np.ndarray[Any, Any]]]:
    """``(f, operator, expected)`` for one tangent ``cos(base)`` at ``x = base``, with closed
    forms: ``sin(x) x`` pushed forward and pulled back, the identity (whose derivative is the
    tangent itself: a result must still not share its memory) and the hvp of
    ``sum(sin(x) x)``."""
    from array_api_compat import array_namespace

    def sin_x(v: Any) -> Any:
        return array_namespace(v).sin(v) * v

    def identity(v: Any) -> Any:
        return v * 1.0

    def sum_sin_x(v: Any) -> Any:
        return array_namespace(v).sum(sin_x(v))

    t = np.cos(base)
    jvp = (np.sin(base) + base * np.cos(base)) * t
    hv = (2 * np.cos(base) - base * np.sin(base)) * t
    return [
        (sin_x, "pushforward", jvp),
        (sin_x, "pullback", jvp),
        (identity, "pushforward", t),
        (identity, "pullback", t),
        (sum_sin_x, "hvp", hv),
    ]


def prepared(operator: str, f: Any, backend: Any, x: Any, *extra: Any) -> Any:
    """``di.<operator>`` prepared once for these arguments, as a call of no arguments
    (``extra``: the tangents, for the operators that take them)."""
    prepare = getattr(di, "prepare_" + operator.removeprefix("value_and_"))
    run = getattr(di, operator)
    prep = prepare(f, backend, x, *extra)
    return lambda: run(f, backend, x, *extra, prep=prep)

"""``test_differentiation``: run every variant of every scenario and compare with references.

For each backend and scenario it calls the plain and value-and functions, without
preparation (twice: the second call hits the cache), with a preparation made at the
scenario's point, with one made at another point (reuse), with a same-point preparation
where the operator has one, and each of them again with ``out=``. Every result is compared
with the scenario's reference, and checked to live in ``x``'s namespace and device with the
reference's dtype; inputs and the scenario must be left untouched, ``out=`` must return the
very objects given, and a strict prep must reject another function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._array import (
    device_of,
    is_array,
    is_strict_namespace,
    is_writable,
    namespace_name,
    namespace_of,
    to_numpy,
)
from ..adtypes import AbstractBackend
from ..backends import check_inplace
from ..contexts import Constant
from ..errors import PreparationMismatchError, UnsupportedOperationError
from ._run import dense, max_relative_error, tolerance
from ._variants import FUNCTIONS, expected, perturbed, primal, zeros_like_result
from .scenarios import Scenario

__all__ = ["cases", "check_scenario", "test_differentiation"]


class _CheckFailedError(AssertionError):
    """A check failed (an ``AssertionError``, as pytest expects)."""


def _copy(a: Any) -> Any:
    if isinstance(a, tuple):
        return tuple(_copy(b) for b in a)
    if isinstance(a, Constant):
        return Constant(_copy(a.value))
    return np.array(to_numpy(a)) if is_array(a) else a


def _unchanged(before: Any, after: Any) -> bool:
    if isinstance(before, tuple):
        return all(_unchanged(b, a) for b, a in zip(before, after, strict=True))
    if isinstance(after, Constant):
        return _unchanged(before.value, after.value)
    if isinstance(before, np.ndarray):
        return bool(np.array_equal(before, np.asarray(to_numpy(after)), equal_nan=True))
    return True


class _Checker:
    def __init__(self, backend: AbstractBackend, s: Scenario, rtol: float | None) -> None:
        self.backend, self.s = backend, s
        self.fns = FUNCTIONS[s.operator]
        self.rtol = tolerance(backend, s) if rtol is None else rtol
        self.xp, self.device = namespace_of(s.x), device_of(s.x)

    def fail(self, variant: str, problem: str) -> None:
        msg = f"{self.backend!r} on scenario {self.s.name!r}, variant [{variant}]: {problem}"
        raise _CheckFailedError(msg)

    def args(self, x: Any, tangents: Any, contexts: Any) -> tuple[Any, ...]:
        return (x, tangents, *contexts) if self.fns.tangents else (x, *contexts)

    def call(self, variant: str, *, value: bool, prep: Any, out: Any = None) -> tuple[Any, Any]:
        """Call the variant at the scenario's point; return ``(results, y buffer)``."""
        s = self.s
        kwargs: dict[str, Any] = {"prep": prep}
        if out is not None:
            kwargs["out"] = out
        y = None
        if s.y is not None:
            y = namespace_of(s.y).asarray(s.y, copy=True)
            kwargs["y"] = y
        function = self.fns.value if value else self.fns.plain
        try:
            result = function(s.f, self.backend, *self.args(s.x, s.tangents, s.contexts), **kwargs)
        except Exception as err:  # noqa: BLE001 - reported with the variant's name
            self.fail(variant, f"raised {type(err).__name__}: {err}")
        results = result if value else (result,)
        return results, y

    def compare(self, variant: str, results: tuple[Any, ...], value: bool) -> None:
        references = expected(self.s, value=value)
        if len(results) != len(references):
            self.fail(variant, f"returned {len(results)} results, expected {len(references)}")
        for i, (got, want) in enumerate(zip(results, references, strict=True)):
            self.check_kind(variant, i, got, want)
            if want is None:
                continue
            error = max_relative_error(got, want)
            if not error <= self.rtol:
                self.fail(variant, f"result {i} is off by {error:.2e} (tolerance {self.rtol:.0e})")

    def check_kind(self, variant: str, i: int, got: Any, want: Any) -> None:
        if isinstance(want, tuple) or (want is None and isinstance(got, tuple)):
            if not isinstance(got, tuple):
                self.fail(variant, f"result {i} should be a tuple; got {type(got).__name__}")
            for g, w in zip(got, want or (None,) * len(got), strict=True):
                self.check_kind(variant, i, g, w)
            return
        sparse = dense(got) is not got
        got = dense(got)  # sparse results (AutoSparse) are checked through their dense form
        if not is_array(got) or isinstance(got, np.generic):
            self.fail(variant, f"result {i} is a {type(got).__name__}, not an array")
        xp = self.xp
        if sparse and (is_strict_namespace(xp) or namespace_name(xp) == "dask"):
            xp = np  # no sparse format of their own: these callers get scipy matrices
        if namespace_of(got) is not xp:
            got_ns = namespace_name(namespace_of(got))
            self.fail(variant, f"result {i} is a {got_ns} array, not {namespace_name(xp)}")
        if xp is self.xp and self.device is not None and device_of(got) != self.device:
            self.fail(variant, f"result {i} is on {device_of(got)}, not {self.device}")
        comparable = not (sparse and xp is not self.xp)  # dtypes of two namespaces
        if want is not None and comparable and got.dtype != want.dtype:
            self.fail(variant, f"result {i} has dtype {got.dtype}, expected {want.dtype}")

    def check_y(self, variant: str, y: Any) -> None:
        if y is not None and max_relative_error(y, primal(self.s)) > self.rtol:
            self.fail(variant, "the y buffer does not hold f(x) after the call")

    def check_out(self, variant: str, value: bool, prep: Any, results: tuple[Any, ...]) -> None:
        derivative_part = results[1:] if value and self.s.operator != "hvp" else results
        out_value = derivative_part[0] if len(derivative_part) == 1 else tuple(derivative_part)
        if any(dense(r) is not r for r in _flat(out_value)):
            self.check_sparse_out(variant, value, prep, out_value)
            return
        out = zeros_like_result(out_value)
        writable = all(_writable(o) for o in _flat(out))
        if not writable:
            try:
                self.call(variant, value=value, prep=prep, out=out)
            except _CheckFailedError as failure:
                if "ImmutableOutputError" in str(failure):
                    return
                raise
            self.fail(variant, "out= with an immutable array did not raise ImmutableOutputError")
        got, y = self.call(variant + ", out=", value=value, prep=prep, out=out)
        returned = got[1:] if value and self.s.operator != "hvp" else got
        returned_value = returned[0] if len(returned) == 1 else tuple(returned)
        if not all(a is b for a, b in zip(_flat(returned_value), _flat(out), strict=True)):
            self.fail(variant + ", out=", "did not return the out= objects")
        self.compare(variant + ", out=", got, value)
        self.check_y(variant + ", out=", y)

    def run(self, *, out: bool, mismatch: bool) -> None:
        s, fns = self.s, self.fns
        if s.y is not None and not check_inplace(self.backend):
            self.check_unsupported_inplace()
            return
        snapshot = _copy((s.x, s.tangents, s.contexts, s.res1, s.res2))
        y_kw = {} if s.y is None else {"y": namespace_of(s.y).asarray(s.y, copy=True)}
        try:
            here = fns.prepare(s.f, self.backend, *self.args(s.x, s.tangents, s.contexts), **y_kw)
            x2, t2, c2 = perturbed(s)
            elsewhere = fns.prepare(s.f, self.backend, *self.args(x2, t2, c2), **y_kw)
            same = (
                fns.same_point(s.f, self.backend, *self.args(s.x, s.tangents, s.contexts), **y_kw)
                if fns.same_point is not None
                else None
            )
        except Exception as err:  # noqa: BLE001 - reported with the variant's name
            self.fail("preparation", f"raised {type(err).__name__}: {err}")
        preps = [
            ("unprepared", None),
            ("unprepared, cached", None),
            ("prepared here", here),
            ("prepared elsewhere", elsewhere),
            ("prepared here, reused", here),
        ]
        if same is not None:
            preps.append(("same-point", same))
        for label, prep in preps:
            for value in (False, True):
                variant = f"{'value-and' if value else 'plain'}, {label}"
                results, y = self.call(variant, value=value, prep=prep)
                self.compare(variant, results, value)
                self.check_y(variant, y)
                if out and label in ("unprepared", "prepared elsewhere"):
                    self.check_out(variant, value, prep, results)
        if mismatch:
            self.check_mismatch(here)
        if not _unchanged(snapshot, (s.x, s.tangents, s.contexts, s.res1, s.res2)):
            self.fail("all", "an input (x, tangents, contexts) or a reference was mutated")

    def check_sparse_out(self, variant: str, value: bool, prep: Any, result: Any) -> None:
        """Sparse results cannot fill an array: out= must be refused, clearly."""
        out = zeros_like_result(tuple(dense(r) for r in _flat(result)))
        writable = all(_writable(o) for o in _flat(out))  # JAX arrays: immutable
        out = out[0] if len(out) == 1 else out
        try:
            self.call(variant + ", out=", value=value, prep=prep, out=out)
        except _CheckFailedError as failure:
            if "ArgumentValueError" in str(failure) and "output='dense'" in str(failure):
                return
            if not writable and "ImmutableOutputError" in str(failure):
                return
            raise
        self.fail(variant + ", out=", "a sparse result was written into out= without error")

    def check_unsupported_inplace(self) -> None:
        """A backend without two-argument support must say so, not compute something."""
        s = self.s
        y = namespace_of(s.y).asarray(s.y, copy=True)
        try:
            self.fns.plain(s.f, self.backend, *self.args(s.x, s.tangents, s.contexts), y=y)
        except UnsupportedOperationError:
            return
        except Exception as err:  # noqa: BLE001 - reported with the variant's name
            self.fail("two-argument f", f"raised {type(err).__name__} instead: {err}")
        self.fail("two-argument f", "a backend without check_inplace accepted y=")

    def check_mismatch(self, prep: Any) -> None:
        s = self.s

        def other_f(*args: Any) -> Any:  # the same maths, another function object
            return s.f(*args)

        kwargs: dict[str, Any] = {"prep": prep}
        if s.y is not None:
            kwargs["y"] = namespace_of(s.y).asarray(s.y, copy=True)
        try:
            self.fns.plain(other_f, self.backend, *self.args(s.x, s.tangents, s.contexts), **kwargs)
        except PreparationMismatchError:
            return
        except Exception as err:  # noqa: BLE001 - reported with the variant's name
            self.fail("prep mismatch", f"raised {type(err).__name__} instead: {err}")
        self.fail("prep mismatch", "a strict prep accepted another function")


def _writable(a: Any) -> bool:
    return is_writable(a)


def _flat(a: Any) -> list[Any]:
    if isinstance(a, tuple):
        return [leaf for b in a for leaf in _flat(b)]
    return [a]


def check_scenario(
    backend: AbstractBackend,
    scenario: Scenario,
    *,
    rtol: float | None = None,
    out: bool = True,
    mismatch: bool = True,
) -> None:
    """Check every variant of one scenario on one backend; raise ``AssertionError`` if wrong.

    See :func:`test_differentiation` for what is checked.
    """
    _Checker(backend, scenario, rtol).run(out=out, mismatch=mismatch)


def test_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    correctness: bool = True,
    rtol: float | None = None,
    out: bool = True,
    mismatch: bool = True,
) -> int:
    """Check every backend on every scenario, in every variant.

    For each pair it calls the plain and value-and functions without preparation (twice),
    with a preparation made at the scenario's point, with one made at another point (reuse),
    and with a same-point preparation where the operator has one; with and without ``out=``.
    It compares every result with the scenario's reference, checks that results live in
    ``x``'s namespace and device with the reference's dtype, that ``out=`` returns the very
    objects given (or raises :class:`~differentiation_interface.ImmutableOutputError` for
    immutable arrays), that ``y`` holds ``f(x)`` after two-argument calls (or that backends
    without :func:`~differentiation_interface.check_inplace` raise
    :class:`~differentiation_interface.UnsupportedOperationError`), that inputs and
    references are left untouched, and that a strict prep rejects another function.

    Parameters
    ----------
    backends : AbstractBackend or sequence of them
        The backends to check.
    scenarios : iterable of Scenario
        The scenarios (see :func:`default_scenarios`).
    correctness : bool, default True
        Compare values with the references (``False`` only checks that calls succeed).
    rtol : float, optional
        Relative tolerance; by default it depends on the backend (finite differences are
        approximate) and the dtype.
    out : bool, default True
        Also check the ``out=`` variants.
    mismatch : bool, default True
        Also check that strict preparations reject another function.

    Returns
    -------
    int
        The number of (backend, scenario) pairs checked.

    Raises
    ------
    AssertionError
        Naming the backend, the scenario and the variant that failed.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import default_scenarios, test_differentiation
    >>> test_differentiation([di.AutoFiniteDiff()], default_scenarios())
    21
    """
    if isinstance(backends, AbstractBackend):
        backends = [backends]
    scenarios = list(scenarios)
    count = 0
    for backend in backends:
        for scenario in scenarios:
            tol = rtol if correctness else float("inf")
            check_scenario(backend, scenario, rtol=tol, out=out, mismatch=mismatch)
            count += 1
    return count


test_differentiation.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def cases(backends: Sequence[AbstractBackend], scenarios: Iterable[Scenario]) -> list[Any]:
    """``pytest.param(backend, scenario)`` for every pair, with readable ids.

    One test per (backend, scenario) in a pytest suite::

        @pytest.mark.parametrize(("backend", "scenario"), cases(backends, scenarios))
        def test_my_function(backend, scenario):
            check_scenario(backend, scenario)

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import cases, default_scenarios
    >>> params = cases([di.AutoFiniteDiff()], default_scenarios())
    >>> params[0].id
    'AutoFiniteDiff()-pushforward:vector->vector'
    """
    import pytest  # only when used from pytest

    scenarios = list(scenarios)
    return [
        pytest.param(backend, scenario, id=f"{backend!r}-{scenario.name}")
        for backend in backends
        for scenario in scenarios
    ]

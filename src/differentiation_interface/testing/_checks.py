"""``test_differentiation``: run every variant of every scenario and compare with references.

For each backend and scenario it calls the plain and value-and functions, without
preparation (twice: the second call hits the cache), with a preparation made at the
scenario's point, with one made at another point (reuse), with a same-point preparation
where the operator has one, and each of them again with ``out=``. Every result is compared
with the scenario's reference, and checked to live in ``x``'s namespace and device with the
reference's dtype; inputs and the scenario must be left untouched, ``out=`` must return the
very objects given, and a strict prep must reject another function. Pytree results are
checked leaf by leaf against the reference's leaf at the same path (:mod:`._leaves`), and a
failure names that path (``result 0['w']``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Literal, NoReturn, overload

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
from .._tree import paths
from ..adtypes import AbstractBackend
from ..backends import check_inplace
from ..contexts import Constant
from ..errors import PreparationMismatchError, UnsupportedOperationError
from ._leaves import StructureMismatchError, array_leaves, dense, is_sparse, paired_leaves
from ._references import Failure, MissingReferenceError, TestReport, with_references
from ._run import leaf_error, max_relative_error, tolerance
from ._variants import FUNCTIONS, copy_tree, expected, perturbed, primal, zeros_like_result
from .scenarios import Scenario

__all__ = ["cases", "check_scenario", "test_differentiation"]


class _CheckFailedError(AssertionError):
    """A check failed (an ``AssertionError``, as pytest expects)."""

    def __init__(self, backend: str, scenario: str, variant: str, problem: str) -> None:
        super().__init__(f"{backend} on scenario {scenario!r}, variant [{variant}]: {problem}")
        self.failure = Failure(backend, scenario, variant, problem)


def _snapshot(s: Scenario) -> list[tuple[str, Any, Any, list[np.ndarray]]]:
    """What must not change: ``(name, object, structure, copies of its leaves)`` for ``x``,
    each tangent, each ``Constant`` value and the references (a ``Cache`` is scratch space;
    numbers, objects and sparse matrices are not checked)."""
    things: list[tuple[str, Any]] = [("x", s.x)]
    things += [(f"tangent {i}", t) for i, t in enumerate(s.tangents or ())]
    constants = [(i, c) for i, c in enumerate(s.contexts) if isinstance(c, Constant)]
    things += [(f"context {i}", c.value) for i, c in constants]
    things += [("res1", s.res1), ("res2", s.res2)]
    out = []
    for name, thing in things:
        found = array_leaves(thing, name)
        if found is not None:
            leaves, treedef = found
            out.append((name, thing, treedef, [np.array(to_numpy(leaf)) for leaf in leaves]))
    return out


def _mutated(snapshot: list[tuple[str, Any, Any, list[np.ndarray]]]) -> str | None:
    """The path of the first leaf (or tree) of the snapshot that changed, if any."""
    for name, thing, treedef, copies in snapshot:
        found = array_leaves(thing, name)
        if found is None or found[1] != treedef:
            return name  # a container of it was changed in place
        for path, leaf, copy in zip(paths(treedef, name), found[0], copies, strict=True):
            if not np.array_equal(copy, np.asarray(to_numpy(leaf)), equal_nan=True):
                return path
    return None


class _Checker:
    def __init__(
        self,
        backend: AbstractBackend,
        s: Scenario,
        rtol: float | None,
        *,
        values: bool = True,
        collect: list[Failure] | None = None,
    ) -> None:
        self.backend, self.s = backend, s
        self.fns = FUNCTIONS[s.operator]
        self.rtol = tolerance(backend, s) if rtol is None else rtol
        self.values = values  # compare values (correctness), or only kinds
        self.collected = collect  # None: raise at the first failure
        found = array_leaves(s.x, "x")
        first = found[0][0] if found is not None and found[0] else s.x
        self.xp, self.device = namespace_of(first), device_of(first)

    def fail(self, variant: str, problem: str) -> NoReturn:
        raise _CheckFailedError(repr(self.backend), self.s.name or "", variant, problem)

    def attempt(self, check: Callable[[], None]) -> None:
        """Run one independent check; when collecting, record its failure and go on."""
        if self.collected is None:
            check()
            return
        try:
            check()
        except _CheckFailedError as failed:
            self.collected.append(failed.failure)

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
            y = copy_tree(s.y)
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
            for path, g, w in self.leaves(variant, f"result {i}", got, want):
                self.check_kind(variant, path, g, w)
                if w is None:
                    continue
                got_shape, want_shape = tuple(dense(g).shape), tuple(dense(w).shape)
                if got_shape != want_shape:
                    self.fail(variant, f"{path} has shape {got_shape}, expected {want_shape}")
                if not self.values:
                    continue
                error = leaf_error(g, w)
                if not error <= self.rtol:
                    self.fail(variant, f"{path} is off by {error:.2e} (tolerance {self.rtol:.0e})")

    def leaves(self, variant: str, root: str, got: Any, want: Any) -> list[tuple[str, Any, Any]]:
        """``(path, result leaf, reference leaf)`` of one result; a structure that differs
        from the reference's fails, naming the path. Without a reference (``None``), the
        result's own leaves (each paired with ``None``)."""
        if isinstance(got, np.generic):  # the tree functions would take it for a 0-d array
            self.fail(variant, f"{root} is a {type(got).__name__}, not an array")
        if want is not None:
            try:
                return paired_leaves(got, want, root)
            except StructureMismatchError as mismatch:
                self.fail(variant, f"structure mismatch: {mismatch}")
        if is_sparse(got):
            return [(root, got, None)]
        found = array_leaves(got, root)
        if found is None:
            self.fail(variant, f"{root} is a {type(got).__name__}, not a tree of arrays")
        leaves, treedef = found
        return [(path, leaf, None) for path, leaf in zip(paths(treedef, root), leaves, strict=True)]

    def check_kind(self, variant: str, path: str, got: Any, want: Any) -> None:
        """One leaf of a result: an array of ``x``'s namespace and device, of the reference's
        dtype (sparse results are checked through their dense form)."""
        sparse = is_sparse(got)
        got = dense(got)
        if not is_array(got) or isinstance(got, np.generic):
            self.fail(variant, f"{path} is a {type(got).__name__}, not an array")
        xp = self.xp
        if sparse and (is_strict_namespace(xp) or namespace_name(xp) == "dask"):
            xp = np  # no sparse format of their own: these callers get scipy matrices
        if namespace_of(got) is not xp:
            got_ns = namespace_name(namespace_of(got))
            self.fail(variant, f"{path} is a {got_ns} array, not {namespace_name(xp)}")
        if xp is self.xp and self.device is not None and device_of(got) != self.device:
            self.fail(variant, f"{path} is on {device_of(got)}, not {self.device}")
        comparable = not (sparse and xp is not self.xp)  # dtypes of two namespaces
        if want is not None and comparable and got.dtype != dense(want).dtype:
            self.fail(variant, f"{path} has dtype {got.dtype}, expected {dense(want).dtype}")

    def check_y(self, variant: str, y: Any) -> None:
        if y is None or not self.values:
            return
        if max_relative_error(y, primal(self.s)) > self.rtol:
            self.fail(variant, "the y buffer does not hold f(x) after the call")

    def check_out(self, variant: str, value: bool, prep: Any, results: tuple[Any, ...]) -> None:
        derivative_part = results[1:] if value and self.s.operator != "hvp" else results
        out_value = derivative_part[0] if len(derivative_part) == 1 else tuple(derivative_part)
        if any(is_sparse(r) for r in derivative_part):
            self.check_sparse_out(variant, value, prep, derivative_part)
            return
        out = zeros_like_result(out_value)
        writable = all(is_writable(o) for o in _flat(out))
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
        returned_leaves, out_leaves = _flat(returned_value), _flat(out)
        if len(returned_leaves) != len(out_leaves) or not all(
            a is b for a, b in zip(returned_leaves, out_leaves, strict=True)
        ):
            self.fail(variant + ", out=", "did not return the out= objects")
        self.compare(variant + ", out=", got, value)
        self.check_y(variant + ", out=", y)

    def run(self, *, out: bool, mismatch: bool) -> None:
        s, fns = self.s, self.fns
        if s.y is not None and not check_inplace(self.backend):
            self.attempt(self.check_unsupported_inplace)
            return
        snapshot = _snapshot(s)
        y_kw = {} if s.y is None else {"y": copy_tree(s.y)}
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
            problem = f"raised {type(err).__name__}: {err}"
            self.attempt(lambda: self.fail("preparation", problem))
            return  # nothing else can run without the preparations
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
                with_out = out and label in ("unprepared", "prepared elsewhere")
                self.attempt(partial(self.check_variant, variant, value, prep, with_out))
        if mismatch:
            self.attempt(partial(self.check_mismatch, here))
        self.attempt(partial(self.check_unmutated, snapshot))

    def check_variant(self, variant: str, value: bool, prep: Any, with_out: bool) -> None:
        results, y = self.call(variant, value=value, prep=prep)
        self.compare(variant, results, value)
        self.check_y(variant, y)
        if with_out:
            self.check_out(variant, value, prep, results)

    def check_unmutated(self, snapshot: list[tuple[str, Any, Any, list[np.ndarray]]]) -> None:
        mutated = _mutated(snapshot)
        if mutated is not None:
            self.fail(
                "all", f"{mutated} was mutated (inputs, contexts and references must not change)"
            )

    def check_sparse_out(
        self, variant: str, value: bool, prep: Any, results: tuple[Any, ...]
    ) -> None:
        """Sparse results cannot fill an array: out= must be refused, clearly."""
        out = zeros_like_result(tuple(dense(r) for r in results))
        writable = all(is_writable(o) for o in _flat(out))  # JAX arrays: immutable
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
        y = copy_tree(s.y)
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
            kwargs["y"] = copy_tree(s.y)
        try:
            self.fns.plain(other_f, self.backend, *self.args(s.x, s.tangents, s.contexts), **kwargs)
        except PreparationMismatchError:
            return
        except Exception as err:  # noqa: BLE001 - reported with the variant's name
            self.fail("prep mismatch", f"raised {type(err).__name__} instead: {err}")
        self.fail("prep mismatch", "a strict prep accepted another function")


def _flat(tree: Any) -> list[Any]:
    """The leaves of a tree of results (a sparse matrix, or anything else that is not a tree of
    arrays, is one leaf)."""
    found = array_leaves(tree, "result")
    return [tree] if found is None else found[0]


def check_scenario(
    backend: AbstractBackend,
    scenario: Scenario,
    *,
    rtol: float | None = None,
    out: bool = True,
    mismatch: bool = True,
    correctness: bool = True,
    reference: AbstractBackend | None = None,
) -> None:
    """Check every variant of one scenario on one backend; raise ``AssertionError`` if wrong.

    See :func:`test_differentiation` for what is checked and for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import Scenario, check_scenario
    >>> s = Scenario(lambda x: np.sum(np.sin(x)), np.ones(3), operator="gradient")
    >>> check_scenario(di.AutoFiniteDiff(), s, reference=di.AutoFiniteDiff(method="forward"))
    """
    filled, added = _filled(scenario, reference, correctness)
    tol = tolerance(backend, filled) + added if rtol is None else rtol
    _Checker(backend, filled, tol, values=correctness).run(out=out, mismatch=mismatch)


def _filled(
    s: Scenario, reference: AbstractBackend | None, correctness: bool
) -> tuple[Scenario, float]:
    """:func:`with_references`, with a failure of the reference backend named as such."""
    try:
        return with_references(s, reference, correctness=correctness)
    except MissingReferenceError:
        raise
    except Exception as err:  # the reference's failure (or f's), named as such
        if reference is None:  # the kinds of the results come from evaluating f(x)
            who, problem = "f", f"evaluating f(x) raised {type(err).__name__}: {err}"
        else:
            who, problem = (
                repr(reference),
                f"the reference backend failed: {type(err).__name__}: {err}",
            )
        raise _CheckFailedError(who, s.name or "", "reference", problem) from err


@overload
def test_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    correctness: bool = ...,
    rtol: float | None = ...,
    out: bool = ...,
    mismatch: bool = ...,
    reference: AbstractBackend | None = ...,
    collect: Literal[False] = ...,
) -> int: ...


@overload
def test_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    correctness: bool = ...,
    rtol: float | None = ...,
    out: bool = ...,
    mismatch: bool = ...,
    reference: AbstractBackend | None = ...,
    collect: Literal[True],
) -> TestReport: ...


def test_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    correctness: bool = True,
    rtol: float | None = None,
    out: bool = True,
    mismatch: bool = True,
    reference: AbstractBackend | None = None,
    collect: bool = False,
) -> int | TestReport:
    """Check every backend on every scenario, in every variant.

    For each pair it calls the plain and value-and functions without preparation (twice),
    with a preparation made at the scenario's point, with one made at another point (reuse),
    and with a same-point preparation where the operator has one; with and without ``out=``.
    It compares every result with the scenario's reference, checks that results live in
    ``x``'s namespace and device with the reference's dtype (pytree results leaf by leaf, with
    the reference's structure), that ``out=`` returns the very
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
        Compare values with the references. ``False`` checks everything but values: every
        call succeeds; every result is an array (not a NumPy scalar) of ``x``'s namespace
        and device; results have the reference's structure, shapes and dtypes (for a
        scenario without references, those of the operator's rules: like ``x``, like
        ``f(x)``, or a matrix over the raveled ``x`` and ``f(x)`` of their promoted dtype;
        one per tangent where the operator takes tangents); ``out=`` returns the objects
        given; inputs are not mutated; a strict prep rejects another function. Values,
        including ``y`` after a two-argument call, are not compared (NaN passes).
    rtol : float, optional
        Relative tolerance; by default it depends on the backend (finite differences are
        approximate) and the dtype, plus the reference backend's tolerance when results
        are compared with ``reference``'s.
    out : bool, default True
        Also check the ``out=`` variants.
    mismatch : bool, default True
        Also check that strict preparations reject another function.
    reference : AbstractBackend, optional
        Computes the references a scenario lacks (``res1``, ``res2``), once per scenario, by
        the plain operator (the value-and variant for second order). Without it, a
        correctness check of a scenario lacking a reference raises ``ValueError``.
    collect : bool, default False
        Run every check and return a :class:`TestReport` of every failure (each variant
        of each pair), instead of raising at the first one.

    Returns
    -------
    int or TestReport
        The number of (backend, scenario) pairs checked; with ``collect=True``, the report.

    Raises
    ------
    AssertionError
        Naming the backend, the scenario and the variant that failed (not with
        ``collect=True``).
    ValueError
        A scenario lacks a reference and neither ``reference`` nor ``correctness=False``
        was given (raised before anything runs, ``collect=True`` included).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import (
    ...     Scenario, default_scenarios, test_differentiation)
    >>> test_differentiation([di.AutoFiniteDiff()], default_scenarios())
    21

    A function without closed-form derivatives, checked against another backend, every
    failure collected:

    >>> s = Scenario(lambda x: np.sum(np.tanh(x) ** 2), np.linspace(0, 1, 4),
    ...              operator="hessian", name="tanh2")
    >>> report = test_differentiation([di.AutoFiniteDiff(method="forward", step=0.5)], [s],
    ...                               reference=di.AutoFiniteDiff(), collect=True)
    >>> report.ok, len(report.failures) > 1, report.failures[0].variant
    (False, True, 'plain, unprepared')
    """
    if isinstance(backends, AbstractBackend):
        backends = [backends]
    scenarios = list(scenarios)
    if reference is None and correctness:
        for scenario in scenarios:  # refuse before anything runs
            with_references(scenario, None, correctness=True)
    collected: list[Failure] | None = [] if collect else None
    filled: list[tuple[Scenario, float] | None] = []
    for scenario in scenarios:  # each reference computed once, for every backend
        try:
            filled.append(_filled(scenario, reference, correctness))
        except _CheckFailedError as failed:
            if collected is None:
                raise
            collected.append(failed.failure)
            filled.append(None)
    for backend in backends:
        for pair in filled:
            if pair is None:
                continue
            s, added = pair
            tol = tolerance(backend, s) + added if rtol is None else rtol
            checker = _Checker(backend, s, tol, values=correctness, collect=collected)
            checker.run(out=out, mismatch=mismatch)
    count = len(backends) * len(scenarios)
    return count if collected is None else TestReport(count, tuple(collected))


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

"""``select_backend``: run candidate backends on one function, cross-check them, time them.

Without closed forms, correctness is agreement: each candidate's results are compared with
every other's within the sum of their tolerances (:func:`._run.tolerance`), and the largest
group that agrees with one candidate (ties go to the most precise one, so exact engines
outrank finite differences) is taken as correct. The fastest correct candidate, by the time
of a prepared call, is selected.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._array import namespace_of, precision_scope, to_numpy
from ..adtypes import AbstractBackend, AutoAutograd, AutoFiniteDiff, AutoJAX, AutoTorch
from ..backends import check_available
from ..backends._registry import engine_for
from ..contexts import Context
from ..errors import UnsupportedOperationError
from ..operators._table import OPERATORS
from ..sparse import AutoSparse
from ._benchmark import measure_seconds
from ._leaves import dense, is_sparse, map_leaves
from ._progress import progress_bar
from ._run import max_relative_error, tolerance
from ._text import render, seconds
from ._variants import FUNCTIONS, precision
from .scenarios import Scenario

__all__ = [
    "Candidate",
    "Selection",
    "compare_backends",
    "format_candidates",
    "installed_backends",
    "select_backend",
]

#: The sparse operators, for which ``AutoSparse`` over each dense candidate also competes.
_SPARSE = ("jacobian", "hessian")


def installed_backends(operator: str | None = None) -> list[AbstractBackend]:
    """Finite differences and every installed engine in each of its modes; for ``jacobian``
    and ``hessian`` also :class:`~differentiation_interface.AutoSparse` over each of them
    (when the ``[sparse]`` extra is installed).

    Examples
    --------
    >>> from differentiation_interface.testing import installed_backends
    >>> installed_backends("gradient")[0]
    AutoFiniteDiff()
    """
    dense = [
        AutoFiniteDiff(),
        AutoJAX(),
        AutoJAX(mode="forward"),
        AutoTorch(),
        AutoTorch(mode="forward"),
        AutoAutograd(),
    ]
    found: list[AbstractBackend] = [b for b in dense if check_available(b)]
    if operator in _SPARSE:
        sparse = [AutoSparse(b) for b in found]
        found += [b for b in sparse if check_available(b)]
    return found


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One row of the selection table.

    ``status`` is ``"ok"`` (agrees with the largest agreeing group), ``"wrong"`` (ran but
    disagrees), ``"failed"`` (raised), ``"unsupported"`` (refused the operator) or
    ``"unchecked"`` (the only candidate that ran: nothing to compare it with). ``error`` is
    the largest relative difference from the group's most precise member; ``seconds`` the
    fastest time of a prepared call, ``preparation_seconds`` that of the preparation (the
    engine's import excluded).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import Candidate
    >>> Candidate(di.AutoFiniteDiff(), "ok", error=1e-9, seconds=2e-5).status
    'ok'
    """

    backend: AbstractBackend
    status: str
    error: float = math.nan
    seconds: float = math.nan
    preparation_seconds: float = math.nan
    message: str = ""


class Selection(NamedTuple):
    """The selected backend and the table it was chosen from (``best, table = ...``).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import select_backend
    >>> selection = select_backend(lambda x: np.sum(x**3), np.ones(3), "gradient",
    ...                            [di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward")],
    ...                            progress=False)
    >>> [c.status for c in selection.table]
    ['ok', 'ok']
    >>> selection.format(width=80).split()[:3]
    ['backend', 'status', 'error']
    """

    backend: AbstractBackend
    table: tuple[Candidate, ...]

    def format(self, width: int | None = None) -> str:
        """The table as text, the selected row marked ``*``, fitting ``width`` columns."""
        return format_candidates(self.table, self.backend, width=width)


def format_candidates(
    table: Sequence[Candidate], selected: AbstractBackend | None = None, width: int | None = None
) -> str:
    """The selection table as text (``*`` marks the selected backend)."""
    fastest = min((c.seconds for c in table if c.status == "ok"), default=math.nan)
    rows = [
        [
            ("* " if c.backend == selected else "  ") + repr(c.backend),
            c.status,
            "-" if math.isnan(c.error) else f"{c.error:.0e}",
            seconds(c.seconds),
            "-" if math.isnan(c.seconds / fastest) else f"{c.seconds / fastest:.1f}x",
            seconds(c.preparation_seconds),
            c.message,
        ]
        for c in table
    ]
    header = ["  backend", "status", "error", "time", "ratio", "prep", "note"]
    return render(header, rows, width=width, shrink=[6, 0])


@dataclasses.dataclass
class _Run:
    backend: AbstractBackend
    results: tuple[Any, ...] | None = None
    seconds: float = math.nan
    preparation: float = math.nan
    status: str = "ran"
    message: str = ""


def _default_tangents(operator: str, f: Callable[..., Any], x: Any, contexts: Any) -> Any:
    """One tangent (or cotangent) of ones, like ``x`` (or ``f(x)``), pytrees leaf by leaf."""
    seeds = OPERATORS[operator].seeds
    if seeds is None:
        return None
    like = x if seeds == "x" else f(x, *(c.value for c in contexts))

    def ones(a: Any) -> Any:
        a = np.asarray(a) if isinstance(a, np.generic) else a
        xp = namespace_of(a)
        with precision_scope(xp, a):
            return xp.ones_like(a)

    return (map_leaves(ones, like),)


def _on_host(results: tuple[Any, ...]) -> tuple[Any, ...]:
    """Results as numpy (sparse matrices densified), once, for the pairwise comparisons."""

    def host(a: Any) -> Any:
        return np.asarray(to_numpy(dense(a)))

    return tuple(host(r) if is_sparse(r) else map_leaves(host, dense(r)) for r in results)


def _run(backend: AbstractBackend, s: Scenario, rounds: int, min_time: float) -> _Run:
    """Prepare, compute and (``rounds > 0``) time one candidate; failures become statuses."""
    functions = FUNCTIONS[s.operator]
    args = (s.x, s.tangents, *s.contexts) if functions.tangents else (s.x, *s.contexts)
    run = _Run(backend)
    try:
        engine_for(backend)  # import the engine first: its import is no preparation time
        start = time.perf_counter()
        prep = functions.prepare(s.f, backend, *args)
        run.preparation = time.perf_counter() - start
        results = functions.value(s.f, backend, *args, prep=prep)
        run.results = _on_host(results[1:] if functions.spec.primal else tuple(results))
        if rounds > 0:
            run.seconds = measure_seconds(
                lambda: functions.plain(s.f, backend, *args, prep=prep),
                rounds=rounds,
                min_time=min_time,
            )
    except UnsupportedOperationError as err:
        run.status, run.message = "unsupported", str(err)
    except Exception as err:  # noqa: BLE001 - a row of the table, not a crash
        run.status, run.message = "failed", f"{type(err).__name__}: {err}"
    return run


def _agree(a: _Run, b: _Run, s: Scenario) -> float:
    """The relative difference of two runs' results if within both tolerances, else inf."""
    assert a.results is not None
    assert b.results is not None
    error = max(
        (max_relative_error(ra, rb) for ra, rb in zip(a.results, b.results, strict=True)),
        default=0.0,
    )
    return error if error <= tolerance(a.backend, s) + tolerance(b.backend, s) else math.inf


def _judge(runs: list[_Run], s: Scenario) -> list[Candidate]:
    ran = [r for r in runs if r.status == "ran"]
    errors: dict[int, float] = {}
    if len(ran) == 1:
        errors[id(ran[0])] = math.nan
    elif ran:
        groups = {id(a): [b for b in ran if b is a or _agree(a, b, s) < math.inf] for a in ran}
        anchor = max(ran, key=lambda a: (len(groups[id(a)]), -tolerance(a.backend, s)))
        if len(groups[id(anchor)]) > 1:
            for b in groups[id(anchor)]:
                errors[id(b)] = 0.0 if b is anchor else _agree(anchor, b, s)
    table = []
    for r in runs:
        if r.status != "ran":
            status = r.status
        elif id(r) not in errors:
            status = "wrong"
        else:
            status = "unchecked" if len(ran) == 1 else "ok"
        error = errors.get(id(r), math.nan)
        table.append(Candidate(r.backend, status, error, r.seconds, r.preparation, r.message))
    return table


def compare_backends(
    s: Scenario,
    backends: Sequence[AbstractBackend],
    *,
    rounds: int = 0,
    min_time: float = 0.01,
    advance: Callable[[str], None] | None = None,
) -> list[Candidate]:
    """Run every backend on a scenario without references and judge them by agreement
    (timed when ``rounds > 0``); ``advance(label)`` is called after each backend."""
    runs = []
    with precision(s):
        for backend in backends:
            runs.append(_run(backend, s, rounds, min_time))
            if advance is not None:
                advance(f"{backend!r} {s.name}")
    return _judge(runs, s)


def select_backend(
    f: Callable[..., Any],
    x: Any,
    operator: str,
    candidates: Sequence[AbstractBackend] | None = None,
    *,
    tangents: tuple[Any, ...] | None = None,
    contexts: tuple[Context, ...] = (),
    rounds: int = 3,
    min_time: float = 0.01,
    progress: bool | None = None,
) -> Selection:
    """Run the candidates on ``f`` at ``x``, cross-check them and return the fastest correct.

    Every candidate prepares the operator, computes it (its value-and variant: for
    second-order operators both derivatives are compared) and is timed on prepared calls.
    Candidates are compared with each other: a candidate is correct when it belongs to the
    largest group of candidates agreeing with one of them within the sum of their
    tolerances (ties go to the group of the most precise candidate, so exact engines
    outrank finite differences). Candidates that raise are ``"failed"`` (or
    ``"unsupported"``), those that disagree ``"wrong"``.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts)``.
    x : array or pytree
        The point.
    operator : str
        ``"gradient"``, ``"jacobian"``, ``"hessian"``, ... (any operator).
    candidates : sequence of AbstractBackend, optional
        Default: :func:`installed_backends` for the operator (finite differences, every
        installed engine in each mode, and ``AutoSparse`` over each for ``jacobian`` and
        ``hessian``).
    tangents : tuple, optional
        For ``pushforward``, ``pullback`` and ``hvp``; default: one tangent of ones.
    contexts : tuple of Context
        Extra arguments of ``f``.
    rounds, min_time : int, float
        Timing: the median of ``rounds`` rounds lasting at least ``min_time`` seconds each.
    progress : bool, optional
        Show a progress bar on standard error (default: when it is a terminal).

    Returns
    -------
    Selection
        ``(backend, table)``: the fastest correct candidate and a :class:`Candidate` per
        candidate (``Selection.format()`` prints it). When a single candidate runs, it is
        returned as ``"unchecked"``.

    Raises
    ------
    AssertionError
        No candidate ran, or no two candidates agree (the message holds the table).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import select_backend
    >>> f = lambda x: np.sum(np.sin(x) ** 2)
    >>> coarse = di.AutoFiniteDiff(method="forward", step=0.5)  # inaccurate on purpose
    >>> candidates = [di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward"), coarse]
    >>> best, table = select_backend(f, np.linspace(0, 1, 3), "gradient", candidates,
    ...                              progress=False)
    >>> [c.status for c in table]
    ['ok', 'ok', 'wrong']
    >>> best in candidates[:2]  # the faster of the two that agree
    True
    """
    if operator not in OPERATORS:
        msg = f"select_backend: unknown operator {operator!r}; choose among {list(OPERATORS)}"
        raise ValueError(msg)
    chosen = list(installed_backends(operator) if candidates is None else candidates)
    if tangents is None:
        tangents = _default_tangents(operator, f, x, contexts)
    s = Scenario(f, x, operator=operator, tangents=tangents, contexts=contexts, name="selection")
    with progress_bar(len(chosen), "selecting", enabled=progress) as advance:
        table = tuple(
            compare_backends(s, chosen, rounds=max(rounds, 1), min_time=min_time, advance=advance)
        )
    correct = [c for c in table if c.status in ("ok", "unchecked")]
    if not correct:
        ran = any(c.status == "wrong" for c in table)
        reason = "no two agree" if ran else "no candidate ran"
        msg = f"select_backend: {reason}, so none can be trusted:\n{format_candidates(table)}"
        raise AssertionError(msg)
    best = min(correct, key=lambda c: c.seconds)
    return Selection(best.backend, table)

"""``benchmark_differentiation``: time every backend on every scenario, count calls to ``f``.

Each row reports one (backend, scenario, prepared or not) triple: the fastest time per call
over a few calibrated rounds (prepared and unprepared rounds interleaved, so both see the
same machine), how many times the call evaluated ``f`` (``f`` is wrapped in a
counter; one stacked evaluation counts once), and how long preparation took. Rows print as
a table and export to CSV or JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..adtypes import AbstractBackend
from ..backends._registry import engine_for
from ..errors import UnsupportedOperationError
from ._leaves import array_leaves
from ._variants import FUNCTIONS
from .scenarios import Scenario

__all__ = ["BenchmarkRow", "benchmark_differentiation", "format_table", "write_csv", "write_json"]


@dataclasses.dataclass(frozen=True)
class BenchmarkRow:
    """One measurement; ``status`` is ``"ok"``, ``"unsupported"`` or ``"error"``.

    ``seconds`` is the fastest time per call over the timed rounds, ``calls`` the number of
    evaluations of ``f`` one call made, ``preparation_seconds`` the time the preparation
    took (the engine's import excluded).

    Examples
    --------
    >>> from differentiation_interface.testing import BenchmarkRow
    >>> row = BenchmarkRow("AutoFiniteDiff()", "s", "gradient", True, seconds=1e-5, calls=8)
    >>> row.status, row.calls
    ('ok', 8)
    """

    backend: str
    scenario: str
    operator: str
    prepared: bool
    seconds: float = math.nan
    calls: int = -1
    preparation_seconds: float = math.nan
    status: str = "ok"
    message: str = ""


class _Counted:
    """``f`` with a call counter (hashable, so unprepared calls still hit the cache)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.f(*args)


def _block(result: Any) -> None:
    """Wait for asynchronous engines (JAX) so timings include the work (every leaf of a
    pytree result; a sparse matrix or other object as one)."""
    found = array_leaves(result, "result")
    if found is None and isinstance(result, tuple):  # e.g. a value and a sparse matrix
        for part in result:
            _block(part)
        return
    for leaf in [result] if found is None else found[0]:
        ready = getattr(leaf, "block_until_ready", None)
        if ready is not None:
            ready()


def _calibrate(call: Callable[[], Any], min_time: float) -> int:
    """How many calls make a round of at least ``min_time`` seconds (after a warm-up)."""
    _block(call())  # warm-up (compilation, caches)
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            _block(call())
        if time.perf_counter() - start >= min_time or number >= 1 << 16:
            return number
        number *= 2


def _round(call: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        _block(call())
    return (time.perf_counter() - start) / number


def measure_seconds(call: Callable[[], Any], *, rounds: int, min_time: float) -> float:
    """The fastest seconds per call over ``rounds`` rounds of at least ``min_time`` each
    (the minimum: noise from a busy machine only ever adds time)."""
    number = _calibrate(call, min_time)
    return min(_round(call, number) for _ in range(max(rounds, 1)))


def _interleaved(
    calls: Sequence[Callable[[], Any]], *, rounds: int, min_time: float
) -> list[float]:
    """:func:`measure_seconds` of several calls, their rounds interleaved, so that a slow
    moment of the machine hits all of them alike (prepared and unprepared calls compare)."""
    numbers = [_calibrate(call, min_time) for call in calls]
    best = [math.inf] * len(calls)
    for _ in range(max(rounds, 1)):
        for i, (call, number) in enumerate(zip(calls, numbers, strict=True)):
            best[i] = min(best[i], _round(call, number))
    return best


#: Extra sets of rounds for a pair whose unprepared row came out faster than the prepared.
_RETRIES = 2


def _unprepared_faster(prepared: Sequence[bool], times: Sequence[float]) -> bool:
    by_kind = dict(zip(prepared, times, strict=True))
    return True in by_kind and False in by_kind and by_kind[False] < by_kind[True]


def _measure(
    backend: AbstractBackend,
    s: Scenario,
    *,
    prepared: Sequence[bool],
    rounds: int,
    min_time: float,
) -> list[BenchmarkRow]:
    """One row per kind of call in ``prepared``; preparation is timed once, after the
    engine is imported (importing JAX or torch is no preparation time)."""
    functions = FUNCTIONS[s.operator]
    f = _Counted(s.f)
    args = (s.x, s.tangents, *s.contexts) if functions.tangents else (s.x, *s.contexts)
    kwargs: dict[str, Any] = {} if s.y is None else {"y": s.y}

    def row(kind: bool, **fields: Any) -> BenchmarkRow:
        return BenchmarkRow(repr(backend), s.name or "", s.operator, kind, **fields)

    try:
        engine_for(backend)
        start = time.perf_counter()
        prep = functions.prepare(f, backend, *args, **kwargs)
        preparation = time.perf_counter() - start

        def call(kind: bool) -> Callable[[], Any]:
            extra = {"prep": prep} if kind else {}
            return lambda: functions.plain(f, backend, *args, **kwargs, **extra)

        calls = [call(kind) for kind in prepared]
        times = _interleaved(calls, rounds=rounds, min_time=min_time)
        for _ in range(_RETRIES):
            if not _unprepared_faster(prepared, times):
                break
            # An unprepared call does the prepared one's work plus a cache lookup, so an
            # unprepared row faster than its prepared row is the machine's noise: more
            # rounds of both (still interleaved) resolve it; a real inversion survives them.
            more = _interleaved(calls, rounds=rounds, min_time=min_time)
            times = [min(a, b) for a, b in zip(times, more, strict=True)]
        rows = []
        for kind, one, seconds in zip(prepared, calls, times, strict=True):
            f.calls = 0
            _block(one())
            rows.append(row(kind, seconds=seconds, calls=f.calls, preparation_seconds=preparation))
        return rows
    except UnsupportedOperationError as err:
        return [row(kind, status="unsupported", message=str(err)) for kind in prepared]
    except Exception as err:  # noqa: BLE001 - a row saying what failed, not a crash
        message = f"{type(err).__name__}: {err}"
        return [row(kind, status="error", message=message) for kind in prepared]


def benchmark_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    prepared: Sequence[bool] = (True, False),
    rounds: int = 20,
    min_time: float = 0.002,
    progress: Callable[[str], None] | None = None,
) -> list[BenchmarkRow]:
    """Time every backend on every scenario, prepared and unprepared.

    Parameters
    ----------
    backends : AbstractBackend or sequence of them
        The backends to time.
    scenarios : iterable of Scenario
        The scenarios (for example :func:`default_scenarios`).
    prepared : sequence of bool, default (True, False)
        Which kinds of call to time: with a preparation passed as ``prep=``, and without
        (which reuses the library's internal cache after the first call). Preparation is
        timed once per pair, after the engine's package is imported.
    rounds : int, default 20
        Timed rounds per row; the fastest is reported (a busy machine only adds time).
        The rounds of prepared and unprepared calls alternate. Where the unprepared call
        comes out faster than the prepared one (it does the same work plus a cache lookup,
        so that is noise), up to two more sets of ``rounds`` rounds of both are timed and
        the fastest of all reported.
    min_time : float, default 0.002
        Each round lasts at least this many seconds (the call is repeated). Many short
        rounds beat a few long ones on a shared machine: the fastest round is reported.
    progress : callable, optional
        Called with a label after each (backend, scenario) pair (e.g. to advance a
        progress bar).

    Returns
    -------
    list of BenchmarkRow
        Backend, scenario, operator, prepared or not, fastest seconds per call, calls to
        ``f`` per call, preparation seconds, and a status (``"ok"``, ``"unsupported"``,
        ``"error"`` with a message).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import (
    ...     benchmark_differentiation, default_scenarios, format_table)
    >>> scenarios = [s for s in default_scenarios() if s.name == "gradient:vector->scalar"]
    >>> rows = benchmark_differentiation([di.AutoFiniteDiff()], scenarios, rounds=2,
    ...                                  min_time=1e-3)
    >>> rows[0].operator, rows[0].calls  # 2 n evaluations for central differences, n = 4
    ('gradient', 8)
    >>> print(format_table(rows).splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    backend  scenario  operator  prepared  time/call  calls  prep time  status
    """
    if isinstance(backends, AbstractBackend):
        backends = [backends]
    scenarios = list(scenarios)
    rows = []
    for backend in backends:
        for s in scenarios:
            rows += _measure(backend, s, prepared=prepared, rounds=rounds, min_time=min_time)
            if progress is not None:
                progress(f"{backend!r} {s.name}")
    return rows


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def format_table(rows: Sequence[BenchmarkRow]) -> str:
    """The rows as an aligned plain-text table.

    Examples
    --------
    >>> from differentiation_interface.testing import BenchmarkRow, format_table
    >>> print(format_table([BenchmarkRow("AutoFiniteDiff()", "s", "gradient", True, 1e-5, 8)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    backend           scenario  operator  prepared  time/call  calls  prep time  status
    AutoFiniteDiff()  s         gradient  yes       10.0 us    8      -          ok
    """
    header = [
        "backend",
        "scenario",
        "operator",
        "prepared",
        "time/call",
        "calls",
        "prep time",
        "status",
    ]
    body = [
        [
            r.backend,
            r.scenario,
            r.operator,
            "yes" if r.prepared else "no",
            _seconds(r.seconds),
            str(r.calls) if r.calls >= 0 else "-",
            _seconds(r.preparation_seconds),
            r.status,
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    )


def write_csv(rows: Sequence[BenchmarkRow], path: str) -> None:
    """Write the rows as CSV (one column per field of :class:`BenchmarkRow`).

    Examples
    --------
    >>> import os, tempfile
    >>> from differentiation_interface.testing import BenchmarkRow, write_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
    >>> write_csv([BenchmarkRow("AutoFiniteDiff()", "s", "gradient", True, 1e-5, 8)], path)
    >>> from pathlib import Path
    >>> Path(path).read_text().splitlines()[0]
    'backend,scenario,operator,prepared,seconds,calls,preparation_seconds,status,message'
    """
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[f.name for f in dataclasses.fields(BenchmarkRow)]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(dataclasses.asdict(row))


def write_json(rows: Sequence[BenchmarkRow], path: str) -> None:
    """Write the rows as a JSON list of objects (NaN as ``null``).

    Examples
    --------
    >>> import json, os, tempfile
    >>> from differentiation_interface.testing import BenchmarkRow, write_json
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.json")
    >>> write_json([BenchmarkRow("AutoFiniteDiff()", "s", "gradient", False)], path)
    >>> from pathlib import Path
    >>> json.loads(Path(path).read_text())[0]["seconds"] is None
    True
    """

    def clean(row: BenchmarkRow) -> dict[str, Any]:
        fields = dataclasses.asdict(row)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in fields.items()}

    with open(path, "w") as handle:
        json.dump([clean(r) for r in rows], handle, indent=2)

"""``benchmark_differentiation``: time every backend on every scenario, count calls to ``f``.

Each row reports one (backend, scenario, prepared or not) triple: the median time per call
over a few calibrated rounds, how many times the call evaluated ``f`` (``f`` is wrapped in a
counter; one stacked evaluation counts once), and how long preparation took. Rows print as
a table and export to CSV or JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..adtypes import AbstractBackend
from ..errors import UnsupportedOperationError
from ._leaves import array_leaves
from ._variants import FUNCTIONS
from .scenarios import Scenario

__all__ = ["BenchmarkRow", "benchmark_differentiation", "format_table", "write_csv", "write_json"]


@dataclasses.dataclass(frozen=True)
class BenchmarkRow:
    """One measurement; ``status`` is ``"ok"``, ``"unsupported"`` or ``"error"``."""

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


def _time(call: Callable[[], Any], *, rounds: int, min_time: float) -> float:
    _block(call())  # warm-up (compilation, caches)
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            _block(call())
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1 << 16:
            break
        number *= 2
    samples = [elapsed / number]
    for _ in range(rounds - 1):
        start = time.perf_counter()
        for _ in range(number):
            _block(call())
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def _measure(
    backend: AbstractBackend, s: Scenario, *, prepared: bool, rounds: int, min_time: float
) -> BenchmarkRow:
    functions = FUNCTIONS[s.operator]
    f = _Counted(s.f)
    args = (s.x, s.tangents, *s.contexts) if functions.tangents else (s.x, *s.contexts)
    kwargs: dict[str, Any] = {} if s.y is None else {"y": s.y}
    base: dict[str, Any] = {
        "backend": repr(backend),
        "scenario": s.name or "",
        "operator": s.operator,
        "prepared": prepared,
    }
    try:
        start = time.perf_counter()
        prep = functions.prepare(f, backend, *args, **kwargs)
        preparation = time.perf_counter() - start
        if prepared:
            kwargs["prep"] = prep

        def call() -> Any:
            return functions.plain(f, backend, *args, **kwargs)

        seconds = _time(call, rounds=rounds, min_time=min_time)
        f.calls = 0
        _block(call())
        return BenchmarkRow(**base, seconds=seconds, calls=f.calls, preparation_seconds=preparation)
    except UnsupportedOperationError as err:
        return BenchmarkRow(**base, status="unsupported", message=str(err))
    except Exception as err:  # noqa: BLE001 - a row saying what failed, not a crash
        return BenchmarkRow(**base, status="error", message=f"{type(err).__name__}: {err}")


def benchmark_differentiation(
    backends: Sequence[AbstractBackend] | AbstractBackend,
    scenarios: Iterable[Scenario],
    *,
    prepared: Sequence[bool] = (True, False),
    rounds: int = 5,
    min_time: float = 0.01,
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
        (which reuses the library's internal cache after the first call).
    rounds : int, default 5
        Timed rounds per row; the median is reported.
    min_time : float, default 0.01
        Each round lasts at least this many seconds (the call is repeated).
    progress : callable, optional
        Called with a label after each row (e.g. to advance a progress bar).

    Returns
    -------
    list of BenchmarkRow
        Backend, scenario, operator, prepared or not, median seconds per call, calls to
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
            for kind in prepared:
                rows.append(_measure(backend, s, prepared=kind, rounds=rounds, min_time=min_time))
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
    """Write the rows as CSV (one column per field)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[f.name for f in dataclasses.fields(BenchmarkRow)]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(dataclasses.asdict(row))


def write_json(rows: Sequence[BenchmarkRow], path: str) -> None:
    """Write the rows as a JSON list of objects."""

    def clean(row: BenchmarkRow) -> dict[str, Any]:
        fields = dataclasses.asdict(row)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in fields.items()}

    with open(path, "w") as handle:
        json.dump([clean(r) for r in rows], handle, indent=2)

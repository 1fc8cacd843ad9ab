"""The command line's tables: backends down, operators across, narrow enough for 80 columns.

Operators are abbreviated (a legend follows each table), backends go by their command-line
names, and each cell holds a few characters: the largest relative error for ``check``, a
time and, on the line below, its ratio to the fastest backend for ``bench``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from ..operators._table import NAMES
from ..testing._benchmark import BenchmarkRow
from ..testing._text import render, terminal_width

__all__ = ["SHORT", "bench_tables", "check_table", "compact_seconds", "legend", "wrap"]

#: Column headings of the operators.
SHORT = {
    "pushforward": "push",
    "pullback": "pull",
    "derivative": "deriv",
    "gradient": "grad",
    "jacobian": "jac",
    "second_derivative": "d2",
    "hvp": "hvp",
    "hessian": "hess",
}


def wrap(text: str, width: int | None = None) -> str:
    """``text`` wrapped to the terminal's width (or ``width``)."""
    return textwrap.fill(text, width=terminal_width() if width is None else width)


def legend(operators: Sequence[str], width: int | None = None) -> str:
    """``push = pushforward, ...`` for the operators shown, wrapped between entries.

    Examples
    --------
    >>> from differentiation_interface._cli._tables import legend
    >>> print(legend(["pushforward", "pullback", "jacobian"], width=36))
    push = pushforward, pull = pullback,
    jac = jacobian
    """
    width = terminal_width() if width is None else width
    entries = [f"{SHORT[op]} = {op}" for op in operators]
    lines = [""]
    for k, entry in enumerate(entries):
        piece = entry + ("," if k < len(entries) - 1 else "")
        candidate = f"{lines[-1]} {piece}" if lines[-1] else piece
        if len(candidate) <= width or not lines[-1]:
            lines[-1] = candidate
        else:
            lines.append(piece)
    return "\n".join(lines)


def _operators(present: set[str]) -> list[str]:
    return [op for op in NAMES if op in present]


def check_table(
    names: Sequence[str], cells: dict[tuple[str, str], str], width: int | None = None
) -> str:
    """``cells[(backend name, operator)]``, as a table with a column per operator present."""
    operators = _operators({op for _, op in cells})
    rows = [[name, *(cells.get((name, op), "-") for op in operators)] for name in names]
    table = render(["backend", *(SHORT[op] for op in operators)], rows, width=width)
    return f"{table}\n{legend(operators, width)}"


def compact_seconds(value: float) -> str:
    """A duration in at most five characters (``850ns``, ``96us``, ``1.3ms``, ``2.1s``).

    Examples
    --------
    >>> from differentiation_interface._cli._tables import compact_seconds
    >>> [compact_seconds(t) for t in (8.5e-7, 9.6e-5, 1.34e-3, 0.054, 2.1, 250.0)]
    ['850ns', '96us', '1.3ms', '54ms', '2.1s', '250s']
    """
    if math.isnan(value):
        return "-"
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        scaled = value / scale
        if scaled < 999.5 or unit == "s":
            return f"{scaled:.1f}{unit}" if scaled < 9.95 else f"{scaled:.0f}{unit}"
    return "-"  # pragma: no cover - the loop always returns


def _ratio(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:.1f}x" if value < 9.95 else f"{value:.0f}x"


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def _block(
    rows: Sequence[BenchmarkRow], names: dict[str, str], metric: str, width: int | None
) -> str:
    """One pivot: per backend a line of times and a line of ratios to the fastest."""
    operators = _operators({r.operator for r in rows})
    backends = list(dict.fromkeys(r.backend for r in rows))
    scenarios = {
        op: list(dict.fromkeys(r.scenario for r in rows if r.operator == op)) for op in operators
    }

    def value(r: BenchmarkRow) -> float:
        return r.preparation_seconds if metric == "preparation" else r.seconds

    ok = {(r.backend, r.scenario): value(r) for r in rows if r.status == "ok"}
    statuses = {(r.backend, r.scenario): r.status for r in rows}
    fastest = {
        s: min((t for (b, sc), t in ok.items() if sc == s), default=math.nan)
        for op in operators
        for s in scenarios[op]
    }
    times, ratios = [], []
    for b in backends:
        time_line, ratio_line = [names.get(b, b)], [""]
        for op in operators:
            mine = [s for s in scenarios[op] if (b, s) in ok]
            if not mine:
                failed = any(statuses.get((b, s)) == "error" for s in scenarios[op])
                time_line.append("error" if failed else "n/a")
                ratio_line.append("")
                continue
            time_line.append(compact_seconds(_geomean([ok[b, s] for s in mine])))
            ratio_line.append(_ratio(_geomean([ok[b, s] / fastest[s] for s in mine])))
        times.append(time_line)
        ratios.append(ratio_line)
    body = [line for pair in zip(times, ratios, strict=True) for line in pair]
    return render(["backend", *(SHORT[op] for op in operators)], body, width=width)


def bench_tables(
    rows: Sequence[BenchmarkRow], names: dict[str, str], width: int | None = None
) -> str:
    """The pivots of prepared calls, unprepared calls and preparation, with a legend."""
    parts = []
    for title, metric, kind in (
        ("time per prepared call", "seconds", True),
        ("time per unprepared call (preparation cached by the library)", "seconds", False),
        ("preparation time (engine import excluded)", "preparation", True),
    ):
        chosen = [r for r in rows if r.prepared is kind]
        if chosen:
            parts.append(f"{title}:\n{_block(chosen, names, metric, width)}")
    operators = _operators({r.operator for r in rows})
    note = wrap(
        "Each cell: the time (geometric mean over the operator's scenarios), and below it "
        "the ratio to the fastest backend (1.0x = fastest).",
        width,
    )
    note += "\n" + legend(operators, width)
    return "\n\n".join([*parts, note])

"""``check``: run the default scenarios on every installed engine and print a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..adtypes import (
    AbstractBackend,
    AutoAutograd,
    AutoFiniteDiff,
    AutoJAX,
    AutoTorch,
    SecondOrder,
)
from ..backends import check_available
from ..testing._run import Outcome, run_scenario
from ..testing.scenarios import OPERATOR_NAMES, default_scenarios
from ._progress import progress

__all__ = ["default_backends", "main"]


def default_backends() -> list[AbstractBackend]:
    """Finite differences, plus every installed engine in each of its modes."""
    candidates: list[AbstractBackend] = [
        AutoFiniteDiff(),
        AutoFiniteDiff(method="forward"),
        SecondOrder(AutoFiniteDiff(), AutoFiniteDiff()),
        AutoJAX(),
        AutoJAX(mode="forward"),
        AutoTorch(),
        AutoTorch(mode="forward"),
        AutoAutograd(),
    ]
    return [b for b in candidates if check_available(b)]


def _cell(outcomes: list[Outcome]) -> str:
    if not outcomes:
        return "-"
    if any(o.status == "failed" for o in outcomes):
        return "FAILED"
    ok = [o for o in outcomes if o.status == "ok"]
    if not ok:
        return "unsupported"
    return f"ok {max(o.error for o in ok):.0e}"


def _table(backends: list[AbstractBackend], outcomes: list[Outcome]) -> list[list[str]]:
    rows = [["backend", *OPERATOR_NAMES]]
    for b in backends:
        mine = [o for o in outcomes if o.backend == b]
        rows.append(
            [repr(b)]
            + [_cell([o for o in mine if o.scenario.operator == op]) for op in OPERATOR_NAMES]
        )
    return rows


def _print_table(rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        return
    table = Table(title="differentiation-interface check (max relative error per operator)")
    for i, head in enumerate(rows[0]):
        table.add_column(head, no_wrap=i == 0)
    for r in rows[1:]:
        table.add_row(*(f"[red]{c}[/red]" if c == "FAILED" else c for c in r))
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    console.print(table)


def check(backends: list[AbstractBackend]) -> int:
    """Run the default scenarios on ``backends``; return the exit status."""
    scenarios = default_scenarios()
    jobs = [(b, s) for b in backends for s in scenarios]
    outcomes = []
    with progress(len(jobs), "checking") as advance:
        for b, s in jobs:
            outcomes.append(run_scenario(b, s))
            advance(f"{b!r} {s.name}")
    _print_table(_table(backends, outcomes))
    failures = [o for o in outcomes if o.status == "failed"]
    for b in backends:
        mine = [o for o in failures if o.backend == b]
        if mine:
            names = ", ".join(o.scenario.name or "?" for o in mine[:3])
            more = f" and {len(mine) - 3} more" if len(mine) > 3 else ""
            print(f"FAILED {b!r} on {names}{more}: {mine[0].message}")
    print(
        f"{len(outcomes) - len(failures)} of {len(outcomes)} checks passed "
        f"on {len(backends)} backend(s)."
    )
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m differentiation_interface``."""
    parser = argparse.ArgumentParser(
        prog="python -m differentiation_interface",
        description="Check which installed engines differentiate correctly.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="run the default scenarios on every installed engine")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(default_backends())
    return 2  # pragma: no cover - argparse rejects other commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

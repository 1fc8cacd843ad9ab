"""``check`` and ``bench``: the default scenarios on every installed engine, as tables."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._array import compat_namespace
from ..adtypes import (
    AbstractBackend,
    AutoAutograd,
    AutoFiniteDiff,
    AutoJAX,
    AutoTorch,
    SecondOrder,
)
from ..backends import check_available
from ..operators._table import NAMES
from ..testing._benchmark import benchmark_differentiation, format_table, write_csv, write_json
from ..testing._run import Outcome, run_scenario
from ..testing.scenarios import Scenario, default_scenarios
from ._progress import progress

__all__ = ["BACKENDS", "default_backends", "main"]

#: Names accepted by ``--backends``.
BACKENDS: dict[str, AbstractBackend] = {
    "fd": AutoFiniteDiff(),
    "fd-forward": AutoFiniteDiff(method="forward"),
    "fd-over-fd": SecondOrder(AutoFiniteDiff(), AutoFiniteDiff()),
    "jax": AutoJAX(),
    "jax-forward": AutoJAX(mode="forward"),
    "torch": AutoTorch(),
    "torch-forward": AutoTorch(mode="forward"),
    "autograd": AutoAutograd(),
}


def default_backends() -> list[AbstractBackend]:
    """Finite differences, plus every installed engine in each of its modes."""
    return [b for b in BACKENDS.values() if check_available(b)]


def _namespace(name: str) -> tuple[Any, Any, bool]:
    """(namespace, device, float64 allowed) for a ``--namespace`` name."""
    if name == "numpy":
        return np, "cpu", True
    if name.startswith("strict"):
        import array_api_strict as xps

        device = {"strict": "CPU_DEVICE"}.get(name, name.removeprefix("strict-"))
        return xps, xps.Device(device), device != "no_float64"
    if name == "torch":
        torch_xp = compat_namespace("torch")
        return torch_xp, torch_xp.asarray(0.0).device, True
    if name == "jax":
        jnp = compat_namespace("jax")  # loads JAX
        return jnp, sys.modules["jax"].devices("cpu")[0], True
    if name == "dask":
        return compat_namespace("dask"), "cpu", True
    msg = f"unknown namespace {name!r}"
    raise ValueError(msg)


def _scenarios(namespace: str) -> list[Scenario]:
    if namespace == "numpy":
        return default_scenarios()
    xp, device, float64 = _namespace(namespace)
    dtype = np.float64 if float64 else np.float32
    return [s.to_namespace(xp, device) for s in default_scenarios(dtype=dtype)]


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
    rows = [["backend", *NAMES]]
    for b in backends:
        mine = [o for o in outcomes if o.backend == b]
        rows.append(
            [repr(b)] + [_cell([o for o in mine if o.scenario.operator == op]) for op in NAMES]
        )
    return rows


def _print_table(rows: list[list[str]], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        print(title)
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        return
    table = Table(title=title)
    for i, head in enumerate(rows[0]):
        table.add_column(head, no_wrap=i == 0)
    for r in rows[1:]:
        table.add_row(*(f"[red]{c}[/red]" if c == "FAILED" else c for c in r))
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    console.print(table)


def check(backends: list[AbstractBackend], namespace: str = "numpy") -> int:
    """Run the default scenarios on ``backends``; return the exit status (1 on failure)."""
    scenarios = _scenarios(namespace)
    jobs = [(b, s) for b in backends for s in scenarios]
    outcomes = []
    with progress(len(jobs), "checking") as advance:
        for b, s in jobs:
            outcomes.append(run_scenario(b, s))
            advance(f"{b!r} {s.name}")
    title = f"differentiation-interface check on {namespace} (max relative error per operator)"
    _print_table(_table(backends, outcomes), title)
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


def bench(
    backends: list[AbstractBackend],
    namespace: str = "numpy",
    csv_path: str | None = None,
    json_path: str | None = None,
) -> int:
    """Time the default scenarios on ``backends``, print a table, optionally write files."""
    scenarios = _scenarios(namespace)
    with progress(len(backends) * len(scenarios) * 2, "timing") as advance:
        rows = benchmark_differentiation(backends, scenarios, progress=advance)
    print(format_table(rows))
    if csv_path:
        write_csv(rows, csv_path)
    if json_path:
        write_json(rows, json_path)
    return 1 if any(r.status == "error" for r in rows) else 0


def _selected(names: str | None) -> list[AbstractBackend]:
    if names is None:
        return default_backends()
    chosen = []
    for name in names.split(","):
        if name not in BACKENDS:
            msg = f"unknown backend {name!r}; choose among {', '.join(BACKENDS)}"
            raise SystemExit(msg)
        chosen.append(BACKENDS[name])
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m differentiation_interface``."""
    parser = argparse.ArgumentParser(
        prog="python -m differentiation_interface",
        description="Check and time the installed differentiation engines.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("check", "run the default scenarios on every installed engine"),
        ("bench", "time every installed engine on the default scenarios"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--backends",
            help=f"comma-separated, among: {', '.join(BACKENDS)} (default: all installed)",
        )
        command.add_argument(
            "--namespace",
            default="numpy",
            choices=[
                "numpy",
                "strict",
                "strict-device1",
                "strict-no_float64",
                "torch",
                "jax",
                "dask",
            ],
            help="array namespace of the inputs (default: numpy)",
        )
        if name == "bench":
            command.add_argument("--csv", help="write the rows to this CSV file")
            command.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    module = {"torch": "torch", "jax": "jax", "dask": "dask"}.get(args.namespace)
    if module is not None and importlib.util.find_spec(module) is None:
        print(f"--namespace {args.namespace} needs the '{module}' package.", file=sys.stderr)
        return 2
    backends = _selected(args.backends)
    if args.command == "check":
        return check(backends, args.namespace)
    return bench(backends, args.namespace, args.csv, args.json)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

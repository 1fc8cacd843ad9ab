"""``check`` and ``bench``: the default scenarios, or the user's own function, on every
installed engine, as tables that fit the terminal."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._array import compat_namespace, cuda_device
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
from ..testing._benchmark import BenchmarkRow, benchmark_differentiation, write_csv, write_json
from ..testing._progress import progress_bar
from ..testing._run import Outcome, run_scenario
from ..testing._select import Candidate, compare_backends
from ..testing.scenarios import Scenario, default_scenarios
from ._function import UsageError, load_function, parse_shape, user_scenarios
from ._tables import bench_tables, check_table, wrap

__all__ = ["BACKENDS", "bench", "check", "default_backends", "main"]

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

NAMESPACES = ["numpy", "strict", "strict-device1", "strict-no_float64", "torch", "jax", "dask"]

#: Namespaces on a CUDA GPU (their ``-float32`` twins run the float32 scenarios): usable
#: where :func:`gpu_available` says so (the conformance grid collects them only there).
GPU_NAMESPACES = [
    f"{name}{suffix}" for name in ("cupy", "torch-cuda", "jax-gpu") for suffix in ("", "-float32")
]


def gpu_available(name: str) -> bool:
    """Whether the GPU namespace ``name`` has a device here (imports its library)."""
    return cuda_device(_gpu_library(name)) is not None


def _gpu_library(name: str) -> str:
    """``"cupy"``, ``"torch"`` or ``"jax"`` for a :data:`GPU_NAMESPACES` name."""
    return name.removesuffix("-float32").removesuffix("-cuda").removesuffix("-gpu")


def _gpu_namespace(name: str) -> tuple[Any, Any, bool]:
    """(namespace, device, float64 allowed) of a :data:`GPU_NAMESPACES` name."""
    library = _gpu_library(name)
    device = cuda_device(library)
    if device is None:
        msg = f"--namespace {name!r} needs a CUDA GPU, and this machine has none for it."
        raise UsageError(msg)
    return compat_namespace(library), device, not name.endswith("-float32")


def default_backends() -> list[AbstractBackend]:
    """Finite differences, plus every installed engine in each of its modes."""
    return [b for b in BACKENDS.values() if check_available(b)]


def _names(backends: Sequence[AbstractBackend]) -> dict[str, str]:
    """``repr(backend)`` -> the name shown in tables (its ``--backends`` name if it has one)."""
    known = {repr(b): name for name, b in BACKENDS.items()}
    return {repr(b): known.get(repr(b), repr(b)) for b in backends}


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
    if name in GPU_NAMESPACES:
        return _gpu_namespace(name)
    msg = f"--namespace {name!r} is unknown; choose among {', '.join(NAMESPACES + GPU_NAMESPACES)}"
    raise UsageError(msg)


def _default(namespace: str, operators: Sequence[str] | None) -> list[Scenario]:
    if namespace == "numpy":
        scenarios = default_scenarios()
    else:
        xp, device, float64 = _namespace(namespace)
        dtype = np.float64 if float64 else np.float32
        scenarios = [s.to_namespace(xp, device) for s in default_scenarios(dtype=dtype)]
    return [s for s in scenarios if operators is None or s.operator in operators]


def _outcome_cell(outcomes: list[Outcome]) -> str:
    if not outcomes:
        return "-"
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        return "FAIL" if all(o.message.startswith("relative error") for o in failed) else "error"
    ok = [o for o in outcomes if o.status == "ok"]
    if not ok:
        return "n/a"
    return f"{max(o.error for o in ok):.0e}"


_CANDIDATE_CELLS = {"wrong": "FAIL", "failed": "error", "unsupported": "n/a", "unchecked": "ok?"}


def _candidate_cell(c: Candidate) -> str:
    if c.status == "ok":
        return f"{c.error:.0e}"
    return _CANDIDATE_CELLS[c.status]


def _print_problems(problems: list[tuple[str, str, str]], label: str = "FAILED") -> None:
    """``(backend name, scenario name, message)`` per problem, a few per backend, each
    backend's first message cut to a few lines."""
    for name in dict.fromkeys(p[0] for p in problems):
        mine = [p for p in problems if p[0] == name]
        scenarios = ", ".join(p[1] for p in mine[:3])
        more = f" and {len(mine) - 3} more" if len(mine) > 3 else ""
        message = mine[0][2] if len(mine[0][2]) <= 300 else mine[0][2][:299] + "…"
        print(wrap(f"{label} {name} on {scenarios}{more}: {message}"))


def check(
    backends: list[AbstractBackend],
    namespace: str = "numpy",
    scenarios: list[Scenario] | None = None,
) -> int:
    """Check the scenarios (default: the default ones) on ``backends``; print a table.

    Scenarios with references are checked against them; scenarios without (a user's own
    function) are checked by agreement between the backends. Returns the exit status: 1 if
    a result is wrong (or, with references, if a backend raises), else 0.
    """
    names = _names(backends)
    chosen = _default(namespace, None) if scenarios is None else scenarios
    referenced = [s for s in chosen if s.res1 is not None]
    unreferenced = [s for s in chosen if s.res1 is None]
    cells: dict[tuple[str, str], str] = {}
    problems: list[tuple[str, str, str]] = []
    notes: list[tuple[str, str, str]] = []  # backends that cannot run f: not a wrong result
    total = len(backends) * len(chosen)
    outcomes: list[Outcome] = []
    passed = 0
    with progress_bar(total, "checking") as advance:
        for b in backends:
            for s in referenced:
                outcomes.append(run_scenario(b, s))
                advance(f"{names[repr(b)]} {s.name}")
        for s in unreferenced:
            for c in compare_backends(s, backends, advance=advance):
                name = names[repr(c.backend)]
                cells[name, s.operator] = _candidate_cell(c)
                passed += c.status in ("ok", "unchecked")
                if c.status == "wrong":
                    problems.append((name, s.name or "", "disagrees with the other backends"))
                elif c.status in ("failed", "unsupported"):
                    notes.append((name, s.name or "", c.message))
    for b in backends:
        name = names[repr(b)]
        mine = [o for o in outcomes if o.backend == b]
        for op in NAMES:
            if any(o.scenario.operator == op for o in mine):
                cells[name, op] = _outcome_cell([o for o in mine if o.scenario.operator == op])
        problems += [(name, o.scenario.name or "", o.message) for o in mine if o.status == "failed"]
    passed += sum(o.status != "failed" for o in outcomes)
    print(f"differentiation-interface check on {namespace}")
    print(check_table(list(dict.fromkeys(names.values())), cells))
    print(
        wrap(
            "Each cell: the largest relative error (against closed forms, or against the most "
            "precise backend agreeing with the others for a function without references); "
            "FAIL = wrong values, error = raised, n/a = unsupported, ok? = nothing to compare."
        )
    )
    _print_problems(problems)
    _print_problems(notes, "cannot run:")
    print(f"{passed} of {total} checks passed on {len(backends)} backend(s).")
    return 1 if problems else 0


def bench(
    backends: list[AbstractBackend],
    namespace: str = "numpy",
    csv_path: str | None = None,
    json_path: str | None = None,
    scenarios: list[Scenario] | None = None,
    plot_path: str | None = None,
) -> int:
    """Time the scenarios (default: the default ones) on ``backends``; print the pivots,
    optionally write CSV, JSON and a chart. Returns 1 if a call raised, else 0."""
    chosen = _default(namespace, None) if scenarios is None else scenarios
    with progress_bar(len(backends) * len(chosen), "timing") as advance:
        rows = benchmark_differentiation(backends, chosen, progress=advance)
    names = _names(backends)
    print(bench_tables(rows, names))
    errors = [r for r in rows if r.status == "error"]
    _print_problems([(names[r.backend], r.scenario, r.message) for r in errors if r.prepared])
    if csv_path:
        write_csv(rows, csv_path)
    if json_path:
        write_json(rows, json_path)
    if plot_path:
        _plot(rows, names, plot_path)
    return 1 if errors else 0


def _plot(rows: list[BenchmarkRow], names: dict[str, str], path: str) -> None:
    from .._plot import plot_benchmark

    plot_benchmark(rows, path, names=names)
    print(f"wrote {path}")


def _selected(names: str | None) -> list[AbstractBackend]:
    if names is None:
        return default_backends()
    chosen = []
    for name in names.split(","):
        if name not in BACKENDS:
            msg = f"--backends: unknown backend {name!r}; choose among {', '.join(BACKENDS)}"
            raise UsageError(msg)
        chosen.append(BACKENDS[name])
    return chosen


def _operators(text: str | None) -> list[str] | None:
    if text is None:
        return None
    chosen = text.split(",")
    for op in chosen:
        if op not in NAMES:
            msg = f"--operator: unknown operator {op!r}; choose among {', '.join(NAMES)}"
            raise UsageError(msg)
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m differentiation_interface",
        description="Check and time the installed differentiation engines, on the default "
        "scenarios or on your own function.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("check", "check every installed engine (results against references or each other)"),
        ("bench", "time every installed engine"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--backends",
            help=f"comma-separated, among: {', '.join(BACKENDS)} (default: all installed)",
        )
        command.add_argument(
            "--namespace",
            default="numpy",
            choices=NAMESPACES + GPU_NAMESPACES,
            help="array namespace of the inputs (default: numpy; the GPU ones need a CUDA GPU)",
        )
        command.add_argument(
            "--function",
            metavar="MODULE:CALLABLE",
            help="your own f(x) -> array, e.g. mymodule:f (instead of the default scenarios)",
        )
        command.add_argument(
            "--x", metavar="SHAPE", help="shape of the random x for --function, e.g. 10 or 3,4"
        )
        command.add_argument(
            "--dtype", default="float64", choices=["float64", "float32"], help="dtype of x"
        )
        command.add_argument(
            "--operator",
            help=f"comma-separated, among: {', '.join(NAMES)} (default: all that fit f)",
        )
        if name == "bench":
            command.add_argument("--csv", help="write the rows to this CSV file")
            command.add_argument("--json", help="write the rows to this JSON file")
            command.add_argument(
                "--plot", metavar="FILE", help="draw the timings to FILE (needs matplotlib)"
            )
    return parser


def _run(args: argparse.Namespace) -> int:
    module = {"torch": "torch", "jax": "jax", "dask": "dask"}.get(args.namespace)
    if module is not None and importlib.util.find_spec(module) is None:
        msg = (
            f"--namespace {args.namespace} needs the '{module}' package; install it "
            "or choose another --namespace"
        )
        raise UsageError(msg)
    if getattr(args, "plot", None) and importlib.util.find_spec("matplotlib") is None:
        msg = '--plot needs matplotlib: pip install "differentiation-interface[plot]"'
        raise UsageError(msg)
    backends = _selected(args.backends)
    operators = _operators(args.operator)
    if args.function is None:
        if args.x is not None:
            msg = "--x goes with --function; add --function module:callable"
            raise UsageError(msg)
        scenarios = _default(args.namespace, operators)
    else:
        if args.x is None:
            msg = "--function needs --x SHAPE, the shape of x (e.g. --x 10)"
            raise UsageError(msg)
        f = load_function(args.function)
        shape = parse_shape(args.x)
        xp, device, float64 = _namespace(args.namespace)
        if args.dtype == "float64" and not float64:
            msg = f"--namespace {args.namespace} has no float64; add --dtype float32"
            raise UsageError(msg)
        dtype = np.dtype(args.dtype)
        scenarios = user_scenarios(f, shape, dtype, operators, xp, device)
    if args.command == "check":
        return check(backends, args.namespace, scenarios)
    return bench(backends, args.namespace, args.csv, args.json, scenarios, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m differentiation_interface``.

    Bad input prints one line (``error: ...`` with the fix) to standard error and returns
    2, as argparse does for its own errors.
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

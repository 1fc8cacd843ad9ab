"""Prepared-call overhead of this package against earlier commits of it, in one process.

Each ``--commit`` is exported with ``git archive`` into a temporary folder, renamed to a
package of its own (``di_<commit>``, its absolute imports rewritten) and imported beside the
working tree's package; every row then times the same call through each version in
interleaved rounds (``_harness.Group``) and reports each version's ratio to the first
commit. Small ``n`` on purpose: what is measured is the library's own cost around the
engine. Used for the architecture change (issue 13: no row may grow by more than 2 %).

Run (a shared machine: time by the thread's CPU clock)::

    DI_BENCH_CLOCK=thread python benchmarks/bench_call_overhead.py --commit 47f930c \
        [--commit fc6c4da] [--only "out="] [--rounds 41]

Prints one line per row and writes ``benchmarks/results/call_overhead.json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import jax

jax.config.update("jax_cpu_enable_async_dispatch", False)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from array_api_compat import array_namespace  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import differentiation_interface as current  # noqa: E402
from _harness import Group, environment, write_json  # noqa: E402

BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "FD": ("AutoFiniteDiff", {}),
    "JAX": ("AutoJAX", {}),
    "JAXfwd": ("AutoJAX", {"mode": "forward"}),
    "torch": ("AutoTorch", {}),
    "autograd": ("AutoAutograd", {}),
}


def export(commit: str, into: pathlib.Path) -> Any:
    """The package as it was at ``commit``, importable as ``di_<commit>``."""
    name = f"di_{commit}"
    archive = subprocess.run(
        ["git", "archive", commit, "src/differentiation_interface"],
        cwd=HERE.parent,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    package = into / name
    (into / "src" / "differentiation_interface").rename(package)
    pattern = re.compile(r"(?<![\w.])differentiation_interface(?=[.\"'\s:])")
    for path in package.rglob("*.py"):
        text = path.read_text()
        path.write_text(pattern.sub(name, text))
    sys.path.insert(0, str(into))
    return importlib.import_module(name)


def sumsq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x * x)


def diffusion(x: Any) -> Any:
    xp = array_namespace(x)
    return x[1:] - 2 * x[:-1] + xp.sin(x[1:])


def cases() -> list[tuple[str, Callable[[Any], Callable[[], Any]]]]:
    """(label, make): ``make(module)`` prepares and returns the call to time."""
    x10 = np.linspace(0.1, 1, 10)
    xj = jax.numpy.asarray(x10.astype(np.float32))
    xt = torch.linspace(0.1, 1, 10, dtype=torch.float64)
    out: list[tuple[str, Callable[[Any], Callable[[], Any]]]] = []
    for bname, (selector, options) in BACKENDS.items():
        for xname, x in (("numpy", x10), ("jax", xj), ("torch", xt)):
            if (xname == "jax" and "JAX" not in bname) or (xname == "torch" and bname != "torch"):
                continue
            tx = (x * 0 + 1,)

            def backend(mod: Any, selector: str = selector, options: Any = options) -> Any:
                return getattr(mod, selector)(**options)

            def grad(mod: Any, x: Any = x, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_gradient(sumsq, b, x)
                return lambda: mod.gradient(sumsq, b, x, prep=p)

            def unprepared(mod: Any, x: Any = x, backend: Any = backend) -> Any:
                b = backend(mod)
                return lambda: mod.gradient(sumsq, b, x)

            def value_grad(mod: Any, x: Any = x, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_gradient(sumsq, b, x)
                return lambda: mod.value_and_gradient(sumsq, b, x, prep=p)

            def pushforward(mod: Any, x: Any = x, tx: Any = tx, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_pushforward(diffusion, b, x, tx)
                return lambda: mod.pushforward(diffusion, b, x, tx, prep=p)

            def jacobian(mod: Any, x: Any = x, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_jacobian(diffusion, b, x)
                return lambda: mod.jacobian(diffusion, b, x, prep=p)

            def hvp(mod: Any, x: Any = x, tx: Any = tx, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_hvp(sumsq, b, x, tx)
                return lambda: mod.hvp(sumsq, b, x, tx, prep=p)

            def grad_out(mod: Any, x: Any = x, backend: Any = backend) -> Any:
                b = backend(mod)
                p = mod.prepare_gradient(sumsq, b, x)
                o = mod.gradient(sumsq, b, x)
                return lambda: mod.gradient(sumsq, b, x, prep=p, out=o)

            tag = f"{bname} {xname} n=10"
            out += [
                (f"gradient prepared {tag}", grad),
                (f"gradient unprepared {tag}", unprepared),
                (f"value_and_gradient prepared {tag}", value_grad),
                (f"pushforward prepared {tag}", pushforward),
                (f"jacobian prepared {tag}", jacobian),
                (f"hvp prepared {tag}", hvp),
            ]
            if xname != "jax":  # JAX arrays are immutable: no out=
                out.append((f"gradient out= prepared {tag}", grad_out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commit", action="append", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--output", default=str(HERE / "results" / "call_overhead.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        versions = {c: export(c, pathlib.Path(folder)) for c in args.commit}
        versions["working tree"] = current
        first = args.commit[0]
        rows = []
        for label, make in cases():
            if args.only not in label:
                continue
            group = Group(label, rounds=args.rounds)
            for name, module in versions.items():
                group.add(name, make(module))
            result = group.run()
            ratios = {name: result.ratio(name, first) for name in versions}
            rows.append({"row": label, "base_s": result.median(first), "ratio_to_first": ratios})
            shown = "  ".join(f"{n} {r:.3f}" for n, r in ratios.items() if n != first)
            print(f"{label:48s} {first} {result.median(first) * 1e6:8.2f} µs  {shown}", flush=True)
    write_json({"environment": environment(), "rows": rows}, args.output)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

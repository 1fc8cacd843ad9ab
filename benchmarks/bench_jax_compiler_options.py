"""The JAX engine's default CPU compiler options against XLA's own, program by program.

``AutoJAX()`` compiles CPU programs with ``backends.jax.trace.CPU_DEFAULTS`` (XLA's classic
loop emitters) unless a plan opts out. This benchmark is the evidence for that default, to re-run
when JAX or XLA changes: for each program (gradients, Jacobians, Hessians and Hessian-vector
products of a dozen functions, n = 10 to 1e5, float64) it compiles the same lowered module
twice, with XLA's defaults and with the engine's options, and reports

* the compile time of each (medians of ``--compiles`` compilations, interleaved);
* the run time of each executable (interleaved rounds of ``_harness``; the ratio is the
  median of per-round ratios), and whether both give the same numbers to the last bit.

Run: ``python benchmarks/bench_jax_compiler_options.py [--rounds 21] [--quick]``; prints a
Markdown table and writes ``benchmarks/results/jax_compiler_options.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _harness import Group, environment, write_json
from _problems import diffusion, logsumexp, rosenbrock, sumsq
from differentiation_interface.backends.jax.trace import CPU_DEFAULTS

jax.config.update("jax_cpu_enable_async_dispatch", False)  # the benchmark only

_RNG = np.random.default_rng(0)
_A100 = _RNG.standard_normal((100, 100)) / 10


def mlp(x: Any) -> Any:
    """Two tanh layers of a fixed 100 x 100 matrix."""
    a = jnp.asarray(_A100, dtype=x.dtype)
    return jnp.tanh(a @ jnp.tanh(a @ x))


def mlp_energy(x: Any) -> Any:
    return jnp.sum(mlp(x) ** 2)


def softplus_cos(x: Any) -> Any:
    return jnp.sum(jnp.logaddexp(0.0, x) * jnp.cos(x))


def scan_mix(x: Any) -> Any:
    return jnp.sum(jnp.cumsum(x) * jnp.sin(x[::-1]))


def hvp_of(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def hvp(x: Any) -> Any:
        return jax.jvp(jax.grad(f), (x,), (jnp.ones_like(x),))[1]

    return hvp


def programs(quick: bool) -> list[tuple[str, Callable[[Any], Any], int]]:
    """``(name, function to jit, n)`` for every program measured."""
    sizes = (10, 1000) if quick else (10, 1000, 100_000)
    out = [
        (f"grad {f.__name__}", jax.grad(f), n)
        for n in sizes
        for f in (rosenbrock, sumsq, logsumexp, softplus_cos, scan_mix)
    ]
    out += [
        ("grad mlp_energy", jax.grad(mlp_energy), 100),
        ("jacrev mlp", jax.jacrev(mlp), 100),
        ("jacfwd mlp", jax.jacfwd(mlp), 100),
        ("jacrev diffusion", jax.jacrev(diffusion), 100),
        ("jacfwd diffusion", jax.jacfwd(diffusion), 100),
        ("jacrev sin", jax.jacrev(jnp.sin), 300),
        ("jacfwd cumsum", jax.jacfwd(jnp.cumsum), 300),
        ("hessian rosenbrock", jax.hessian(rosenbrock), 100),
        ("hessian mlp_energy", jax.hessian(mlp_energy), 100),
        ("hessian logsumexp", jax.hessian(logsumexp), 300),
    ]
    if not quick:
        out += [
            ("jacrev diffusion", jax.jacrev(diffusion), 1000),
            ("jacfwd diffusion", jax.jacfwd(diffusion), 1000),
            ("hessian rosenbrock", jax.hessian(rosenbrock), 1000),
            ("hvp rosenbrock", hvp_of(rosenbrock), 100_000),
            ("hvp logsumexp", hvp_of(logsumexp), 100_000),
        ]
    return out


def measure(
    name: str, fun: Callable[[Any], Any], n: int, rounds: int, compiles: int
) -> dict[str, Any]:
    """Compile times, run times and agreement of one program under both option sets."""
    x = jnp.asarray(np.linspace(0.5, 1.5, n))

    def fresh_lowering() -> Any:
        def program(x: Any) -> Any:  # a new object: JAX caches executables per function
            return fun(x)

        return jax.jit(program).trace(x).lower()

    seconds: dict[str, list[float]] = {"xla": [], "engine": []}
    for _ in range(compiles):
        for key, options in (("xla", {}), ("engine", CPU_DEFAULTS)):
            lowering = fresh_lowering()
            start = time.perf_counter()
            lowering.compile(options)
            seconds[key].append(time.perf_counter() - start)
    lowered = fresh_lowering()
    xla, ours = lowered.compile(), lowered.compile(CPU_DEFAULTS)
    same = bool(np.array_equal(np.asarray(xla(x)), np.asarray(ours(x))))
    group = Group(f"{name}, n = {n}", rounds=rounds)
    group.add("xla", lambda: xla(x).block_until_ready())
    group.add("engine", lambda: ours(x).block_until_ready())
    result = group.run()
    return {
        "program": name,
        "n": n,
        "compile_s": {k: statistics.median(v) for k, v in seconds.items()},
        "run_s": {k: result.median(k) for k in ("xla", "engine")},
        "run_ratio": result.ratio("engine", "xla"),
        "bit_identical": same,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--compiles", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller programs")
    parser.add_argument(
        "--output", default=os.path.join("benchmarks", "results", "jax_compiler_options.json")
    )
    args = parser.parse_args()
    rows = []
    with jax.enable_x64(True):  # float64 programs; JAX's global flag stays off
        for name, fun, n in programs(args.quick):
            rows.append(measure(name, fun, n, args.rounds, args.compiles))
            print(f"measured {name}, n = {n}", file=sys.stderr)
    lines = [
        f"Engine options: `{CPU_DEFAULTS}`; ratios are engine / XLA's defaults.",
        "",
        "| program | n | compile, XLA defaults | compile, engine | ratio | run, XLA defaults "
        "| run, engine | ratio | same bits |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, t = r["compile_s"], r["run_s"]
        lines.append(
            f"| {r['program']} | {r['n']} | {_ms(c['xla'])} | {_ms(c['engine'])} | "
            f"{c['engine'] / c['xla']:.2f} | {_us(t['xla'])} | {_us(t['engine'])} | "
            f"{r['run_ratio']:.2f} | {'yes' if r['bit_identical'] else 'NO'} |"
        )
    compile_ratios = [r["compile_s"]["engine"] / r["compile_s"]["xla"] for r in rows]
    run_ratios = [r["run_ratio"] for r in rows]

    def geomean(values: list[float]) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in values))

    summary = (
        f"Geometric means over {len(rows)} programs: compile {geomean(compile_ratios):.2f}x "
        f"({min(compile_ratios):.2f}-{max(compile_ratios):.2f}), run "
        f"{geomean(run_ratios):.2f}x ({min(run_ratios):.2f}-{max(run_ratios):.2f})."
    )
    print("\n".join(lines))
    print()
    print(summary)
    payload = {
        "environment": environment(),
        "options": CPU_DEFAULTS,
        "rows": rows,
        "summary": summary,
    }
    write_json(payload, args.output)


if __name__ == "__main__":
    main()

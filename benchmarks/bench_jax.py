"""AutoJAX against native jitted JAX calls (issue 3, point 9), ratios within one run.

Goals (float64 inside ``jax.enable_x64(True)``, JAX's CPU async dispatch off):

* prepared ``gradient`` at n = 10: <= 1.10x and <= +1 us over ``np.asarray(jit(grad)(x))``
  with numpy in and out; <= 1.05x over ``jit(grad)(x)`` with JAX arrays in and out;
  <= 1.05x at n >= 1000 -- each reported twice: the engine's plan alone
  (``prep.plan.run``) and the public ``di.gradient(..., prep=prep)``;
* an unprepared call <= 1.15x the prepared one; preparation <= 50 ms;
* ``hessian`` <= 1.2x ``jax.jit(jax.hessian)`` at n = 100 and 1000;
* ``jacobian`` <= 1.1x native jitted ``jacrev`` (reverse) / ``jacfwd`` (forward);
* a prepared ``gradient`` called inside the caller's ``jax.jit`` (a gradient step
  ``x - 0.1 * grad(x)``) <= 1.02x ``jax.grad`` inside the same ``jit`` (issue 15): both
  compile to one program, so this measures that the library adds nothing to it.

Also measured: the Hessians and Jacobians of engines compiling with JAX's own XLA defaults
(``AutoJAX(compiler_options={})``) and their preparation, to show what the library's CPU
options change; and a float64 numpy gradient called from a thread *not* in 64-bit mode
(JAX's default), against the native call a user must write for float64 results there
(``with jax.enable_x64(True): np.array(jit(grad)(x))``).

Every group runs its candidates in interleaved rounds (``_harness``); times are medians of the
rounds and ratios are medians of the per-round ratios to the group's native baseline.

Run: ``python benchmarks/bench_jax.py [--rounds 41] [--quick]``; prints Markdown tables and
writes ``benchmarks/results/jax.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from array_api_compat import array_namespace

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di
from _harness import Group, GroupResult, environment, write_json
from _problems import diffusion, rosenbrock, sumsq
from differentiation_interface.backends import Fn

jax.config.update("jax_cpu_enable_async_dispatch", False)  # the benchmark only, never the library

REVERSE = di.AutoJAX()
FORWARD = di.AutoJAX(mode="forward")
#: The same engines compiling with JAX's own XLA defaults instead of the library's CPU ones.
JAX_DEFAULTS = {
    "reverse": di.AutoJAX(compiler_options={}),
    "forward": di.AutoJAX(mode="forward", compiler_options={}),
}


# --- functions (Array API: the same f on both sides; the others come from _problems) --------


def coupled(x: Any) -> Any:
    """``sum(tanh(x_i x_j))``: a dense Hessian through an outer product."""
    xp = array_namespace(x)
    return xp.sum(xp.tanh(x[:, None] * x[None, :]))


# --- groups -----------------------------------------------------------------------------------

Result = tuple[GroupResult, str]


def gradient_groups(rounds: int, sizes: tuple[int, ...]) -> list[Result]:
    """Prepared gradient against ``jit(grad)``: numpy in/out and JAX in/out."""
    out = []
    for n in sizes:
        for f in (sumsq, rosenbrock):
            x = np.linspace(0.5, 2.0, n)
            xj = jnp.asarray(x)
            native = jax.jit(jax.grad(f))
            prep, prep_j = di.prepare_gradient(f, REVERSE, x), di.prepare_gradient(f, REVERSE, xj)
            plan, plan_j, fn = prep.plan, prep_j.plan, Fn(f)
            g = Group(f"gradient, {f.__name__}, n = {n}", rounds=rounds)
            g.add("native np.asarray(jit(grad)(x_np))", lambda x=x, j=native: np.asarray(j(x)))
            g.add("native, writable: np.array(...)", lambda x=x, j=native: np.array(j(x)))
            g.add("plan.run, numpy", lambda x=x, p=plan, fn=fn: p.run(fn, x, value=False))
            g.add(
                "di.gradient, numpy, prepared",
                lambda x=x, f=f, p=prep: di.gradient(f, REVERSE, x, prep=p),
            )
            g.add("di.gradient, numpy, unprepared", lambda x=x, f=f: di.gradient(f, REVERSE, x))
            g.add("native jit(grad)(x_jax)", lambda x=xj, j=native: j(x))
            g.add("plan.run, jax", lambda x=xj, p=plan_j, fn=fn: p.run(fn, x, value=False))
            g.add(
                "di.gradient, jax, prepared",
                lambda x=xj, f=f, p=prep_j: di.gradient(f, REVERSE, x, prep=p),
            )
            out.append((g.run(), "native np.asarray(jit(grad)(x_np))"))
    return out


def hessian_groups(rounds: int, sizes: tuple[int, ...]) -> list[Result]:
    out = []
    cases = [(rosenbrock, n) for n in sizes] + [(coupled, min(sizes))]
    for f, n in cases:
        x = np.linspace(0.5, 1.5, n)
        xj = jnp.asarray(x)
        native = jax.jit(jax.hessian(f))
        fn = Fn(f)
        prep, prep_j = (di.prepare_hessian(f, REVERSE, a) for a in (x, xj))
        g = Group(f"hessian, {f.__name__}, n = {n}", rounds=rounds)
        g.add("native np.asarray(jit(hessian)(x_np))", lambda x=x, j=native: np.asarray(j(x)))
        g.add("native, writable: np.array(...)", lambda x=x, j=native: np.array(j(x)))
        g.add(
            "di.hessian, numpy, prepared",
            lambda x=x, p=prep, f=f: di.hessian(f, REVERSE, x, prep=p),
        )
        g.add("native jit(hessian)(x_jax)", lambda x=xj, j=native: j(x))
        g.add(
            "di.hessian, jax, prepared",
            lambda x=xj, p=prep_j, f=f: di.hessian(f, REVERSE, x, prep=p),
        )
        g.add(
            "plan.run, jax",
            lambda x=xj, p=prep_j.plan, fn=fn: p.run(fn, x, value=False),
        )
        jax_defaults = di.prepare_hessian(f, JAX_DEFAULTS["reverse"], xj)
        g.add(
            "di.hessian, jax, prepared, JAX's XLA defaults",
            lambda x=xj, p=jax_defaults, f=f: di.hessian(f, JAX_DEFAULTS["reverse"], x, prep=p),
        )
        out.append((g.run(), "native np.asarray(jit(hessian)(x_np))"))
    return out


def jacobian_groups(rounds: int, sizes: tuple[int, ...]) -> list[Result]:
    out = []
    for n in sizes:
        x = np.linspace(0.1, 0.9, n)
        xj = jnp.asarray(x)
        fn = Fn(diffusion)
        for backend, native_transform in ((REVERSE, jax.jacrev), (FORWARD, jax.jacfwd)):
            native = jax.jit(native_transform(diffusion))
            prep, prep_j = (di.prepare_jacobian(diffusion, backend, a) for a in (x, xj))
            name = native_transform.__name__
            g = Group(f"jacobian, diffusion, n = {n}, {backend!r} vs {name}", rounds=rounds)
            g.add(f"native np.asarray(jit({name})(x_np))", lambda x=x, j=native: np.asarray(j(x)))
            g.add("native, writable: np.array(...)", lambda x=x, j=native: np.array(j(x)))
            g.add(
                "di.jacobian, numpy, prepared",
                lambda x=x, p=prep, b=backend: di.jacobian(diffusion, b, x, prep=p),
            )
            g.add(f"native jit({name})(x_jax)", lambda x=xj, j=native: j(x))
            g.add(
                "di.jacobian, jax, prepared",
                lambda x=xj, p=prep_j, b=backend: di.jacobian(diffusion, b, x, prep=p),
            )
            g.add(
                "plan.run, jax",
                lambda x=xj, p=prep_j.plan, fn=fn: p.run(fn, x, value=False),
            )
            plain = JAX_DEFAULTS[backend.mode]
            jax_defaults = di.prepare_jacobian(diffusion, plain, xj)
            g.add(
                "di.jacobian, jax, prepared, JAX's XLA defaults",
                lambda x=xj, p=jax_defaults, b=plain: di.jacobian(diffusion, b, x, prep=p),
            )
            out.append((g.run(), f"native np.asarray(jit({name})(x_np))"))
    return out


def inside_jit_groups(rounds: int, sizes: tuple[int, ...]) -> list[Result]:
    """A gradient step compiled by the caller's ``jit``: ``jax.grad`` against a prepared
    (outside, on a concrete array) and an unprepared ``di.gradient`` in the same place."""
    out = []
    for n in sizes:
        xj = jnp.asarray(np.linspace(0.5, 2.0, n))
        prep = di.prepare_gradient(rosenbrock, REVERSE, xj)
        native = jax.jit(lambda x: x - 0.1 * jax.grad(rosenbrock)(x))
        prepared = jax.jit(lambda x, p=prep: x - 0.1 * di.gradient(rosenbrock, REVERSE, x, prep=p))
        unprepared = jax.jit(lambda x: x - 0.1 * di.gradient(rosenbrock, REVERSE, x))
        for program in (native, prepared, unprepared):  # compiled before timing
            np.testing.assert_allclose(program(xj), native(xj), rtol=1e-14)
        g = Group(f"gradient step inside the caller's jit, rosenbrock, n = {n}", rounds=rounds)
        g.add("native jit(x - 0.1 * grad(f)(x))", lambda x=xj, j=native: j(x))
        g.add("jit(x - 0.1 * di.gradient(..., prep=prep))", lambda x=xj, j=prepared: j(x))
        g.add("jit(x - 0.1 * di.gradient(...)), unprepared", lambda x=xj, j=unprepared: j(x))
        out.append((g.run(), "native jit(x - 0.1 * grad(f)(x))"))
    return out


def _interleaved_medians(
    makers: dict[str, Callable[[], Callable[[], Any]]], repeats: int
) -> dict[str, float]:
    """Median seconds of one first call per maker, the makers taking turns in each round
    (so that the machine's drift hits every candidate alike)."""
    times: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            call = make()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def preparation_times(repeats: int) -> dict[str, float]:
    """Median seconds to prepare (trace + compile) with a new function object every time,
    interleaved with the native first calls."""

    def fresh_f() -> Callable[[Any], Any]:
        def f(x: Any) -> Any:  # a new object: nothing cached by JAX or the library
            return rosenbrock(x)

        return f

    x = np.linspace(0.5, 1.5, 10)
    x100 = np.linspace(0.5, 1.5, 100)

    def prepare_gradient() -> Callable[[], Any]:
        f = fresh_f()
        return lambda: di.prepare_gradient(f, REVERSE, x)

    def prepare_gradient_jax_defaults() -> Callable[[], Any]:
        f = fresh_f()
        return lambda: di.prepare_gradient(f, JAX_DEFAULTS["reverse"], x)

    def native_gradient() -> Callable[[], Any]:
        j = jax.jit(jax.grad(fresh_f()))
        return lambda: j(x)

    def prepare_hessian() -> Callable[[], Any]:
        f = fresh_f()
        return lambda: di.prepare_hessian(f, REVERSE, x100)

    def native_hessian() -> Callable[[], Any]:
        j = jax.jit(jax.hessian(fresh_f()))
        return lambda: j(x100)

    return _interleaved_medians(
        {
            "prepare_gradient n=10": prepare_gradient,
            "native first jit(grad) call n=10": native_gradient,
            "prepare_gradient n=10, JAX's XLA defaults": prepare_gradient_jax_defaults,
            "prepare_hessian n=100": prepare_hessian,
            "native first jit(hessian) call n=100": native_hessian,
        },
        repeats,
    )


def outside_x64_mode(rounds: int) -> Result:
    """A float64 numpy gradient from a thread *not* in 64-bit mode (JAX's default), where a
    native caller must enter ``jax.enable_x64(True)`` to get float64 at all."""
    assert not jax.config.jax_enable_x64
    x = np.linspace(0.5, 2.0, 10)
    with jax.enable_x64(True):
        native = jax.jit(jax.grad(sumsq))
        native(x)
    prep = di.prepare_gradient(sumsq, REVERSE, x)
    plan, fn = prep.plan, Fn(sumsq)

    def native_call() -> Any:
        with jax.enable_x64(True):
            return np.array(native(x))

    g = Group("gradient, sumsq, n = 10, numpy float64, thread not in 64-bit mode", rounds=rounds)
    g.add("native: with enable_x64(True): np.array(jit(grad)(x))", native_call)
    g.add("di.gradient, numpy, prepared", lambda: di.gradient(sumsq, REVERSE, x, prep=prep))
    g.add("di.gradient, numpy, unprepared", lambda: di.gradient(sumsq, REVERSE, x))
    g.add("plan.run, numpy", lambda: plan.run(fn, x, value=False))
    return g.run(), "native: with enable_x64(True): np.array(jit(grad)(x))"


# --- main -------------------------------------------------------------------------------------


def _check_correct() -> None:
    """The candidates compute the same thing (a benchmark of wrong answers is worthless)."""
    x = np.linspace(0.5, 1.5, 50)
    np.testing.assert_allclose(
        di.gradient(rosenbrock, REVERSE, x), jax.grad(rosenbrock)(x), rtol=1e-14
    )
    for f in (rosenbrock, coupled):
        np.testing.assert_allclose(di.hessian(f, REVERSE, x), jax.hessian(f)(x), rtol=1e-13)
    for b in (REVERSE, FORWARD):
        np.testing.assert_allclose(di.jacobian(diffusion, b, x), jax.jacfwd(diffusion)(x))


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _cell(r: GroupResult, candidate: str, baseline: str) -> str:
    """Median time and paired ratio to ``baseline``."""
    return f"{_time(r.median(candidate))} ({r.ratio(candidate, baseline):.2f}x)"


def _delta(r: GroupResult, candidate: str, baseline: str) -> str:
    """Difference of medians, signed, in microseconds."""
    return f"{(r.median(candidate) - r.median(baseline)) * 1e6:+.1f} µs"


def _goals(results: list[Result], prep_times: dict[str, float]) -> list[str]:
    """The goals of issue 3, point 9: one row per case, native against engine and public call.

    Ratios are medians of per-round ratios to the row's native call: with numpy in and out
    the native result is ``np.asarray(...)`` (a read-only view; the library must return a
    writable array, so it copies), with JAX arrays it is the jitted call itself.
    """
    lines = [
        "| case | arrays | native | engine: `plan.run` | public: `di.*`, prepared | target |",
        "|---|---|---|---|---|---|",
    ]
    for r, baseline in results:
        name = r.name
        if "not in 64-bit mode" in name:
            ours = "di.gradient, numpy, prepared"
            lines.append(
                f"| {name} | numpy | {_time(r.median(baseline))} | "
                f"{_cell(r, 'plan.run, numpy', baseline)} | {_cell(r, ours, baseline)}, "
                f"{_delta(r, ours, baseline)} | <= 1.10x, +1 us |"
            )
        elif name.startswith("gradient step inside"):
            ours = "jit(x - 0.1 * di.gradient(..., prep=prep))"
            unprepared = "jit(x - 0.1 * di.gradient(...)), unprepared"
            lines.append(
                f"| {name} | jax | {_time(r.median(baseline))} | | "
                f"{_cell(r, ours, baseline)}; unprepared {_cell(r, unprepared, baseline)} "
                "| <= 1.02x |"
            )
        elif name.startswith("gradient"):
            n = int(name.rsplit("= ", 1)[1])
            target = "<= 1.10x, +1 us" if n <= 10 else "<= 1.05x"
            base, writable = "native np.asarray(jit(grad)(x_np))", "native, writable: np.array(...)"
            ours = "di.gradient, numpy, prepared"
            lines.append(
                f"| {name} | numpy | {_time(r.median(base))} "
                f"(writable copy: {_cell(r, writable, base)}) | "
                f"{_cell(r, 'plan.run, numpy', base)} | "
                f"{_cell(r, ours, base)}, {_delta(r, ours, base)}; "
                f"{r.ratio(ours, writable):.2f}x the writable native | {target} |"
            )
            base = "native jit(grad)(x_jax)"
            lines.append(
                f"| {name} | jax | {_time(r.median(base))} | {_cell(r, 'plan.run, jax', base)} | "
                f"{_cell(r, 'di.gradient, jax, prepared', base)} | <= 1.05x |"
            )
            unprepared = "di.gradient, numpy, unprepared"
            lines.append(
                f"| {name}, unprepared | numpy | | | "
                f"{_cell(r, unprepared, 'di.gradient, numpy, prepared')} vs prepared | <= 1.15x |"
            )
        elif name.startswith(("hessian", "jacobian")):
            op = name.split(",")[0]
            target = "<= 1.2x" if op == "hessian" else "<= 1.1x"
            native_np, writable, native_j = r.candidates[0], r.candidates[1], r.candidates[3]
            ours = f"di.{op}, numpy, prepared"
            lines.append(
                f"| {name} | numpy | {_time(r.median(native_np))} "
                f"(writable copy: {_cell(r, writable, native_np)}) | | "
                f"{_cell(r, ours, native_np)}; {r.ratio(ours, writable):.2f}x the writable "
                f"native | {target} |"
            )
            lines.append(
                f"| {name} | jax | {_time(r.median(native_j))} | "
                f"{_cell(r, 'plan.run, jax', native_j)} | "
                f"{_cell(r, f'di.{op}, jax, prepared', native_j)} | {target} |"
            )
    for key, seconds in prep_times.items():
        goal = {"prepare_gradient": "<= 50 ms", "prepare_hessian": "native's first call"}.get(
            key.split(" ")[0], "(native reference)"
        )
        if "JAX's XLA defaults" in key:
            goal = "(reference: without the library's XLA options)"
        lines.append(f"| {key} | numpy | | | {seconds * 1e3:.1f} ms | {goal} |")
    return lines


def _update_inside_jit(rounds: int, output: str) -> None:
    """Run :func:`inside_jit_groups` alone and replace their groups and goal rows in the
    results file (the other groups keep their numbers)."""
    import json

    with jax.enable_x64(True):
        results = inside_jit_groups(rounds, (10, 1000, 100_000))
    for result, baseline in results:
        print(result.table(baseline))
        print()
    goals = _goals(results, {})[2:]  # without the table's header
    print("\n".join(goals))
    with open(output) as fh:
        payload = json.load(fh)
    names = {r.name for r, _ in results}
    payload["groups"] = [g for g in payload["groups"] if g["name"] not in names] + [
        r.to_dict(baseline) | {"baseline": baseline} for r, baseline in results
    ]
    old = [row for row in payload["goals"] if "inside the caller's jit" not in row]
    cut = next((i for i, row in enumerate(old) if "not in 64-bit mode" in row), len(old))
    payload["goals"] = old[:cut] + goals + old[cut:]
    write_json(payload, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--output", default=os.path.join("benchmarks", "results", "jax.json"))
    parser.add_argument(
        "--only-inside-jit",
        action="store_true",
        help="run only the groups inside the caller's jit and update their entries in --output",
    )
    args = parser.parse_args()
    if args.only_inside_jit:
        _update_inside_jit(args.rounds, args.output)
        return
    with jax.enable_x64(True):  # float64 on both sides; JAX's global flag stays off
        _check_correct()
        results: list[Result] = []
        results += gradient_groups(args.rounds, (10,) if args.quick else (10, 1000, 100_000))
        results += hessian_groups(args.rounds, (100,) if args.quick else (100, 1000))
        results += jacobian_groups(args.rounds, (100,) if args.quick else (100, 1000))
        results += inside_jit_groups(args.rounds, (10,) if args.quick else (10, 1000, 100_000))
        prep_times = preparation_times(5 if args.quick else 21)
    assert not jax.config.jax_enable_x64
    results.append(outside_x64_mode(args.rounds))
    for result, baseline in results:
        print(result.table(baseline))
        print()
    goals = _goals(results, prep_times)
    print("### Goals (issue 3, point 9)\n")
    print("\n".join(goals))
    payload = {
        "environment": environment()
        | {"jax_cpu_enable_async_dispatch": jax.config.read("jax_cpu_enable_async_dispatch")},
        "rounds": args.rounds,
        "groups": [r.to_dict(baseline) | {"baseline": baseline} for r, baseline in results],
        "preparation_s": prep_times,
        "goals": goals,
    }
    write_json(payload, args.output)


if __name__ == "__main__":
    main()

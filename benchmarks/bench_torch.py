"""AutoTorch against native torch calls (issue 4, point 9), ratios within one run.

Goals, all with numpy in and numpy out on both sides, float64, one thread:

* prepared ``gradient`` at n = 10: <= 1.10x native ``torch.autograd.grad``
  (reported twice: the engine's plan alone, and the public ``di.gradient(..., prep=prep)``);
* ``gradient`` / f <= 6 at n = 1e5 (also with ``AutoTorch(compile=True)``);
* ``hvp`` <= 15x f;
* ``jacobian`` <= 1.1x native ``torch.func.jacrev`` (reverse) / ``torch.func.jacfwd`` (forward);
* torch graphs (issue 15): the detached prepared gradient of a torch tensor costs what it cost
  before attached results existed (``--only graphs --earlier-engine FOLDER`` times the plans
  of an earlier copy of ``backends/torch`` against this one's in the same rounds), and the
  attached one (``x.requires_grad``) is timed against ``torch.autograd.grad(create_graph=True)``.

On a machine shared with other work, fix glibc's allocator thresholds
(``MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296``): its dynamic mmap
threshold otherwise gave single candidates of a group persistent slowdowns of up to 1.5x.

Run: ``python benchmarks/bench_torch.py [--rounds 41] [--quick]``; prints Markdown tables and
writes ``benchmarks/results/torch.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di
from _harness import Group, GroupResult, environment
from _problems import diffusion, logsumexp, rosenbrock, sumsq
from differentiation_interface.backends import Fn

torch.set_num_threads(1)

REVERSE = di.AutoTorch()
FORWARD = di.AutoTorch(mode="forward")
COMPILED = di.AutoTorch(compile=True)


# --- functions (Array API: the same f on both sides) ------------------------------------------


# sumsq, rosenbrock, logsumexp and diffusion come from _problems (shared by every bench).


# --- native baselines (numpy in, numpy out) ---------------------------------------------------


def native_gradient(f: Any, x: np.ndarray, *, contiguous: bool = False) -> np.ndarray:
    xt = torch.from_numpy(x).requires_grad_(True)
    (g,) = torch.autograd.grad(f(xt), xt)
    # The gradient of a sum is a stride-0 expansion: its numpy view is not a usable array
    # (writing one entry writes them all). DI returns a contiguous copy in that case.
    return (g.contiguous() if contiguous else g).numpy()


def native_torch_gradient(f: Any, x: torch.Tensor) -> torch.Tensor:
    """Torch in, torch out: a fresh leaf (the caller's x is not touched), one backward."""
    xt = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(xt), xt)
    return g


def native_attached(f: Any, x: torch.Tensor) -> torch.Tensor:
    """The gradient on the caller's graph, as a gradient penalty needs it."""
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return g


def native_f(f: Any, x: np.ndarray) -> Any:
    return f(torch.from_numpy(x))


def _three_arrays(x: np.ndarray) -> np.ndarray:
    """``x * 1 + x * 1``: the backward pass of ``sum(x * x)`` without autograd (a floor)."""
    xt = torch.from_numpy(x)
    return (xt * 1.0 + xt * 1.0).numpy()


def native_hvp(f: Any, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    xt = torch.from_numpy(x).requires_grad_(True)
    (g,) = torch.autograd.grad(f(xt), xt, create_graph=True)
    (hv,) = torch.autograd.grad(g, xt, torch.from_numpy(t))
    return hv.numpy()


def func_hvp(f: Any, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    _, hv = torch.func.jvp(torch.func.grad(f), (torch.from_numpy(x),), (torch.from_numpy(t),))
    return hv.numpy()  # type: ignore[no-any-return]


# --- groups -----------------------------------------------------------------------------------


def overhead_groups(rounds: int) -> list[tuple[GroupResult, str]]:
    out = []
    for f in (sumsq, rosenbrock):
        x = np.linspace(0.5, 2.0, 10)
        prep = di.prepare_gradient(f, REVERSE, x)
        fn = Fn(f)
        g = Group(f"gradient overhead, {f.__name__}, n = 10", rounds=rounds)
        g.add("native torch.autograd.grad", lambda f=f, x=x: native_gradient(f, x))
        g.add("native, contiguous result", lambda f=f, x=x: native_gradient(f, x, contiguous=True))
        g.add("plan.run (engine only)", lambda p=prep, fn=fn, x=x: p.plan.run(fn, x, value=False))
        g.add("di.gradient, prepared", lambda f=f, x=x, p=prep: di.gradient(f, REVERSE, x, prep=p))
        g.add("di.gradient, unprepared", lambda f=f, x=x: di.gradient(f, REVERSE, x))
        g.add("torch.func.grad", lambda f=f, x=x: torch.func.grad(f)(torch.from_numpy(x)).numpy())
        out.append((g.run(), "native torch.autograd.grad"))
    return out


def cheap_gradient_groups(rounds: int, n: int) -> list[tuple[GroupResult, str]]:
    out = []
    rng = np.random.default_rng(0)
    for f in (sumsq, rosenbrock, logsumexp):
        x = rng.uniform(0.5, 1.5, n)
        prep = di.prepare_gradient(f, REVERSE, x)
        prep_c = di.prepare_gradient(f, COMPILED, x)
        g = Group(f"gradient / f, {f.__name__}, n = {n}", rounds=rounds)
        g.add("torch f", lambda f=f, x=x: native_f(f, x))
        g.add("native torch.autograd.grad", lambda f=f, x=x: native_gradient(f, x))
        g.add("di.gradient, prepared", lambda f=f, x=x, p=prep: di.gradient(f, REVERSE, x, prep=p))
        g.add(
            "di.gradient AutoTorch(compile=True), prepared",
            lambda f=f, x=x, p=prep_c: di.gradient(f, COMPILED, x, prep=p),
        )
        if f is sumsq:  # the backward of x * x is g * x twice and a sum: three live arrays
            g.add("its backward's arithmetic alone, no autograd", lambda x=x: _three_arrays(x))
        out.append((g.run(), "torch f"))
    return out


def hvp_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.5, 1.5, n)
        t = np.ones(n)
        preps = {b.mode: di.prepare_hvp(rosenbrock, b, x, (t,)) for b in (REVERSE, FORWARD)}
        g = Group(f"hvp / f, rosenbrock, n = {n}", rounds=rounds)
        g.add("torch f", lambda x=x: native_f(rosenbrock, x))
        g.add("native double backward", lambda x=x, t=t: native_hvp(rosenbrock, x, t))
        g.add("torch.func jvp(grad)", lambda x=x, t=t: func_hvp(rosenbrock, x, t))
        for b in (REVERSE, FORWARD):
            g.add(
                f"di.hvp {b!r}, prepared",
                lambda x=x, t=t, b=b, p=preps[b.mode]: di.hvp(rosenbrock, b, x, (t,), prep=p),
            )
        out.append((g.run(), "torch f"))
    return out


def jacobian_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.1, 0.9, n)
        rev = di.prepare_jacobian(diffusion, REVERSE, x)
        fwd = di.prepare_jacobian(diffusion, FORWARD, x)
        jacrev, jacfwd = torch.func.jacrev(diffusion), torch.func.jacfwd(diffusion)
        g = Group(f"jacobian, diffusion, n = {n}", rounds=rounds)
        g.add("native torch.func.jacrev", lambda x=x, j=jacrev: j(torch.from_numpy(x)).numpy())
        g.add("native torch.func.jacfwd", lambda x=x, j=jacfwd: j(torch.from_numpy(x)).numpy())
        g.add(
            "di.jacobian AutoTorch()", lambda x=x, p=rev: di.jacobian(diffusion, REVERSE, x, prep=p)
        )
        g.add(
            "di.jacobian AutoTorch(mode='forward')",
            lambda x=x, p=fwd: di.jacobian(diffusion, FORWARD, x, prep=p),
        )
        out.append((g.run(), "native torch.func.jacrev"))
    return out


def hessian_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.5, 1.5, n)
        rev = di.prepare_hessian(rosenbrock, REVERSE, x)
        fwd = di.prepare_hessian(rosenbrock, FORWARD, x)
        hessian = torch.func.hessian(rosenbrock)
        g = Group(f"hessian, rosenbrock, n = {n}", rounds=rounds)
        g.add("native torch.func.hessian", lambda x=x, h=hessian: h(torch.from_numpy(x)).numpy())
        g.add(
            "di.hessian AutoTorch()", lambda x=x, p=rev: di.hessian(rosenbrock, REVERSE, x, prep=p)
        )
        g.add(
            "di.hessian AutoTorch(mode='forward')",
            lambda x=x, p=fwd: di.hessian(rosenbrock, FORWARD, x, prep=p),
        )
        out.append((g.run(), "native torch.func.hessian"))
    return out


class CPUTimeGroup(Group):
    """A group timed in this thread's CPU time (``time.thread_time``), not wall time: on a
    machine shared with other work, time spent descheduled does not count. Batches are
    calibrated to at least 20 ms (thread_time has a coarser clock than perf_counter)."""

    def __init__(self, name: str, *, rounds: int) -> None:
        super().__init__(name, rounds=rounds, min_batch_s=20e-3)

    def _batch(self, call: Any, number: int) -> float:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.thread_time()
            for _ in range(number):
                call()
            return (time.thread_time() - start) / number
        finally:
            if gc_was_enabled:
                gc.enable()


def earlier_engine(folder: str) -> Any:
    """``TorchEngine`` of an earlier copy of ``backends/torch`` (a folder, e.g. from
    ``git archive <rev> src/differentiation_interface/backends/torch``), loaded beside this
    one as ``differentiation_interface.backends._torch_earlier``: its relative imports find
    this library's other modules, so the two engines differ only in their own code."""
    name = "differentiation_interface.backends._torch_earlier"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.TorchEngine


def graph_groups(
    rounds: int, sizes: tuple[int, ...], *, attached: bool, cpu_time: bool, earlier: str | None
) -> list[tuple[GroupResult, str]]:
    """Torch tensors in and out (issue 15): the detached prepared gradient, whose run checks
    whether the call must stay on the caller's graph, against native ``torch.autograd.grad``
    (and, with ``earlier``, the plans of an earlier engine against this one's, in the same
    rounds); the attached gradient (``x.requires_grad``) against native
    ``torch.autograd.grad(create_graph=True)``."""
    kind: Any = CPUTimeGroup if cpu_time else Group
    before = None if earlier is None else earlier_engine(earlier)(REVERSE)
    out = []
    for n in sizes:
        f = rosenbrock
        x = torch.linspace(0.5, 1.5, n, dtype=torch.float64)
        prep = di.prepare_gradient(f, REVERSE, x)
        g = kind(f"detached gradient, torch x, {f.__name__}, n = {n}", rounds=rounds)
        g.add("native torch.autograd.grad", lambda f=f, x=x: native_torch_gradient(f, x))
        g.add("di.gradient, prepared", lambda f=f, x=x, p=prep: di.gradient(f, REVERSE, x, prep=p))
        if before is not None:
            fn, y = Fn(f), f(x)
            old = before.prepare_gradient(fn, x, y=y)
            g.add("plan.run", lambda p=prep.plan, fn=fn, x=x: p.run(fn, x, value=False))
            g.add("plan.run, earlier engine", lambda p=old, fn=fn, x=x: p.run(fn, x, value=False))
        result = g.run()
        out.append((result, "native torch.autograd.grad"))
        if before is not None:
            ratio = result.ratio("plan.run", "plan.run, earlier engine")
            print(f"plan.run, this engine / earlier engine: {ratio:.3f}", flush=True)
        if not attached:
            continue
        xg = x.clone().requires_grad_(True)
        g = kind(f"attached gradient (x.requires_grad), {f.__name__}, n = {n}", rounds=rounds)
        g.add("native autograd.grad(create_graph=True)", lambda f=f, x=xg: native_attached(f, x))
        g.add("di.gradient, prepared", lambda f=f, x=xg, p=prep: di.gradient(f, REVERSE, x, prep=p))
        g.add("di.gradient, unprepared", lambda f=f, x=xg: di.gradient(f, REVERSE, x))
        out.append((g.run(), "native autograd.grad(create_graph=True)"))
    return out


# --- main -------------------------------------------------------------------------------------


def _check_correct() -> None:
    """The candidates compute the same thing (a benchmark of wrong answers is worthless)."""
    x = np.linspace(0.5, 1.5, 50)
    t = np.ones(50)
    np.testing.assert_allclose(di.gradient(rosenbrock, REVERSE, x), native_gradient(rosenbrock, x))
    for b in (REVERSE, FORWARD):
        np.testing.assert_allclose(di.hvp(rosenbrock, b, x, (t,))[0], native_hvp(rosenbrock, x, t))
        np.testing.assert_allclose(
            di.jacobian(diffusion, b, x), torch.func.jacrev(diffusion)(torch.from_numpy(x))
        )


def _versus_earlier(result: GroupResult) -> dict[str, float]:
    """The paired ratio of this engine's plans to an earlier engine's, where both ran."""
    if "plan.run, earlier engine" not in result.candidates:
        return {}
    return {"plan_run_this_over_earlier": result.ratio("plan.run", "plan.run, earlier engine")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument("--only", help="run only the groups of this name (e.g. graphs)")
    parser.add_argument(
        "--detached-only",
        action="store_true",
        help="graphs: detached rows only (to time a library without attached results)",
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="graphs: time in thread CPU time (for a machine shared with other work)",
    )
    parser.add_argument(
        "--earlier-engine",
        metavar="FOLDER",
        help="graphs: also time the plans of an earlier copy of backends/torch, in the same rounds",
    )
    args = parser.parse_args()
    _check_correct()
    big = 10_000 if args.quick else 100_000
    groups: list[tuple[GroupResult, str]] = []
    for name, make in (
        ("overhead", lambda: overhead_groups(args.rounds)),
        (
            "graphs",
            lambda: graph_groups(
                args.rounds,
                (10, big),
                attached=not args.detached_only,
                cpu_time=args.cpu_time,
                earlier=args.earlier_engine,
            ),
        ),
        ("cheap gradient", lambda: cheap_gradient_groups(args.rounds, big)),
        ("hvp", lambda: hvp_groups(args.rounds, (100, 1000))),
        (
            "jacobian",
            lambda: jacobian_groups(args.rounds, (10, 100) if args.quick else (10, 100, 1000)),
        ),
        ("hessian", lambda: hessian_groups(args.rounds, (10, 100))),
    ):
        if args.only is not None and name != args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for result, baseline in make():
            groups.append((result, baseline))
            print(result.table(baseline=baseline) + "\n", flush=True)
    os.makedirs(args.out, exist_ok=True)
    payload = {
        "environment": {**environment(), "torch_threads": torch.get_num_threads()},
        "groups": [{**r.to_dict(b), "baseline": b, **_versus_earlier(r)} for r, b in groups],
    }
    path = os.path.join(args.out, "torch.json")
    if args.only is not None and os.path.exists(path):  # replace only the groups re-run
        with open(path) as handle:
            kept = json.load(handle)
        fresh = {g["name"] for g in payload["groups"]}
        others = [g for g in kept.get("groups", []) if g["name"] not in fresh]
        payload["groups"] = others + payload["groups"]
        payload["environment"] = kept.get("environment", payload["environment"])
        payload["environment_" + args.only] = {**environment(), "torch_threads": 1}
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

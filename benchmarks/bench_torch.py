"""AutoTorch against native torch calls (issue 4, point 9), ratios within one run.

Goals, all with numpy in and numpy out on both sides, float64, one thread:

* prepared ``gradient`` at n = 10: <= 1.10x native ``torch.autograd.grad``
  (reported twice: the engine's plan alone, and the public ``di.gradient(..., prep=prep)``);
* ``gradient`` / f <= 6 at n = 1e5 (also with ``AutoTorch(compile=True)``);
* ``hvp`` <= 15x f;
* ``jacobian`` <= 1.1x native ``torch.func.jacrev`` (reverse) / ``torch.func.jacfwd`` (forward).

Run: ``python benchmarks/bench_torch.py [--rounds 41] [--quick]``; prints Markdown tables and
writes ``benchmarks/results/torch.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    _check_correct()
    big = 10_000 if args.quick else 100_000
    groups: list[tuple[GroupResult, str]] = []
    for name, make in (
        ("overhead", lambda: overhead_groups(args.rounds)),
        ("cheap gradient", lambda: cheap_gradient_groups(args.rounds, big)),
        ("hvp", lambda: hvp_groups(args.rounds, (100, 1000))),
        (
            "jacobian",
            lambda: jacobian_groups(args.rounds, (10, 100) if args.quick else (10, 100, 1000)),
        ),
        ("hessian", lambda: hessian_groups(args.rounds, (10, 100))),
    ):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for result, baseline in make():
            groups.append((result, baseline))
            print(result.table(baseline=baseline) + "\n", flush=True)
    os.makedirs(args.out, exist_ok=True)
    payload = {
        "environment": {**environment(), "torch_threads": torch.get_num_threads()},
        "groups": [{**r.to_dict(b), "baseline": b} for r, b in groups],
    }
    path = os.path.join(args.out, "torch.json")
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

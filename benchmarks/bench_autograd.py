"""AutoAutograd against native HIPS autograd calls (issue 5, point 5), ratios within one run.

Goal: prepared ``gradient`` at n = 10 <= 1.10x native ``autograd.grad`` (numpy in, numpy out,
float64), reported twice: the engine's plan alone (``prep.plan.run``) and the public
``di.gradient(..., prep=prep)``, whose generic call path (argument checks, prep check) is
shared by every engine. Also measured, for information: ``value_and_gradient``, ``pullback``,
``jacobian``, ``hvp`` and ``hessian`` against autograd's own functions.

Run: ``python benchmarks/bench_autograd.py [--rounds 41] [--quick]``; prints Markdown tables and
writes ``benchmarks/results/autograd.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.differential_operators import make_vjp

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di
from _harness import Group, GroupResult, environment
from _problems import diffusion, logsumexp, rosenbrock, sumsq
from differentiation_interface.backends import Fn

AG = di.AutoAutograd()


# --- functions (Array API: the same f on both sides) ------------------------------------------


# sumsq, rosenbrock, logsumexp and diffusion come from _problems (shared by every bench).


def diffusion_native(u: Any) -> Any:
    """:func:`diffusion` for native autograd: ``array_namespace`` of its boxes is
    ``autograd.numpy.numpy_wrapper``, whose ``concat`` is not differentiable (it builds
    object arrays), so the native baseline spells it with ``autograd.numpy.concatenate``."""
    zero = anp.zeros((1,), dtype=u.dtype)
    padded = anp.concatenate([zero, u, zero])
    return padded[:-2] - 2.0 * u + padded[2:] + u * (1.0 - u)


# --- groups -----------------------------------------------------------------------------------


def gradient_groups(rounds: int) -> list[tuple[GroupResult, str]]:
    """The goal: prepared gradient at n = 10 against ``autograd.grad``."""
    out = []
    for f in (sumsq, rosenbrock, logsumexp):
        x = np.linspace(0.5, 2.0, 10)
        prep = di.prepare_gradient(f, AG, x)
        native = autograd.grad(f)
        fn = Fn(f)
        g = Group(f"gradient, {f.__name__}, n = 10", rounds=rounds)
        g.add("native autograd.grad", lambda x=x, native=native: native(x))
        g.add("plan.run (engine only)", lambda p=prep, fn=fn, x=x: p.plan.run(fn, x, value=False))
        g.add("di.gradient, prepared", lambda f=f, x=x, p=prep: di.gradient(f, AG, x, prep=p))
        g.add("di.gradient, unprepared", lambda f=f, x=x: di.gradient(f, AG, x))
        out.append((g.run(), "native autograd.grad"))
    return out


def value_and_gradient_groups(rounds: int) -> list[tuple[GroupResult, str]]:
    x = np.linspace(0.5, 2.0, 10)
    prep = di.prepare_gradient(rosenbrock, AG, x)
    native = autograd.value_and_grad(rosenbrock)
    g = Group("value_and_gradient, rosenbrock, n = 10", rounds=rounds)
    g.add("native autograd.value_and_grad", lambda: native(x))
    g.add(
        "di.value_and_gradient, prepared",
        lambda: di.value_and_gradient(rosenbrock, AG, x, prep=prep),
    )
    return [(g.run(), "native autograd.value_and_grad")]


def pullback_groups(rounds: int) -> list[tuple[GroupResult, str]]:
    x = np.linspace(0.1, 0.9, 10)
    w = np.linspace(-1.0, 1.0, 10)
    prep = di.prepare_pullback(diffusion, AG, x, (w,))

    def native() -> Any:
        vjp, _ = make_vjp(diffusion_native)(x)
        return vjp(w)

    fn, ty = Fn(diffusion), w[None, :]
    g = Group("pullback, diffusion, n = 10", rounds=rounds)
    g.add("native make_vjp", native)
    g.add("plan.run (engine only)", lambda: prep.plan.run(fn, x, ty, value=False))
    g.add("di.pullback, prepared", lambda: di.pullback(diffusion, AG, x, (w,), prep=prep))
    return [(g.run(), "native make_vjp")]


def jacobian_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.1, 0.9, n)
        prep = di.prepare_jacobian(diffusion, AG, x)
        native = autograd.jacobian(diffusion_native)
        g = Group(f"jacobian, diffusion, n = {n}", rounds=rounds)
        g.add("native autograd.jacobian", lambda x=x, j=native: j(x))
        g.add("di.jacobian, prepared", lambda x=x, p=prep: di.jacobian(diffusion, AG, x, prep=p))
        out.append((g.run(), "native autograd.jacobian"))
    return out


def hvp_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.5, 1.5, n)
        t = np.ones(n)
        prep = di.prepare_hvp(rosenbrock, AG, x, (t,))
        native = autograd.hessian_vector_product(rosenbrock)
        g = Group(f"hvp, rosenbrock, n = {n}", rounds=rounds)
        g.add("native hessian_vector_product", lambda x=x, t=t, h=native: h(x, t))
        g.add("di.hvp, prepared", lambda x=x, t=t, p=prep: di.hvp(rosenbrock, AG, x, (t,), prep=p))
        out.append((g.run(), "native hessian_vector_product"))
    return out


def hessian_groups(rounds: int, sizes: tuple[int, ...]) -> list[tuple[GroupResult, str]]:
    out = []
    for n in sizes:
        x = np.linspace(0.5, 1.5, n)
        prep = di.prepare_hessian(rosenbrock, AG, x)
        native = autograd.hessian(rosenbrock)
        g = Group(f"hessian, rosenbrock, n = {n}", rounds=rounds)
        g.add("native autograd.hessian", lambda x=x, h=native: h(x))
        g.add("di.hessian, prepared", lambda x=x, p=prep: di.hessian(rosenbrock, AG, x, prep=p))
        out.append((g.run(), "native autograd.hessian"))
    return out


# --- main -------------------------------------------------------------------------------------


def _check_correct() -> None:
    """The candidates compute the same thing (a benchmark of wrong answers is worthless)."""
    x = np.linspace(0.5, 1.5, 12)
    t = np.ones(12)
    for f in (sumsq, rosenbrock, logsumexp):
        np.testing.assert_allclose(di.gradient(f, AG, x), autograd.grad(f)(x))
    np.testing.assert_allclose(
        di.hvp(rosenbrock, AG, x, (t,))[0], autograd.hessian_vector_product(rosenbrock)(x, t)
    )
    jac = autograd.jacobian(diffusion_native)(x)
    np.testing.assert_allclose(di.jacobian(diffusion, AG, x), jac)
    w = np.linspace(-1.0, 1.0, 12)
    np.testing.assert_allclose(di.pullback(diffusion, AG, x, (w,))[0], w @ jac)
    np.testing.assert_allclose(di.hessian(rosenbrock, AG, x), autograd.hessian(rosenbrock)(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="only the gradient goal")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    _check_correct()
    sections = [("gradient (goal)", lambda: gradient_groups(args.rounds))]
    if not args.quick:
        sections += [
            ("value_and_gradient", lambda: value_and_gradient_groups(args.rounds)),
            ("pullback", lambda: pullback_groups(args.rounds)),
            ("jacobian", lambda: jacobian_groups(args.rounds, (10, 100))),
            ("hvp", lambda: hvp_groups(args.rounds, (10, 1000))),
            ("hessian", lambda: hessian_groups(args.rounds, (10, 50))),
        ]
    groups: list[tuple[GroupResult, str]] = []
    for name, make in sections:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for result, baseline in make():
            groups.append((result, baseline))
            print(result.table(baseline=baseline) + "\n", flush=True)
    os.makedirs(args.out, exist_ok=True)
    payload = {
        "environment": environment(),
        "goal": "prepared gradient at n = 10 <= 1.10x native autograd.grad",
        "groups": [{**r.to_dict(b), "baseline": b} for r, b in groups],
    }
    path = os.path.join(args.out, "autograd.json")
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

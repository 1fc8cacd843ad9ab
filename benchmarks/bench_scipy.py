"""scipy solvers with differentiation_interface.scipy's adapters (issue 17).

Each candidate is one whole solver run, from the same start, timed in interleaved rounds
(medians; ratios are medians of per-round ratios). Per problem:

* ``scipy default``: the solver's own derivatives (2-point finite differences; for
  ``least_squares`` and ``solve_ivp`` with the hand-written sparsity pattern, scipy's best);
* ``hand-written``: a lambda around the same prepared call the adapter makes (the glue a
  user writes without the adapter: conversions, ``jac=True`` or a value cache);
* ``adapter``: ``Objective`` / ``Residual`` / ``ode_jacobian`` / ``hessian_operator``, built
  once (preparation excluded, as for the hand-written glue).

Goal: adapter / hand-written <= 1.05. Problems: ``scipy.optimize.rosen`` (n = 100; BFGS,
L-BFGS-B, Newton-CG with ``hessp``), Broyden tridiagonal ``least_squares`` (n = 1000, sparse),
the Brusselator with ``solve_ivp(method="BDF")`` (n = 1000, sparse), ``cg`` on the Rosenbrock
Hessian at its minimum (n = 1000) through a LinearOperator.

Run: ``python benchmarks/bench_scipy.py [--rounds 7]``; prints Markdown tables and writes
``benchmarks/results/scipy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import jax

jax.config.update("jax_cpu_enable_async_dispatch", False)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from array_api_compat import array_namespace  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.optimize import least_squares, minimize, rosen  # noqa: E402
from scipy.sparse.linalg import LinearOperator, cg  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di  # noqa: E402
from _harness import Group, environment, write_json  # noqa: E402
from differentiation_interface.scipy import (  # noqa: E402
    Objective,
    Residual,
    hessian_operator,
    ode_jacobian,
)


def rosenbrock(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def broyden(x: Any) -> Any:
    xp = array_namespace(x)
    zero = xp.zeros_like(x[:1])
    return (3.0 - x) * x + 1.0 - xp.concat([zero, x[:-1]]) - 2.0 * xp.concat([x[1:], zero])


def brusselator(t: Any, y: Any, alpha: float) -> Any:
    xp = array_namespace(y)
    m = y.shape[0] // 2
    u, v = y[:m], y[m:]
    c = alpha * (m + 1) ** 2
    one = xp.ones_like(y[:1])
    up, vp = xp.concat([one, u, one]), xp.concat([3.0 * one, v, 3.0 * one])
    du = 1.0 + u * u * v - 4.0 * u + c * (up[:-2] - 2.0 * u + up[2:])
    dv = 3.0 * u - u * u * v + c * (vp[:-2] - 2.0 * v + vp[2:])
    return xp.concat([du, dv])


def _converged(label: str, x: np.ndarray, expected: np.ndarray, atol: float) -> str:
    error = float(np.abs(x - expected).max())
    return f"{label}: max error {error:.1e} ({'ok' if error <= atol else 'NOT converged'})"


def _run(
    name: str, candidates: dict[str, Callable[[], Any]], rounds: int, notes: list[str]
) -> dict[str, Any]:
    group = Group(name, rounds=rounds)
    for label, call in candidates.items():
        group.add(label, call)
    result = group.run()
    print(result.table(baseline="hand-written") + "\n")
    for note in notes:
        print(f"- {note}")
    print()
    summary = result.to_dict(baseline="hand-written")
    summary["notes"] = notes
    return summary


def minimize_groups(rounds: int) -> list[dict[str, Any]]:
    n = 100
    x0 = np.zeros(n)
    ones = np.ones(n)
    out = []
    for engine, backend, start in (
        ("JAX", di.AutoJAX(), x0),
        ("torch", di.AutoTorch(), torch.zeros(n, dtype=torch.float64)),
    ):
        prep = di.prepare_gradient(rosenbrock, backend, start)
        to_input = (lambda x: x) if engine == "JAX" else torch.from_numpy

        def hand(x: np.ndarray, prep: Any = prep, backend: Any = backend, to_input: Any = to_input):
            value, grad = di.value_and_gradient(rosenbrock, backend, to_input(x), prep=prep)
            return float(value), np.asarray(grad, dtype=np.float64)

        obj = Objective(rosenbrock, backend, start)
        for method in ("BFGS", "L-BFGS-B"):
            kwargs = obj.minimize_kwargs(method)
            runs = {
                "scipy default": lambda method=method: minimize(rosen, x0, method=method),
                "hand-written": lambda method=method, hand=hand: minimize(
                    hand, x0, jac=True, method=method
                ),
                "adapter": lambda method=method, obj=obj, kwargs=kwargs: minimize(
                    obj.fun, obj.x0, method=method, **kwargs
                ),
                "adapter jac=True": lambda method=method, obj=obj: minimize(
                    obj.fun_and_jac, obj.x0, jac=True, method=method
                ),
            }
            notes = [
                _converged(label, run().x, ones, 1e-3)
                for label, run in runs.items()
                if label in ("scipy default", "adapter")
            ]
            out.append(_run(f"minimize {method}, rosen n={n}, {engine}", runs, rounds, notes))

    # Newton-CG with Hessian-vector products (JAX): scipy's default differentiates jac.
    backend = di.AutoJAX()
    hvp_prep = di.prepare_hvp(rosenbrock, backend, x0, (x0,))
    grad_prep = di.prepare_gradient(rosenbrock, backend, x0)

    def hand_fun_jac(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = di.value_and_gradient(rosenbrock, backend, x, prep=grad_prep)
        return float(value), np.asarray(grad)

    def hand_hessp(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.asarray(di.hvp(rosenbrock, backend, x, (p,), prep=hvp_prep)[0])

    obj = Objective(rosenbrock, backend, x0)
    runs = {
        "scipy default": lambda: minimize(
            obj.fun_and_jac, x0, jac=True, method="Newton-CG", tol=1e-8
        ),  # exact gradient, hessp by scipy's finite differences of it
        "hand-written": lambda: minimize(
            hand_fun_jac, x0, jac=True, hessp=hand_hessp, method="Newton-CG", tol=1e-8
        ),
        "adapter": lambda: minimize(
            obj.fun, obj.x0, method="Newton-CG", tol=1e-8, **obj.minimize_kwargs("Newton-CG")
        ),
    }
    notes = [_converged(k, r().x, ones, 1e-3) for k, r in runs.items()]
    out.append(_run(f"minimize Newton-CG (hessp), rosen n={n}, JAX", runs, rounds, notes))
    return out


def overhead_groups(rounds: int) -> list[dict[str, Any]]:
    """What the adapter adds to one evaluation: scipy's vector in, value and gradient out,
    against the hand-written lambda around the same prepared call (fresh points, so the
    value cache never hits; many short calls, so the ratio is stable on a loaded machine)."""
    out = []
    for n in (10, 1000):
        points = [np.random.default_rng(k).uniform(size=n) for k in range(64)]
        for engine, backend, start, to_input in (
            ("JAX", di.AutoJAX(), np.zeros(n), lambda x: x),
            ("torch", di.AutoTorch(), torch.zeros(n, dtype=torch.float64), torch.from_numpy),
        ):
            prep = di.prepare_gradient(rosenbrock, backend, start)
            obj = Objective(rosenbrock, backend, start)

            def hand(
                prep: Any = prep,
                backend: Any = backend,
                to_input: Any = to_input,
                points: Any = points,
            ) -> None:
                for x in points:
                    value, grad = di.value_and_gradient(rosenbrock, backend, to_input(x), prep=prep)
                    float(value), np.asarray(grad, dtype=np.float64)

            def fun_and_jac(obj: Any = obj, points: Any = points) -> None:
                for x in points:
                    obj.fun_and_jac(x)

            def fun_then_jac(obj: Any = obj, points: Any = points) -> None:
                for x in points:
                    obj.fun(x)
                    obj.jac(x)

            runs = {
                "hand-written": hand,
                "adapter fun_and_jac": fun_and_jac,
                "adapter fun, then jac": fun_then_jac,
            }
            name = f"overhead per evaluation (64 points), rosen n={n}, {engine}"
            out.append(_run(name, runs, 8 * rounds, []))
    return out


def least_squares_group(rounds: int) -> dict[str, Any]:
    n = 1000
    x0 = -np.ones(n)
    backend = di.AutoSparse(di.AutoJAX(mode="forward"))
    prep = di.prepare_jacobian(broyden, backend, x0)
    pattern = prep.sparsity
    residual = Residual(broyden, backend, x0)

    def hand_jac(x: np.ndarray) -> Any:
        return di.jacobian(broyden, backend, x, prep=prep)

    runs = {
        "scipy default": lambda: least_squares(broyden, x0, jac_sparsity=pattern),
        "hand-written": lambda: least_squares(broyden, x0, jac=hand_jac),
        "adapter": lambda: least_squares(residual.fun, residual.x0, jac=residual.jac),
    }
    notes = [f"{k}: cost {r().cost:.1e}" for k, r in runs.items()]
    return _run(f"least_squares, Broyden tridiagonal n={n}, sparse JAX", runs, rounds, notes)


def ode_group(rounds: int) -> dict[str, Any]:
    m = 500
    grid = np.arange(1, m + 1) / (m + 1)
    y0 = np.concatenate([1.0 + np.sin(2 * np.pi * grid), np.full(m, 3.0)])
    alpha = 1.0 / 50.0
    backend = di.AutoSparse(di.AutoJAX(mode="forward"))
    jac, pattern = ode_jacobian(brusselator, backend, y0, di.Constant(alpha))
    shifted = _StateFirst()

    def hand_jac(t: float, y: np.ndarray, *args: Any) -> Any:
        # scipy passes t as a float or a numpy scalar: one kind of context for the prep
        time = di.Constant(np.asarray(t, dtype=np.float64))
        return di.jacobian(shifted, backend, y, time, di.Constant(alpha), prep=hand)

    start = di.Constant(np.asarray(0.0))
    hand = di.prepare_jacobian(shifted, backend, y0, start, di.Constant(alpha))
    kwargs = {"method": "BDF", "rtol": 1e-6, "atol": 1e-8, "args": (alpha,)}
    span = (0.0, 10.0)
    runs = {
        "scipy default": lambda: solve_ivp(brusselator, span, y0, jac_sparsity=pattern, **kwargs),
        "hand-written": lambda: solve_ivp(brusselator, span, y0, jac=hand_jac, **kwargs),
        "adapter": lambda: solve_ivp(brusselator, span, y0, jac=jac, **kwargs),
    }
    reference = runs["scipy default"]().y[:, -1]
    notes = [_converged(k, r().y[:, -1], reference, 1e-4) for k, r in runs.items()]
    return _run(f"solve_ivp BDF, Brusselator n={2 * m}, sparse JAX", runs, rounds, notes)


class _StateFirst:
    """``rhs(t, y, a)`` as ``g(y, t, a)`` (what the hand-written glue has to write)."""

    def __call__(self, y: Any, t: Any, a: Any) -> Any:
        return brusselator(t, y, a)


def cg_group(rounds: int) -> dict[str, Any]:
    n = 1000
    x = np.ones(n)
    b = np.random.default_rng(0).normal(size=n)
    backend = di.AutoJAX()
    zero = np.zeros(n)
    prep = di.prepare_hvp_same_point(rosenbrock, backend, x, (zero,))

    def hand_matvec(v: np.ndarray) -> np.ndarray:
        tangent = np.asarray(v, dtype=np.float64).reshape(-1)
        return np.asarray(di.hvp(rosenbrock, backend, x, (tangent,), prep=prep)[0])

    hand = LinearOperator((n, n), matvec=hand_matvec, dtype=np.float64)
    adapter = hessian_operator(rosenbrock, backend, x)
    dense = di.hessian(rosenbrock, backend, x)
    runs = {
        "dense Hessian": lambda: cg(dense, b, rtol=1e-10, maxiter=5000),
        "hand-written": lambda: cg(hand, b, rtol=1e-10, maxiter=5000),
        "adapter": lambda: cg(adapter, b, rtol=1e-10, maxiter=5000),
    }
    expected = np.linalg.solve(dense, b)
    notes = [_converged(k, r()[0], expected, 1e-5) for k, r in runs.items()]
    return _run(f"cg with the Hessian at the Rosenbrock minimum, n={n}, JAX", runs, rounds, notes)


GROUPS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "overhead": overhead_groups,
    "minimize": minimize_groups,
    "least_squares": lambda rounds: [least_squares_group(rounds)],
    "ode": lambda rounds: [ode_group(rounds)],
    "cg": lambda rounds: [cg_group(rounds)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--only", nargs="+", choices=sorted(GROUPS), help="run these groups, keep the others"
    )
    args = parser.parse_args()
    path = os.path.join(os.path.dirname(__file__), "results", "scipy.json")
    kept: list[dict[str, Any]] = []
    if args.only and os.path.exists(path):
        with open(path) as handle:
            kept = json.load(handle)["groups"]
    fresh = [g for name in args.only or GROUPS for g in GROUPS[name](args.rounds)]
    names = {g["name"] for g in fresh}
    groups = [g for g in kept if g["name"] not in names] + fresh
    write_json({"environment": environment(), "groups": groups}, path)


if __name__ == "__main__":
    main()

"""Finite-difference engine: cost of a gradient as a multiple of its evaluations of f.

Goals (issue 2): a prepared central-difference gradient costs at most 1.15 x (2n x time(f))
when f cannot be batched, and an unprepared call at most 1.15 x a prepared one at n = 10.
Also reported: the same gradient for a batchable f (one stacked evaluation), and a
hand-written numpy loop of central differences as the native reference.

Run: python benchmarks/bench_finite_diff.py [--rounds 41] [--json benchmarks/results/fd.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import differentiation_interface as di
from _harness import Group, environment
from differentiation_interface.operators import clear_cache


def f_total(x):  # type: ignore[no-untyped-def]
    """Sums over every axis: cannot be evaluated on stacked points (loop mode)."""
    return np.sum(np.sin(x) ** 2)


def f_rows(x):  # type: ignore[no-untyped-def]
    """Sums over the last axis only: batchable (one stacked evaluation)."""
    return np.sum(np.sin(x) ** 2, axis=-1)


def native_loop(f, x, c):  # type: ignore[no-untyped-def]
    """The reference: central differences written by hand in numpy."""
    h = c * np.maximum(np.abs(x), 1.0)
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        g[i] = (f(x + e) - f(x - e)) / (2 * h[i])
    return g


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--json", default="benchmarks/results/finite_diff.json")
    args = parser.parse_args()
    backend = di.AutoFiniteDiff()
    c = np.finfo(np.float64).eps ** (1 / 3)
    summary = []
    for n in (10, 100, 1000):
        x = np.linspace(0.0, 1.0, n)
        prep_total = di.prepare_gradient(f_total, backend, x)
        prep_rows = di.prepare_gradient(f_rows, backend, x)
        group = Group(f"gradient, n = {n}", rounds=args.rounds)
        group.add("f (one evaluation)", lambda x=x: f_total(x))
        group.add("native numpy loop", lambda x=x: native_loop(f_total, x, c))
        group.add(
            "di.gradient prepared",
            lambda x=x, p=prep_total: di.gradient(f_total, backend, x, prep=p),
        )
        group.add("di.gradient unprepared", lambda x=x: di.gradient(f_total, backend, x))
        group.add(
            "di.gradient prepared, batchable f",
            lambda x=x, p=prep_rows: di.gradient(f_rows, backend, x, prep=p),
        )
        clear_cache()
        result = group.run()
        evals = 2 * n
        per_eval = result.ratio("di.gradient prepared", "f (one evaluation)") / evals
        native_per_eval = result.ratio("native numpy loop", "f (one evaluation)") / evals
        unprepared = result.ratio("di.gradient unprepared", "di.gradient prepared")
        batched = result.ratio("di.gradient prepared, batchable f", "di.gradient prepared")
        print(result.table(baseline="f (one evaluation)"))
        print(
            f"\ngradient / (2n x f): {per_eval:.3f} (native loop {native_per_eval:.3f}); "
            f"unprepared / prepared: {unprepared:.3f}; batchable / loop mode: {batched:.3f}\n"
        )
        summary.append(
            {
                "n": n,
                "gradient_over_evals": per_eval,
                "native_loop_over_evals": native_per_eval,
                "unprepared_over_prepared": unprepared,
                "batchable_over_loop": batched,
                "median_s": result.to_dict()["median_s"],
            }
        )
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"environment": environment(), "results": summary}, handle, indent=2)


if __name__ == "__main__":
    main()

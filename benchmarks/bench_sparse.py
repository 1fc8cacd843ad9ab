"""Sparse Jacobians and Hessians (issue 7, goals of point 5).

Problems (float64, one thread): ``diffusion`` (1-D reaction-diffusion, tridiagonal),
``bruss1d`` (1-D Brusselator, periodic) and ``stencil2d`` (2-D 5-point Laplacian plus
``u**3`` on a k x k grid) at n = 10^2, 10^3, 10^4; the chain Rosenbrock Hessian at n = 10^3.

Groups and goals:

* **JAX, sparse vs dense** — prepared ``jacobian`` with ``AutoSparse(AutoJAX(mode="forward"))``
  against the best dense ``jacobian`` of ``AutoJAX`` (forward or reverse): goal >= 10x at
  10^3 and >= 1000x at 10^4. Against asdex (jitted, BCOO output): goal <= 1.25x per
  evaluation with the same colors (largest-first, as asdex); the default coloring is shown too.
* **Preparation** — tracing detection plus coloring: goal <= 20 ms at 10^3, <= 0.5 s at 10^4,
  <= 100 ms at 10^5 on the three problems and <= 1.5 s at 10^6 (stencil2d), with no more
  colors than before (3, 4, 5); colors per vertex order; at 10^5 the coloring with numba's
  compiled loops disabled (the Python loops) for comparison.
* **Finite differences** — ``AutoSparse(AutoFiniteDiff(method="forward"))`` against scipy's
  ``approx_derivative(f, x, "2-point", sparsity=(S, groups))`` with precomputed groups: goal
  >= 5x faster at n = 10^2 - 10^3.
* **Hessian** — chain Rosenbrock n = 10^3, sparse against dense ``hessian`` of ``AutoJAX``:
  goal >= 10x.
* **Finite-difference Hessian preparation on JAX arrays** — ``prepare_hessian`` with
  ``AutoSparse(AutoFiniteDiff())`` of a function evaluated one point at a time
  (``sum(sin(x)**2) + sum(x[1:] * x[:-1])``), JAX arrays against numpy at n = 10, 50, 200:
  goal, a ratio that does not grow with n (it once grew from 8 s to 240 s between n = 10 and
  50, one traced copy of f per evaluation point in the fused program).

Run: python benchmarks/bench_sparse.py [--rounds 41] [--sizes 100,1000,10000]
         [--fd-hessian-sizes 10,50,200] [--json benchmarks/results/sparse.json]
         [--preparation-only]   (only the preparation rows, rewritten in the JSON)
         [--mixed-only]         (only the MixedMode rows, likewise)

* **Bidirectional coloring** — ``AutoSparse(MixedMode(AutoJAX(mode="forward"), AutoJAX()))``
  on an arrowhead (dense first row and column plus the diagonal) at n = 10^3, 10^4: goal
  <= 5 colors (one-sided: n); per-call time against the one-sided sparse and the dense
  Jacobian where those fit (n = 10^3).
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
from _harness import Group, environment
from differentiation_interface.sparse import _coloring
from differentiation_interface.sparse._coloring import ORDERS, kernels
from differentiation_interface.testing.sparse_scenarios import (
    brusselator,
    rosenbrock,
    stencil2d,
    tridiagonal,
)

TRACER = di.TracerSparsityDetector()


def problem(name: str, n: int) -> tuple[Callable[[Any], Any], np.ndarray]:
    """The function (Array API, batchable) and a point of size about ``n``."""
    rng = np.random.default_rng(1)
    if name == "stencil2d":
        k = round(math.sqrt(n))
        return stencil2d, rng.uniform(0.5, 1.5, (k, k))
    f = {"diffusion": tridiagonal, "bruss1d": brusselator}[name]
    return f, rng.uniform(0.5, 1.5, n)


def once(call: Callable[[], Any], repeat: int = 3) -> float:
    """Median wall time of a few calls (for one-off costs such as preparation)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def jax_jacobians(name: str, n: int, rounds: int) -> dict[str, Any]:
    """Sparse vs dense vs asdex, JAX arrays in and out."""
    import asdex

    f, x_np = problem(name, n)
    x = jnp.asarray(x_np)
    forward = di.AutoJAX(mode="forward")
    sparse = di.AutoSparse(forward)
    same = di.AutoSparse(forward, coloring_algorithm=di.GreedyColoringAlgorithm("largest_first"))
    prep = di.prepare_jacobian(f, sparse, x)
    prep_same = di.prepare_jacobian(f, same, x)
    dense = {mode: di.AutoJAX(mode=mode) for mode in ("forward", "reverse")}
    dense_preps = {mode: di.prepare_jacobian(f, b, x) for mode, b in dense.items()}
    coloring = asdex.jacobian_coloring(f, x)
    asd = jax.jit(asdex.jacobian_from_coloring(f, coloring))
    jf = jax.jit(f)
    reference = np.asarray(di.jacobian(f, dense["forward"], x, prep=dense_preps["forward"]))
    error = float(
        np.abs(np.asarray(di.jacobian(f, sparse, x, prep=prep).todense()) - reference).max()
    )
    group = Group(
        f"JAX Jacobian, {name}, n = {x.size}", rounds=rounds if n < 10_000 else min(rounds, 7)
    )
    group.add("jax.jit(f)", lambda: jf(x).block_until_ready())
    for mode, b in dense.items():
        group.add(
            f"dense AutoJAX({mode})",
            lambda b=b, p=dense_preps[mode]: di.jacobian(f, b, x, prep=p).block_until_ready(),
        )
    group.add(
        "sparse (default coloring)",
        lambda: jax.block_until_ready(di.jacobian(f, sparse, x, prep=prep)),
    )
    group.add(
        "sparse (largest first)",
        lambda: jax.block_until_ready(di.jacobian(f, same, x, prep=prep_same)),
    )
    group.add("asdex (largest first)", lambda: jax.block_until_ready(asd(x)))
    # The sparse plan alone, without the operator's call pipeline (argument checks, JAX's
    # 64-bit scope): what AutoSparse itself costs, against asdex.
    plan, fn = prep_same.plan, prep_same.fn
    group.add(
        "sparse plan only (largest first)",
        lambda: jax.block_until_ready(plan.run(fn, x, value=False)),
    )
    result = group.run()
    print(result.table(baseline="jax.jit(f)"))
    best_dense = min(
        result.median("dense AutoJAX(forward)"), result.median("dense AutoJAX(reverse)")
    )
    row = {
        "problem": name,
        "n": int(x.size),
        "colors": prep.ncolors,
        "colors_largest_first": prep_same.ncolors,
        "colors_asdex": int(coloring.num_colors) if hasattr(coloring, "num_colors") else None,
        "sparse_s": result.median("sparse (default coloring)"),
        "sparse_lf_s": result.median("sparse (largest first)"),
        "asdex_s": result.median("asdex (largest first)"),
        "best_dense_s": best_dense,
        "f_s": result.median("jax.jit(f)"),
        "speedup_vs_dense": best_dense / result.median("sparse (default coloring)"),
        "ratio_vs_asdex_same_colors": result.ratio(
            "sparse (largest first)", "asdex (largest first)"
        ),
        "plan_ratio_vs_asdex_same_colors": result.ratio(
            "sparse plan only (largest first)", "asdex (largest first)"
        ),
        "max_abs_error": error,
        "group": result.to_dict("jax.jit(f)"),
    }
    print(
        f"\ncolors {row['colors']} (largest first {row['colors_largest_first']}, asdex "
        f"{row['colors_asdex']}); sparse vs best dense: {row['speedup_vs_dense']:.1f}x; "
        f"di / asdex with the same colors: {row['ratio_vs_asdex_same_colors']:.2f}\n"
    )
    return row


def preparation(name: str, n: int) -> dict[str, Any]:
    """Detection and coloring times, colors per order, and the full sparse preparation."""
    f, x = problem(name, n)
    detect = once(lambda: di.jacobian_sparsity(f, x, TRACER))
    pattern = di.jacobian_sparsity(f, x, TRACER)
    default = di.GreedyColoringAlgorithm()

    def color(orders: tuple[str, ...]) -> Any:
        return _coloring.best_coloring("column", _coloring.column_graph(pattern), orders, seed=0)

    color(default.orders)  # numba's compiled loops loaded once per process, as a user pays
    coloring = once(lambda: color(default.orders))
    largest_first = once(lambda: color(("largest_first",)))
    python_loops = None
    if 90_000 <= x.size < 1_000_000:  # the same work without numba
        threshold = kernels.COMPILED_ABOVE
        kernels.COMPILED_ABOVE = 2**62
        try:
            python_loops = once(lambda: color(default.orders), repeat=1)
        finally:
            kernels.COMPILED_ABOVE = threshold
    graph = _coloring.column_graph(pattern)
    per_order = _coloring.best_coloring("column", graph, ORDERS, seed=0)[2] if x.size < 1e6 else {}
    used = color(default.orders)[2]
    prepare = once(lambda: di.prepare_jacobian(f, di.AutoSparse(di.AutoFiniteDiff()), x), repeat=1)
    return {
        "problem": name,
        "n": int(x.size),
        "nnz": int(pattern.nnz),
        "compiled_loops": kernels.compiled(len(graph[1])) is not None,
        "detection_s": detect,
        "coloring_s": coloring,
        "coloring_largest_first_s": largest_first,
        "coloring_python_loops_s": python_loops,
        "detection+coloring_s": detect + coloring,
        "prepare_jacobian_fd_s": prepare,
        "colors_default": used,
        "colors_per_order": per_order,
    }


def finite_differences(name: str, n: int, rounds: int) -> dict[str, Any]:
    """Sparse forward differences against scipy's grouped approx_derivative."""
    from scipy.optimize._numdiff import approx_derivative, group_columns

    f, x2 = problem(name, n)
    shape = x2.shape

    def flat(v: np.ndarray) -> np.ndarray:
        """``f`` on vectors, as scipy wants; stacked vectors stay stacked (batchable)."""
        return np.reshape(f(np.reshape(v, (*v.shape[:-1], *shape))), (*v.shape[:-1], -1))

    x = x2.reshape(-1)
    backend = di.AutoSparse(di.AutoFiniteDiff(method="forward"))
    prep = di.prepare_jacobian(flat, backend, x)
    pattern = prep.sparsity.astype(np.int8).tocsc()
    groups = group_columns(pattern)
    sparsity = (pattern, groups)
    reference = approx_derivative(flat, x, method="2-point", sparsity=sparsity)
    error = float(
        np.abs(di.jacobian(flat, backend, x, prep=prep).toarray() - reference.toarray()).max()
    )
    group = Group(f"finite differences, {name}, n = {x.size}", rounds=rounds)
    group.add("f", lambda: flat(x))
    group.add(
        "di AutoSparse(AutoFiniteDiff(forward))", lambda: di.jacobian(flat, backend, x, prep=prep)
    )
    group.add(
        "scipy approx_derivative(sparsity=)",
        lambda: approx_derivative(flat, x, method="2-point", sparsity=sparsity),
    )
    result = group.run()
    print(result.table(baseline="f"))
    speedup = 1.0 / result.ratio(
        "di AutoSparse(AutoFiniteDiff(forward))", "scipy approx_derivative(sparsity=)"
    )
    scipy_groups = int(groups.max()) + 1
    print(f"\ncolors {prep.ncolors} (scipy groups {scipy_groups}); di is {speedup:.1f}x faster\n")
    return {
        "problem": name,
        "n": int(x.size),
        "colors": prep.ncolors,
        "scipy_groups": int(groups.max()) + 1,
        "di_s": result.median("di AutoSparse(AutoFiniteDiff(forward))"),
        "scipy_s": result.median("scipy approx_derivative(sparsity=)"),
        "f_s": result.median("f"),
        "speedup_vs_scipy": speedup,
        "max_abs_difference": error,
        "group": result.to_dict("f"),
    }


def hessians(n: int, rounds: int) -> dict[str, Any]:
    """Chain Rosenbrock: sparse Hessian against the dense one, same engine (JAX)."""
    import asdex

    x = jnp.asarray(np.random.default_rng(2).uniform(-1.0, 1.5, n))
    dense = di.AutoJAX()
    sparse = di.AutoSparse(dense)
    prep_dense = di.prepare_hessian(rosenbrock, dense, x)
    prep = di.prepare_hessian(rosenbrock, sparse, x)
    coloring = asdex.hessian_coloring(rosenbrock, x)
    asd = jax.jit(asdex.hessian_from_coloring(rosenbrock, coloring))
    error = float(
        np.abs(
            np.asarray(di.hessian(rosenbrock, sparse, x, prep=prep).todense())
            - np.asarray(di.hessian(rosenbrock, dense, x, prep=prep_dense))
        ).max()
    )
    jf = jax.jit(rosenbrock)
    group = Group(f"JAX Hessian, chain Rosenbrock, n = {n}", rounds=rounds)
    group.add("jax.jit(f)", lambda: jf(x).block_until_ready())
    group.add(
        "dense AutoJAX()",
        lambda: di.hessian(rosenbrock, dense, x, prep=prep_dense).block_until_ready(),
    )
    group.add(
        "sparse AutoSparse(AutoJAX())",
        lambda: jax.block_until_ready(di.hessian(rosenbrock, sparse, x, prep=prep)),
    )
    group.add("asdex", lambda: jax.block_until_ready(asd(x)))
    result = group.run()
    print(result.table(baseline="jax.jit(f)"))
    speedup = 1.0 / result.ratio("sparse AutoSparse(AutoJAX())", "dense AutoJAX()")
    print(f"\ncolors {prep.ncolors}; sparse Hessian {speedup:.1f}x faster than dense\n")
    return {
        "n": n,
        "colors": prep.ncolors,
        "sparse_s": result.median("sparse AutoSparse(AutoJAX())"),
        "dense_s": result.median("dense AutoJAX()"),
        "asdex_s": result.median("asdex"),
        "speedup_vs_dense": speedup,
        "ratio_vs_asdex": result.ratio("sparse AutoSparse(AutoJAX())", "asdex"),
        "max_abs_error": error,
        "group": result.to_dict("jax.jit(f)"),
    }


def one_point_chain(x: Any) -> Any:
    """``sum(sin(x)**2) + sum(x[1:] * x[:-1])``: tridiagonal Hessian; stacked points would be
    summed together, so finite differences cannot evaluate them at once."""
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2) + xp.sum(x[1:] * x[:-1])


def fd_hessian_preparation(n: int) -> dict[str, Any]:
    """First preparation of a sparse finite-difference Hessian, JAX arrays against numpy.

    Each preparation gets a new function object, so nothing of the previous one is reused
    (JAX's own caches of eager operations per shape are, as for any caller).
    """
    backend = di.AutoSparse(di.AutoFiniteDiff())
    x_np = np.linspace(0.1, 2.0, n)
    x_jax = jnp.asarray(x_np)

    def prepare(x: Any) -> float:
        def f(v: Any) -> Any:
            return one_point_chain(v)

        start = time.perf_counter()
        di.prepare_hessian(f, backend, x)
        return time.perf_counter() - start

    numpy_s = float(np.median([prepare(x_np) for _ in range(3)]))
    jax_s = prepare(x_jax)
    print(
        f"sparse FD Hessian preparation, n = {n}: numpy {fmt(numpy_s)}, JAX {fmt(jax_s)} "
        f"({jax_s / numpy_s:.0f}x)"
    )
    return {"n": n, "numpy_s": numpy_s, "jax_s": jax_s, "ratio_jax_numpy": jax_s / numpy_s}


def summary(
    jac: list[dict[str, Any]],
    prep: list[dict[str, Any]],
    fd: list[dict[str, Any]],
    hess: dict[str, Any],
    fd_hess: list[dict[str, Any]],
) -> str:
    lines = [
        "| problem | n | colors (LF) | sparse | best dense | speedup | asdex (LF) "
        "| di / asdex, same colors (plan only) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in jac:
        lines.append(
            f"| {r['problem']} | {r['n']} | {r['colors']} ({r['colors_largest_first']}) "
            f"| {fmt(r['sparse_s'])} | {fmt(r['best_dense_s'])} | {r['speedup_vs_dense']:.0f}x "
            f"| {fmt(r['asdex_s'])} | {r['ratio_vs_asdex_same_colors']:.2f} "
            f"({r['plan_ratio_vs_asdex_same_colors']:.2f}) |"
        )
    lines += ["", preparation_table(prep)]
    lines += [
        "",
        "| problem | n | colors / scipy groups | di sparse FD | scipy | speedup |",
        "|---|---|---|---|---|---|",
    ]
    for r in fd:
        lines.append(
            f"| {r['problem']} | {r['n']} | {r['colors']} / {r['scipy_groups']} | {fmt(r['di_s'])} "
            f"| {fmt(r['scipy_s'])} | {r['speedup_vs_scipy']:.1f}x |"
        )
    lines += [
        "",
        "| Hessian | n | colors | sparse | dense | speedup | asdex |",
        "|---|---|---|---|---|---|---|",
        f"| chain Rosenbrock | {hess['n']} | {hess['colors']} | {fmt(hess['sparse_s'])} "
        f"| {fmt(hess['dense_s'])} | {hess['speedup_vs_dense']:.0f}x | {fmt(hess['asdex_s'])} |",
        "",
        "| sparse FD Hessian preparation | n | numpy | JAX | JAX / numpy |",
        "|---|---|---|---|---|",
    ]
    for r in fd_hess:
        lines.append(
            f"| one-point chain | {r['n']} | {fmt(r['numpy_s'])} | {fmt(r['jax_s'])} "
            f"| {r['ratio_jax_numpy']:.0f}x |"
        )
    return "\n".join(lines)


def arrowhead(x: Any) -> Any:
    """A dense first row (``sum(x**2)``) and first column, plus the diagonal."""
    xp = array_namespace(x)
    return xp.concat([xp.reshape(xp.sum(x**2), (1,)), x[1:] * x[0] + x[1:] ** 3])


def mixed_mode(n: int, rounds: int) -> dict[str, Any]:
    """Bidirectional coloring (``MixedMode``) on the arrowhead, JAX arrays: colors and
    preparation against one-sided coloring, and a prepared Jacobian against the dense
    ``AutoJAX`` Jacobian and the one-sided sparse one (n colors), where those fit."""
    x = jnp.asarray(np.linspace(0.5, 1.5, n))
    mixed = di.AutoSparse(di.MixedMode(di.AutoJAX(mode="forward"), di.AutoJAX()))
    start = time.perf_counter()
    prep = di.prepare_jacobian(arrowhead, mixed, x)
    prep_s = time.perf_counter() - start
    group = Group(f"arrowhead Jacobian, n = {n}, JAX", rounds=rounds)
    group.add(
        "MixedMode", lambda: jax.block_until_ready(di.jacobian(arrowhead, mixed, x, prep=prep))
    )
    row: dict[str, Any] = {"n": n, "colors": prep.ncolors, "preparation_s": prep_s}
    if n <= 2000:  # n colors one-sided, an n x n dense matrix: small sizes only
        one = di.AutoSparse(di.AutoJAX(mode="forward"))
        start = time.perf_counter()
        one_prep = di.prepare_jacobian(arrowhead, one, x)
        row["one_sided_preparation_s"] = time.perf_counter() - start
        row["one_sided_colors"] = one_prep.ncolors
        dense = di.AutoJAX(mode="forward")
        dense_prep = di.prepare_jacobian(arrowhead, dense, x)
        group.add(
            "one-sided AutoSparse",
            lambda: jax.block_until_ready(di.jacobian(arrowhead, one, x, prep=one_prep)),
        )
        group.add(
            "dense AutoJAX(mode='forward')",
            lambda: jax.block_until_ready(di.jacobian(arrowhead, dense, x, prep=dense_prep)),
        )
    result = group.run()
    print(result.table(baseline="MixedMode"))
    print(
        f"\ncolors {prep.ncolors} ({prep.forward_colors} + {prep.reverse_colors}); "
        f"preparation {fmt(prep_s)}\n"
    )
    row["group"] = result.to_dict("MixedMode")
    return row


def preparation_table(prep: list[dict[str, Any]]) -> str:
    lines = [
        "| problem | n | detection | coloring (LF only) [Python loops] | detection + coloring "
        "| `prepare_jacobian`, FD | colors (default orders) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in prep:
        colors = ", ".join(f"{k} {v}" for k, v in r["colors_default"].items())
        python = r.get("coloring_python_loops_s")
        extra = f" [{fmt(python)}]" if python else ""
        lines.append(
            f"| {r['problem']} | {r['n']} | {fmt(r['detection_s'])} | {fmt(r['coloring_s'])} "
            f"({fmt(r['coloring_largest_first_s'])}){extra} | {fmt(r['detection+coloring_s'])} "
            f"| {fmt(r['prepare_jacobian_fd_s'])} | {colors} |"
        )
    return "\n".join(lines)


def configure() -> None:
    """One thread, synchronous JAX dispatch, float64 (read by XLA when first used)."""
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    jax.config.update("jax_enable_x64", True)  # the benchmark's choice; the library never sets it


def main() -> None:
    configure()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--fd-hessian-sizes", default="10,50,200")
    parser.add_argument("--json", default="benchmarks/results/sparse.json")
    parser.add_argument("--preparation-only", action="store_true")
    parser.add_argument("--mixed-only", action="store_true")
    args = parser.parse_args()
    if args.mixed_only:  # rewrites only the MixedMode rows of the JSON
        rows = [mixed_mode(n, args.rounds) for n in (1000, 10_000)]
        with open(args.json) as handle:
            payload = json.load(handle)
        payload["mixed_mode"] = rows
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2, default=float)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    problems = ("diffusion", "bruss1d", "stencil2d")
    large = [(p, 100_000) for p in problems] + [("stencil2d", 1_000_000)]
    if args.preparation_only:  # rewrites only the preparation rows of the JSON
        prep = [preparation(p, n) for p in problems for n in sizes] + [
            preparation(p, n) for p, n in large
        ]
        print(preparation_table(prep))
        with open(args.json) as handle:
            payload = json.load(handle)
        payload["preparation"] = prep
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2, default=float)
        return
    jac = [jax_jacobians(p, n, args.rounds) for p in problems for n in sizes]
    prep = [preparation(p, n) for p in problems for n in sizes] + [
        preparation(p, n) for p, n in large
    ]
    fd = [finite_differences(p, n, args.rounds) for p in problems for n in sizes]
    hess = hessians(1000, args.rounds)
    fd_hess = [fd_hessian_preparation(int(n)) for n in args.fd_hessian_sizes.split(",")]
    print("## Summary\n")
    print(summary(jac, prep, fd, hess, fd_hess))
    payload = {
        "environment": {
            **environment(),
            "jax_cpu_enable_async_dispatch": False,
            "jax_enable_x64": True,
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        },
        "jacobians_jax": jac,
        "preparation": prep,
        "finite_differences": fd,
        "hessian": hess,
        "fd_hessian_preparation": fd_hess,
        "mixed_mode": [mixed_mode(n, args.rounds) for n in (1000, 10_000)],
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump(payload, handle, indent=2, default=float)


if __name__ == "__main__":
    main()

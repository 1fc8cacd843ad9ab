"""Every GPU row of issue 18 in one run: CuPy, torch CUDA and JAX GPU against native calls.

Rows (prepared calls, medians of interleaved rounds, ratios to the native call in the same
run; every call synchronizes its device before returning):

* torch CUDA: ``gradient`` at n = 1e3 and 1e7 against ``torch.autograd.grad``; ``hvp`` and
  ``hessian`` at n = 1e3 against double backward and ``torch.func.hessian``;
* JAX GPU: ``gradient`` at n = 1e3 and 1e7 against ``jax.jit(jax.grad)``; ``hvp`` and
  ``hessian`` at n = 1e3 against ``jit`` of ``jvp(grad)`` and ``jax.hessian``; ``jacobian`` at
  n = 4096 against ``jit(jacrev)``; sparse Jacobians (``AutoSparse(AutoJAX(mode="forward"))``,
  a tridiagonal function) at n = 1e4 (against the dense ``jit(jacfwd)``) and 1e6 (its
  preparation time and colors);
* CuPy: ``gradient`` at n = 1e7 through the JAX and the torch engine against the user's own
  DLPack bridge around the same engine; finite differences at n = 1000 with a batchable and a
  non-batchable ``f`` against ``2n`` evaluations of ``f`` (for the latter also the stacked-points
  strategy the library uses where it cannot sweep coordinates, to choose between them on GPUs);
* checks (pass/fail, not timed): JAX GPU gradients make no device-to-host transfer
  (``jax.transfer_guard``); sparse Jacobians of CuPy and torch CUDA callers come back as
  ``cupyx`` / torch sparse matrices equal to the dense Jacobian.

Run on a machine with a CUDA GPU (about 3 minutes)::

    python benchmarks/gpu.py [--out DIR] [--rounds 15]

``--device cpu`` runs every row on the CPU with small sizes (numpy in place of CuPy): a dry
run that checks the script, whose numbers mean nothing. Prints Markdown tables and writes
``gpu.json`` in ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace

sys.path.insert(0, os.path.dirname(__file__))

from _harness import Group, environment, write_json
from _problems import diffusion as tridiagonal  # a tridiagonal Jacobian: 3 colors
from _problems import rosenbrock


def rosenbrock_rows(x: Any) -> Any:
    """:func:`rosenbrock` along the last axis: batchable (stacked points are its rows)."""
    xp = array_namespace(x)
    a, b = x[..., 1:], x[..., :-1]
    return xp.sum(100.0 * (a - b * b) ** 2 + (1.0 - b) ** 2, axis=-1)


class Run:
    """The run's settings and results: sizes, device, rounds, tables."""

    def __init__(self, device: str, rounds: int) -> None:
        self.gpu = device == "gpu"
        self.rounds = rounds
        self.groups: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []

    def n(self, size: int) -> int:
        """``size`` on the GPU; a small stand-in on the CPU dry run."""
        return size if self.gpu else min(size, 2000)

    def time(self, name: str, candidates: dict[str, Callable[[], Any]], baseline: str) -> None:
        group = Group(name, rounds=self.rounds)
        for label, call in candidates.items():
            group.add(label, call)
        result = group.run()
        print(result.table(baseline=baseline) + "\n", flush=True)
        self.groups.append(result.to_dict(baseline=baseline))

    def check(self, name: str, run: Callable[[], str | None]) -> None:
        """``run()`` returns ``None`` when the check holds, else what went wrong."""
        try:
            problem = run()
        except Exception as err:  # noqa: BLE001 - a check reports, it does not stop the run
            problem = f"{type(err).__name__}: {err}"
        status = "ok" if problem is None else f"FAILED: {problem}"
        print(f"- check {name}: {status}", flush=True)
        self.checks.append({"name": name, "ok": problem is None, "problem": problem})


def torch_rows(run: Run) -> None:
    import torch

    import differentiation_interface as di

    device = torch.device("cuda" if run.gpu else "cpu")
    sync = torch.cuda.synchronize if run.gpu else (lambda: None)
    backend = di.AutoTorch()

    def native_grad(x: Any) -> Any:
        leaf = x.detach().requires_grad_(True)
        return torch.autograd.grad(rosenbrock(leaf), leaf)[0]

    for size in (10**3, 10**7):
        x = torch.linspace(-1.0, 1.0, run.n(size), dtype=torch.float64, device=device)
        prep = di.prepare_gradient(rosenbrock, backend, x)
        run.time(
            f"torch {device.type}: gradient, n = {x.shape[0]}",
            {
                "torch.autograd.grad": lambda x=x: (native_grad(x), sync()),
                "di.gradient": lambda x=x, prep=prep: (
                    di.gradient(rosenbrock, backend, x, prep=prep),
                    sync(),
                ),
            },
            "torch.autograd.grad",
        )
    x = torch.linspace(-1.0, 1.0, run.n(10**3), dtype=torch.float64, device=device)
    t = torch.cos(x)

    def native_hvp() -> Any:
        leaf = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(rosenbrock(leaf), leaf, create_graph=True)
        return torch.autograd.grad(g, leaf, t)[0]

    hvp_prep = di.prepare_hvp(rosenbrock, backend, x, (t,))
    hess_prep = di.prepare_hessian(rosenbrock, backend, x)
    hessian = torch.func.hessian(rosenbrock)
    run.time(
        f"torch {device.type}: hvp, n = {x.shape[0]}",
        {
            "double backward": lambda: (native_hvp(), sync()),
            "di.hvp": lambda: (di.hvp(rosenbrock, backend, x, (t,), prep=hvp_prep), sync()),
        },
        "double backward",
    )
    run.time(
        f"torch {device.type}: hessian, n = {x.shape[0]}",
        {
            "torch.func.hessian": lambda: (hessian(x), sync()),
            "di.hessian": lambda: (di.hessian(rosenbrock, backend, x, prep=hess_prep), sync()),
        },
        "torch.func.hessian",
    )
    fd_x = torch.linspace(-1.0, 1.0, 1000, dtype=torch.float64, device=device)
    finite_difference_rows(run, f"torch {device.type}", fd_x, sync)


def jax_rows(run: Run) -> None:
    import jax
    import jax.numpy as jnp

    import differentiation_interface as di

    device = jax.devices("gpu" if run.gpu else "cpu")[0]
    backend = di.AutoJAX()
    ready = jax.block_until_ready
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(rosenbrock))
        for size in (10**3, 10**7):
            x = jax.device_put(jnp.linspace(-1.0, 1.0, run.n(size)), device)
            prep = di.prepare_gradient(rosenbrock, backend, x)
            run.time(
                f"JAX {device.platform}: gradient, n = {x.shape[0]}",
                {
                    "jit(grad)": lambda x=x: ready(grad(x)),
                    "di.gradient": lambda x=x, prep=prep: ready(
                        di.gradient(rosenbrock, backend, x, prep=prep)
                    ),
                },
                "jit(grad)",
            )

            def no_transfer(x: Any = x, prep: Any = prep) -> str | None:
                with jax.transfer_guard_device_to_host("disallow"):
                    ready(di.gradient(rosenbrock, backend, x, prep=prep))
                return None

            if run.gpu:
                run.check(f"JAX GPU gradient n = {x.shape[0]}: no host transfer", no_transfer)
        x = jax.device_put(jnp.linspace(-1.0, 1.0, run.n(10**3)), device)
        t = jnp.cos(x)
        hvp = jax.jit(lambda x, t: jax.jvp(jax.grad(rosenbrock), (x,), (t,))[1])
        hessian = jax.jit(jax.hessian(rosenbrock))
        hvp_prep = di.prepare_hvp(rosenbrock, backend, x, (t,))
        hess_prep = di.prepare_hessian(rosenbrock, backend, x)
        run.time(
            f"JAX {device.platform}: hvp, n = {x.shape[0]}",
            {
                "jit(jvp(grad))": lambda: ready(hvp(x, t)),
                "di.hvp": lambda: ready(di.hvp(rosenbrock, backend, x, (t,), prep=hvp_prep)),
            },
            "jit(jvp(grad))",
        )
        run.time(
            f"JAX {device.platform}: hessian, n = {x.shape[0]}",
            {
                "jit(hessian)": lambda: ready(hessian(x)),
                "di.hessian": lambda: ready(di.hessian(rosenbrock, backend, x, prep=hess_prep)),
            },
            "jit(hessian)",
        )
        x = jax.device_put(jnp.linspace(-1.0, 1.0, run.n(4096)), device)
        jacrev = jax.jit(jax.jacrev(tridiagonal))
        jac_prep = di.prepare_jacobian(tridiagonal, backend, x)
        run.time(
            f"JAX {device.platform}: dense jacobian, n = {x.shape[0]}",
            {
                "jit(jacrev)": lambda: ready(jacrev(x)),
                "di.jacobian": lambda: ready(di.jacobian(tridiagonal, backend, x, prep=jac_prep)),
            },
            "jit(jacrev)",
        )
        sparse = di.AutoSparse(di.AutoJAX(mode="forward"), output="dense")
        for size in (10**4, 10**6):
            x = jax.device_put(jnp.linspace(-1.0, 1.0, run.n(size)), device)
            start = time.perf_counter()
            prep = di.prepare_jacobian(tridiagonal, sparse, x)
            seconds = time.perf_counter() - start
            print(f"- sparse preparation, n = {x.shape[0]}: {seconds:.2f} s", flush=True)
            run.checks.append({"name": f"sparse preparation n = {x.shape[0]}", "s": seconds})
            candidates = {
                "di.jacobian (sparse)": lambda x=x, prep=prep: ready(
                    di.jacobian(tridiagonal, sparse, x, prep=prep)
                )
            }
            if x.shape[0] <= 10**4:
                jacfwd = jax.jit(jax.jacfwd(tridiagonal))
                candidates["jit(jacfwd), dense"] = lambda x=x, jacfwd=jacfwd: ready(jacfwd(x))
            run.time(
                f"JAX {device.platform}: sparse jacobian, n = {x.shape[0]}",
                candidates,
                "di.jacobian (sparse)",
            )


def cupy_rows(run: Run) -> None:
    """CuPy callers (numpy on the CPU dry run) through the JAX and torch engines, and
    finite differences."""
    import jax
    import torch

    import differentiation_interface as di

    if run.gpu:
        import cupy as xp

        sync = xp.cuda.get_current_stream().synchronize
    else:
        xp, sync = np, (lambda: None)
    x = xp.linspace(-1.0, 1.0, run.n(10**7))
    grad = jax.jit(jax.grad(rosenbrock))
    with jax.enable_x64(True):
        import jax.numpy as jnp

        def by_hand_jax() -> Any:
            out = grad(jnp.from_dlpack(x) if run.gpu else jnp.asarray(x))
            result = xp.from_dlpack(out) if run.gpu else np.asarray(out)
            sync()
            return result

        prep = di.prepare_gradient(rosenbrock, di.AutoJAX(), x)
        run.time(
            f"{xp.__name__} caller, JAX engine: gradient, n = {x.shape[0]}",
            {
                "own DLPack bridge": by_hand_jax,
                "di.gradient": lambda: (
                    di.gradient(rosenbrock, di.AutoJAX(), x, prep=prep),
                    sync(),
                ),
            },
            "own DLPack bridge",
        )

    def by_hand_torch() -> Any:
        leaf = torch.from_dlpack(x).requires_grad_(True)
        (g,) = torch.autograd.grad(rosenbrock(leaf), leaf)
        result = xp.from_dlpack(g) if run.gpu else g.numpy()
        sync()
        return result

    prep = di.prepare_gradient(rosenbrock, di.AutoTorch(), x)
    run.time(
        f"{xp.__name__} caller, torch engine: gradient, n = {x.shape[0]}",
        {
            "own DLPack bridge": by_hand_torch,
            "di.gradient": lambda: (di.gradient(rosenbrock, di.AutoTorch(), x, prep=prep), sync()),
        },
        "own DLPack bridge",
    )
    finite_difference_rows(run, xp.__name__, xp.linspace(-1.0, 1.0, 1000), sync)
    if run.gpu:
        sparse_outputs(run, xp)


def finite_difference_rows(run: Run, caller: str, x: Any, sync: Callable[[], Any]) -> None:
    """Finite-difference gradients of a batchable and a point-by-point ``f`` at ``x``
    against ``2n`` evaluations of ``f``; the latter also by stacked points (the strategy
    the library uses where it cannot sweep coordinates), to choose between them on GPUs."""
    import differentiation_interface as di

    fd = di.AutoFiniteDiff()
    # rosenbrock slices its argument's first axis, so stacked points are not rows for it:
    # the library evaluates it point by point (a coordinate sweep of one private copy of x).
    for name, f in (("batchable", rosenbrock_rows), ("non-batchable", rosenbrock)):
        prep = di.prepare_gradient(f, fd, x)
        evaluate = prep.plan.basis.differences.evaluate  # what the library chose, reported
        print(f"- {caller} {name} f: batchable={evaluate.batchable}, sweep={evaluate.sweepable}")

        def evaluations(f: Any = f) -> None:
            for _ in range(2 * x.shape[0]):
                f(x)
            sync()

        candidates = {
            "2n evaluations of f": evaluations,
            "di.gradient": lambda f=f, prep=prep: (di.gradient(f, fd, x, prep=prep), sync()),
        }
        if evaluate.sweepable:
            stacked = di.prepare_gradient(f, fd, x)
            stacked.plan.basis.differences.evaluate.sweepable = False
            candidates["di.gradient, stacked points"] = lambda f=f, prep=stacked: (
                di.gradient(f, fd, x, prep=prep),
                sync(),
            )
        run.time(
            f"{caller}: finite-difference gradient, {name} f, n = {x.shape[0]}",
            candidates,
            "2n evaluations of f",
        )


def sparse_outputs(run: Run, cp: Any) -> None:
    """cupyx and torch sparse results of CUDA callers, against the dense Jacobian."""
    import torch

    import differentiation_interface as di

    sparse = di.AutoSparse(di.AutoFiniteDiff())
    for name, x in (
        ("cupy", cp.linspace(-1.0, 1.0, 200)),
        ("torch CUDA", torch.linspace(-1.0, 1.0, 200, dtype=torch.float64, device="cuda")),
    ):

        def compare(x: Any = x) -> str | None:
            result = di.jacobian(tridiagonal, sparse, x)
            dense = di.jacobian(tridiagonal, di.AutoFiniteDiff(), x)
            matrix = result.toarray() if hasattr(result, "toarray") else result.to_dense()
            error = float(abs(matrix - dense).max())
            return None if error < 1e-6 else f"{type(result).__name__}: max error {error:.1e}"

        run.check(f"sparse jacobian of a {name} caller: sparse, equal to dense", compare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument(
        "--only", nargs="+", choices=["torch", "jax", "cupy"], help="run these families only"
    )
    args = parser.parse_args()
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    run = Run(args.device, args.rounds)
    start = time.perf_counter()
    families = {"torch": torch_rows, "jax": jax_rows, "cupy": cupy_rows}
    for name in args.only or families:
        try:
            families[name](run)
        except Exception as err:  # noqa: BLE001 - one family failing must not lose the others
            print(f"- {name} rows FAILED: {type(err).__name__}: {err}", flush=True)
            run.checks.append({"name": f"{name} rows", "ok": False, "problem": repr(err)})
    seconds = time.perf_counter() - start
    print(f"\n{len(run.groups)} groups, {len(run.checks)} checks in {seconds:.0f} s")
    payload = {
        "environment": environment(),
        "device": args.device,
        "seconds": seconds,
        "groups": run.groups,
        "checks": run.checks,
    }
    name = "gpu.json" if args.device == "gpu" else "gpu-dry-run.json"
    write_json(payload, os.path.join(args.out, name))


if __name__ == "__main__":
    main()

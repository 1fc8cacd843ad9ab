"""The conformance grid: engines x namespaces/devices x scenarios (see README.md).

``DI_CONFORMANCE_ENGINES=jax,torch`` (or ``--engines``) restricts the grid to some engines;
by default every installed engine is run.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
from typing import Any

import pytest

import differentiation_interface as di

HERE = pathlib.Path(__file__).parent

#: The namespaces (and devices) each engine is run on.
ENGINE_NAMESPACES: dict[str, tuple[str, ...]] = {
    "finite_diff": (
        "numpy",
        "strict",
        "strict-device1",
        "strict-no_float64",
        "dask",
        "torch",
        "jax",
    ),
    "jax": ("numpy", "strict", "strict-device1", "jax"),
    "torch": ("numpy", "strict", "strict-device1", "strict-no_float64", "torch"),
    # GPU namespaces (cupy, torch-cuda, jax-gpu and their -float32 twins) are added below
    "autograd": ("numpy", "strict", "strict-device1", "torch", "jax"),
    # cross-engine SecondOrder pairs (second-order scenarios only, see CROSS_ENGINE)
    "cross": ("numpy", "strict", "strict-device1", "torch", "jax"),
}

#: The engines run on GPU namespaces, where a CUDA GPU is visible (the grid collects those
#: cells only there, and one skipped cell per GPU namespace elsewhere says so). HIPS autograd
#: computes on the host (numpy), so it has none.
GPU_ENGINES = frozenset({"finite_diff", "jax", "torch"})

#: The pseudo-engine of cross-engine ``SecondOrder(outer, inner)`` pairs: only its
#: second-order cells run (first-order operators use ``inner`` alone, covered by its engine).
CROSS_ENGINE = "cross"

#: Namespaces run with the engine's first backend only. Dask builds a task graph per function
#: evaluation (a 2x3 finite-difference Hessian takes about 0.75 s), and the other
#: finite-difference backends run the same Array-API code on it, so repeating them there
#: would triple the slowest part of the grid and test nothing new.
FIRST_BACKEND_ONLY = frozenset({"dask"})

#: Namespaces where the pytree scenarios run at first order only. Finite differences evaluate
#: a pytree ``f`` point by point (its raveled form is not batchable) and every dask evaluation
#: builds a task graph, so the pytree Hessians and HVPs took 6 to 14 s per cell there (a 7x7
#: Hessian: 99 evaluations). Second order on dask stays covered by the array scenarios, and
#: the tree layer is the same Array-API code in every namespace.
PYTREE_FIRST_ORDER_ONLY = frozenset({"dask"})

_REQUIRES: dict[str, tuple[str, ...]] = {
    "jax": ("jax",),
    "torch": ("torch",),
    "autograd": ("autograd",),
    "dask": ("dask",),
    "cross": ("jax", "torch", "autograd"),
}


def engine_namespaces(engine: str) -> tuple[str, ...]:
    """The namespaces an engine runs on: its CPU ones, then the GPU ones (see GPU_ENGINES)."""
    from differentiation_interface._cli._main import GPU_NAMESPACES

    gpu = tuple(GPU_NAMESPACES) if engine in GPU_ENGINES else ()
    return ENGINE_NAMESPACES[engine] + gpu


def all_engines() -> dict[str, list[di.AbstractBackend]]:
    """Every engine's backends, installed or not."""
    fd = di.AutoFiniteDiff()
    return {
        "finite_diff": [fd, di.AutoFiniteDiff(method="forward"), di.SecondOrder(fd, fd)],
        "jax": [di.AutoJAX(), di.AutoJAX(mode="forward")],
        "torch": [di.AutoTorch(), di.AutoTorch(mode="forward")],
        "autograd": [di.AutoAutograd()],
        "cross": [
            di.SecondOrder(di.AutoJAX(), di.AutoTorch()),
            di.SecondOrder(di.AutoTorch(), di.AutoJAX()),
            di.SecondOrder(di.AutoAutograd(), di.AutoTorch()),
            di.SecondOrder(di.AutoJAX(), di.AutoAutograd()),
        ],
    }


def _installed(name: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in _REQUIRES.get(name, ()))


def selected_engines(config: pytest.Config | None = None) -> dict[str, list[di.AbstractBackend]]:
    """The engines to run: those named by the option or variable, else every installed one."""
    names = os.environ.get("DI_CONFORMANCE_ENGINES", "")
    if config is not None and config.getoption("--engines", default=None):
        names = config.getoption("--engines")
    chosen = [n for n in names.split(",") if n] or [n for n in all_engines() if _installed(n)]
    unknown = set(chosen) - set(all_engines())
    if unknown:
        msg = f"unknown engines {sorted(unknown)}; choose among {sorted(all_engines())}"
        raise pytest.UsageError(msg)
    return {n: all_engines()[n] for n in chosen}


def namespace(name: str) -> tuple[Any, Any, bool]:
    """``(xp, device, float64 allowed)`` for a namespace name of ``ENGINE_NAMESPACES``."""
    from differentiation_interface._cli._main import _namespace

    return _namespace(name)


def expected_failures(engine: str) -> dict[str, str]:
    """``{test id: reason}`` from ``expected-failures/<engine>.txt``."""
    path = HERE / "expected-failures" / f"{engine}.txt"
    failures = {}
    if path.exists():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                test_id, _, reason = line.partition("#")
                failures[test_id.strip()] = reason.strip()
    return failures


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--engines", default=None, help="comma-separated engines to run")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    import numpy as np

    from differentiation_interface._cli._main import GPU_NAMESPACES, gpu_available
    from differentiation_interface.operators._table import SECOND_ORDER
    from differentiation_interface.testing import (
        complex_scenarios,
        context_scenarios,
        default_scenarios,
        edge_scenarios,
        pytree_scenarios,
        sparse_scenarios,
    )

    params = []
    no_gpu: dict[str, None] = {}
    for engine, backends in selected_engines(metafunc.config).items():
        for ns_name in engine_namespaces(engine):
            if ns_name in GPU_NAMESPACES:
                if not gpu_available(ns_name):
                    no_gpu[ns_name] = None
                    continue
            elif not _installed(ns_name):
                continue
            xp, _, float64 = namespace(ns_name)
            real = np.float64 if float64 else np.float32
            scenarios = [
                *default_scenarios(dtype=real),
                *context_scenarios(dtype=real),
                *edge_scenarios(dtype=real),
                *complex_scenarios(dtype=np.complex128 if float64 else np.complex64),
                *(
                    s
                    for s in pytree_scenarios(dtype=real)
                    if ns_name not in PYTREE_FIRST_ORDER_ONLY or s.operator not in SECOND_ORDER
                ),
            ]
            if "jax" in xp.__name__:  # immutable arrays (CPU or GPU): no in-place f there
                scenarios = [s for s in scenarios if s.y is None]
            if engine == CROSS_ENGINE:
                scenarios = [s for s in scenarios if s.operator in SECOND_ORDER]
            for backend in backends[:1] if ns_name in FIRST_BACKEND_ONLY else backends:
                for scenario in scenarios:
                    cell_id = f"{engine}|{backend!r}|{ns_name}|{scenario.name}"
                    params.append(pytest.param((engine, backend, ns_name, scenario), id=cell_id))
            # sparse Jacobians and Hessians over each dense backend (SecondOrder excluded:
            # AutoSparse composes it itself), in the caller's sparse format
            dense = [b for b in backends if not isinstance(b, di.SecondOrder)]
            if engine == CROSS_ENGINE:
                dense = []
            for backend in dense[:1] if ns_name in FIRST_BACKEND_ONLY else dense:
                sparse = di.AutoSparse(backend)
                for scenario in sparse_scenarios(dtype=real):
                    cell_id = f"{engine}|{sparse!r}|{ns_name}|{scenario.name}"
                    params.append(pytest.param((engine, sparse, ns_name, scenario), id=cell_id))
    for ns_name in no_gpu:
        reason = f"no CUDA GPU for {ns_name} on this machine: its cells are not collected"
        skip = pytest.mark.skip(reason=reason)
        params.append(pytest.param(None, id=f"gpu|{ns_name}", marks=skip))
    metafunc.parametrize("cell", params)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cells listed in the expected-failures files as strict xfails."""
    failures = {}
    for engine in all_engines():
        failures.update(expected_failures(engine))
    for item in items:
        cell_id = item.name.partition("[")[2].removesuffix("]")
        reason = failures.get(cell_id)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))

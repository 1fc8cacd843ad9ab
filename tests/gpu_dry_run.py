"""A pytest plugin that runs the GPU tests and conformance cells on the CPU (a dry run).

GPU time is scarce (docs/dev/gpu.md): a test or cell that fails on the GPU for a reason of
its own (a wrong filter, an API misused in the test) wastes it. With this plugin, torch's and
JAX's "first CUDA device" is their CPU device, so every GPU test and cell whose library is
torch or JAX runs here; CuPy's still skip (it needs a driver). What it checks is the logic of
the tests and cells, not the GPU paths of the library::

    python -m pytest -p tests.gpu_dry_run -m cuda tests
    python -m pytest -p tests.gpu_dry_run conformance -k "torch-cuda or jax-gpu" -n auto
"""

from __future__ import annotations

from typing import Any

import pytest


def cpu_device(library: str) -> Any:
    """Stands in for :func:`differentiation_interface._array.cuda_device`."""
    if library == "torch":
        import torch

        return torch.device("cpu")
    if library == "jax":
        import jax

        return jax.devices("cpu")[0]
    return None


def pytest_configure(config: pytest.Config) -> None:
    """The command line's and the conformance grid's device lookup (read at collection)."""
    from differentiation_interface._cli import _main

    _main.cuda_device = cpu_device


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test modules that imported ``cuda_device`` by name."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "cuda_device"):
            module.cuda_device = cpu_device

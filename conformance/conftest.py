"""The conformance grid: engines x namespaces/devices x scenarios."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import differentiation_interface as di

HERE = pathlib.Path(__file__).parent


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


def namespaces() -> list[tuple[str, Any, Any, bool]]:
    """(name, namespace, device, float64 allowed) for every namespace installed here."""
    import array_api_strict as xps
    import numpy as np

    found = [
        ("numpy", np, "cpu", True),
        ("strict", xps, xps.Device("CPU_DEVICE"), True),
        ("strict-device1", xps, xps.Device("device1"), True),
        ("strict-no_float64", xps, xps.Device("no_float64"), False),
    ]
    try:
        import array_api_compat.dask.array as dask_xp

        found.append(("dask", dask_xp, "cpu", True))
    except ImportError:
        pass
    return found


ENGINES: dict[str, list[di.AbstractBackend]] = {
    "finite_diff": [
        di.AutoFiniteDiff(),
        di.AutoFiniteDiff(method="forward"),
        di.SecondOrder(di.AutoFiniteDiff(), di.AutoFiniteDiff()),
    ],
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cells listed in the expected-failures files as strict xfails."""
    for engine in ENGINES:
        failures = expected_failures(engine)
        for item in items:
            reason = failures.get(item.name)
            if reason is not None:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))

"""Every engine x namespace x scenario x variant (see README.md)."""

from __future__ import annotations

import numpy as np
import pytest

from differentiation_interface.testing import check_scenario, default_scenarios

from .conftest import ENGINES, namespaces

CELLS = [
    pytest.param(backend, ns, scenario, id=f"{engine}-{backend!r}-{ns[0]}-{scenario.name}")
    for engine, backends in ENGINES.items()
    for backend in backends
    for ns in namespaces()
    for scenario in default_scenarios(dtype=np.float64 if ns[3] else np.float32)
]


@pytest.mark.parametrize(("backend", "namespace", "scenario"), CELLS)
def test_cell(backend, namespace, scenario) -> None:  # type: ignore[no-untyped-def]
    name, xp, device, _ = namespace
    check_scenario(backend, scenario.to_namespace(xp, device), out=name != "dask")

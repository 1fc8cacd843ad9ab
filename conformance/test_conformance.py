"""Every engine x namespace x scenario x variant (see README.md)."""

from __future__ import annotations

from typing import Any

from differentiation_interface.testing import check_scenario

from .conftest import namespace


def test_cell(cell: tuple[Any, ...]) -> None:
    _, backend, ns_name, scenario = cell
    xp, device, _ = namespace(ns_name)
    # to_namespace converts every leaf of every tree; JAX float64 references stay float64
    check_scenario(backend, scenario.to_namespace(xp, device))

"""Testing companion: scenarios with references, and tools to check and time backends.

The Python counterpart of DifferentiationInterfaceTest: :class:`Scenario` and the scenario
families, :func:`test_differentiation` (every variant against the references),
:func:`benchmark_differentiation` (time per call, calls to ``f``, preparation time).
``pytest`` is never imported at module level, so this package works from plain scripts.
"""

from ._benchmark import (
    BenchmarkRow,
    benchmark_differentiation,
    format_table,
    write_csv,
    write_json,
)
from ._checks import cases, check_scenario, test_differentiation
from ._wrappers import ForwardFromPrimitive, ReverseFromPrimitive
from .families import complex_scenarios, context_scenarios, edge_scenarios
from .pytree_scenarios import pytree_scenarios
from .scenarios import Scenario, default_scenarios
from .sparse_scenarios import SparseScenario, sparse_scenarios

__all__ = [
    "BenchmarkRow",
    "ForwardFromPrimitive",
    "ReverseFromPrimitive",
    "Scenario",
    "SparseScenario",
    "benchmark_differentiation",
    "cases",
    "check_scenario",
    "complex_scenarios",
    "context_scenarios",
    "default_scenarios",
    "edge_scenarios",
    "format_table",
    "pytree_scenarios",
    "sparse_scenarios",
    "test_differentiation",
    "write_csv",
    "write_json",
]

"""Testing companion: scenarios with references, and tools to check and time backends.

The Python counterpart of DifferentiationInterfaceTest: :class:`Scenario` and the scenario
families, :func:`test_differentiation` (every variant against the references, or against a
``reference=`` backend; ``collect=True`` for a :class:`TestReport` of every failure),
:func:`select_backend` (the fastest of the candidates that agree with each other),
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
from ._references import Failure, TestReport
from ._select import Candidate, Selection, installed_backends, select_backend
from ._wrappers import ForwardFromPrimitive, ReverseFromPrimitive
from .families import complex_scenarios, context_scenarios, edge_scenarios
from .pytree_scenarios import pytree_scenarios
from .scenarios import Scenario, default_scenarios
from .sparse_scenarios import SparseScenario, sparse_scenarios

__all__ = [
    "BenchmarkRow",
    "Candidate",
    "Failure",
    "ForwardFromPrimitive",
    "ReverseFromPrimitive",
    "Scenario",
    "Selection",
    "SparseScenario",
    "TestReport",
    "benchmark_differentiation",
    "cases",
    "check_scenario",
    "complex_scenarios",
    "context_scenarios",
    "default_scenarios",
    "edge_scenarios",
    "format_table",
    "installed_backends",
    "pytree_scenarios",
    "select_backend",
    "sparse_scenarios",
    "test_differentiation",
    "write_csv",
    "write_json",
]

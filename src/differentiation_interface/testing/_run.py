"""Run one scenario on one backend and measure how far the result is from the reference."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import operators as ops
from .._array import to_numpy
from ..adtypes import AbstractBackend, AutoFiniteDiff, SecondOrder
from ..errors import UnsupportedOperationError
from ..operators._table import OPERATORS, SECOND_ORDER
from ._leaves import StructureMismatchError, array_leaves, dense, paired_leaves
from .scenarios import Scenario

__all__ = [
    "Outcome",
    "dense",
    "leaf_error",
    "max_relative_error",
    "run_operator",
    "run_scenario",
    "tolerance",
]


@dataclass(frozen=True)
class Outcome:
    """What running a scenario gave: ``status`` is ``"ok"``, ``"failed"`` or ``"unsupported"``."""

    backend: AbstractBackend
    scenario: Scenario
    status: str
    error: float = math.nan
    seconds: float = math.nan
    message: str = ""


def max_relative_error(result: Any, reference: Any) -> float:
    """Largest ``|result - reference|`` relative to ``max(1, max|reference|)``, leaf by leaf.

    ``result`` and ``reference`` are arrays, sparse matrices or pytrees of arrays (tuples of
    per-tangent results included); a result whose structure or a leaf's shape differs from
    the reference's is infinitely far from it.

    Examples
    --------
    >>> import numpy as np
    >>> from differentiation_interface.testing._run import max_relative_error
    >>> max_relative_error({"a": np.ones(2), "b": np.zeros(1)},
    ...                    {"a": np.ones(2), "b": np.full(1, 0.5)})
    0.5
    >>> max_relative_error({"a": np.ones(2)}, {"b": np.ones(2)})
    inf
    """
    try:
        pairs = paired_leaves(result, reference, "result")
    except StructureMismatchError:
        return math.inf
    return max((leaf_error(got, want) for _, got, want in pairs), default=0.0)


def leaf_error(result: Any, reference: Any) -> float:
    """:func:`max_relative_error` of one array (or sparse matrix) against its reference."""
    got = np.asarray(to_numpy(dense(result)))
    want = np.asarray(to_numpy(dense(reference)))
    if got.shape != want.shape:
        return math.inf
    if got.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want))) / scale


def _leaves(backend: AbstractBackend) -> tuple[AbstractBackend, ...]:
    parts = getattr(backend, "_parts", None)
    if parts is not None:
        return tuple(leaf for part in parts() for leaf in _leaves(part))
    if isinstance(backend, SecondOrder):
        return (*_leaves(backend.outer), *_leaves(backend.inner))
    return (backend,)


def tolerance(backend: AbstractBackend, scenario: Scenario) -> float:
    """The relative tolerance a backend is held to on a scenario.

    Finite differences are approximate: central differences reach about ``eps**(2/3)``,
    one-sided ones and the fused second-order stencils ``eps**(1/2)`` (which
    ``SecondOrder(AutoFiniteDiff(), AutoFiniteDiff())`` also runs), and second order through
    a composite backend mixing finite differences with another engine is held to about
    ``eps**(1/3)``. A pytree
    ``x`` is held to the tolerance of its least precise leaf: finite differences size their
    steps for that leaf, and every leaf of the result is as accurate as that one.
    """
    found = array_leaves(scenario.x, "x")
    x_leaves = found[0] if found is not None else [scenario.x]
    single = any(
        str(getattr(leaf, "dtype", "")).endswith(("float32", "complex64", "float16"))
        for leaf in x_leaves
    )
    second = scenario.operator in SECOND_ORDER
    leaves = _leaves(backend)
    fd = [leaf for leaf in leaves if isinstance(leaf, AutoFiniteDiff)]
    if not fd:
        return 1e-4 if single else 1e-9
    if second and len(fd) < len(leaves):  # finite differences of another engine's results
        return 5e-2 if single else 1e-4
    if single:
        return 2e-2
    if second or any(leaf.method != "central" for leaf in fd):
        return 1e-5
    return 1e-7


def run_operator(backend: AbstractBackend, s: Scenario) -> tuple[Any, Any]:
    """The scenario's operator through its richest variant: ``(first, second)`` results
    (the value-and variant for second order, the plain one for first order)."""
    spec = OPERATORS[s.operator]
    args = (s.x, s.tangents, *s.contexts) if spec.tangents else (s.x, *s.contexts)
    kwargs = {"y": s.y} if spec.inplace else {}
    if spec.order == 1:
        return getattr(ops, spec.name)(s.f, backend, *args, **kwargs), None
    results = getattr(ops, spec.value_and)(s.f, backend, *args, **kwargs)
    return results[-2], results[-1]


def run_scenario(backend: AbstractBackend, scenario: Scenario) -> Outcome:
    """Run ``scenario`` on ``backend`` (unprepared, plain variant) and grade the result.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import default_scenarios
    >>> from differentiation_interface.testing._run import run_scenario
    >>> run_scenario(di.AutoFiniteDiff(), default_scenarios()[0]).status
    'ok'
    """
    start = time.perf_counter()
    try:
        first, second = run_operator(backend, scenario)
    except UnsupportedOperationError as err:
        return Outcome(backend, scenario, "unsupported", message=str(err))
    except Exception as err:  # noqa: BLE001 - a report, not a crash, is the point
        return Outcome(backend, scenario, "failed", message=f"{type(err).__name__}: {err}")
    seconds = time.perf_counter() - start
    error = 0.0
    if scenario.res1 is not None:
        error = max(error, max_relative_error(first, scenario.res1))
    if scenario.res2 is not None:
        error = max(error, max_relative_error(second, scenario.res2))
    status = "ok" if error <= tolerance(backend, scenario) else "failed"
    message = "" if status == "ok" else f"relative error {error:.2e}"
    return Outcome(backend, scenario, status, error, seconds, message)

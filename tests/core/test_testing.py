"""The testing companion checks what it claims to check: a wrong backend makes it fail."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.testing import Scenario, default_scenarios, test_differentiation

FD = di.AutoFiniteDiff()
GRADIENT = next(s for s in default_scenarios() if s.name == "gradient:vector->scalar")


def test_default_scenarios_cover_every_operator() -> None:
    operators = {s.operator for s in default_scenarios()}
    assert operators == {
        "pushforward",
        "pullback",
        "derivative",
        "gradient",
        "jacobian",
        "second_derivative",
        "hvp",
        "hessian",
    }
    assert len({s.name for s in default_scenarios()}) == len(default_scenarios())


def test_references_are_closed_forms_not_the_library() -> None:
    # The references agree with an independent central difference written here.
    s = GRADIENT
    eps = 1e-6
    fd = np.array([(s.f(s.x + eps * e) - s.f(s.x - eps * e)) / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(s.res1, fd, rtol=1e-8)


def test_a_wrong_reference_fails_naming_backend_scenario_variant() -> None:
    wrong = dataclasses.replace(GRADIENT, res1=GRADIENT.res1 * 1.01)
    with pytest.raises(
        AssertionError,
        match=r"AutoFiniteDiff\(\) on scenario 'gradient:vector->scalar', variant "
        r"\[plain, unprepared\]: result 0 is off by",
    ):
        test_differentiation([FD], [wrong])


def test_a_wrong_dtype_fails() -> None:
    wrong = dataclasses.replace(GRADIENT, res1=GRADIENT.res1.astype(np.float32))
    with pytest.raises(AssertionError, match=r"has dtype float64, expected float32"):
        test_differentiation(FD, [wrong])


def test_mutating_the_input_fails() -> None:
    def f(x: Any) -> Any:
        value = (x**2).sum()
        x[0] += 1.0  # forbidden: f must not mutate x
        return value

    s = Scenario(f, np.ones(2), operator="gradient", res1=None, name="mutating")
    with pytest.raises(AssertionError, match=r"was mutated"):
        test_differentiation(FD, [s], correctness=False)


def test_scenarios_convert_between_namespaces() -> None:
    import array_api_strict as xps

    s = GRADIENT.to_namespace(xps, xps.Device("device1"))
    assert s.x.device == xps.Device("device1")
    assert s.res1.device == xps.Device("device1")
    assert test_differentiation(FD, [s]) == 1


def test_invalid_operator() -> None:
    with pytest.raises(ValueError, match=r"Scenario operator must be one of"):
        Scenario(lambda x: x, np.ones(1), operator="laplacian")

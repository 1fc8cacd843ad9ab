"""``test_differentiation`` on users' own functions: ``reference=``, ``collect=True`` and
``correctness=False`` (the kind checks)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.testing import (
    Scenario,
    TestReport,
    check_scenario,
    default_scenarios,
    pytree_scenarios,
    test_differentiation,
)
from differentiation_interface.testing._kinds import kind_references

FD = di.AutoFiniteDiff()
FORWARD = di.AutoFiniteDiff(method="forward")
COARSE = di.AutoFiniteDiff(method="forward", step=0.5)  # deliberately inaccurate
X = np.linspace(0.1, 0.9, 4)


def _tanh2(x: Any) -> Any:
    return np.sum(np.tanh(x) ** 2)


def _unreferenced(operator: str) -> Scenario:
    return Scenario(_tanh2, X, operator=operator, name=f"{operator}:tanh2")


def test_a_scenario_without_references_is_compared_with_the_reference_backend() -> None:
    # Closed forms: d/dx tanh(x)^2 = 2 tanh sech^2; the Hessian is diagonal.
    t = np.tanh(X)
    gradient = 2 * t * (1 - t**2)
    hessian = np.diag(2 * (1 - t**2) ** 2 - 4 * t**2 * (1 - t**2))
    scenarios = [_unreferenced("gradient"), _unreferenced("hessian")]
    assert test_differentiation([FORWARD], scenarios, reference=FD) == 2
    # ... and the comparison is real: a backend that is off fails against the reference,
    # while the closed forms agree with the reference (so the reference is not the culprit).
    np.testing.assert_allclose(di.gradient(_tanh2, FD, X), gradient, rtol=1e-8)
    np.testing.assert_allclose(di.hessian(_tanh2, FD, X), hessian, atol=1e-6)
    with pytest.raises(AssertionError, match=r"step=0.5\) on scenario 'gradient:tanh2', variant"):
        test_differentiation([COARSE], scenarios, reference=FD)


def test_a_scenario_without_references_and_no_reference_backend_raises() -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(1)
        return np.sum(x**2)

    s = Scenario(f, X, operator="gradient", name="no-reference")
    with pytest.raises(ValueError, match=r"'no-reference' has no res1.*pass reference="):
        test_differentiation([FD], [default_scenarios()[0], s])
    with pytest.raises(ValueError, match=r"has no res1"):
        test_differentiation([FD], [s], collect=True)
    with pytest.raises(ValueError, match=r"has no res1"):
        check_scenario(FD, s)
    assert calls == []  # refused before anything ran
    # A second-order scenario with only res1 lacks res2: refused too.
    partial = dataclasses.replace(_unreferenced("hessian"), res1=np.zeros(4))
    with pytest.raises(ValueError, match=r"has no res2"):
        test_differentiation([FD], [partial])


def test_own_references_take_precedence_over_the_reference_backend() -> None:
    wrong = Scenario(_tanh2, X, operator="gradient", res1=np.zeros(4), name="wrong-res1")
    with pytest.raises(AssertionError, match=r"result 0 is off by"):
        test_differentiation([FD], [wrong], reference=FD)


def test_collect_runs_everything_and_reports_every_failure() -> None:
    scenarios = [_unreferenced("gradient"), _unreferenced("hessian")]
    report = test_differentiation([FD, COARSE], scenarios, reference=FORWARD, collect=True)
    assert isinstance(report, TestReport)
    assert report.checked == 4
    assert not report.ok
    failed = {(f.backend, f.scenario) for f in report.failures}
    # Only the coarse backend fails, on both scenarios; FD passes against FORWARD.
    assert failed == {(repr(COARSE), "gradient:tanh2"), (repr(COARSE), "hessian:tanh2")}
    variants = [f.variant for f in report.failures if f.scenario == "gradient:tanh2"]
    assert "plain, unprepared" in variants
    assert "value-and, prepared elsewhere" in variants
    assert len(variants) >= 10  # every variant, not the first failure only
    assert str(report).startswith(f"{len(report.failures)} failures in 4 (backend, scenario)")
    clean = test_differentiation([FD], scenarios, reference=FORWARD, collect=True)
    assert clean.ok
    assert clean.failures == ()
    assert "all checks passed" in str(clean)


def test_a_failing_reference_backend_is_named() -> None:
    s = Scenario(lambda x: np.sum(x**2), X, operator="hessian", name="complex-hessian")
    s = dataclasses.replace(s, x=X.astype(complex))
    nested = di.SecondOrder(FD, FD)
    with pytest.raises(
        AssertionError, match=r"variant \[reference\]: the reference backend failed"
    ):
        test_differentiation([FD], [s], reference=nested)


def test_correctness_false_checks_kinds_not_values() -> None:
    def nan_gradient(x: Any) -> Any:
        return np.sum(x) * np.nan

    s = Scenario(nan_gradient, X, operator="gradient", name="nan")
    assert test_differentiation([FD], [s], correctness=False) == 1
    with pytest.raises(ValueError, match=r"has no res1"):
        test_differentiation([FD], [s])
    # Kinds are still checked: a reference of another dtype or shape fails.
    wrong_dtype = Scenario(_tanh2, X, operator="gradient", res1=np.zeros(4, np.float32))
    with pytest.raises(AssertionError, match=r"has dtype float64, expected float32"):
        test_differentiation([FD], [wrong_dtype], correctness=False)
    wrong_shape = Scenario(_tanh2, X, operator="gradient", res1=np.zeros(5))
    with pytest.raises(AssertionError, match=r"has shape \(4,\), expected \(5,\)"):
        test_differentiation([FD], [wrong_shape], correctness=False)


def test_kind_references_follow_the_operator_rules() -> None:
    def f(x: Any) -> Any:
        return np.stack([x[0] * x[1], x[2] ** 2]).astype(np.float32)

    x = np.ones(3)
    t = (np.ones(3), np.zeros(3))
    jac = kind_references(Scenario(f, x, operator="jacobian"))[0]
    assert jac.shape == (2, 3)
    assert jac.dtype == np.float64
    push = kind_references(Scenario(f, x, operator="pushforward", tangents=t))[0]
    assert [(r.shape, r.dtype) for r in push] == [((2,), np.float32)] * 2
    gradient, hvp = kind_references(Scenario(_tanh2, x, operator="hvp", tangents=t))
    assert gradient.shape == (3,)
    assert len(hvp) == 2
    grad, hess = kind_references(Scenario(_tanh2, x, operator="hessian"))
    assert grad.shape == (3,)
    assert hess.shape == (3, 3)
    tree = next(s for s in pytree_scenarios() if s.name == "gradient:dict->scalar")
    placeholder = kind_references(tree)[0]
    assert sorted(placeholder) == sorted(tree.x)
    assert all(placeholder[k].shape == tree.x[k].shape for k in tree.x)


def test_correctness_false_on_every_default_operator_without_references() -> None:
    stripped = [dataclasses.replace(s, res1=None, res2=None) for s in default_scenarios()]
    report = test_differentiation([FD], stripped, correctness=False, collect=True)
    assert report.ok, str(report)

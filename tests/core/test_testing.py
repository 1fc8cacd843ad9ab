"""The testing companion checks what it claims to check: a wrong backend makes it fail."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.operators._table import NAMES
from differentiation_interface.testing import Scenario, default_scenarios, test_differentiation

FD = di.AutoFiniteDiff()
GRADIENT = next(s for s in default_scenarios() if s.name == "gradient:vector->scalar")


def test_default_scenarios_cover_every_operator() -> None:
    operators = {s.operator for s in default_scenarios()}
    assert operators == set(NAMES)
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
    with pytest.raises(AssertionError, match=r"f wrote into its argument x"):
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


class TestBenchmark:
    def test_rows_count_calls_and_times(self) -> None:
        from differentiation_interface.testing import benchmark_differentiation

        rows = benchmark_differentiation(
            [FD, di.AutoFiniteDiff(method="forward")], [GRADIENT], rounds=2, min_time=1e-4
        )
        assert [(r.backend, r.prepared) for r in rows] == [
            ("AutoFiniteDiff()", True),
            ("AutoFiniteDiff()", False),
            ("AutoFiniteDiff(method='forward')", True),
            ("AutoFiniteDiff(method='forward')", False),
        ]
        # central: 2n evaluations; forward: n + 1 (n = 4; sum over all: not batchable)
        assert [r.calls for r in rows] == [8, 8, 5, 5]
        assert all(r.status == "ok" and r.seconds > 0 for r in rows)
        assert all(r.preparation_seconds > 0 for r in rows)

    def test_failures_become_rows(self) -> None:
        from differentiation_interface.testing import benchmark_differentiation

        broken = Scenario(lambda x: "nope", np.ones(2), operator="gradient", name="broken")
        complex_hessian = Scenario(
            lambda z: np.sum(np.abs(z) ** 2),
            np.ones(2, dtype=complex),
            operator="hessian",
            name="complex-hessian",
        )
        rows = benchmark_differentiation(FD, [broken, complex_hessian], prepared=(True,))
        assert rows[0].status == "error"
        assert "FunctionOutputError" in rows[0].message
        assert rows[1].status == "unsupported"

    def test_export(self, tmp_path: Any) -> None:
        import csv
        import json

        from differentiation_interface.testing import (
            benchmark_differentiation,
            format_table,
            write_csv,
            write_json,
        )

        rows = benchmark_differentiation(FD, [GRADIENT], rounds=1, min_time=1e-4)
        write_csv(rows, str(tmp_path / "rows.csv"))
        write_json(rows, str(tmp_path / "rows.json"))
        with open(tmp_path / "rows.csv") as handle:
            records = list(csv.DictReader(handle))
        assert records[0]["operator"] == "gradient"
        assert json.loads((tmp_path / "rows.json").read_text())[1]["prepared"] is False
        assert "gradient:vector->scalar" in format_table(rows)


def test_cases_give_one_pytest_param_per_pair() -> None:
    from differentiation_interface.testing import cases

    params = cases([FD, di.AutoFiniteDiff(method="forward")], [GRADIENT])
    assert [p.id for p in params] == [
        "AutoFiniteDiff()-gradient:vector->scalar",
        "AutoFiniteDiff(method='forward')-gradient:vector->scalar",
    ]

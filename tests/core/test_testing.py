"""The testing companion checks what it claims to check: a wrong backend makes it fail."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._array import namespace_of, to_numpy
from differentiation_interface._tree import flatten, unflatten
from differentiation_interface.contexts import Constant
from differentiation_interface.operators._table import NAMES, OPERATORS
from differentiation_interface.testing import (
    Scenario,
    default_scenarios,
    pytree_scenarios,
    test_differentiation,
)
from differentiation_interface.testing._run import max_relative_error
from differentiation_interface.testing._variants import zeros_like_result

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

    def test_an_unprepared_row_faster_than_its_prepared_row_is_timed_again(
        self, monkeypatch: Any
    ) -> None:
        from differentiation_interface.testing import _benchmark, benchmark_differentiation

        # rounds of (prepared, unprepared): the first set inverted by noise, the second not
        sets = iter([[2.0, 1.0], [0.9, 1.8], [9.0, 9.0]])
        monkeypatch.setattr(_benchmark, "_interleaved", lambda calls, **_: next(sets))
        rows = benchmark_differentiation(FD, [GRADIENT])
        assert [r.seconds for r in rows] == [0.9, 1.0]  # fastest of both sets, no third
        assert next(sets) == [9.0, 9.0]
        # a real inversion survives the retries and is reported as measured
        sets = iter([[2.0, 1.0]] * 3)
        rows = benchmark_differentiation(FD, [GRADIENT])
        assert [r.seconds for r in rows] == [2.0, 1.0]

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


# --- pytrees ----------------------------------------------------------------------------------


def _pytree(name: str, dtype: Any = np.float64) -> Scenario:
    return next(s for s in pytree_scenarios(dtype=dtype) if s.name == name)


def _numeric_jacobian(g: Any, x: Any, eps: float = 1e-6) -> Any:
    """Central differences of ``ravel(g(x))`` over ``ravel(x)`` (independent of the
    companion and of every engine; ``di.ravel`` only lays the leaves out)."""
    flat, unravel = di.ravel(x)
    columns = []
    for e in np.eye(flat.size):
        plus = di.ravel(g(unravel(flat + eps * e)))[0]
        minus = di.ravel(g(unravel(flat - eps * e)))[0]
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=1)


def _output(s: Scenario) -> Any:
    """``x -> f(x, *context values)``, two-argument functions included."""
    values = [c.value for c in s.contexts]
    if s.y is None:
        return lambda x: s.f(x, *values)

    def f(x: Any) -> Any:
        y = {k: np.zeros_like(v) for k, v in s.y.items()}
        s.f(y, x, *values)
        return y

    return f


@pytest.mark.parametrize("name", [s.name for s in pytree_scenarios()])
def test_pytree_references_agree_with_central_differences(name: str) -> None:
    s = _pytree(name)
    f = _output(s)
    leaves, treedef = flatten(s.x)  # differentiated in float64 (a float32 leaf too)
    x = unflatten(treedef, [leaf.astype(np.float64) for leaf in leaves])
    s = dataclasses.replace(s, x=x)
    J = _numeric_jacobian(f, s.x)
    flat = lambda tree: di.ravel(tree)[0]  # noqa: E731
    first = J[0] if OPERATORS[s.operator].scalar_output else J
    if s.operator in ("gradient", "hessian", "hvp"):
        np.testing.assert_allclose(flat(s.res1), first, rtol=1e-6, atol=1e-8)
        assert flatten(s.res1)[1] == flatten(s.x)[1]  # the gradient is like x
    if s.operator == "jacobian":
        np.testing.assert_allclose(s.res1, J, rtol=1e-6, atol=1e-8)
    if s.operator == "pushforward":
        for t, r in zip(s.tangents, s.res1, strict=True):
            np.testing.assert_allclose(flat(r), J @ flat(t), rtol=1e-6, atol=1e-8)
            assert flatten(r)[1] == flatten(f(s.x))[1]  # like f(x)
    if s.operator == "pullback":
        for w, r in zip(s.tangents, s.res1, strict=True):
            np.testing.assert_allclose(flat(r), J.T @ flat(w), rtol=1e-6, atol=1e-8)
            assert flatten(r)[1] == flatten(s.x)[1]  # like x
    if s.operator in ("hessian", "hvp"):
        H = _numeric_jacobian(lambda x: _numeric_jacobian(f, x, eps=1e-4)[0], s.x, eps=1e-4)
        if s.operator == "hessian":
            np.testing.assert_allclose(s.res2, H, rtol=1e-5, atol=1e-6)
        for t, r in zip(s.tangents or (), s.res2 if s.operator == "hvp" else (), strict=True):
            np.testing.assert_allclose(flat(r), H @ flat(t), rtol=1e-5, atol=1e-6)
            assert flatten(r)[1] == flatten(s.x)[1]


def test_pytree_scenarios_keep_their_dtype() -> None:
    names = [s.name for s in pytree_scenarios()]
    assert len(set(names)) == len(names)
    assert "gradient:mixed-dtypes" in names
    single = pytree_scenarios(dtype=np.float32)
    assert "gradient:mixed-dtypes" not in [s.name for s in single]  # no second float dtype
    for s in single:
        for tree in (s.x, s.res1, s.res2, s.tangents, *(c.value for c in s.contexts)):
            assert all(leaf.dtype == np.float32 for leaf in flatten(tree)[0]), s.name


@pytest.mark.parametrize("namespace", ["numpy", "strict-device1", "numpy-float32"])
def test_pytree_scenarios_pass_on_finite_differences(namespace: str) -> None:
    import array_api_strict as xps

    if namespace == "numpy-float32":
        scenarios = pytree_scenarios(dtype=np.float32)
    else:
        scenarios = pytree_scenarios()
    if namespace == "strict-device1":
        scenarios = [s.to_namespace(xps, xps.Device("device1")) for s in scenarios]
    assert test_differentiation([FD, di.AutoFiniteDiff(method="forward")], scenarios) == 2 * len(
        scenarios
    )


def test_to_namespace_keeps_the_structure_and_each_leafs_dtype() -> None:
    import array_api_strict as xps

    device = xps.Device("device1")
    for s in pytree_scenarios():
        t = s.to_namespace(xps, device)
        pairs = [(s.x, t.x), (s.tangents, t.tangents), (s.y, t.y), (s.res1, t.res1)]
        pairs += [(s.res2, t.res2)]
        pairs += [(a.value, b.value) for a, b in zip(s.contexts, t.contexts, strict=True)]
        for before, after in pairs:
            leaves, treedef = flatten(before)
            converted, converted_def = flatten(after)
            assert converted_def == treedef, s.name
            for a, b in zip(leaves, converted, strict=True):
                assert namespace_of(b) is namespace_of(xps.asarray(0.0))
                assert b.device == device
                # a float32 leaf beside float64 leaves stays float32
                assert str(b.dtype) == f"array_api_strict.{a.dtype}"
                np.testing.assert_array_equal(to_numpy(b), a)
    nested = _pytree("gradient:nested->scalar").to_namespace(xps)
    assert nested.x["layer"][1] is None
    assert type(nested.x["layer"][2]).__name__ == "Block"


def test_a_wrong_pytree_leaf_fails_naming_its_path() -> None:
    s = _pytree("gradient:dict->scalar")
    wrong = dataclasses.replace(s, res1={"b": s.res1["b"], "w": s.res1["w"] * 1.01})
    with pytest.raises(
        AssertionError, match=r"variant \[plain, unprepared\]: result 0\['w'\] is off by"
    ):
        test_differentiation(FD, [wrong])
    s = _pytree("hvp:nested->scalar")
    hvp = s.res2[0]
    layer = (hvp["layer"][0], None, hvp["layer"][2]._replace(c=hvp["layer"][2].c + 0.1))
    wrong = dataclasses.replace(s, res2=({"layer": layer, "shift": hvp["shift"]},))
    with pytest.raises(AssertionError, match=r"result 0\[0\]\['layer'\]\[2\]\.c is off by"):
        test_differentiation(FD, [wrong])


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "gradient:dict->scalar",
            lambda r: {"b": r["b"], "v": r["w"]},
            r"structure mismatch: result 0\['v'\] is missing \(the result has keys \['b', 'w'\]\)",
        ),
        (
            "pullback:tuple->dict",
            lambda r: (list(r[0]),),
            r"structure mismatch: result 0\[0\] is a tuple of 2, expected a list of 2",
        ),
        (
            "gradient:nested->scalar",
            lambda r: {"layer": (r["layer"][0], r["layer"][0], r["layer"][2]), "shift": r["shift"]},
            r"structure mismatch: result 0\['layer'\]\[1\] is None, expected an array",
        ),
        (
            "gradient:mlp",
            lambda r: r["W1"],
            r"structure mismatch: result 0 is a dict with keys \['W1', 'W2', 'b1', 'b2'\], "
            r"expected an array",
        ),
    ],
)
def test_a_structure_mismatch_fails_naming_the_path(name: str, change: Any, message: str) -> None:
    s = _pytree(name)
    wrong = dataclasses.replace(s, res1=change(s.res1))
    with pytest.raises(AssertionError, match=message):
        test_differentiation(FD, [wrong])


def test_a_wrong_leaf_dtype_fails() -> None:
    s = _pytree("gradient:mixed-dtypes")
    wrong = dataclasses.replace(s, res1={"hi": s.res1["hi"], "lo": s.res1["lo"].astype(np.float64)})
    with pytest.raises(
        AssertionError, match=r"result 0\['lo'\] has dtype float32, expected float64"
    ):
        test_differentiation(FD, [wrong])


def test_mutating_a_leaf_of_a_pytree_context_fails() -> None:
    def f(x: Any, c: Any) -> Any:
        c["unused"][...] += 1.0  # forbidden: contexts must not change (f(x) does not change)
        return (x**2).sum()

    x = np.linspace(0.5, 2.0, 3)
    context = Constant({"unused": np.zeros(2), "other": np.ones(1)})
    s = Scenario(f, x, operator="gradient", contexts=(context,), res1=2 * x, name="mutating")
    with pytest.raises(AssertionError, match=r"context 0\['unused'\] was mutated"):
        test_differentiation(FD, [s])


def test_max_relative_error_and_zeros_like_result_work_leaf_by_leaf() -> None:
    tree = {"a": np.ones(2), "b": (np.full(3, 4.0, dtype=np.float32), None)}
    near = {"a": np.ones(2) + 1e-3, "b": (np.full(3, 4.0, dtype=np.float32), None)}
    assert max_relative_error(near, tree) == pytest.approx(1e-3)
    assert max_relative_error({"a": np.ones(2)}, tree) == np.inf
    assert max_relative_error({"a": np.ones(2), "b": [tree["b"][0], None]}, tree) == np.inf
    zeros = zeros_like_result(tree)
    assert flatten(zeros)[1] == flatten(tree)[1]
    assert zeros["b"][0].dtype == np.float32
    assert not zeros["b"][0].any()
    assert zeros["a"] is not tree["a"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_to_namespace_keeps_float64_leaves_in_jax() -> None:
    import jax.numpy as jnp

    s = _pytree("gradient:mixed-dtypes").to_namespace(jnp)
    # outside JAX's 64-bit mode, jnp.asarray would make a float64 leaf float32
    assert str(s.x["hi"].dtype) == "float64"
    assert str(s.x["lo"].dtype) == "float32"
    assert str(s.res1["hi"].dtype) == "float64"
    assert str(s.res1["lo"].dtype) == "float32"
    np.testing.assert_array_equal(np.asarray(s.x["hi"]), [0.5, -1.0, 2.0])

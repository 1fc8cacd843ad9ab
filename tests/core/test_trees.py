"""Pytrees with finite differences (no engine): ravel, every operator on structured x and
outputs, contexts, out= and y=, preparation signatures and their reports, bad input."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

FD = di.AutoFiniteDiff()
RTOL = 1e-6
Pair = namedtuple("Pair", ["first", "second"])


def _loss(p: Any, X: Any, Y: Any) -> Any:
    xp = array_namespace(p["w"])
    return xp.mean((X @ p["w"] + p["b"] - Y) ** 2)


def _regression() -> tuple[dict[str, Any], Any, Any, dict[str, Any]]:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    params = {"w": rng.normal(size=(3, 2)), "b": np.zeros(2)}
    r = X @ params["w"] + params["b"] - Y
    grad = {"w": 2 * X.T @ r / r.size, "b": 2 * r.sum(0) / r.size}
    return params, X, Y, grad


# --- ravel --------------------------------------------------------------------------------


def test_ravel_orders_leaves_like_jax_and_keeps_each_leaf() -> None:
    tree = {"z": np.arange(2.0), "a": (np.ones((2, 2), dtype=np.float32), None, np.asarray(5.0))}
    flat, unravel = di.ravel(tree)
    np.testing.assert_array_equal(flat, [1, 1, 1, 1, 5, 0, 1])  # "a" before "z", depth first
    assert flat.dtype == np.float64  # the leaves' result type
    back = unravel(flat * 2)
    assert back["a"][0].dtype == np.float32
    assert back["a"][1] is None
    assert back["a"][2].shape == ()
    np.testing.assert_array_equal(back["z"], [0, 2])


def test_ravel_keeps_namespace_and_device() -> None:
    device = xps.Device("device1")
    tree = [xps.asarray([1.0, 2.0], device=device), xps.asarray(3.0, device=device)]
    flat, unravel = di.ravel(tree)
    assert array_namespace(flat) is xps
    assert flat.device == device
    assert unravel(flat)[1].shape == ()


# --- operators on trees ---------------------------------------------------------------------


def test_gradient_of_a_dict_of_parameters() -> None:
    params, X, Y, expected = _regression()
    g = di.gradient(_loss, FD, params, di.Constant(X), di.Constant(Y))
    assert sorted(g) == ["b", "w"]
    for k in expected:
        np.testing.assert_allclose(g[k], expected[k], rtol=RTOL, atol=1e-9)
    y, g2 = di.value_and_gradient(_loss, FD, params, di.Constant(X), di.Constant(Y))
    assert y.shape == ()
    np.testing.assert_allclose(g2["w"], expected["w"], rtol=RTOL, atol=1e-9)


def _tuple_to_dict(x: Any) -> Any:
    a, b = x
    return {"prod": a * b[0], "sum": a + b[1], "nested": Pair(a**2, b.sum())}


def _tuple_jacobian(a: Any, b: Any) -> Any:
    """d(raveled output) / d(raveled input); outputs in key order nested, prod, sum."""
    n = a.size
    rows = []
    # nested.first = a**2, nested.second = sum(b)
    rows.append(np.hstack([np.diag(2 * a), np.zeros((n, 2))]))
    rows.append(np.hstack([np.zeros((1, n)), np.ones((1, 2))]))
    rows.append(np.hstack([b[0] * np.eye(n), a[:, None], np.zeros((n, 1))]))
    rows.append(np.hstack([np.eye(n), np.zeros((n, 1)), np.ones((n, 1))]))
    return np.vstack(rows)


def test_tuple_input_dict_output_every_first_order_operator() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.5])
    x = (a, b)
    J = di.jacobian(_tuple_to_dict, FD, x)
    np.testing.assert_allclose(J, _tuple_jacobian(a, b), rtol=RTOL, atol=1e-9)
    t = (np.array([1.0, 0.0, -1.0]), np.array([2.0, 1.0]))
    (jt,) = di.pushforward(_tuple_to_dict, FD, x, (t,))
    flat_t = np.concatenate([t[0], t[1]])
    expected = J @ flat_t
    got, _ = di.ravel(jt)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-9)
    assert isinstance(jt["nested"], Pair)
    w = {"prod": np.ones(3), "sum": np.arange(3.0), "nested": Pair(np.ones(3), np.asarray(2.0))}
    (jtw,) = di.pullback(_tuple_to_dict, FD, x, (w,))
    assert isinstance(jtw, tuple)
    flat_w, _ = di.ravel(w)
    np.testing.assert_allclose(di.ravel(jtw)[0], J.T @ flat_w, rtol=RTOL, atol=1e-9)


def test_mixed_precision_leaves_keep_their_dtypes() -> None:
    x = {"a": np.array([1.0, 2.0], dtype=np.float32), "b": np.array([3.0])}

    def f(p: Any) -> Any:
        xp = array_namespace(p["a"])
        return xp.sum(xp.astype(p["a"], xp.float64) ** 2) + xp.sum(p["b"] ** 3)

    g = di.gradient(f, FD, x)
    assert g["a"].dtype == np.float32
    assert g["b"].dtype == np.float64
    # steps sized for the least precise leaf: float32-level accuracy for every leaf (a
    # float64-sized step on the float32 leaf was off by 4e-3)
    np.testing.assert_allclose(g["a"], [2.0, 4.0], rtol=1e-4)
    np.testing.assert_allclose(g["b"], [27.0], rtol=1e-4)


def test_hessian_and_hvp_over_the_raveled_variables() -> None:
    x = {"u": np.array([1.0, 2.0]), "v": np.asarray(0.5)}

    def f(p: Any) -> Any:
        return (p["u"] ** 2).sum() * p["v"] + p["v"] ** 3

    H = di.hessian(f, FD, x)
    u, v = x["u"], float(x["v"])
    expected = np.array([[2 * v, 0, 2 * u[0]], [0, 2 * v, 2 * u[1]], [2 * u[0], 2 * u[1], 6 * v]])
    np.testing.assert_allclose(H, expected, rtol=1e-4, atol=1e-6)
    (hv,) = di.hvp(f, FD, x, ({"u": np.array([1.0, 0.0]), "v": np.asarray(1.0)},))
    np.testing.assert_allclose(di.ravel(hv)[0], expected @ [1.0, 0.0, 1.0], rtol=1e-4)


def test_tree_contexts_are_passed_leaf_by_leaf() -> None:
    params, X, Y, expected = _regression()

    def loss(p: Any, data: Any) -> Any:
        return _loss(p, data["X"], data["Y"])

    data = {"X": X, "Y": Y}
    prep = di.prepare_gradient(loss, FD, params, di.Constant(data))
    g = di.gradient(loss, FD, params, di.Constant(data), prep=prep)
    np.testing.assert_allclose(g["w"], expected["w"], rtol=RTOL, atol=1e-9)
    other = {"X": X, "Y": Y + 1.0}  # contexts may change between calls
    g2 = di.gradient(loss, FD, params, di.Constant(other), prep=prep)
    r = X @ params["w"] + params["b"] - Y - 1.0
    np.testing.assert_allclose(g2["b"], 2 * r.sum(0) / r.size, rtol=RTOL, atol=1e-9)


def test_out_trees_are_written_and_returned() -> None:
    params, X, Y, expected = _regression()
    out = {"w": np.zeros((3, 2)), "b": np.zeros(2)}
    got = di.gradient(_loss, FD, params, di.Constant(X), di.Constant(Y), out=out)
    assert got is out
    np.testing.assert_allclose(out["w"], expected["w"], rtol=RTOL, atol=1e-9)
    with pytest.raises(di.ArgumentValueError, match=r"out="):
        di.gradient(_loss, FD, params, di.Constant(X), di.Constant(Y), out={"w": np.zeros(2)})


def test_two_argument_functions_with_a_tree_buffer() -> None:
    def f(y: Any, x: Any) -> None:
        y["square"][...] = x**2
        y["cube"][...] = x**3

    x = np.array([1.0, 2.0])
    buffer = {"square": np.zeros(2), "cube": np.zeros(2)}
    J = di.jacobian(f, FD, x, y=buffer)
    np.testing.assert_allclose(J, np.vstack([np.diag(3 * x**2), np.diag(2 * x)]), rtol=RTOL)
    np.testing.assert_allclose(buffer["square"], x**2)  # y holds f(x) after the call


# --- preparation --------------------------------------------------------------------------


def test_a_prep_is_reused_and_its_report_names_the_leaf() -> None:
    params, X, Y, _ = _regression()
    prep = di.prepare_gradient(_loss, FD, params, di.Constant(X), di.Constant(Y))
    assert isinstance(prep, di.Prep)
    moved = {"w": params["w"] + 1.0, "b": params["b"] - 1.0}
    di.gradient(_loss, FD, moved, di.Constant(X), di.Constant(Y), prep=prep)
    wrong = {"w": params["w"].astype(np.float32), "b": params["b"]}
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x\['w'\]"):
        di.gradient(_loss, FD, wrong, di.Constant(X), di.Constant(Y), prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(_loss, FD, (params["w"], params["b"]), di.Constant(X), prep=prep)
    array_prep = di.prepare_gradient(lambda v: (v**2).sum(), FD, np.ones(2))
    with pytest.raises(di.PreparationMismatchError, match=r"plain arrays"):
        di.gradient(lambda v: (v**2).sum(), FD, {"a": np.ones(2)}, prep=array_prep)


# --- bad input ------------------------------------------------------------------------------


def test_bad_trees_are_refused_naming_the_path_and_nothing_is_mutated() -> None:
    f = lambda p: (p["a"] ** 2).sum()  # noqa: E731
    with pytest.raises(di.ArgumentTypeError, match=r"x\['b'\]\[1\] is a str"):
        di.gradient(f, FD, {"a": np.ones(2), "b": [np.ones(1), "no"]})
    with pytest.raises(di.ArgumentTypeError, match=r"x\['b'\] is a array_api_strict array"):
        di.gradient(f, FD, {"a": np.ones(2), "b": xps.asarray([1.0])})
    with pytest.raises(di.ArgumentTypeError, match=r"keys cannot be sorted"):
        di.gradient(f, FD, {"a": np.ones(2), 1: np.ones(1)})
    x = {"a": np.ones(2), "b": np.ones(3)}
    before = {k: v.copy() for k, v in x.items()}
    with pytest.raises(di.ArgumentValueError, match=r"tangent 0 must have the structure of x"):
        di.pushforward(lambda p: p["a"] * 2, FD, x, ({"a": np.ones(2)},))
    with pytest.raises(di.ArgumentValueError, match=r"tangent 0\['b'\] must be like x"):
        di.pushforward(lambda p: p["a"] * 2, FD, x, ({"a": np.ones(2), "b": np.ones(2)},))

    def mutating(p: Any) -> Any:
        p["b"][0] = 9.0
        return (p["a"] ** 2).sum()

    with pytest.raises(di.FunctionOutputError, match=r"wrote into its argument x"):
        di.gradient(mutating, FD, x)
    for k, value in x.items():
        np.testing.assert_array_equal(value, before[k])


def test_structured_x_needs_floating_leaves() -> None:
    with pytest.raises(di.ArgumentTypeError, match=r"x\['n'\] has dtype int64"):
        di.gradient(lambda p: (p["a"] ** 2).sum(), FD, {"a": np.ones(2), "n": np.arange(2)})

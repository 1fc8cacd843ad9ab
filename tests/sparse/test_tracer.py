"""Sparsity detection by tracing: exact patterns, global patterns, second order, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface.sparse._tracer import TracingError
from differentiation_interface.testing.sparse_scenarios import sparse_scenarios

TRACER = di.TracerSparsityDetector()


def jac_pattern(f: Callable[..., Any], x: Any, *contexts: Any) -> np.ndarray:
    return di.jacobian_sparsity(f, x, TRACER, *contexts).toarray()


def hess_pattern(f: Callable[..., Any], x: Any) -> np.ndarray:
    return di.hessian_sparsity(f, x, TRACER).toarray()


def numeric_pattern(f: Callable[..., Any], x: Any) -> np.ndarray:
    """Nonzeros of a finite-difference Jacobian at a generic point (the oracle)."""
    jac = np.asarray(di.jacobian(f, di.AutoFiniteDiff(), x))
    return np.abs(jac) > 1e-6 * max(1.0, float(np.abs(jac).max()))


@pytest.mark.parametrize("scenario", sparse_scenarios(), ids=lambda s: s.name)
def test_patterns_equal_closed_forms(scenario: Any) -> None:
    if scenario.operator == "jacobian":
        got = di.jacobian_sparsity(scenario.f, scenario.x, TRACER)
    else:
        got = di.hessian_sparsity(scenario.f, scenario.x, TRACER)
    assert got.dtype == np.bool_
    assert got.shape == scenario.pattern.shape
    assert (got != scenario.pattern).nnz == 0
    reference = scenario.res1 if scenario.operator == "jacobian" else scenario.res2
    assert np.array_equal(scenario.pattern.toarray(), reference != 0)


def test_patterns_are_global() -> None:
    # At u = -1 every local derivative of maximum(u, 0) * roll(u, 1) vanishes.
    def f(u: Any) -> Any:
        xp = array_namespace(u)
        return xp.maximum(u, 0.0) * xp.roll(u, 1)

    n = 6
    expected = np.eye(n, dtype=bool) | np.roll(np.eye(n, dtype=bool), -1, axis=1)
    for point in (-np.ones(n), np.ones(n), np.zeros(n)):
        assert np.array_equal(jac_pattern(f, point), expected)


def test_pattern_of_a_matrix_input_is_in_c_order() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(x**2, axis=1)

    expected = np.kron(np.eye(3, dtype=bool), np.ones((1, 4), dtype=bool))
    assert np.array_equal(jac_pattern(f, np.ones((3, 4))), expected)


def _x(shape: tuple[int, ...], low: float = 0.2, high: float = 0.8) -> np.ndarray:
    # A generator per call: the point must not depend on which tests ran before (xdist).
    return np.random.default_rng(0).uniform(low, high, shape)


UNARY = [
    "abs", "acos", "asin", "asinh", "atan", "atanh", "cos", "cosh", "exp", "expm1", "log",
    "log1p", "log2", "log10", "negative", "positive", "reciprocal", "sin", "sinh", "sqrt",
    "square", "tan", "tanh", "real", "conj",
]  # fmt: skip


@pytest.mark.parametrize("name", UNARY)
def test_elementwise_unary(name: str) -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return getattr(xp, name)(x[::-1])

    x = _x((5,))
    assert np.array_equal(jac_pattern(f, x), numeric_pattern(f, x))


def test_acosh_and_zero_derivative_functions() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        steps = xp.floor(x) + xp.ceil(x) + xp.round(x) + xp.trunc(x) + xp.sign(x)
        flags = xp.astype(xp.isfinite(x), x.dtype) + xp.astype(x > 0.5, x.dtype)
        return xp.acosh(1.0 + x) + steps + flags

    assert np.array_equal(jac_pattern(f, _x((4,))), np.eye(4, dtype=bool))


BINARY = [
    "add", "subtract", "multiply", "divide", "atan2", "hypot", "logaddexp", "maximum",
    "minimum", "pow", "copysign", "remainder",
]  # fmt: skip


def _global(got: np.ndarray, oracle: np.ndarray, expected: np.ndarray) -> None:
    """A global pattern contains every local one, and is the expected union."""
    assert np.all(got >= oracle)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("name", BINARY)
def test_elementwise_binary_with_broadcasting(name: str) -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return getattr(xp, name)(x[:, :1] + 1.0, x[:1, 1:] + 0.5)  # (3, 1) with (1, 3)

    x = _x((3, 4))
    got, oracle = jac_pattern(f, x), numeric_pattern(f, x)
    # piecewise: either operand (maximum, minimum), or the divisor only where a >= b
    # (d remainder(a, b) / db = -floor(a / b)), depending on x
    if name in ("maximum", "minimum", "remainder"):
        _global(got, oracle, jac_pattern(lambda x: x[:, :1] + x[:1, 1:], x))
    else:
        assert np.array_equal(got, oracle)


def test_python_scalars_and_numpy_constants() -> None:
    weights = np.array([1.0, 0.0, 2.0, 0.0])

    def f(x: Any) -> Any:
        return 2.0 * x * weights + 1 - x[0] / 3 + weights @ x

    expected = np.zeros((4, 4), dtype=bool)
    expected[[0, 2], [0, 2]] = True
    expected[:, 0] = True
    expected[:, 2] = True
    assert np.array_equal(jac_pattern(f, _x((4,))), expected)


@pytest.mark.parametrize(
    ("name", "axis", "keepdims"),
    [
        (name, axis, keepdims)
        for name in ("sum", "prod", "mean", "max", "min", "std", "var")
        for axis, keepdims in ((None, False), (0, False), (1, True), ((0, 1), True), (-1, False))
    ],
)
def test_reductions(name: str, axis: Any, keepdims: bool) -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.reshape(getattr(xp, name)(x, axis=axis, keepdims=keepdims), (-1,))

    x = _x((3, 4))
    got, oracle = jac_pattern(f, x), numeric_pattern(f, x)
    if name in ("max", "min"):  # the pattern of the whole group, not of the argmax

        def total(x: Any) -> Any:
            xp = array_namespace(x)
            return xp.reshape(xp.sum(x, axis=axis, keepdims=keepdims), (-1,))

        _global(got, oracle, jac_pattern(total, x))
    else:
        assert np.array_equal(got, oracle)


MANIPULATIONS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("reshape", lambda xp, x: xp.reshape(x, (4, 3))),
    ("permute_dims", lambda xp, x: xp.permute_dims(x, (1, 0))),
    ("matrix_transpose", lambda xp, x: x.mT),
    ("flip", lambda xp, x: xp.flip(x, axis=1)),
    ("roll", lambda xp, x: xp.roll(x, (1, -1), axis=(0, 1))),
    ("roll flat", lambda xp, x: xp.roll(x, 5)),
    ("slices", lambda xp, x: x[::-2, 1:3]),
    ("integer", lambda xp, x: x[1, -1] * x[..., 0]),
    ("integer arrays", lambda xp, x: x[xp.asarray([2, 0, 2]), :]),
    ("known mask", lambda xp, x: x[xp.asarray([True, False, True]), ...]),
    ("newaxis", lambda xp, x: x[None, :, 1]),
    ("concat", lambda xp, x: xp.concat([x[:, :2], x[:1, :2], xp.ones((1, 2))], axis=0)),
    ("concat flat", lambda xp, x: xp.concat([x, x[:1, :]], axis=None)),
    ("stack", lambda xp, x: xp.stack([x[0, :], x[2, :]], axis=1)),
    ("expand_dims", lambda xp, x: xp.expand_dims(x, axis=1)),
    ("squeeze", lambda xp, x: xp.squeeze(x[:1, :], axis=0)),
    ("broadcast_to", lambda xp, x: xp.broadcast_to(x[:, :1], (3, 5))),
    ("tile", lambda xp, x: xp.tile(x[:1, :], (2, 1))),
    ("repeat", lambda xp, x: xp.repeat(x, 2, axis=0)),
    ("moveaxis", lambda xp, x: xp.moveaxis(x, 0, -1)),
    ("take", lambda xp, x: xp.take(x, xp.asarray([3, 1]), axis=1)),
    ("take_along_axis", lambda xp, x: xp.take_along_axis(x, xp.asarray([[0], [3], [1]]), axis=1)),
    ("unstack", lambda xp, x: xp.unstack(x, axis=1)[2]),
    ("diff", lambda xp, x: xp.diff(x, axis=1)),
    ("tril", lambda xp, x: xp.tril(x[:, :3])),
    ("triu", lambda xp, x: xp.triu(x, k=1)),
    ("where known", lambda xp, x: xp.where(xp.arange(4) > 1, x, -x[:, ::-1])),
    ("where traced", lambda xp, x: xp.where(x > 0.5, x, x[::-1, :])),
    ("clip", lambda xp, x: xp.clip(x, 0.3, 0.7)),
    ("clip traced bounds", lambda xp, x: xp.clip(x[0, :], x[1, :], None)),
    ("cumulative_sum", lambda xp, x: xp.cumulative_sum(x, axis=1)),
    ("cumulative_sum initial", lambda xp, x: xp.cumulative_sum(x, axis=0, include_initial=True)),
    ("cumulative_prod", lambda xp, x: xp.cumulative_prod(x, axis=1)),
    ("sort", lambda xp, x: xp.sort(x, axis=0)),
    ("matmul", lambda xp, x: x @ x.mT),
    ("matmul vector", lambda xp, x: x @ x[0, :]),
    ("vecdot", lambda xp, x: xp.vecdot(x, x[::-1, :])),
    ("tensordot", lambda xp, x: xp.tensordot(x, x, axes=([1], [1]))),
    ("tensordot int", lambda xp, x: xp.tensordot(x[:, :3], xp.ones((3, 2)), axes=1)),
    ("outer", lambda xp, x: xp.linalg.outer(x[0, :], x[1, :2])),
    ("trace", lambda xp, x: xp.linalg.trace(x[:, :3]) * x[0, 3]),
    ("cross", lambda xp, x: xp.linalg.cross(x[0, :3], x[1, :3])),
    ("vector_norm", lambda xp, x: xp.linalg.vector_norm(x, axis=1)),
    ("diagonal", lambda xp, x: xp.linalg.diagonal(x[:, :3])),
    ("meshgrid", lambda xp, x: xp.meshgrid(x[0, :2], x[1, :3])[1]),
]


@pytest.mark.parametrize("operation", MANIPULATIONS, ids=lambda op: op[0])
def test_operations_match_numeric_patterns(operation: tuple[str, Any]) -> None:
    _, build = operation

    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.reshape(build(xp, x), (-1,))

    x = _x((3, 4))
    got, oracle = jac_pattern(f, x), numeric_pattern(f, x)
    piecewise = {
        "where traced": lambda xp, x: x + x[::-1, :],
        "clip": lambda xp, x: x,
        "clip traced bounds": lambda xp, x: x[0, :] + x[1, :],
        "sort": lambda xp, x: xp.broadcast_to(xp.sum(x, axis=0), (3, 4)),
    }
    if operation[0] in piecewise:  # the union over every branch or position
        other = piecewise[operation[0]]
        _global(
            got,
            oracle,
            jac_pattern(
                lambda x: array_namespace(x).reshape(other(array_namespace(x), x), (-1,)), x
            ),
        )
    else:
        assert np.array_equal(got, oracle)


def test_matmul_with_a_banded_constant_is_banded() -> None:
    n = 8
    laplacian = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)

    def f(u: Any) -> Any:
        return laplacian @ u + u**2

    assert np.array_equal(jac_pattern(f, _x((n,))), laplacian != 0)


def test_creation_functions() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        n = x.shape[0]
        base = xp.zeros(n) + xp.ones(n) + xp.full((n,), 2.0) + xp.arange(n) + xp.linspace(0, 1, n)
        base = base + xp.eye(n)[0, :] + xp.zeros_like(x) + xp.ones_like(x) + xp.full_like(x, 3.0)
        return base * x + xp.asarray([1.0] * n) + xp.asarray(x, copy=True)

    assert np.array_equal(jac_pattern(f, _x((4,))), np.eye(4, dtype=bool))


def test_asarray_of_a_list_of_traced_scalars() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.asarray([x[1] * x[2], x[0]])

    expected = np.array([[False, True, True], [True, False, False]])
    assert np.array_equal(jac_pattern(f, _x((3,))), expected)


def test_writes_by_index_and_in_place_operators() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        y = xp.zeros(4)
        y[1:] = x[:-1]
        y[0] = x[3] * 2.0
        y[xp.asarray([2])] = x[0]
        y += x
        y *= 2.0
        return y

    expected = np.eye(4, dtype=bool)
    expected[0, 3] = expected[1, 0] = expected[2, 0] = expected[3, 2] = True
    assert np.array_equal(jac_pattern(f, _x((4,))), expected)


def test_two_argument_function_and_contexts() -> None:
    def f(y: Any, x: Any, scale: Any, cache: Any) -> None:
        cache[...] = x**2
        y[...] = scale * cache[::-1]

    x = _x((3,))
    pattern = di.jacobian_sparsity(
        f, x, TRACER, di.Constant(np.zeros(3)), di.Cache(np.zeros(3)), y=np.zeros(3)
    )
    # A Constant may change between calls: its zeros are not structural.
    assert np.array_equal(pattern.toarray(), np.eye(3, dtype=bool)[::-1])


def test_numpy_functions_on_traced_arrays() -> None:
    def f(x: Any) -> Any:
        return np.concatenate([np.sin(x[:2]), np.sum(x, keepdims=True), np.dot(x, x)[None]])

    x = _x((3,))
    assert np.array_equal(jac_pattern(f, x), numeric_pattern(f, x))


HESSIANS: list[tuple[str, Callable[[Any], Any], np.ndarray]] = [
    ("linear", lambda x: array_namespace(x).sum(2.0 * x - x[::-1]), np.zeros((3, 3))),
    ("product", lambda x: x[0] * x[1] + x[2], np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])),
    ("square", lambda x: array_namespace(x).sum(x**2), np.eye(3)),
    ("power one", lambda x: array_namespace(x).sum(x**1.0), np.zeros((3, 3))),
    ("quotient", lambda x: x[0] / x[1], np.array([[0, 1, 0], [1, 1, 0], [0, 0, 0]])),
    (
        "exp of sum",
        lambda x: array_namespace(x).exp(x[0] + x[2]),
        np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]]),
    ),
    ("prod", lambda x: array_namespace(x).prod(x), np.ones((3, 3))),
    (
        "piecewise",
        lambda x: array_namespace(x).sum(abs(x) + array_namespace(x).maximum(x, 0.5)),
        np.zeros((3, 3)),
    ),
    ("quadratic form", lambda x: x @ (np.eye(3, k=1) @ x), np.eye(3, k=1) + np.eye(3, k=-1)),
    (
        "norm",
        lambda x: array_namespace(x).linalg.vector_norm(x[:2]),
        np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]]),
    ),
]


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c[0])
def test_hessian_patterns(case: tuple[str, Any, np.ndarray]) -> None:
    _, f, expected = case
    assert np.array_equal(hess_pattern(f, _x((3,))), expected != 0)


UNSUPPORTED: list[tuple[str, Callable[[Any], Any]]] = [
    ("unique_values", lambda x: array_namespace(x).unique_values(x)),
    ("nonzero", lambda x: array_namespace(x).nonzero(x)[0]),
    ("numpy.convolve", lambda x: np.convolve(x, x)),
    ("isin", lambda x: array_namespace(x).isin(x, x)),
]


@pytest.mark.parametrize("case", UNSUPPORTED, ids=lambda c: c[0])
def test_unsupported_operations_raise_naming_them(case: tuple[str, Any]) -> None:
    name, f = case
    with pytest.raises(di.UnsupportedOperationError, match=f"`{name}`"):
        di.jacobian_sparsity(f, _x((3,)), TRACER)


def test_control_flow_on_values_raises_and_names_where() -> None:
    def f(x: Any) -> Any:
        return x if x[0] > 0 else -x

    with pytest.raises(TracingError, match=r"xp\.where"):
        jac_pattern(f, _x((3,)))


def test_known_values_may_steer_control_flow() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        n = int(xp.sum(xp.ones(3)))
        return x[:n] * 2.0 if bool(xp.all(xp.arange(3) >= 0)) else x

    assert np.array_equal(jac_pattern(f, _x((3,))), np.eye(3, dtype=bool))


def test_writing_through_a_view() -> None:
    def returns_the_view(x: Any) -> Any:
        xp = array_namespace(x)
        y = xp.reshape(xp.zeros(4), (2, 2))
        y[0, :] = x[2:] * 2.0
        y[1, :] = x[:2]
        return xp.reshape(y, (-1,))

    expected = np.eye(4, dtype=bool)[[2, 3, 0, 1]]
    assert np.array_equal(jac_pattern(returns_the_view, _x((4,))), expected)

    def reads_the_base(x: Any) -> Any:
        xp = array_namespace(x)
        y = xp.zeros(4)
        view = y[1:]
        view[0] = x[0]
        return y

    with pytest.raises(TracingError, match="after writing into a view"):
        jac_pattern(reads_the_base, _x((4,)))


def test_reading_a_stale_view_raises() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        y = xp.zeros(4)
        view = y[1:]
        y[...] = x
        return view

    with pytest.raises(TracingError, match="modified after the view"):
        jac_pattern(f, _x((4,)))


def test_indexing_with_values_of_x() -> None:
    def by_mask(x: Any) -> Any:
        return x[x > 0.5]

    with pytest.raises(TracingError, match="boolean mask"):
        jac_pattern(by_mask, _x((4,)))

    def by_float(x: Any) -> Any:
        return x[x]

    with pytest.raises(TracingError, match="indexes an array with values computed from x"):
        jac_pattern(by_float, _x((4,)))

    def by_integers(x: Any) -> Any:  # integers have zero derivative: any element may be taken
        xp = array_namespace(x)
        return x[xp.astype(x * 3, xp.int64)]

    assert jac_pattern(by_integers, _x((4,))).all()


def test_conversion_to_numpy_raises() -> None:
    with pytest.raises(TracingError, match="Array API"):
        jac_pattern(lambda x: np.asarray(x) * 2.0, _x((3,)))


def test_opaque_index_arrays_are_conservative() -> None:
    def f(x: Any, idx: Any) -> Any:
        return x[idx] * 2.0

    pattern = jac_pattern(f, _x((3,)), di.Constant(np.array([0, 2])))
    assert np.array_equal(pattern, np.ones((2, 3), dtype=bool))


def test_unknown_attributes_are_attribute_errors() -> None:
    def f(x: Any) -> Any:
        return array_namespace(x).no_such_function(x)

    with pytest.raises(AttributeError, match="no_such_function"):
        jac_pattern(f, _x((3,)))


def test_tracing_namespace_metadata() -> None:
    seen: dict[str, Any] = {}

    def f(x: Any) -> Any:
        xp = array_namespace(x)
        seen["dtype"] = x.dtype == xp.float64 and xp.isdtype(x.dtype, "real floating")
        seen["eps"] = float(xp.finfo(x.dtype).eps)
        seen["result"] = xp.result_type(x, 1.0)
        seen["info"] = xp.__array_namespace_info__().default_dtypes()["real floating"]
        seen["shape"] = (x.shape, x.ndim, x.size, len(x))
        return x.T * 1.0

    jac_pattern(f, _x((3,)))
    assert seen["dtype"]
    assert seen["eps"] == np.finfo(np.float64).eps
    assert seen["result"] == np.float64
    assert seen["info"] == np.float64
    assert seen["shape"] == ((3,), 1, 3, 3)


def test_float32_and_complex_inputs() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.real(x * xp.conj(x[::-1]))

    assert jac_pattern(f, np.ones(3, dtype=np.float32)).shape == (3, 3)
    pattern = jac_pattern(f, np.ones(3, dtype=np.complex128))
    assert np.array_equal(pattern, np.eye(3, dtype=bool) | np.eye(3, dtype=bool)[::-1])


def test_detection_of_10_to_the_4_inputs_is_vectorised() -> None:
    from differentiation_interface.testing.sparse_scenarios import brusselator

    pattern = di.jacobian_sparsity(brusselator, np.ones(10_000), TRACER)
    assert pattern.nnz == 4 * 10_000

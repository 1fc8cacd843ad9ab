"""Every operator inside the caller's JAX transformations (API section 11, first bullet).

Each case calls one operator (plain or value-and) with one backend inside ``jax.jit``,
``jax.vmap``, ``jax.grad`` or ``jax.lax.scan``, prepared outside on concrete arrays or
unprepared (prepared inside the trace). Inside ``jit``, ``vmap`` and ``scan`` the results must
equal the direct call's; through ``jax.grad`` they must equal JAX's own nested derivative of
the same quantity (the operator written with ``jax.jvp``/``jax.vjp``/``jax.hessian``), an
independent reference. Tangents and cotangents are concrete arrays closed over from outside,
standing next to a traced ``x``.

``AutoJAX(mode="forward")`` runs its own plans for ``gradient`` and ``jacobian`` only (the
other operators share the reverse selector's plans), so only those two are run with it.
JAX engines compute in float32; finite differences in float64 (JAX's 64-bit mode, scoped),
where their error is small enough for the grad references to be meaningful.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

jax = pytest.importorskip("jax")
jnp = jax.numpy

N = 3  # size of x: small, so that every finite-difference program compiles quickly


# Written against the Array API (not jnp directly) so that AutoSparse can detect patterns.
def _scalar(x: Any) -> Any:  # R^n -> R
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2) + x[0] * x[-1] ** 2


def _vector(x: Any) -> Any:  # R^n -> R^(n-1)
    xp = array_namespace(x)
    return xp.sin(x[1:]) * x[:-1] + x[0] ** 2


def _curve(t: Any) -> Any:  # R -> R^2
    xp = array_namespace(t)
    return xp.stack([xp.sin(t) * t, t**3])


def _dx(dtype: Any) -> Any:
    return jnp.linspace(0.3, 1.2, N, dtype=dtype)


def _tangent(dtype: Any) -> Any:
    return jnp.asarray([1.0, -0.5, 2.0], dtype=dtype)


def _cotangent(dtype: Any) -> Any:
    return jnp.asarray([0.5, -1.5], dtype=dtype)


class Case:
    """One operator: its function, the library calls (plain and value-and variant), the
    preparation and a JAX reference.

    ``call(backend, x, prep)`` and ``native(x)`` return flat tuples of arrays.
    """

    def __init__(
        self,
        name: str,
        f: Callable[[Any], Any],
        call: Callable[[Any, Any, Any, dict[str, Any]], tuple[Any, ...]],
        prepare: Callable[[Any, Any, Any], Any],
        native: Callable[[Any, Any], tuple[Any, ...]],
        *,
        scalar_x: bool = False,
    ) -> None:
        self.name, self.f, self.scalar_x = name, f, scalar_x
        self._call, self._prepare, self._native = call, prepare, native

    def point(self, dtype: Any) -> Any:
        return jnp.asarray(0.7, dtype=dtype) if self.scalar_x else _dx(dtype)

    def call(self, backend: Any, x: Any, prep: Any) -> tuple[Any, ...]:
        extra = {} if prep is None else {"prep": prep}
        results = self._call(backend, x, x.dtype, extra)
        return tuple(r.todense() if hasattr(r, "todense") else r for r in results)

    def prepare(self, backend: Any, x: Any) -> Any:
        return self._prepare(backend, x, x.dtype)

    def native(self, x: Any) -> tuple[Any, ...]:
        return self._native(x, x.dtype)

    def direct(self, backend_name: str) -> tuple[Any, tuple[Any, ...], Any, Any]:
        """``(x, results of the direct call, prep, reference gradient)``, computed once per
        backend: the direct call checked against JAX's own derivatives, and the gradient
        of :func:`_loss` of JAX's own derivatives (compiled: eager JAX compiles each
        operation separately)."""
        key = (backend_name, self.name)
        if key not in _DIRECT:
            backend = BACKENDS[backend_name]
            dtype, _, rtol = _precision(backend_name)
            x = self.point(dtype)
            prep = self.prepare(backend, x)
            results = self.call(backend, x, prep)
            _close(results, jax.jit(self.native)(x), 200 * rtol, "direct call vs JAX")
            weights = _weights(results)
            expected = jax.jit(jax.grad(lambda x: _loss(self.native(x), weights)))(x)
            _DIRECT[key] = (x, results, prep, expected)
        return _DIRECT[key]


_DIRECT: dict[tuple[str, str], tuple[Any, tuple[Any, ...], Any, Any]] = {}


def _jvp(f: Callable[[Any], Any], x: Any, t: Any) -> Any:
    return jax.jvp(f, (x,), (t,))[1]


def _vjp(f: Callable[[Any], Any], x: Any, c: Any) -> Any:
    return jax.vjp(f, x)[1](c)[0]


def _hvp(x: Any, t: Any) -> Any:
    return _jvp(jax.grad(_scalar), x, t)


def _with_value(plain: Any, value_and: Any) -> tuple[Any, ...]:
    """The plain variant's result(s) followed by the value-and variant's, as one flat tuple
    (both are checked in one traced program: one compilation per case)."""
    return (*_flat((plain,)), *_flat(value_and))


CASES = [
    Case(
        "pushforward",
        _vector,
        lambda b, x, d, p: _with_value(
            di.pushforward(_vector, b, x, (_tangent(d),), **p),
            di.value_and_pushforward(_vector, b, x, (_tangent(d),), **p),
        ),
        lambda b, x, d: di.prepare_pushforward(_vector, b, x, (_tangent(d),)),
        lambda x, d: (
            _jvp(_vector, x, _tangent(d)),
            _vector(x),
            _jvp(_vector, x, _tangent(d)),
        ),
    ),
    Case(
        "pullback",
        _vector,
        lambda b, x, d, p: _with_value(
            di.pullback(_vector, b, x, (_cotangent(d),), **p),
            di.value_and_pullback(_vector, b, x, (_cotangent(d),), **p),
        ),
        lambda b, x, d: di.prepare_pullback(_vector, b, x, (_cotangent(d),)),
        lambda x, d: (
            _vjp(_vector, x, _cotangent(d)),
            _vector(x),
            _vjp(_vector, x, _cotangent(d)),
        ),
    ),
    Case(
        "derivative",
        _curve,
        lambda b, x, d, p: _with_value(
            di.derivative(_curve, b, x, **p), di.value_and_derivative(_curve, b, x, **p)
        ),
        lambda b, x, d: di.prepare_derivative(_curve, b, x),
        lambda x, d: (jax.jacfwd(_curve)(x), _curve(x), jax.jacfwd(_curve)(x)),
        scalar_x=True,
    ),
    Case(
        "gradient",
        _scalar,
        lambda b, x, d, p: _with_value(
            di.gradient(_scalar, b, x, **p), di.value_and_gradient(_scalar, b, x, **p)
        ),
        lambda b, x, d: di.prepare_gradient(_scalar, b, x),
        lambda x, d: (jax.grad(_scalar)(x), *jax.value_and_grad(_scalar)(x)),
    ),
    Case(
        "jacobian",
        _vector,
        lambda b, x, d, p: _with_value(
            di.jacobian(_vector, b, x, **p), di.value_and_jacobian(_vector, b, x, **p)
        ),
        lambda b, x, d: di.prepare_jacobian(_vector, b, x),
        lambda x, d: (jax.jacfwd(_vector)(x), _vector(x), jax.jacfwd(_vector)(x)),
    ),
    Case(
        "second_derivative",
        _curve,
        lambda b, x, d, p: _with_value(
            di.second_derivative(_curve, b, x, **p),
            di.value_derivative_and_second_derivative(_curve, b, x, **p),
        ),
        lambda b, x, d: di.prepare_second_derivative(_curve, b, x),
        lambda x, d: (
            jax.jacfwd(jax.jacfwd(_curve))(x),
            _curve(x),
            jax.jacfwd(_curve)(x),
            jax.jacfwd(jax.jacfwd(_curve))(x),
        ),
        scalar_x=True,
    ),
    Case(
        "hvp",
        _scalar,
        lambda b, x, d, p: _with_value(
            di.hvp(_scalar, b, x, (_tangent(d),), **p),
            di.gradient_and_hvp(_scalar, b, x, (_tangent(d),), **p),
        ),
        lambda b, x, d: di.prepare_hvp(_scalar, b, x, (_tangent(d),)),
        lambda x, d: (_hvp(x, _tangent(d)), jax.grad(_scalar)(x), _hvp(x, _tangent(d))),
    ),
    Case(
        "hessian",
        _scalar,
        lambda b, x, d, p: _with_value(
            di.hessian(_scalar, b, x, **p), di.value_gradient_and_hessian(_scalar, b, x, **p)
        ),
        lambda b, x, d: di.prepare_hessian(_scalar, b, x),
        lambda x, d: (
            jax.hessian(_scalar)(x),
            _scalar(x),
            jax.grad(_scalar)(x),
            jax.hessian(_scalar)(x),
        ),
    ),
]
SPARSE_OPERATORS = ("jacobian", "hessian")


def _flat(results: Any) -> tuple[Any, ...]:
    """``(value, (t0,))``-style results (or a bare array) as a flat tuple of arrays."""
    if not isinstance(results, tuple):
        return (results,)
    flat: list[Any] = []
    for r in results:
        flat.extend(r if isinstance(r, tuple) else (r,))
    return tuple(flat)


BACKENDS = {
    "jax": di.AutoJAX(),
    "jax-forward": di.AutoJAX(mode="forward"),
    "finite-diff": di.AutoFiniteDiff(),
    "sparse-jax": di.AutoSparse(di.AutoJAX()),
    "sparse-finite-diff": di.AutoSparse(di.AutoFiniteDiff()),
}
#: The operators whose JAX plan depends on the mode (the others run the same plan in both).
MODE_OPERATORS = ("gradient", "jacobian")
GRID = [
    (backend, case)
    for backend in BACKENDS
    for case in CASES
    if (not backend.startswith("sparse") or case.name in SPARSE_OPERATORS)
    and (backend != "jax-forward" or case.name in MODE_OPERATORS)
]


def _precision(backend: str) -> tuple[Any, contextlib.AbstractContextManager[Any], float]:
    """dtype, precision scope and relative tolerance of the grad reference."""
    if "finite-diff" in backend:
        return jnp.float64, jax.enable_x64(True), 1e-4
    return jnp.float32, contextlib.nullcontext(), 2e-5


def _close(got: Any, expected: Any, rtol: float, what: str) -> None:
    assert len(got) == len(expected), what
    for got_one, expected_one in zip(got, expected, strict=True):
        g, e = np.asarray(got_one), np.asarray(expected_one)
        assert g.shape == e.shape, what
        scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def _weights(results: tuple[Any, ...]) -> tuple[Any, ...]:
    """Fixed, distinct weights for each result, to reduce them to one scalar loss."""
    return tuple(
        jnp.reshape(jnp.cos(jnp.arange(np.prod(r.shape), dtype=r.dtype) + k), r.shape)
        for k, r in enumerate(results)
    )


def _loss(results: tuple[Any, ...], weights: tuple[Any, ...]) -> Any:
    return sum(jnp.sum(r * w) for r, w in zip(results, weights, strict=True))


@pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])
@pytest.mark.parametrize("transform", ["jit", "vmap", "scan", "grad"])
@pytest.mark.parametrize(("backend_name", "case"), GRID, ids=[f"{b}-{c.name}" for b, c in GRID])
def test_operator_inside_transform(
    backend_name: str, case: Case, transform: str, prepared: bool
) -> None:
    backend = BACKENDS[backend_name]
    dtype, scope, rtol = _precision(backend_name)
    with scope:
        x, direct, outside, expected = case.direct(backend_name)
        prep = outside if prepared else None
        # The same computation, which XLA may fuse and reorder differently: one rounding
        # of f is amplified by 1/h**2 in a second-order finite difference (about 1e-8).
        exact = 1e-5 if dtype == jnp.float32 else 1e-6
        if transform == "jit":
            got = jax.jit(lambda x: case.call(backend, x, prep))(x)
            _close(got, direct, exact, "jit")
        elif transform == "vmap":
            points = jnp.stack([x, 1.5 * x])
            got = jax.vmap(lambda x: case.call(backend, x, prep))(points)
            _close(tuple(r[0] for r in got), direct, exact, "vmap, point 0")
            second = case.call(backend, 1.5 * x, outside)
            _close(tuple(r[1] for r in got), second, exact, "vmap, point 1")
        elif transform == "scan":
            points = jnp.stack([x, 1.5 * x])

            def step(carry: Any, x: Any) -> Any:
                return carry, case.call(backend, x, prep)

            _, got = jax.lax.scan(step, 0.0, points)
            _close(tuple(r[0] for r in got), direct, exact, "scan, step 0")
        else:
            weights = _weights(direct)
            got = jax.grad(lambda x: _loss(case.call(backend, x, prep), weights))(x)
            _close((got,), (expected,), rtol, "grad through the operator")


# --- beyond the grid: auxiliary outputs, pytrees, traced tangents, the caches, errors -------


def _with_aux(x: Any) -> Any:
    y = _scalar(x)
    return y, {"y": y, "twice": 2.0 * x}


@pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])
@pytest.mark.parametrize("backend_name", ["jax", "finite-diff"])
def test_has_aux_inside_jit(backend_name: str, prepared: bool) -> None:
    backend = BACKENDS[backend_name]
    dtype, scope, _ = _precision(backend_name)
    with scope:
        x = _dx(dtype)
        prep = di.prepare_gradient(_with_aux, backend, x, has_aux=True) if prepared else None
        extra = {} if prep is None else {"prep": prep}

        def both(x: Any) -> Any:
            return di.value_and_gradient(_with_aux, backend, x, has_aux=True, **extra)

        (y, aux), grad = jax.jit(both)(x)
        expected_grad = jax.grad(_scalar)(x)
        tol = 1e-5 if dtype == jnp.float32 else 1e-8
        np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)
        np.testing.assert_allclose(y, _scalar(x), rtol=tol)
        np.testing.assert_allclose(aux["y"], _scalar(x), rtol=tol)
        np.testing.assert_allclose(aux["twice"], 2.0 * x, rtol=tol)


def _tree_loss(p: Any) -> Any:
    xp = array_namespace(p["w"])
    return xp.sum(xp.sin(p["w"]) * p["b"][0]) + xp.sum(p["b"] ** 3)


@pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])
@pytest.mark.parametrize("backend_name", ["jax", "finite-diff"])
def test_pytree_gradient_inside_jit(backend_name: str, prepared: bool) -> None:
    backend = BACKENDS[backend_name]
    dtype, scope, _ = _precision(backend_name)
    with scope:
        params = {"w": _dx(dtype), "b": jnp.asarray([0.5, -2.0], dtype=dtype)}
        prep = di.prepare_gradient(_tree_loss, backend, params) if prepared else None
        extra = {} if prep is None else {"prep": prep}
        got = jax.jit(lambda p: di.gradient(_tree_loss, backend, p, **extra))(params)
        expected = jax.grad(_tree_loss)(params)
        tol = 1e-5 if dtype == jnp.float32 else 1e-8
        for key in ("w", "b"):
            np.testing.assert_allclose(got[key], expected[key], rtol=tol, atol=tol)


@pytest.mark.parametrize("backend_name", ["jax", "finite-diff"])
def test_traced_tangents_with_a_prep_made_on_concrete_ones(backend_name: str) -> None:
    backend = BACKENDS[backend_name]
    dtype, scope, _ = _precision(backend_name)
    with scope:
        x, t = _dx(dtype), _tangent(dtype)
        prep = di.prepare_hvp(_scalar, backend, x, (t,))
        got = jax.jit(lambda x, t: di.hvp(_scalar, backend, x, (t,), prep=prep)[0])(x, 2.0 * t)
        tol = 1e-5 if dtype == jnp.float32 else 1e-6
        np.testing.assert_allclose(got, _hvp(x, 2.0 * t), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend_name", ["jax", "finite-diff", "sparse-finite-diff"])
def test_unprepared_calls_in_separate_traces_share_no_tracer(backend_name: str) -> None:
    """A preparation made while tracing holds that trace's tracers: it must not be cached
    for the next trace (which would raise JAX's UnexpectedTracerError)."""
    backend = BACKENDS[backend_name]
    dtype, scope, _ = _precision(backend_name)
    with scope:
        x = _dx(dtype)
        expected = jax.jacfwd(_vector)(x)

        def step(carry: Any, x: Any) -> Any:
            j = di.jacobian(_vector, backend, x)
            return carry, j.todense() if hasattr(j, "todense") else j

        for scale in (1.0, 1.0, 2.0):  # the same trace twice, then another point
            _, got = jax.lax.scan(step, 0.0, jnp.stack([scale * x]))
            jit_got = jax.jit(lambda x: step(0.0, x)[1])(scale * x)
            expected = jax.jacfwd(_vector)(scale * x)
            tol = 1e-5 if dtype == jnp.float32 else 1e-6
            np.testing.assert_allclose(got[0], expected, rtol=tol, atol=tol)
            np.testing.assert_allclose(jit_got, expected, rtol=tol, atol=tol)
        eager = di.jacobian(_vector, backend, x)  # and eagerly, after the traces
        eager = eager.todense() if hasattr(eager, "todense") else eager
        np.testing.assert_allclose(eager, jax.jacfwd(_vector)(x), rtol=tol, atol=tol)


def test_a_tracer_of_another_shape_is_reported() -> None:
    backend = di.AutoJAX()
    prep = di.prepare_gradient(_scalar, backend, _dx(jnp.float32))
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x: prepared with"):
        jax.jit(lambda x: di.gradient(_scalar, backend, x, prep=prep))(jnp.ones(N + 1))
    with pytest.raises(di.PreparationMismatchError, match=r"\[ok\]       f"):
        jax.vmap(lambda x: di.gradient(_scalar, backend, x, prep=prep))(jnp.ones((2, N + 1)))


def test_same_point_prep_refuses_a_traced_x() -> None:
    backend = di.AutoJAX()
    x, t = _dx(jnp.float32), _tangent(jnp.float32)
    prep = di.prepare_pushforward_same_point(_vector, backend, x, (t,))
    with pytest.raises(di.PreparationMismatchError, match="same-point preparation"):
        jax.jit(lambda x: di.pushforward(_vector, backend, x, (t,), prep=prep))(x)
    # A concrete x (closed over) with traced tangents is the same point: accepted.
    got = jax.jit(lambda t: di.pushforward(_vector, backend, x, (t,), prep=prep)[0])(2.0 * t)
    np.testing.assert_allclose(got, _jvp(_vector, x, 2.0 * t), rtol=1e-5, atol=1e-6)


def test_value_dependent_detector_inside_a_trace_raises() -> None:
    backend = di.AutoSparse(di.AutoJAX(), sparsity_detector=di.DenseSparsityDetector(di.AutoJAX()))
    x = _dx(jnp.float32)
    with pytest.raises(di.UnsupportedOperationError, match="TracerSparsityDetector"):
        jax.jit(lambda x: di.jacobian(_vector, backend, x).todense())(x)
    # Prepared outside on a concrete x, the same backend works inside.
    prep = di.prepare_jacobian(_vector, backend, x)
    got = jax.jit(lambda x: di.jacobian(_vector, backend, x, prep=prep).todense())(x)
    np.testing.assert_allclose(got, jax.jacfwd(_vector)(x), rtol=1e-5, atol=1e-6)

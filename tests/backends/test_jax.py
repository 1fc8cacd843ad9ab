"""The JAX engine behind ``AutoJAX(mode="reverse" | "forward")``.

Values are compared with closed forms (the default scenarios' references and the formulas
written below), never with the engine itself. The nox session ``engine(jax)`` sets
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` so that device placement can be
tested on two fake CPU devices.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from array_api_compat import array_namespace, device

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import differentiation_interface as di  # noqa: E402
from differentiation_interface import UntraceableFunctionError  # noqa: E402
from differentiation_interface._array import to_numpy  # noqa: E402
from differentiation_interface.backends.jax import JAXEngine  # noqa: E402
from differentiation_interface.operators._table import NAMES, SECOND_ORDER  # noqa: E402
from differentiation_interface.testing import (  # noqa: E402
    check_scenario,
    default_scenarios,
)
from tests.helpers import one_tangent_cases, stacking_refused  # noqa: E402

REVERSE = di.AutoJAX()
FORWARD = di.AutoJAX(mode="forward")
SECOND = di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX())
MODES = pytest.mark.parametrize("backend", [REVERSE, FORWARD], ids=["reverse", "forward"])


@pytest.fixture(autouse=True)
def _global_x64_untouched() -> Iterator[None]:
    """JAX's global 64-bit flag is never changed, whatever the inputs' precision."""
    assert not jax.config.jax_enable_x64
    yield
    assert not jax.config.jax_enable_x64


@pytest.fixture(scope="module")
def device1() -> Any:
    """The second fake CPU device (the nox session always creates two)."""
    devices = jax.devices()
    assert len(devices) >= 2, (
        "these tests need two JAX devices: run them with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=2 (as `nox -s 'engine(jax)'` does)"
    )
    return devices[1]


def np_of(a: Any) -> np.ndarray:
    return np.array(to_numpy(a))


def close(got: Any, want: Any, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(np_of(got), np.asarray(want), rtol=rtol, atol=atol)


def counted(f: Callable[..., Any], *, traces: bool = False) -> tuple[Callable[..., Any], list[int]]:
    """``f`` with a Python-side call counter (JAX calls ``f`` once per trace).

    With ``traces=True`` only calls on JAX tracers count, not the library's evaluation of
    ``f(x)`` on the caller's arrays at preparation.
    """
    calls = [0]

    def wrapper(x: Any, *args: Any) -> Any:
        if not traces or isinstance(x, jax.core.Tracer):
            calls[0] += 1
        return f(x, *args)

    return wrapper, calls


def sum_sin_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def linear_sum(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x)


# --- environment ------------------------------------------------------------------------------


def test_two_devices(device1: Any) -> None:
    assert device1 != jax.devices()[0]


def test_importing_the_library_does_not_import_jax() -> None:
    code = (
        "import sys, differentiation_interface as di\n"
        "b = di.AutoJAX(mode='forward')\n"
        "assert di.check_available(b) and not di.check_inplace(b)\n"
        "assert 'jax' not in sys.modules, 'jax imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_follows_the_mode() -> None:
    assert JAXEngine(REVERSE).reverse
    assert not JAXEngine(REVERSE).forward
    assert JAXEngine(FORWARD).forward
    assert not JAXEngine(FORWARD).reverse


# --- the whole operator grid: every variant of every default scenario -----------------------

TARGETS: dict[str, tuple[Any, str, Any]] = {
    # label: (dtype, namespace, device)
    "numpy-f64": (np.float64, "numpy", None),
    "numpy-f32": (np.float32, "numpy", None),
    "jax-f64": (np.float64, "jax", None),  # uncommitted, on the default device
    "jax-f32-cpu1": (np.float32, "jax", 1),
    "jax-f64-cpu1": (np.float64, "jax", 1),
    "strict-f64": (np.float64, "strict", xps.Device("CPU_DEVICE")),
    "strict-f64-device1": (np.float64, "strict", xps.Device("device1")),
    "strict-f32-no_float64": (np.float32, "strict", xps.Device("no_float64")),
}
SECOND_TARGETS = ("numpy-f64", "jax-f64-cpu1", "strict-f64-device1")


def _grid() -> list[Any]:
    params = []
    for label, (dtype, _, _) in TARGETS.items():
        for s in default_scenarios(dtype=dtype):
            if s.y is not None:  # two-argument functions: tested below (unsupported)
                continue
            for backend, name in ((REVERSE, "reverse"), (FORWARD, "forward")):
                params.append(pytest.param(backend, label, s.name, id=f"{name}-{label}-{s.name}"))
            second = s.operator in SECOND_ORDER
            if second and label in SECOND_TARGETS:
                params.append(
                    pytest.param(SECOND, label, s.name, id=f"fwd-over-rev-{label}-{s.name}")
                )
    return params


def _run_scenario(backend: Any, label: str, name: str) -> None:
    dtype, namespace, dev = TARGETS[label]
    (s,) = [s for s in default_scenarios(dtype=dtype) if s.name == name]
    if namespace == "numpy":
        check_scenario(backend, s)
    elif namespace == "strict":
        check_scenario(backend, s.to_namespace(xps, dev))
    else:
        jax_device = None if dev is None else jax.devices()[dev]
        # JAX users of float64 work in 64-bit mode (the check itself computes with x).
        with jax.enable_x64(dtype == np.float64):
            check_scenario(backend, s.to_namespace(jnp, jax_device))


@pytest.mark.parametrize(("backend", "label", "name"), _grid())
def test_scenario_grid(backend: Any, label: str, name: str, device1: Any) -> None:
    # plain / value-and, unprepared / cached / prepared here / elsewhere / reused /
    # same-point, out= (ImmutableOutputError for JAX arrays), strict mismatch, namespace,
    # device and dtype of every result, inputs untouched
    _run_scenario(backend, label, name)


def test_grid_covers_every_operator() -> None:
    operators = {s.operator for s in default_scenarios() if s.y is None}
    assert operators == set(NAMES)


# --- precision --------------------------------------------------------------------------------


@MODES
def test_float64_is_computed_in_float64(backend: Any) -> None:
    x = np.linspace(0.1, 1.3, 7)
    g = di.gradient(sum_sin_sq, backend, x)
    assert g.dtype == np.float64
    close(g, np.sin(2 * x), rtol=1e-14, atol=1e-15)  # float32 work would be off by 1e-7
    H = di.hessian(sum_sin_sq, backend, x)
    assert H.dtype == np.float64
    close(H, np.diag(2 * np.cos(2 * x)), rtol=1e-14, atol=1e-15)


@MODES
def test_float32_stays_float32(backend: Any) -> None:
    x = np.linspace(0.1, 1.3, 7, dtype=np.float32)
    y, g = di.value_and_gradient(sum_sin_sq, backend, x)
    assert y.dtype == np.float32
    assert g.dtype == np.float32
    close(g, np.sin(2 * x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    xj = jnp.asarray(x)
    assert di.jacobian(lambda v: v * v, backend, xj).dtype == jnp.float32


@MODES
def test_jax_float64_outside_the_x64_context(backend: Any) -> None:
    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 1.3, 5, dtype=jnp.float64)
    g = di.gradient(sum_sin_sq, backend, x)  # called with 64-bit mode off
    assert g.dtype == jnp.float64
    with jax.enable_x64(True):
        close(g, np.sin(2 * np.asarray(x)), rtol=1e-14, atol=1e-15)


def test_float64_constant_forces_64_bit_work() -> None:
    x = np.linspace(0.1, 1.3, 5, dtype=np.float32)
    a = np.full(5, 1 / 3)  # float64: numpy promotes f(x) to float64, and so must JAX

    def f(v: Any, a: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(a * v * v)

    g = di.gradient(f, REVERSE, x, di.Constant(a))
    assert g.dtype == np.float32
    close(g, 2 * a * x, rtol=1e-6)


@MODES
def test_threads_share_a_prep(backend: Any) -> None:
    # the 64-bit scope is thread-local: every thread must enter it on its own
    x0 = np.linspace(0.1, 1.3, 6)
    prep = di.prepare_gradient(sum_sin_sq, backend, x0)
    errors: list[BaseException] = []

    def work(shift: float) -> None:
        try:
            for k in range(20):
                x = x0 + shift + 0.01 * k
                g = di.gradient(sum_sin_sq, backend, x, prep=prep)
                assert g.dtype == np.float64
                close(g, np.sin(2 * x), rtol=1e-14, atol=1e-15)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(0.1 * i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# --- preparation: jit once, never re-trace -----------------------------------------------------


@MODES
def test_prepared_calls_never_retrace(backend: Any) -> None:
    f, traces = counted(sum_sin_sq, traces=True)
    x = np.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(f, backend, x)
    assert traces[0] == 1  # preparation traces (and compiles) once
    for k in range(5):
        close(di.gradient(f, backend, x + k, prep=prep), np.sin(2 * (x + k)))
    assert traces[0] == 1
    di.value_and_gradient(f, backend, x, prep=prep)  # the value variant: traced once
    di.value_and_gradient(f, backend, x + 1, prep=prep)
    assert traces[0] == 2


@MODES
def test_unprepared_calls_reuse_a_cache(backend: Any) -> None:
    f, calls = counted(sum_sin_sq)
    x = np.linspace(0.1, 1.3, 5)
    di.hessian(f, backend, x)
    first = calls[0]
    for k in range(4):
        close(di.hessian(f, backend, x + k), np.diag(2 * np.cos(2 * (x + k))))
    assert calls[0] == first


def test_new_constant_value_does_not_recompile() -> None:
    def f(x: Any, a: Any, scale: float) -> Any:
        xp = array_namespace(x)
        return scale * xp.sum(a * x**2)

    f, calls = counted(f)
    x = np.linspace(0.1, 1.3, 4)
    a = np.arange(1.0, 5.0)
    prep = di.prepare_gradient(f, REVERSE, x, di.Constant(a), di.Constant(2.0))
    after_prep = calls[0]
    for k in range(3):
        a_k, s_k = a + k, 2.0 + k
        g = di.gradient(f, REVERSE, x, di.Constant(a_k), di.Constant(s_k), prep=prep)
        close(g, 2 * s_k * a_k * x)
    assert calls[0] == after_prep


def test_static_context_recompiles_for_a_new_value_and_stays_correct() -> None:
    def f(x: Any, power: int, label: str) -> Any:
        assert label == "ok"
        xp = array_namespace(x)
        return xp.sum(x**power)  # an int context may steer the computation

    x = np.linspace(0.5, 1.5, 3)
    prep = di.prepare_gradient(f, REVERSE, x, di.Constant(2), di.Constant("ok"))
    close(di.gradient(f, REVERSE, x, di.Constant(2), di.Constant("ok"), prep=prep), 2 * x)
    close(di.gradient(f, REVERSE, x, di.Constant(3), di.Constant("ok"), prep=prep), 3 * x**2)


def test_cache_context_gets_scratch_space() -> None:
    import array_api_extra as xpx

    def f(x: Any, buf: Any) -> Any:
        xp = array_namespace(x)
        buf = xpx.at(buf)[...].set(x**2)  # functional update, works on any namespace
        return xp.sum(buf * x)

    x = np.linspace(0.5, 1.5, 3)
    buf = np.full(3, 7.0)
    close(di.gradient(f, REVERSE, x, di.Cache(buf)), 3 * x**2)
    (ty,) = di.pushforward(lambda v, b: v * 2.0 + b * 0.0, FORWARD, x, (x,), di.Cache(buf))
    close(ty, 2 * x)


def test_pytree_constant_is_traced() -> None:
    def f(x: Any, params: dict[str, Any]) -> Any:
        xp = array_namespace(x)
        return xp.sum(params["w"] * x**2) + params["b"]

    x = np.linspace(0.5, 1.5, 3)
    params = {"w": np.arange(1.0, 4.0), "b": 1.0}
    close(di.gradient(f, REVERSE, x, di.Constant(params)), 2 * params["w"] * x)


def test_strict_prep_mismatches(device1: Any) -> None:
    x = np.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(sum_sin_sq, REVERSE, x)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(sum_sin_sq, REVERSE, np.ones(4), prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(sum_sin_sq, REVERSE, x.astype(np.float32), prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(sum_sin_sq, REVERSE, jnp.asarray(x, dtype=jnp.float32), prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] f"):
        di.gradient(linear_sum, REVERSE, x, prep=prep)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] backend"):
        di.gradient(sum_sin_sq, FORWARD, x, prep=prep)
    xj = jax.device_put(x.astype(np.float32), jax.devices()[0])
    prep_j = di.prepare_gradient(sum_sin_sq, REVERSE, xj)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(sum_sin_sq, REVERSE, jax.device_put(xj, device1), prep=prep_j)


def test_prepared_express_closure_serves_only_the_prepared_call(device1: Any) -> None:
    """A prepared call's express closure (``make_express``) must decline anything else."""
    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(sum_sin_sq, REVERSE, x)
    step = jax.jit(lambda v: v * 0.9)
    for _ in range(3):  # one computation's results share a sharding object
        with jax.enable_x64(True):
            x = step(x)
            inside = di.gradient(sum_sin_sq, REVERSE, x, prep=prep)
        outside = di.gradient(sum_sin_sq, REVERSE, x, prep=prep)  # 64-bit mode off
        for g in (inside, outside):
            assert g.dtype == jnp.float64
            assert g.sharding == x.sharding
            with jax.enable_x64(True):
                close(g, np.sin(2 * np.asarray(x)), rtol=1e-14, atol=1e-15)
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(sum_sin_sq, REVERSE, jax.device_put(x, device1), prep=prep)
    # The express closure trusts array objects it has checked (abstract value, sharding): others
    # of the same kind pass, arrays of another shape or dtype do not.
    with jax.enable_x64(True):
        other = jnp.asarray(np.linspace(0.2, 1.0, 5))  # a new aval and sharding object
        close(di.gradient(sum_sin_sq, REVERSE, other, prep=prep), np.sin(2 * np.asarray(other)))
        for wrong in (jnp.ones(6), jnp.ones(5, dtype=jnp.float32), x[None, :]):
            with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
                di.gradient(sum_sin_sq, REVERSE, wrong, prep=prep)
    with pytest.raises(di.PreparationMismatchError, match="made by `prepare_gradient`"):
        di.hessian(sum_sin_sq, REVERSE, x, prep=prep)
    # The express closure is the executable's checking entry point (a regression here costs speed).
    assert type(prep.plan.checked_call).__name__ == "PjitFunction"
    # Prepared on device 1: an uncommitted array (default device) is not moved there.
    with jax.enable_x64(True):
        on1 = jax.device_put(jnp.linspace(0.1, 1.3, 5), device1)
        prep1 = di.prepare_gradient(sum_sin_sq, REVERSE, on1)
        assert di.gradient(sum_sin_sq, REVERSE, on1, prep=prep1).sharding == on1.sharding
        with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
            di.gradient(sum_sin_sq, REVERSE, jnp.linspace(0.1, 1.3, 5), prep=prep1)
    xn = np.linspace(0.1, 1.3, 5)
    prep_n = di.prepare_hessian(sum_sin_sq, REVERSE, xn)
    h = di.hessian(sum_sin_sq, REVERSE, xn, prep=prep_n)  # numpy: 64-bit scope entered
    assert h.flags.writeable
    close(h, np.diag(2 * np.cos(2 * xn)), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("in_x64", [True, False])
def test_prepared_numpy_call_takes_any_layout(in_x64: bool) -> None:
    """The numpy express closure hands numpy arrays of any layout to the executable."""
    base = np.linspace(0.1, 1.3, 12)
    prep = di.prepare_gradient(sum_sin_sq, REVERSE, base[:6])
    readonly = base[:6].copy()
    readonly.flags.writeable = False
    layouts = {"readonly": readonly, "negative-stride": base[5::-1], "strided": base[::2]}
    with jax.enable_x64(in_x64):
        for name, x in layouts.items():
            before = x.copy()
            g = di.gradient(sum_sin_sq, REVERSE, x, prep=prep)
            assert g.dtype == np.float64, name
            assert g.flags.writeable, name
            assert not np.shares_memory(g, x), name
            close(g, np.sin(2 * x), rtol=1e-14, atol=1e-15)
            np.testing.assert_array_equal(x, before)
        with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
            di.gradient(sum_sin_sq, REVERSE, base[:6].astype(np.float32), prep=prep)


def test_same_point_preps_do_not_evaluate_f_again() -> None:
    x = np.linspace(0.1, 1.3, 4)
    f, calls = counted(lambda v: v * array_namespace(v).sin(v))
    prep = di.prepare_pullback_same_point(f, REVERSE, x, (np.ones(4),))
    after_prep = calls[0]
    d = np.sin(x) + x * np.cos(x)
    for k in range(3):
        w = np.full(4, float(k))
        y, (tx,) = di.value_and_pullback(f, REVERSE, x, (w,), prep=prep)
        close(tx, d * w)
        close(y, x * np.sin(x))
    assert calls[0] == after_prep
    g, calls = counted(sum_sin_sq)
    prep = di.prepare_hvp_same_point(g, REVERSE, x, (np.ones(4),))
    after_prep = calls[0]
    for k in range(3):
        t = np.full(4, float(k + 1))
        grad, (hv,) = di.gradient_and_hvp(g, REVERSE, x, (t,), prep=prep)
        close(hv, 2 * np.cos(2 * x) * t)
        close(grad, np.sin(2 * x))
    assert calls[0] == after_prep


# --- batching ---------------------------------------------------------------------------------


@MODES
def test_batched_tangents_are_one_vmapped_trace(backend: Any) -> None:
    f, traces = counted(lambda v: v * array_namespace(v).sin(v), traces=True)
    x = np.linspace(0.1, 1.3, 4)
    tangents = tuple(np.full(4, float(k)) for k in range(6))
    prep = di.prepare_pushforward(f, backend, x, tangents)
    assert traces[0] == 1  # one trace, whatever the number of tangents
    results = di.pushforward(f, backend, x, tangents, prep=prep)
    d = np.sin(x) + x * np.cos(x)
    for t, r in zip(tangents, results, strict=True):
        close(r, d * t)
    assert traces[0] == 1


@pytest.mark.parametrize(
    "op", ["gradient-forward", "jacobian-forward", "jacobian-reverse", "hessian"]
)
def test_basis_larger_than_the_memory_bound_is_chunked(
    op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lax.map in chunks of 3 instead of one vmap over the 7 basis vectors
    monkeypatch.setattr(JAXEngine, "max_batch", lambda self, size, like=None: 3)
    x = np.linspace(0.1, 1.3, 7)
    if op == "gradient-forward":
        close(di.gradient(sum_sin_sq, FORWARD, x, prep=None), np.sin(2 * x))
    elif op == "hessian":
        y, g, H = di.value_gradient_and_hessian(
            sum_sin_sq, REVERSE, x, prep=di.prepare_hessian(sum_sin_sq, REVERSE, x)
        )
        close(H, np.diag(2 * np.cos(2 * x)))
        close(g, np.sin(2 * x))
        close(y, np.sum(np.sin(x) ** 2))
    else:
        backend = FORWARD if op.endswith("forward") else REVERSE
        prep = di.prepare_jacobian(sum_sin_sq_vector, backend, x)
        y, J = di.value_and_jacobian(sum_sin_sq_vector, backend, x, prep=prep)
        close(J, np.diag(np.sin(2 * x)))
        close(y, np.sin(x) ** 2)


def sum_sin_sq_vector(x: Any) -> Any:
    return array_namespace(x).sin(x) ** 2


# --- devices ----------------------------------------------------------------------------------

CONSTANT_DERIVATIVES = {
    # f, operator, expected result: derivatives that do not depend on x
    "gradient": (linear_sum, np.ones_like),
    "jacobian": (lambda x: 3.0 * x, lambda x: 3.0 * np.eye(x.size)),
    "hessian": (lambda x: array_namespace(x).sum(x * x), lambda x: 2.0 * np.eye(x.size)),
}


@pytest.mark.parametrize("backend", [REVERSE, FORWARD, SECOND], ids=["rev", "fwd", "fwd-rev"])
@pytest.mark.parametrize("op", list(CONSTANT_DERIVATIVES))
def test_constant_derivatives_stay_on_the_input_device(backend: Any, op: str, device1: Any) -> None:
    # JAX puts derivatives that do not depend on x on the default device; they must not move
    f, expected = CONSTANT_DERIVATIVES[op]
    x = jax.device_put(np.linspace(0.1, 1.3, 4, dtype=np.float32), device1)
    operator = getattr(di, op)
    value_operator = {
        "gradient": di.value_and_gradient,
        "jacobian": di.value_and_jacobian,
        "hessian": di.value_gradient_and_hessian,
    }[op]
    result = operator(f, backend, x)
    assert device(result) == device1
    close(result, expected(np.asarray(x)), rtol=1e-6)
    for r in value_operator(f, backend, x):
        assert device(r) == device1
    prep = getattr(di, f"prepare_{op}")(f, backend, x)
    assert device(operator(f, backend, x, prep=prep)) == device1


@pytest.mark.parametrize("backend", [REVERSE, FORWARD, SECOND], ids=["rev", "fwd", "fwd-rev"])
def test_every_operator_stays_on_the_input_device(backend: Any, device1: Any) -> None:
    x = jax.device_put(np.linspace(0.1, 1.3, 4, dtype=np.float32), device1)
    t = jax.device_put(np.linspace(1.0, 2.0, 4, dtype=np.float32), device1)
    t0 = jax.device_put(np.float32(0.5), device1)
    a = np.float32(3.0) * np.ones(4, dtype=np.float32)  # a numpy constant for a JAX x

    def linear(v: Any, a: Any) -> Any:
        return v * a

    def quadratic(v: Any, a: Any) -> Any:
        return array_namespace(v).sum(a * v * v)

    results = [
        *di.value_and_pushforward(linear, backend, x, (t,), di.Constant(a)),
        *di.value_and_pullback(linear, backend, x, (t,), di.Constant(a)),
        *di.value_and_derivative(lambda s: s * 2.0, backend, t0),
        *di.value_derivative_and_second_derivative(lambda s: s * s, backend, t0),
        *di.gradient_and_hvp(quadratic, backend, x, (t,), di.Constant(a)),
    ]
    for r in results:
        for leaf in r if isinstance(r, tuple) else (r,):
            assert device(leaf) == device1
    (hv,) = di.hvp(quadratic, backend, x, (t,), di.Constant(a))
    close(hv, 2 * a * np.asarray(t), rtol=1e-6)


@MODES
def test_array_api_strict_devices(backend: Any) -> None:
    for name in ("CPU_DEVICE", "device1"):
        dev = xps.Device(name)
        x = xps.asarray(np.linspace(0.1, 1.3, 5), device=dev)
        g = di.gradient(sum_sin_sq, backend, x)
        assert array_namespace(g) is array_namespace(x)
        assert device(g) == dev
        close(g, np.sin(2 * np_of(x)))


@MODES
def test_dask_input(backend: Any) -> None:
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.linspace(0.1, 1.3, 6), chunks=3)
    g = di.gradient(sum_sin_sq, backend, x)
    assert array_namespace(g) is array_namespace(x)
    close(np.asarray(g), np.sin(2 * np.linspace(0.1, 1.3, 6)))


@MODES
def test_torch_input(backend: Any) -> None:
    torch = pytest.importorskip("torch")
    x = torch.linspace(0.1, 1.3, 5, dtype=torch.float64, requires_grad=True)
    # A tensor on torch's tape may be inside a torch differentiation (SecondOrder(AutoTorch(),
    # AutoJAX())): converting it to JAX would drop its derivative, so it is refused...
    with pytest.raises(di.UnsupportedOperationError, match="torch is differentiating"):
        di.gradient(sum_sin_sq, backend, x)
    x = x.detach()  # ... and its values are used once detached
    g = di.gradient(sum_sin_sq, backend, x)
    assert isinstance(g, torch.Tensor)
    assert g.dtype == torch.float64
    assert not g.requires_grad
    close(g, np.sin(2 * x.detach().numpy()))
    J = di.jacobian(lambda v: v * v, backend, x.detach().float())
    assert J.dtype == torch.float32


# --- results: fresh, writable, 0-d arrays ---------------------------------------------------


@MODES
def test_results_are_fresh_and_writable(backend: Any) -> None:
    def identity(v: Any) -> Any:
        return v

    x = np.linspace(0.1, 1.3, 4)
    t = np.ones(4)
    y, (ty,) = di.value_and_pushforward(identity, backend, x, (t,))
    y2, (tx,) = di.value_and_pullback(identity, backend, x, (t,))
    for r in (y, ty, y2, tx):
        assert isinstance(r, np.ndarray)
        assert r.flags.writeable
        assert not np.may_share_memory(r, x)
        assert not np.may_share_memory(r, t)
    ty[...] = 5.0  # writing into a result changes nothing else
    np.testing.assert_array_equal(t, 1.0)
    d = di.derivative(lambda s: s * 3.0, backend, np.asarray(2.0))
    assert isinstance(d, np.ndarray)
    assert d.shape == ()
    assert d.flags.writeable


# --- out= ---------------------------------------------------------------------------------------


def test_out_with_a_jax_array_raises_before_f_is_called() -> None:
    f, calls = counted(sum_sin_sq)
    x = jnp.linspace(0.1, 1.3, 4)
    prep = di.prepare_gradient(f, REVERSE, x)
    prep_h = di.prepare_hessian(f, REVERSE, x)
    before = calls[0]
    with pytest.raises(di.ImmutableOutputError):
        di.gradient(f, REVERSE, x, prep=prep, out=jnp.zeros(4))
    with pytest.raises(di.ImmutableOutputError):
        di.value_gradient_and_hessian(
            f, REVERSE, x, prep=prep_h, out=(jnp.zeros(4), jnp.zeros((4, 4)))
        )
    assert calls[0] == before  # f was neither evaluated nor traced


def test_out_with_numpy_is_written() -> None:
    x = np.linspace(0.1, 1.3, 4)
    out = np.zeros(4)
    assert di.gradient(sum_sin_sq, REVERSE, x, out=out) is out
    close(out, np.sin(2 * x))


# --- complex numbers: the library's convention, against closed forms --------------------------

Z = np.array([1.0 + 1.0j, -0.5 + 2.0j, 0.3 - 0.7j])
W = np.array([0.2 - 1.0j, 1.5 + 0.5j, -1.0 + 0.1j])


@MODES
def test_complex_gradient_convention(backend: Any) -> None:
    def abs2(z: Any) -> Any:
        xp = array_namespace(z)
        return xp.sum(xp.real(z * xp.conj(z)))

    def real_part(z: Any) -> Any:
        xp = array_namespace(z)
        return xp.sum(xp.real(z * (2.0 - 1.0j)))

    # df/dRe z + 1j df/dIm z (PyTorch's convention; JAX's is the conjugate)
    close(di.gradient(abs2, backend, Z), 2 * Z)
    close(di.gradient(real_part, backend, Z), np.full(3, 2.0 + 1.0j))
    close(di.gradient(abs2, backend, jnp.asarray(Z.astype(np.complex64))), 2 * Z, rtol=1e-6)


@MODES
def test_complex_holomorphic_first_order(backend: Any) -> None:
    def square(z: Any) -> Any:
        return z * z

    (ty,) = di.pushforward(square, backend, Z, (W,))
    close(ty, 2 * Z * W)  # J t
    (tx,) = di.pullback(square, backend, Z, (W,))
    close(tx, np.conj(2 * Z) * W)  # J^H w
    close(di.jacobian(square, backend, Z), np.diag(2 * Z))
    close(di.derivative(lambda z: z**3, backend, np.asarray(Z[0])), 3 * Z[0] ** 2)
    close(di.second_derivative(lambda z: z**3, backend, np.asarray(Z[0])), 6 * Z[0])


@MODES
def test_complex_output_of_a_real_input(backend: Any) -> None:
    def phase(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.exp(1j * x)

    x = np.linspace(0.1, 1.3, 3)
    J = di.jacobian(phase, backend, x)
    assert J.dtype == np.complex128
    close(J, np.diag(1j * np.exp(1j * x)))
    (tx,) = di.pullback(phase, backend, x, (W,))
    close(tx, np.real(np.conj(1j * np.exp(1j * x)) * W))  # the real adjoint


@pytest.mark.parametrize("backend", [REVERSE, FORWARD, SECOND], ids=["rev", "fwd", "fwd-rev"])
def test_complex_hvp_and_hessian(backend: Any) -> None:
    def quartic(z: Any) -> Any:
        xp = array_namespace(z)
        return xp.sum(xp.real(z * xp.conj(z)) ** 2)

    # gradient 4 z |z|^2; its directional derivative along t
    g, (hv,) = di.gradient_and_hvp(quartic, backend, Z, (W,))
    close(g, 4 * Z * np.abs(Z) ** 2)
    close(hv, 4 * W * np.abs(Z) ** 2 + 8 * Z * np.real(np.conj(Z) * W))
    with pytest.raises(di.UnsupportedOperationError, match="complex"):
        di.hessian(quartic, backend, Z)


# --- second order as SecondOrder(AutoJAX(mode="forward"), AutoJAX()) ----------------------------


COMPOSITIONS = {
    "rev-over-rev": di.SecondOrder(REVERSE, REVERSE),
    "rev-over-fwd": di.SecondOrder(REVERSE, FORWARD),
    "fwd-over-fwd": di.SecondOrder(FORWARD, FORWARD),
}


@pytest.mark.parametrize(
    "backend",
    [REVERSE, FORWARD, SECOND, *COMPOSITIONS.values()],
    ids=["rev", "fwd", "fwd-rev", *COMPOSITIONS],
)
def test_second_order_closed_forms(backend: Any) -> None:
    # native plans, and the library's compositions of JAX plans (traced through each other)
    def rosenbrock(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    x = np.array([0.3, -0.4, 1.2, 0.8])
    H = np.zeros((4, 4))
    for i in range(3):
        a, b = x[i], x[i + 1]
        H[i, i] += 1200 * a**2 - 400 * b + 2
        H[i, i + 1] += -400 * a
        H[i + 1, i] += -400 * a
        H[i + 1, i + 1] += 200
    close(di.hessian(rosenbrock, backend, x), H, rtol=1e-13)
    t = np.array([1.0, -2.0, 0.5, 3.0])
    (hv,) = di.hvp(rosenbrock, backend, x, (t,))
    close(hv, H @ t, rtol=1e-13)


# --- what JAX cannot do -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", [REVERSE, FORWARD, SECOND], ids=["rev", "fwd", "fwd-rev"])
def test_two_argument_functions_are_unsupported(backend: Any) -> None:
    assert not di.check_inplace(backend)

    def f(y: Any, x: Any) -> None:
        y[...] = x * 2.0

    x = np.linspace(0.1, 1.3, 3)
    for call in (
        lambda: di.pushforward(f, backend, x, (x,), y=np.zeros(3)),
        lambda: di.jacobian(f, backend, x, y=np.zeros(3)),
        lambda: di.prepare_pullback(f, backend, x, (x,), y=np.zeros(3)),
    ):
        with pytest.raises(di.UnsupportedOperationError, match=r"y = f\(x\)"):
            call()


def _numpy_sin(x: Any) -> Any:
    return np.sum(np.sin(x))


def _python_float(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x) * float(xp.sum(x))


def _branch(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x) if xp.sum(x) > 0 else -xp.sum(x)


def _writes(x: Any) -> Any:
    y = x * 1.0
    y[0] = 0.0
    return array_namespace(x).sum(y)


@pytest.mark.parametrize("f", [_numpy_sin, _python_float, _branch, _writes])
@pytest.mark.parametrize("op", ["gradient", "hessian", "jacobian"])
@MODES
def test_untraceable_function_raises_a_clear_error(backend: Any, op: str, f: Any) -> None:
    x = np.linspace(0.1, 1.3, 3)
    g = (lambda v: f(v) * v) if op == "jacobian" else f
    with pytest.raises(di.DIError, match=r"Array API.*jax\.numpy") as info:
        getattr(di, op)(g, backend, x)
    assert isinstance(info.value, UntraceableFunctionError)
    assert isinstance(info.value, TypeError)
    cause = info.value.__cause__  # JAX's own error (a builtin TypeError for item assignment)
    assert cause is not None
    assert type(cause).__module__.startswith("jax") or "JAX arrays are immutable" in str(cause)


def test_untraceable_error_names_the_problem() -> None:
    x = np.linspace(0.1, 1.3, 3)
    with pytest.raises(UntraceableFunctionError, match="TracerArrayConversionError"):
        di.gradient(_numpy_sin, REVERSE, x)
    with pytest.raises(UntraceableFunctionError, match="ConcretizationTypeError"):
        di.gradient(_python_float, REVERSE, x)
    with pytest.raises(UntraceableFunctionError, match=r"array_api_extra\.at"):
        di.gradient(_writes, REVERSE, x)


def test_data_dependent_shapes_are_refused_under_jit() -> None:
    def masked(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(x[x > 0.5])

    with pytest.raises(UntraceableFunctionError):
        di.gradient(masked, REVERSE, np.linspace(0.1, 1.3, 4))


def test_jax_numpy_function_with_jax_input() -> None:
    x = jnp.linspace(0.1, 1.3, 4)
    g = di.gradient(lambda v: jnp.sum(jnp.sin(v) ** 2), REVERSE, x)
    close(g, np.sin(2 * np.asarray(x)), rtol=1e-6)


def test_empty_input() -> None:
    x = np.zeros((0,))
    assert di.gradient(linear_sum, REVERSE, x).shape == (0,)
    assert di.jacobian(lambda v: v * 2.0, FORWARD, x).shape == (0, 0)


def test_from_numpy_small_copies_and_works_inside_a_trace() -> None:
    from differentiation_interface._array import device_of, from_numpy, namespace_of

    like = jnp.zeros(3)
    xp, where = namespace_of(like), device_of(like)
    source = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    converted = from_numpy(source, xp, where)
    source[0] = 7.0  # a small conversion is a copy: the JAX array does not change
    np.testing.assert_array_equal(np.asarray(converted), [1.0, 2.0, 3.0])

    @jax.jit
    def shifted(v: Any) -> Any:  # converted while tracing: a constant of the program
        return v + from_numpy(np.array([1.0, 2.0, 3.0], dtype=np.float32), xp, where)

    np.testing.assert_array_equal(np.asarray(shifted(jnp.ones(3))), [2.0, 3.0, 4.0])


@pytest.mark.parametrize("backend", [di.AutoJAX(), FORWARD], ids=["reverse", "forward"])
def test_one_jax_tangent_keeps_the_callers_arrays(backend: Any) -> None:
    """One tangent is stacked and its result unstacked by compiled programs; the result's
    batch of one gives its buffer to the entry, which must never be a caller's array, even
    where the derivative is the tangent itself (identity: JAX forwards the buffer)."""
    x = jnp.linspace(0.5, 2.0, 1000, dtype=jnp.float32)
    t = jnp.cos(x)
    for f, pushed in (
        (lambda v: v, t),
        (lambda v: jnp.sin(v) * v, (jnp.sin(x) + x * jnp.cos(x)) * t),
    ):
        for op, prepare in (
            (di.pushforward, di.prepare_pushforward),
            (di.pullback, di.prepare_pullback),
        ):
            prep = prepare(f, backend, x, (t,))
            for _ in range(2):  # the same tangent again: still alive
                (out,) = op(f, backend, x, (t,), prep=prep)
                np.testing.assert_allclose(np.asarray(out), np.asarray(pushed), rtol=1e-5)
                y, (out,) = getattr(di, f"value_and_{op.__name__}")(f, backend, x, (t,), prep=prep)
                np.testing.assert_allclose(np.asarray(out), np.asarray(pushed), rtol=1e-5)
            assert not x.is_deleted()
            assert not t.is_deleted()
            np.testing.assert_allclose(np.asarray(y), np.asarray(f(x)), rtol=1e-6)


@pytest.mark.parametrize("caller", ["jax", "numpy", "torch"])
@pytest.mark.parametrize("backend", [di.AutoJAX(), FORWARD], ids=["reverse", "forward"])
def test_one_tangent_crosses_unstacked(
    backend: Any, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preparation for one tangent runs programs that take it and return its result
    without a batch axis: no stacking program, no copy; results against closed forms, and
    never the caller's tangent itself (identity ``f``, whose derivative is the tangent)."""
    torch = pytest.importorskip("torch")
    base = np.linspace(0.5, 2.0, 7)
    make = {"jax": jnp.asarray, "numpy": np.array, "torch": torch.from_numpy}[caller]
    x, t = make(base.copy()), make(np.cos(base))
    rtol = 1e-6 if caller == "jax" else 1e-12  # JAX arrays: float32 (JAX's default)

    refused = stacking_refused(monkeypatch)
    for f, op, expected in one_tangent_cases(base):
        prep = getattr(di, f"prepare_{op}")(f, backend, x, (t,))
        assert prep.single
        refused["on"] = True
        value_and = getattr(di, "gradient_and_hvp" if op == "hvp" else f"value_and_{op}")
        for call in (getattr(di, op), value_and):
            for _ in range(2):  # the quick tier, then again
                result = call(f, backend, x, (t,), prep=prep)
                (d,) = result if call is getattr(di, op) else result[-1]
                assert type(d) is type(t)
                np.testing.assert_allclose(to_numpy(d), expected, rtol=rtol)
                if caller != "jax":  # mutable arrays: the result is the caller's own
                    assert not np.shares_memory(to_numpy(d), to_numpy(t))
        # through the full call path (a context): the same programs
        refused["on"] = False
        g = lambda v, c, f=f: f(v) * c  # noqa: E731
        prep = getattr(di, f"prepare_{op}")(g, backend, x, (t,), di.Constant(1.0))
        refused["on"] = True
        (d,) = getattr(di, op)(g, backend, x, (t,), di.Constant(1.0), prep=prep)
        refused["on"] = False
        np.testing.assert_allclose(to_numpy(d), expected, rtol=rtol)


def test_one_tangent_preparation_serves_several_tangents_when_not_strict() -> None:
    """A non-strict preparation made with one tangent, called with three: the stacked
    programs are traced then, and every result is right."""
    x = jnp.linspace(0.5, 2.0, 5)
    tangents = (jnp.ones(5), jnp.cos(x), x)
    f = lambda v: jnp.sin(v) * v  # noqa: E731
    derivative = np.asarray(jnp.sin(x) + x * jnp.cos(x))
    for op in ("pushforward", "pullback"):
        prep = getattr(di, f"prepare_{op}")(f, di.AutoJAX(), x, tangents[:1], strict=False)
        results = getattr(di, op)(f, di.AutoJAX(), x, tangents, prep=prep)
        assert len(results) == 3
        for r, t in zip(results, tangents, strict=True):
            np.testing.assert_allclose(np.asarray(r), derivative * np.asarray(t), rtol=1e-6)


def test_prepared_calls_never_trace_f_again() -> None:
    """Everything a prepared call runs is compiled at preparation: a one-tangent
    pushforward, pullback and hvp (unstacked programs), and the engines that stack their
    seeds themselves, here a sparse Jacobian of one color (a diagonal)."""
    traces = []

    def f(v: Any) -> Any:
        traces.append(1)
        return array_namespace(v).sin(v) * v

    def total(v: Any) -> Any:
        return array_namespace(v).sum(f(v))

    x = jnp.linspace(0.5, 2.0, 6)
    t = jnp.cos(x)
    sparse = di.AutoSparse(di.AutoJAX(mode="forward"), output="dense")
    derivative = np.asarray(jnp.sin(x) + x * jnp.cos(x))
    second = np.asarray(2 * jnp.cos(x) - x * jnp.sin(x))
    cases = [
        ("pushforward", (f, REVERSE, x, (t,)), derivative * np.asarray(t)),
        ("pullback", (f, REVERSE, x, (t,)), derivative * np.asarray(t)),
        ("hvp", (total, REVERSE, x, (t,)), second * np.asarray(t)),
        ("jacobian", (f, sparse, x), np.diag(derivative)),
    ]
    preps = [getattr(di, f"prepare_{op}")(*args) for op, args, _ in cases]
    count = len(traces)
    for (op, args, expected), prep in zip(cases, preps, strict=True):
        for _ in range(2):
            result = getattr(di, op)(*args, prep=prep)
            got = result if op == "jacobian" else result[0]
            np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    assert len(traces) == count  # nothing traced f after preparation


@pytest.mark.parametrize("caller", ["jax", "numpy"])
def test_one_tangent_express_route_and_what_it_declines(
    caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prepared one-tangent call is one checked dispatch of the compiled program (the
    generic call path never runs), and every call unlike the prepared one goes the full way:
    another tangent shape (the report), a tangent elsewhere, a context, ``has_aux``,
    another ``f``."""
    import jax

    from differentiation_interface.operators import _call

    base = np.linspace(0.5, 2.0, 6)
    make = jnp.asarray if caller == "jax" else np.array
    x, t = make(base), make(np.cos(base))
    rtol = 1e-6 if caller == "jax" else 1e-12

    def f(v: Any) -> Any:
        return array_namespace(v).sin(v) * v

    expected = (np.sin(base) + base * np.cos(base)) * np.cos(base)
    generic = _call.call
    full = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        full.append(1)
        return generic(*args, **kwargs)

    for op in ("pushforward", "pullback"):
        prep = getattr(di, f"prepare_{op}")(f, REVERSE, x, (t,))
        assert prep.express1 is not None
        module = sys.modules[f"differentiation_interface.operators._{op}"]
        monkeypatch.setattr(module, "call", counted)
        full.clear()
        (d,) = getattr(di, op)(f, REVERSE, x, (t,), prep=prep)
        assert full == []  # served by the express route
        assert type(d) is type(x)
        np.testing.assert_allclose(np.asarray(d), expected, rtol=rtol)
        with pytest.raises(di.PreparationMismatchError):
            getattr(di, op)(f, REVERSE, x, (make(np.ones(3)),), prep=prep)
        with pytest.raises(di.PreparationMismatchError):
            getattr(di, op)(f, REVERSE, x, (t,), di.Constant(1.0), prep=prep)
        with pytest.raises(di.PreparationMismatchError):
            getattr(di, op)(f, REVERSE, x, (t,), prep=prep, has_aux=True)
        with pytest.raises(di.PreparationMismatchError):
            getattr(di, op)(lambda v: f(v) * 1.0, REVERSE, x, (t,), prep=prep)
        if caller == "jax" and len(jax.devices()) > 1:
            elsewhere = jax.device_put(t, jax.devices()[1])
            with pytest.raises(di.PreparationMismatchError, match="tangent 0"):
                getattr(di, op)(f, REVERSE, x, (elsewhere,), prep=prep)
        assert len(full) >= 4  # the calls it declined went the full way

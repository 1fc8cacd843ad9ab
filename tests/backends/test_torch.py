"""The PyTorch engine behind ``AutoTorch(mode="reverse" | "forward")``.

Values are compared with closed forms (the default scenarios' references and the formulas
written below) or with central finite differences, never with the engine itself.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from array_api_compat import array_namespace, device

torch = pytest.importorskip("torch")

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import _seeds, cuda_device, to_numpy  # noqa: E402
from differentiation_interface.backends.torch import first as torch_first  # noqa: E402
from differentiation_interface.operators._table import NAMES, SECOND_ORDER  # noqa: E402
from differentiation_interface.testing import (  # noqa: E402
    Scenario,
    check_scenario,
    default_scenarios,
)
from tests.helpers import one_tangent_cases, stacking_refused  # noqa: E402

REVERSE = di.AutoTorch()
FORWARD = di.AutoTorch(mode="forward")
BACKENDS = [REVERSE, FORWARD]
MODES = pytest.mark.parametrize("backend", BACKENDS, ids=["reverse", "forward"])


def np_of(a: Any) -> np.ndarray:
    return np.array(to_numpy(a))


def close(got: Any, want: Any, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(np_of(got), np.asarray(want), rtol=rtol, atol=atol)


def shares_memory(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.device.type == "meta":
            return a is b
        return bool(a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())
    inner_a, inner_b = getattr(a, "_array", None), getattr(b, "_array", None)
    if inner_a is not None and inner_b is not None:
        return bool(np.may_share_memory(inner_a, inner_b))
    return False


# --- the whole operator grid: every variant of every default scenario -----------------------

NAMESPACES = {
    "numpy-f64": (np.float64, None, None),
    "numpy-f32": (np.float32, None, None),
    "torch-f64": (np.float64, torch, "cpu"),
    "torch-f32": (np.float32, torch, "cpu"),
    "strict-cpu": (np.float64, xps, xps.Device("CPU_DEVICE")),
    "strict-device1": (np.float64, xps, xps.Device("device1")),
    "strict-no_float64": (np.float32, xps, xps.Device("no_float64")),
}


def _grid() -> list[Any]:
    params = []
    for label, (dtype, _xp, _dev) in NAMESPACES.items():
        for s in default_scenarios(dtype=dtype):
            for backend, mode in ((REVERSE, "reverse"), (FORWARD, "forward")):
                params.append(pytest.param(backend, label, s.name, id=f"{mode}-{label}-{s.name}"))
    return params


def _scenario(label: str, name: str) -> Scenario:
    dtype, xp, dev = NAMESPACES[label]
    (s,) = [s for s in default_scenarios(dtype=dtype) if s.name == name]
    if xp is None:
        return s
    if isinstance(dev, str):
        dev = torch.device(dev)
    return s.to_namespace(xp, dev)


@pytest.mark.parametrize(("backend", "label", "name"), _grid())
def test_scenario_grid(backend: di.AutoTorch, label: str, name: str) -> None:
    # plain / value-and, unprepared / cached / prepared here / elsewhere / reused /
    # same-point, out=, strict mismatch, namespace, device and dtype, inputs untouched
    check_scenario(backend, _scenario(label, name))


def test_grid_covers_every_operator() -> None:
    operators = {s.operator for s in default_scenarios()}
    assert operators == set(NAMES)


# --- numpy inputs that torch must not alias ---------------------------------------------------


def _sum_sin_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def _numpy_layouts() -> dict[str, np.ndarray]:
    base = np.linspace(0.3, 1.9, 12)
    readonly = base[:6].copy()
    readonly.flags.writeable = False
    return {
        "readonly": readonly,
        "negative-stride": base[::-1][:6],
        "non-contiguous": base[::2],
        "2-d-transposed": base.reshape(3, 4).T,
        "0-d": np.asarray(0.7),
    }


@MODES
@pytest.mark.parametrize("layout", list(_numpy_layouts()))
def test_numpy_layouts(backend: di.AutoTorch, layout: str) -> None:
    x = _numpy_layouts()[layout]
    before = x.copy()
    flags = x.flags.writeable
    g = di.gradient(_sum_sin_sq, backend, x)
    close(g, np.sin(2 * x))
    assert g.shape == x.shape
    assert g.flags.writeable
    (hv,) = di.hvp(_sum_sin_sq, backend, x, (np.ones_like(x),))
    close(hv, 2 * np.cos(2 * x))
    jac = di.jacobian(lambda v: v * v, backend, x)
    close(jac, np.diag(2 * x.reshape(-1)))
    (tx,) = di.pullback(lambda v: v * v, backend, x, (np.ones_like(x),))
    close(tx, 2 * x)
    (ty,) = di.pushforward(lambda v: v * v, backend, x, (np.ones_like(x),))
    close(ty, 2 * x)
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable == flags


def test_prepared_gradient_takes_any_numpy_layout() -> None:
    # The prepared call's express tier must copy what torch.from_numpy cannot take safely.
    prep = di.prepare_gradient(_sum_sin_sq, REVERSE, np.linspace(0.0, 1.0, 6))
    layouts = _numpy_layouts()
    for name in ("readonly", "negative-stride", "non-contiguous"):
        x = layouts[name]
        before = x.copy()
        g = di.gradient(_sum_sin_sq, REVERSE, x, prep=prep)
        close(g, np.sin(2 * x))
        assert g.flags.writeable
        assert not np.shares_memory(g, x)
        np.testing.assert_array_equal(x, before)


def test_backward_pass_without_the_grad_wrapper_is_faithful() -> None:
    """Backward passes call torch's autograd engine directly when nothing needs the
    ``torch.autograd.grad`` wrapper; with a torch function mode active they go through it."""
    x = np.linspace(0.1, 2.0, 7)
    t = np.linspace(-1.0, 1.0, 7)
    close(di.gradient(_sum_sin_sq, REVERSE, x), np.sin(2 * x))
    close(di.hvp(_sum_sin_sq, REVERSE, x, (t,))[0], 2 * np.cos(2 * x) * t)
    # f(x) = x (0-d): the engine hands back the implicit seed itself, which is shared
    first = di.gradient(lambda v: v, REVERSE, np.array(2.0))
    first[...] = 7.0
    close(di.gradient(lambda v: v, REVERSE, np.array(3.0)), 1.0)

    seen: list[Any] = []

    class Spy(torch.overrides.TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with Spy():
        close(di.gradient(_sum_sin_sq, REVERSE, x), np.sin(2 * x))
        close(di.hvp(_sum_sin_sq, REVERSE, x, (t,))[0], 2 * np.cos(2 * x) * t)
    assert torch.autograd.grad in seen  # the mode saw the backward passes


def test_backward_keeps_the_seed_on_both_routes() -> None:
    from differentiation_interface.backends.torch.backward import backward

    x = torch.linspace(0.1, 1.0, 4, dtype=torch.float64, requires_grad=True)
    y = x**2
    w = torch.arange(4.0, dtype=torch.float64)
    expected = 2 * np.linspace(0.1, 1.0, 4) * np.arange(4.0)
    # a plain tensor takes the engine route, a subclass (Parameter) torch.autograd.grad
    for seed in (w, torch.nn.Parameter(w.clone(), requires_grad=False)):
        g = backward(y, x, seed, retain=True)
        assert g is not None
        close(g.detach().numpy(), expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")  # inductor's own imports
@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
def test_compiled_gradient() -> None:
    backend = di.AutoTorch(compile=True)
    assert repr(backend) == "AutoTorch(compile=True)"
    x = np.linspace(0.1, 2.0, 50)
    prep = di.prepare_gradient(_sum_sin_sq, backend, x)
    assert prep.plan.f is not _sum_sin_sq  # the compiled function runs
    xt = torch.linspace(0.3, 1.1, 50, dtype=torch.float64)
    for point, p in ((x, prep), (x[::-1], prep), (xt, None)):  # None: prepares (and compiles)
        g = di.gradient(_sum_sin_sq, backend, point, prep=p)
        close(g, np.sin(2 * np.asarray(point)))
        y, g = di.value_and_gradient(_sum_sin_sq, backend, point, prep=p)
        close(y, np.sum(np.sin(np.asarray(point)) ** 2))
        close(g, np.sin(2 * np.asarray(point)))
    loose = di.prepare_gradient(_sum_sin_sq, backend, x, strict=False)

    def cube_sum(v: Any) -> Any:
        return (v**3).sum()

    close(di.gradient(cube_sum, backend, x, prep=loose), 3 * x**2)  # f itself, not _sum_sin_sq
    with pytest.raises(TypeError, match="compile"):
        di.AutoTorch(compile=1)  # type: ignore[arg-type]


def test_readonly_input_is_never_written() -> None:
    x = np.linspace(1.0, 2.0, 4)
    x.flags.writeable = False

    def f(v: Any) -> Any:
        return (v * v).sum()

    di.gradient(f, REVERSE, x)
    assert not x.flags.writeable


# --- other namespaces -------------------------------------------------------------------------


@MODES
def test_torch_on_meta(backend: di.AutoTorch) -> None:
    # shape / dtype / device smoke test: meta tensors carry no values
    for s in default_scenarios(dtype=np.float32):
        meta = s.to_namespace(torch, torch.device("meta"))
        args = [meta.x] + ([meta.tangents] if meta.tangents is not None else [])
        kwargs = {"y": meta.y} if meta.y is not None else {}
        result = getattr(di, s.operator)(meta.f, backend, *args, *meta.contexts, **kwargs)
        for r in result if isinstance(result, tuple) else (result,):
            assert r.device.type == "meta", s.name
            assert r.dtype == torch.float32, s.name
        expected = s.res2 if s.operator in SECOND_ORDER else s.res1
        for r, e in zip(
            result if isinstance(result, tuple) else (result,),
            expected if isinstance(expected, tuple) else (expected,),
            strict=True,
        ):
            assert tuple(r.shape) == tuple(np.shape(e)), s.name


def test_meta_value_and_gradient_hessian() -> None:
    x = torch.empty(5, device="meta", dtype=torch.float64)
    y, g, h = di.value_gradient_and_hessian(_sum_sin_sq, REVERSE, x)
    assert (y.shape, g.shape, h.shape) == ((), (5,), (5, 5))
    assert {t.device.type for t in (y, g, h)} == {"meta"}


@MODES
def test_torch_input_keeps_device_dtype_and_graph(backend: di.AutoTorch) -> None:
    x = torch.linspace(0.5, 2.0, 5, dtype=torch.float32, requires_grad=True)
    g = di.gradient(_sum_sin_sq, backend, x)
    assert g.dtype == torch.float32
    assert g.device == x.device
    assert g.requires_grad  # x requires grad: g stays on its graph (test_torch_graphs.py)
    assert x.grad is None
    close(g.detach(), np.sin(2 * np_of(x)), rtol=1e-5, atol=1e-6)


def test_works_under_no_grad() -> None:
    x = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    with torch.no_grad():
        g = di.gradient(_sum_sin_sq, REVERSE, x)
        (hv,) = di.hvp(_sum_sin_sq, REVERSE, x, (torch.ones_like(x),))
    close(g, np.sin(2 * np_of(x)))
    close(hv, 2 * np.cos(2 * np_of(x)))


@MODES
def test_jax_input_via_dlpack(backend: di.AutoTorch) -> None:
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.asarray(np.linspace(0.5, 2.0, 4, dtype=np.float32))
    g = di.gradient(_sum_sin_sq, backend, x)
    assert array_namespace(g) is array_namespace(x)
    assert g.dtype == x.dtype
    close(g, np.sin(2 * np.asarray(x)), rtol=1e-5, atol=1e-6)
    jac = di.jacobian(lambda v: v * v, backend, x)
    close(jac, np.diag(2 * np.asarray(x)), rtol=1e-5)


def test_dask_input() -> None:
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.linspace(0.5, 2.0, 6), chunks=3)
    g = di.gradient(_sum_sin_sq, REVERSE, x)
    assert array_namespace(g) is array_namespace(x)
    close(g, np.sin(2 * np.linspace(0.5, 2.0, 6)))


@pytest.mark.cuda
@MODES
def test_cuda(backend: di.AutoTorch) -> None:
    device = cuda_device("torch")
    if device is None:
        pytest.skip("no CUDA device")
    x = torch.linspace(0.5, 2.0, 5, dtype=torch.float64, device=device)
    g = di.gradient(_sum_sin_sq, backend, x)
    assert g.device == x.device
    close(g, np.sin(2 * np_of(x)))
    h = di.hessian(_sum_sin_sq, backend, x)
    assert h.device == x.device
    close(h, np.diag(2 * np.cos(2 * np_of(x))))
    (ty,) = di.pushforward(lambda v: v * v, backend, x, (torch.ones_like(x),))
    close(ty, 2 * np_of(x))


# --- two-argument functions and contexts -------------------------------------------------------


def _square_into(y: Any, x: Any) -> None:
    y[...] = x * x


@MODES
def test_two_argument_functions(backend: di.AutoTorch) -> None:
    assert di.check_inplace(backend)
    x = np.linspace(0.5, 2.0, 4)
    t = (np.ones(4), np.linspace(-1.0, 1.0, 4))
    y = np.full(4, np.nan)
    (tx1, tx2) = di.pullback(_square_into, backend, x, t, y=y)
    close(tx1, 2 * x)
    close(tx2, 2 * x * t[1])
    close(y, x * x)
    y[...] = np.nan
    value, (_ty1, ty2) = di.value_and_pushforward(_square_into, backend, x, t, y=y)
    assert value is y
    close(y, x * x)
    close(ty2, 2 * x * t[1])
    y[...] = np.nan
    close(di.jacobian(_square_into, backend, x, y=y), np.diag(2 * x))
    close(y, x * x)
    y0 = np.zeros(())
    close(di.derivative(_square_into, backend, np.asarray(1.5), y=y0), 3.0)
    close(y0, 2.25)


def test_two_argument_function_on_torch_buffer() -> None:
    x = torch.linspace(0.5, 2.0, 4, dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.float64)
    (tx,) = di.pullback(_square_into, REVERSE, x, (torch.ones(4, dtype=torch.float64),), y=y)
    close(tx, 2 * np_of(x))
    close(y, np_of(x) ** 2)
    assert not y.requires_grad


def _cached_cube(x: Any, buf: Any, scale: Any) -> Any:
    """``scale * sum(x**3)`` written through a scratch buffer."""
    xp = array_namespace(x)
    buf[...] = x * x
    return scale * xp.sum(buf * x)


@MODES
def test_cache_mutated_by_f_and_constants(backend: di.AutoTorch) -> None:
    x = np.linspace(0.5, 2.0, 4)
    buf, scale = di.Cache(np.zeros(4)), di.Constant(np.asarray(2.0))
    close(di.gradient(_cached_cube, backend, x, buf, scale), 6 * x**2)
    close(di.hessian(_cached_cube, backend, x, buf, scale), np.diag(12 * x))
    t = (np.ones(4), np.arange(4.0))
    hv = di.hvp(_cached_cube, backend, x, t, buf, scale)  # several tangents: batched path
    close(hv[0], 12 * x)
    close(hv[1], 12 * x * np.arange(4.0))

    def cached_square(v: Any, b: Any) -> Any:
        b[...] = v * v
        return b * 1.0

    ty = di.pushforward(cached_square, backend, x, t, buf)
    close(ty[1], 2 * x * np.arange(4.0))
    close(di.jacobian(cached_square, backend, x, buf), np.diag(2 * x))
    tx = di.pullback(cached_square, backend, x, t, buf)
    close(tx[1], 2 * x * np.arange(4.0))


def test_constant_context_changes_between_calls() -> None:
    x = np.linspace(0.5, 2.0, 4)
    a1, a2 = np.arange(1.0, 5.0), np.arange(5.0, 9.0)

    def f(v: Any, a: Any) -> Any:
        return array_namespace(v).sum(a * v * v)

    prep = di.prepare_gradient(f, REVERSE, x, di.Constant(a1))
    close(di.gradient(f, REVERSE, x, di.Constant(a2), prep=prep), 2 * a2 * x)


def test_torch_constant_requiring_grad_is_not_differentiated() -> None:
    x = torch.ones(3, dtype=torch.float64)
    a = torch.arange(3.0, dtype=torch.float64, requires_grad=True)
    g = di.gradient(lambda v, c: (c * v * v).sum(), REVERSE, x, di.Constant(a))
    close(g, 2 * np_of(a))
    assert a.grad is None


# --- preparation ----------------------------------------------------------------------------


@MODES
def test_prep_reuse_and_strict_mismatch(backend: di.AutoTorch) -> None:
    x = np.linspace(0.5, 2.0, 4)
    prep = di.prepare_gradient(_sum_sin_sq, backend, np.zeros(4))
    for k in range(3):
        close(di.gradient(_sum_sin_sq, backend, x + k, prep=prep), np.sin(2 * (x + k)))
    for other in (
        x.astype(np.float32),
        np.zeros(5),
        torch.zeros(4, dtype=torch.float64),
        xps.asarray(x),
    ):
        with pytest.raises(di.PreparationMismatchError):
            di.gradient(_sum_sin_sq, backend, other, prep=prep)
    with pytest.raises(di.PreparationMismatchError):
        di.gradient(
            _sum_sin_sq,
            di.AutoTorch(mode="reverse" if backend.mode == "forward" else "forward"),
            x,
            prep=prep,
        )


def test_same_point_preps_with_other_tangents() -> None:
    x = np.linspace(0.5, 2.0, 4)
    prep = di.prepare_hvp_same_point(_sum_sin_sq, REVERSE, x, (np.ones(4),))
    for k in range(3):
        t = np.eye(4)[k]
        (hv,) = di.hvp(_sum_sin_sq, REVERSE, x, (t,), prep=prep)
        close(hv, 2 * np.cos(2 * x) * t)

    def square(v: Any) -> Any:
        return v * v

    prep = di.prepare_pullback_same_point(square, REVERSE, x, (np.ones(4),))
    (tx,) = di.pullback(square, REVERSE, x, (np.arange(4.0),), prep=prep)
    close(tx, 2 * x * np.arange(4.0))


@MODES
@pytest.mark.parametrize("limit", [8, 30])
def test_chunked_bases(backend: di.AutoTorch, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # a tiny stacking budget forces several chunks (the last one wrapping around)
    monkeypatch.setattr(_seeds, "MAX_STACK_ELEMENTS", limit)
    monkeypatch.setattr(torch_first, "MAX_STACK_ELEMENTS", limit)  # what a plan keeps
    x = np.linspace(0.5, 2.0, 7)
    assert torch_first.Basis((7,), torch.float64, x).nchunks > 1
    close(
        di.jacobian(lambda v: v * array_namespace(v).sum(v), backend, x),
        x.sum() * np.eye(7) + np.outer(x, np.ones(7)),
    )
    y, g, h = di.value_gradient_and_hessian(_sum_sin_sq, backend, x)
    close(y, np.sum(np.sin(x) ** 2))
    close(g, np.sin(2 * x))
    close(h, np.diag(2 * np.cos(2 * x)))
    tangents = tuple(np.eye(7)[:5])
    ty = di.pushforward(lambda v: v * v, backend, x, tangents)
    for t, r in zip(tangents, ty, strict=True):
        close(r, 2 * x * t)


# --- complex numbers --------------------------------------------------------------------------

Z = np.array([1.0 + 1.0j, -0.5 + 2.0j, 0.3 - 0.7j])
C = np.array([2.0 - 1.0j, 0.5 + 0.5j, -1.0 + 3.0j])


def _abs2_sum(z: Any) -> Any:
    return array_namespace(z).sum(abs(z) ** 2)


def _real_of_dot(z: Any, c: Any) -> Any:
    xp = array_namespace(z)
    return xp.real(xp.sum(c * z))


def _scaled_square(z: Any, c: Any) -> Any:
    return c * z * z


def _abs4_sum(z: Any) -> Any:
    return array_namespace(z).sum(abs(z) ** 4)


@MODES
def test_complex_gradient_convention(backend: di.AutoTorch) -> None:
    # d/dRe + 1j d/dIm: sum|z|^2 -> 2z; Re(sum(c z)) -> conj(c)
    close(di.gradient(_abs2_sum, backend, Z), 2 * Z)
    g = di.gradient(_real_of_dot, backend, Z, di.Constant(C))
    close(g, np.conj(C))
    assert g.dtype == np.complex128
    g64 = di.gradient(_abs2_sum, backend, torch.asarray(Z.astype(np.complex64)))
    assert g64.dtype == torch.complex64
    close(g64, 2 * Z, rtol=1e-6)


@MODES
def test_complex_holomorphic_pushforward_pullback_jacobian(backend: di.AutoTorch) -> None:
    w = (np.array([1.0, 1.0j, 2.0 - 1.0j]), np.ones(3, dtype=complex))
    (ty,) = di.pushforward(lambda z: z * z, backend, Z, w[:1])
    close(ty, 2 * Z * w[0])  # J v
    ty = di.pushforward(lambda z: z * z, backend, Z, w)
    close(ty[0], 2 * Z * w[0])
    tx = di.pullback(lambda z: z * z, backend, Z, w)
    close(tx[0], np.conj(2 * Z) * w[0])  # J^H w
    close(tx[1], np.conj(2 * Z))
    jac = di.jacobian(_scaled_square, backend, Z, di.Constant(C))
    close(jac, np.diag(2 * C * Z))


@MODES
def test_complex_output_real_input_and_complex_hvp(backend: di.AutoTorch) -> None:
    # real x, complex y: Jacobian of x -> c x**2 is diag(2 c x)
    x = np.linspace(0.5, 2.0, 3)
    close(di.jacobian(_scaled_square, backend, x, di.Constant(C)), np.diag(2 * C * x))
    # hvp of sum|z|^4: gradient 4|z|^2 z, derivative along t: 8 Re(conj(z) t) z + 4 |z|^2 t
    t = np.array([0.5 - 1.0j, 1.0 + 0.0j, -0.2 + 0.3j])
    g, (hv,) = di.gradient_and_hvp(_abs4_sum, backend, Z, (t,))
    close(g, 4 * abs(Z) ** 2 * Z)
    close(hv, 8 * np.real(np.conj(Z) * t) * Z + 4 * abs(Z) ** 2 * t)
    hv2 = di.hvp(_abs4_sum, backend, Z, (t, 1j * t))
    close(hv2[1], 8 * np.real(np.conj(Z) * 1j * t) * Z + 4 * abs(Z) ** 2 * 1j * t)
    with pytest.raises(di.UnsupportedOperationError):
        di.hessian(_abs4_sum, backend, Z)


# --- results are fresh, never aliasing inputs or the prep ---------------------------------------


def _identity(x: Any) -> Any:
    return x


@MODES
@pytest.mark.parametrize("namespace", ["numpy", "torch", "strict"])
def test_identity_results_never_alias(backend: di.AutoTorch, namespace: str) -> None:
    x0, t0 = np.linspace(0.5, 2.0, 4), np.arange(4.0)
    if namespace == "numpy":
        x, t = x0.copy(), t0.copy()
    elif namespace == "torch":
        x, t = torch.asarray(x0.copy()), torch.asarray(t0.copy())
    else:
        x, t = xps.asarray(x0.copy()), xps.asarray(t0.copy())
    prep = di.prepare_jacobian(_identity, backend, x)
    for _ in range(2):  # a mutated result must not corrupt the prep's seeds
        y, jac = di.value_and_jacobian(_identity, backend, x, prep=prep)
        close(jac, np.eye(4))
        assert not shares_memory(y, x)
        assert not shares_memory(jac, x)
        jac[...] = 7.0
        y[...] = 7.0
    results = [
        *di.value_and_pullback(_identity, backend, x, (t,)),
        *di.value_and_pushforward(_identity, backend, x, (t,)),
        *di.value_and_pushforward(_identity, backend, x, (t, t)),
        *di.value_and_pullback(_identity, backend, x, (t, t)),
    ]
    for r in results:
        for a in r if isinstance(r, tuple) else (r,):
            assert not shares_memory(a, x)
            assert not shares_memory(a, t)
            a[...] = 7.0
    close(x, x0)
    close(t, t0)


@MODES
def test_results_are_writable_and_contiguous(backend: di.AutoTorch) -> None:
    # the gradient of a sum is a stride-0 expansion inside torch
    x = np.linspace(0.5, 2.0, 4)
    g = di.gradient(lambda v: array_namespace(v).sum(v), backend, x)
    g[0] = 5.0
    np.testing.assert_array_equal(g, [5.0, 1.0, 1.0, 1.0])
    gt = di.gradient(lambda v: v.sum(), backend, torch.asarray(x))
    gt[0] = 5.0
    close(gt, [5.0, 1.0, 1.0, 1.0])


# --- misuse and constant functions ------------------------------------------------------------


@MODES
@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.sum() * float(x.sum()),
        lambda x: x.sum() * x.sum().item(),
        lambda x: x.sum() * x.sum().tolist(),
    ],
    ids=["float", "item", "tolist"],
)
def test_python_number_conversion_is_refused(backend: di.AutoTorch, f: Any) -> None:
    x = torch.linspace(0.5, 2.0, 4, dtype=torch.float64)
    with pytest.raises(di.FunctionOutputError, match="Python"):
        di.gradient(f, backend, x)
    with pytest.raises(di.FunctionOutputError, match="Python"):
        di.prepare_pushforward(f, backend, x, (x,))


@MODES
def test_control_flow_on_arrays_is_fine(backend: di.AutoTorch) -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(x**2) if xp.sum(x) > 0 else -xp.sum(x**2)

    close(di.gradient(f, backend, np.ones(3)), 2 * np.ones(3))


def test_non_tensor_output_under_torch_is_an_error() -> None:
    # numpy in the caller's namespace, but f only returns arrays for numpy inputs
    def f(x: Any) -> Any:
        return np.sum(np.asarray(x)) if isinstance(x, np.ndarray) else 3.0

    with pytest.raises(di.FunctionOutputError, match="torch tensor"):
        di.gradient(f, REVERSE, np.ones(3))


@MODES
def test_output_independent_of_input_gives_zeros(backend: di.AutoTorch) -> None:
    x = np.linspace(0.5, 2.0, 4)

    def const(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.ones_like(v))

    with pytest.raises(di.DisconnectedGraphError, match="allow_unused"):
        di.gradient(const, backend, x)  # not connected to x at all: zeros only when allowed
    backend = dataclasses.replace(backend, allow_unused=True)

    np.testing.assert_array_equal(di.gradient(const, backend, x), np.zeros(4))
    np.testing.assert_array_equal(di.hessian(const, backend, x), np.zeros((4, 4)))
    np.testing.assert_array_equal(di.hvp(const, backend, x, (x, x))[1], np.zeros(4))
    np.testing.assert_array_equal(di.hvp(const, backend, x, (x,))[0], np.zeros(4))
    linear = di.hessian(lambda v: array_namespace(v).sum(3.0 * v), backend, x)
    np.testing.assert_array_equal(linear, np.zeros((4, 4)))
    for f in (lambda v: array_namespace(v).ones_like(v), lambda v: v * 0.0 + 1.0):
        np.testing.assert_array_equal(di.jacobian(f, backend, x), np.zeros((4, 4)))
        np.testing.assert_array_equal(di.pullback(f, backend, x, (x, x))[1], np.zeros(4))
        np.testing.assert_array_equal(di.pushforward(f, backend, x, (x,))[0], np.zeros(4))


def test_nesting_torch_engines_uses_native_second_order_or_raises() -> None:
    x = np.array([1.0, 2.0])

    def f(v: Any) -> Any:
        return array_namespace(v).sum(v**3)

    # Two torch backends composed: the engine's native second order (no nesting at all).
    for backend in (
        di.SecondOrder(di.AutoTorch(mode="forward"), di.AutoTorch()),
        di.SecondOrder(di.AutoTorch(), di.AutoTorch(mode="forward")),
    ):
        (hv,) = di.hvp(f, backend, x, (np.array([1.0, 0.0]),))
        close(hv, [6.0, 0.0], rtol=1e-10)
    # A user's own torch transform around an AutoTorch call: the result stays attached
    # (d/dv sum(3 v**2) = 6 v); more in test_torch_graphs.py.
    outer = torch.func.grad(lambda v: di.gradient(f, REVERSE, v).sum())
    close(outer(torch.ones(2, dtype=torch.float64)).numpy(), [6.0, 6.0], rtol=1e-12)


def test_finite_differences_over_torch() -> None:
    x = np.array([1.0, 2.0])
    (hv,) = di.hvp(
        lambda v: array_namespace(v).sum(v**3),
        di.SecondOrder(di.AutoFiniteDiff(), di.AutoTorch()),
        x,
        (np.array([1.0, 0.0]),),
    )
    close(hv, [6.0, 0.0], rtol=1e-6)


# --- threads, imports -------------------------------------------------------------------------


@MODES
def test_one_prep_from_several_threads(backend: di.AutoTorch) -> None:
    x = np.linspace(0.5, 2.0, 6)
    grad_prep = di.prepare_gradient(_sum_sin_sq, backend, x)

    def square(v: Any) -> Any:
        return v * v

    push_prep = di.prepare_pushforward(square, backend, x, (x,))
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            xk = x + 0.01 * k
            for _ in range(20):
                close(di.gradient(_sum_sin_sq, backend, xk, prep=grad_prep), np.sin(2 * xk))
                (ty,) = di.pushforward(square, backend, xk, (xk,), prep=push_prep)
                close(ty, 2 * xk * xk)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors


def test_package_import_does_not_import_torch() -> None:
    code = (
        "import sys, differentiation_interface as di; "
        "di.AutoTorch(); di.check_available(di.AutoTorch()); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_selector_traits() -> None:
    from differentiation_interface.backends import engine_for

    assert di.check_available(REVERSE)
    assert engine_for(REVERSE).reverse
    assert not engine_for(REVERSE).forward
    assert engine_for(FORWARD).forward
    assert not engine_for(FORWARD).reverse
    assert device(di.gradient(_sum_sin_sq, REVERSE, np.ones(2))) == "cpu"


# --- the array layer's torch shortcuts ---------------------------------------------------------


def test_plain_tensor_sharing_is_told_apart() -> None:
    from differentiation_interface._array._convert import _shares_memory

    x = torch.arange(4.0)
    assert _shares_memory(x[1], x)  # a view: same storage
    assert not _shares_memory(x.clone(), x)
    meta = torch.empty(3, device="meta")
    assert not _shares_memory(meta, torch.empty(3, device="meta"))  # no storage at all
    seen = []

    def f(t: Any) -> Any:  # torch.func's wrappers have no storage to read: never "shared"
        seen.append(_shares_memory(t, x))
        return (t**2).sum()

    torch.func.grad(f)(x)
    assert seen == [False]


def test_host_bridge_for_cpu_tensors() -> None:
    from differentiation_interface._array import host_bridge

    into, out_of = host_bridge(torch.zeros(3, dtype=torch.float64))
    v = np.arange(3.0)
    t = into(v)
    assert isinstance(t, torch.Tensor)
    assert np.shares_memory(t.numpy(), v)  # zero-copy
    readonly = np.arange(3.0)
    readonly.flags.writeable = False
    t = into(readonly)  # torch never aliases a read-only buffer: a copy
    assert not np.shares_memory(t.numpy(), readonly)
    close(t, np.arange(3.0))
    reversed_view = np.arange(3.0)[::-1]
    close(into(reversed_view), [2.0, 1.0, 0.0])
    attached = torch.ones(3, requires_grad=True)
    out = out_of(attached * 2)  # on a graph: detached on the way out
    assert isinstance(out, np.ndarray)
    close(out, [2.0, 2.0, 2.0])
    with pytest.raises(di.UnsupportedOperationError, match="meta"):
        out_of(torch.empty(3, device="meta"))


def test_host_bridge_elsewhere_converts_like_from_numpy() -> None:
    from differentiation_interface._array import host_bridge

    into, out_of = host_bridge(xps.asarray([1.0, 2.0]))
    a = into(np.array([3.0, 4.0]))
    assert array_namespace(a) is array_namespace(xps.asarray(1.0))
    close(out_of(a), [3.0, 4.0])


@pytest.mark.parametrize("caller", ["numpy", "torch"])
@MODES
def test_one_tangent_crosses_as_a_view(
    backend: Any, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One tangent reaches the plan as a view with a batch axis of one, not a stacked copy;
    results against closed forms, and never sharing memory with the caller's tangent
    (identity ``f``, whose derivative is the tangent itself)."""
    base = np.linspace(0.5, 2.0, 7)
    make = np.array if caller == "numpy" else torch.from_numpy
    x, t = make(base.copy()), make(np.cos(base))

    refused = stacking_refused(monkeypatch)
    for f, op, expected in one_tangent_cases(base):
        refused["on"] = False
        prep = getattr(di, f"prepare_{op}")(f, backend, x, (t,))
        assert prep.single
        refused["on"] = True
        value_and = getattr(di, "gradient_and_hvp" if op == "hvp" else f"value_and_{op}")
        for call in (getattr(di, op), value_and):
            result = call(f, backend, x, (t,), prep=prep)
            (d,) = result if call is getattr(di, op) else result[-1]
            assert type(d) is type(t)
            np.testing.assert_allclose(to_numpy(d), expected, rtol=1e-12)
            assert not np.shares_memory(to_numpy(d), to_numpy(t))
        refused["on"] = False


def test_to_numpy_resolves_lazy_bits_and_detaches() -> None:
    """Plain CPU tensors go to numpy as views; tensors numpy cannot view as they are (a
    lazy negative or conjugate bit, a graph) still come back with their values."""
    z = torch.tensor([1 + 2j, 3 - 1j])
    negated = z.conj().imag  # a view with torch's lazy negative bit
    assert negated.is_neg()
    np.testing.assert_array_equal(to_numpy(negated), [-2.0, 1.0])
    conjugated = z.conj()
    assert conjugated.is_conj()
    np.testing.assert_array_equal(to_numpy(conjugated), [1 - 2j, 3 + 1j])
    tracked = torch.ones(2, requires_grad=True) * 3
    np.testing.assert_array_equal(to_numpy(tracked), [3.0, 3.0])
    plain = torch.arange(3.0)
    assert np.shares_memory(to_numpy(plain), plain.numpy())


def test_element_setters_write_each_element_in_c_order() -> None:
    """The finite-difference sweep's writes (a kept 0-d view per element): element ``j`` of
    a contiguous tensor in C order; a transposed (non-contiguous) one is written by index."""
    from differentiation_interface._array import element_setters

    buffer = torch.zeros((2, 3), dtype=torch.float64)
    setters = element_setters(buffer)
    assert setters is not None
    setters[4](torch.tensor(7.0, dtype=torch.float64))
    assert buffer[1, 1] == 7.0
    assert float(buffer.sum()) == 7.0
    assert element_setters(buffer.T) is None
    x = torch.linspace(0.5, 2.0, 6, dtype=torch.float64).reshape(2, 3).T  # non-contiguous
    g = di.gradient(_sum_sin_sq, di.AutoFiniteDiff(), x)
    close(g, np.sin(2 * np_of(x)), rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_fresh_never_returns_a_source_itself(device: str) -> None:
    """An empty or ``meta`` tensor has no storage pointer (0): being the source object
    itself is what says it is shared."""
    from differentiation_interface._array import fresh

    xp = array_namespace(torch.empty(0))
    for t in (torch.empty(0, device=device), torch.empty(3, device=device)):
        assert fresh(t, xp, (t,)) is not t
    x = torch.arange(4.0)
    assert fresh(x[1:], xp, (x,)).data_ptr() != x[1:].data_ptr()  # a view: copied
    other = torch.arange(4.0)
    assert fresh(other, xp, (x,)) is other

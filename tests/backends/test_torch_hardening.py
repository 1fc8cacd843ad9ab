"""The PyTorch engine never returns a silently wrong number and never leaks a raw torch error.

Regression tests for inference mode and inference tensors, functions vmap cannot batch,
stride-0 inputs, non-array contexts, operations torch cannot differentiate, ``meta`` tensors
with engines that need values, and torch ``bfloat16`` through JAX. Every value is compared with
an independent reference: the default scenarios' closed forms, a formula written here, or
another engine (JAX) on a numpy copy of ``x``.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
pytest.importorskip("autograd")
pytest.importorskip("scipy")

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import to_numpy  # noqa: E402
from differentiation_interface.operators._table import OPERATORS  # noqa: E402
from differentiation_interface.testing import Scenario, default_scenarios  # noqa: E402
from differentiation_interface.testing._run import dense, max_relative_error  # noqa: E402
from differentiation_interface.testing._variants import FUNCTIONS  # noqa: E402

REVERSE = di.AutoTorch()
FORWARD = di.AutoTorch(mode="forward")
MODES = pytest.mark.parametrize("backend", [REVERSE, FORWARD], ids=["reverse", "forward"])
SCENARIOS = default_scenarios()
#: One-argument scenarios (every operator), for the engines that refuse f(y, x).
OUT_OF_PLACE = [s for s in SCENARIOS if s.y is None]
EXACT = 1e-9  # float64 with an AD engine (testing._run.tolerance)


def _ids(scenarios: list[Scenario]) -> list[str]:
    return [str(s.name) for s in scenarios]


def test_scenarios_cover_every_operator() -> None:
    """The parametrizations below reach all 8 operators."""
    assert {s.operator for s in OUT_OF_PLACE} == set(OPERATORS)


# --- helpers ----------------------------------------------------------------------------------


def _args(s: Scenario) -> tuple[Any, ...]:
    spec = OPERATORS[s.operator]
    return (s.x, s.tangents, *s.contexts) if spec.tangents else (s.x, *s.contexts)


def _kwargs(s: Scenario) -> dict[str, Any]:
    return {} if s.y is None else {"y": s.y}


def prepare(s: Scenario, backend: Any) -> Any:
    return FUNCTIONS[s.operator].prepare(s.f, backend, *_args(s), **_kwargs(s))


def results(s: Scenario, backend: Any, prep: Any = None) -> tuple[Any, Any]:
    """``(first, second)`` results: the operator's result for first order, and for second
    order the first derivative and the second-order result (value-and variant)."""
    fns = FUNCTIONS[s.operator]
    kwargs = _kwargs(s) if prep is None else {**_kwargs(s), "prep": prep}
    if OPERATORS[s.operator].order == 1:
        return fns.plain(s.f, backend, *_args(s), **kwargs), None
    out = fns.value(s.f, backend, *_args(s), **kwargs)
    return out[-2], out[-1]


def assert_matches(s: Scenario, got: tuple[Any, Any], tol: float = EXACT) -> None:
    """Compare with the scenario's closed forms (``res1`` and, for second order, ``res2``)."""
    first, second = got
    assert max_relative_error(first, s.res1) <= tol, (s.name, first, s.res1)
    if s.res2 is not None:
        assert max_relative_error(second, s.res2) <= tol, (s.name, second, s.res2)


def leaves(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in leaves(v)]
    return [] if value is None else [value]


def with_arrays(s: Scenario, convert: Any, *, y: bool = True) -> Scenario:
    """``s`` with ``convert`` applied to x, the tangents, the contexts' arrays (and y)."""

    def conv(a: Any) -> Any:
        if a is None:
            return None
        if isinstance(a, tuple):
            return tuple(conv(b) for b in a)
        if isinstance(a, di.Constant):
            return di.Constant(conv(a.value))
        return convert(a)

    return dataclasses.replace(
        s,
        x=conv(s.x),
        tangents=conv(s.tangents),
        contexts=conv(s.contexts),
        y=conv(s.y) if y else s.y,
    )


def reference(s: Scenario) -> tuple[tuple[Any, Any], float]:
    """The scenario's results from another engine on a numpy copy of its arrays, and their
    tolerance: JAX, or finite differences for two-argument functions (JAX refuses them)."""
    host = with_arrays(s, lambda a: np.array(to_numpy(a)))
    if s.y is None:
        return results(host, di.AutoJAX()), EXACT
    return results(host, di.AutoFiniteDiff()), 1e-6


def _torch(s: Scenario) -> Scenario:
    return s.to_namespace(torch)


# --- 1. inference mode ------------------------------------------------------------------------

INFERENCE_CASES = [
    pytest.param(s, namespace, prepared, id=f"{s.name}-{namespace}-{kind}")
    for s in SCENARIOS
    for namespace in ("numpy", "torch")
    for prepared, kind in ((False, "unprepared"), (True, "prepared"))
]


@MODES
@pytest.mark.parametrize(("s", "namespace", "prepared"), INFERENCE_CASES)
def test_inference_mode_gives_the_closed_form(
    backend: Any, s: Scenario, namespace: str, prepared: bool
) -> None:
    """Under torch.inference_mode() torch records nothing: derivatives used to be all zero."""
    if namespace == "torch":
        s = _torch(s)
    prep = prepare(s, backend) if prepared else None
    with torch.inference_mode():
        got = results(s, backend, prep)
        again = results(s, backend, prep)  # repeated calls take the fast tiers
    assert_matches(s, got)
    assert_matches(s, again)
    for r in leaves(got):
        if isinstance(r, torch.Tensor):
            assert not r.is_inference(), "results are ordinary tensors"


SEEDED = [
    s
    for s in SCENARIOS
    if s.name in ("pushforward:vector->vector", "jacobian:vector->vector", "hessian:vector->scalar")
]


@MODES
@pytest.mark.parametrize("s", SEEDED, ids=_ids(SEEDED))
def test_inference_mode_prepared_inside_and_used_outside(backend: Any, s: Scenario) -> None:
    """A preparation made under inference mode holds ordinary tensors (seeds, ...)."""
    for namespace in ("numpy", "torch"):
        case = _torch(s) if namespace == "torch" else s
        with torch.inference_mode():
            prep = prepare(case, backend)
        assert_matches(case, results(case, backend, prep))


def test_inference_mode_with_grad_enabled_inside_takes_no_shortcut() -> None:
    """enable_grad() inside inference_mode(): grad mode is on but torch still records nothing,
    so the prepared numpy gradient (the express tier) must not trust grad mode alone."""
    f = lambda x: (x**3).sum()  # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    prep = di.prepare_gradient(f, REVERSE, x)
    with torch.inference_mode(), torch.enable_grad():
        g = di.gradient(f, REVERSE, x, prep=prep)
        g_unprepared = di.gradient(f, REVERSE, x)
        value, g_value = di.value_and_gradient(f, REVERSE, x, prep=prep)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-14)
    np.testing.assert_allclose(g_unprepared, 3 * x**2, rtol=1e-14)
    np.testing.assert_allclose(g_value, 3 * x**2, rtol=1e-14)
    assert float(value) == 36.0


@MODES
@pytest.mark.parametrize("inside", [False, True], ids=["called-outside", "called-inside"])
@pytest.mark.parametrize("s", SCENARIOS, ids=_ids(SCENARIOS))
def test_inference_tensors_are_copied_in(backend: Any, s: Scenario, inside: bool) -> None:
    """Tensors made under inference mode cannot be saved for backward: once raw torch errors
    (outside inference mode) or zeros (inside it). y stays an ordinary buffer: f writes into
    it outside the engine, which inference tensors refuse outside inference mode."""
    ordinary = _torch(s)
    with torch.inference_mode():
        case = with_arrays(ordinary, lambda a: a.clone(), y=False)
    assert case.x.is_inference()
    scope = torch.inference_mode() if inside else torch.enable_grad()
    with scope:
        got = results(case, backend)
    assert_matches(s, got)


def test_inference_mode_numpy_express_matches_outside() -> None:
    """The prepared hot path of a numpy gradient, inside and outside inference mode."""
    f = lambda x: (x**2).sum()  # noqa: E731
    x = np.linspace(0.5, 2.0, 10)
    prep = di.prepare_gradient(f, REVERSE, x)
    outside = di.gradient(f, REVERSE, x, prep=prep)
    with torch.inference_mode():
        inside = di.gradient(f, REVERSE, x, prep=prep)
    np.testing.assert_allclose(outside, 2 * x, rtol=1e-15)
    np.testing.assert_allclose(inside, 2 * x, rtol=1e-15)


# --- 2. functions vmap cannot batch -----------------------------------------------------------


def num_to_vec(y: Any, x: Any) -> None:
    """DIT's ``num_to_vec!``-like: 0-d values written into slices (vmap cannot batch it)."""
    xp = array_namespace(x)
    y[:3] = xp.sin(x)
    y[3:] = xp.cos(x)


def num_to_mat(y: Any, x: Any) -> None:
    """DIT's ``num_to_mat!``-like, into a matrix."""
    xp = array_namespace(x)
    y[0, :] = xp.sin(x)
    y[1, :] = x * x


def _num_to_vec_jacobian(t: float) -> np.ndarray:
    return np.array([np.cos(t)] * 3 + [-np.sin(t)] * 3)


def _num_to_mat_jacobian(t: float) -> np.ndarray:
    return np.array([[np.cos(t)] * 3, [2 * t] * 3])


FILLS = [
    pytest.param(num_to_vec, (6,), _num_to_vec_jacobian, id="num_to_vec"),
    pytest.param(num_to_mat, (2, 3), _num_to_mat_jacobian, id="num_to_mat"),
]


@MODES
@pytest.mark.parametrize("namespace", ["numpy", "torch"])
@pytest.mark.parametrize(("f", "shape", "jac"), FILLS)
def test_pushforward_of_a_fill_with_several_tangents(
    backend: Any, namespace: str, f: Any, shape: tuple[int, ...], jac: Any
) -> None:
    t0 = 0.7
    x, y = np.asarray(t0), np.zeros(shape)
    tangents = (np.asarray(1.0), np.asarray(-2.0), np.asarray(0.5))
    if namespace == "torch":
        x, y = torch.asarray(x), torch.asarray(y)
        tangents = tuple(torch.asarray(t) for t in tangents)
    prep = di.prepare_pushforward(f, backend, x, tangents, y=y)
    for _ in range(2):  # the second call goes straight to the loop
        ty = di.pushforward(f, backend, x, tangents, y=y, prep=prep)
        for t, got in zip((1.0, -2.0, 0.5), ty, strict=True):
            np.testing.assert_allclose(np.asarray(to_numpy(got)), t * jac(t0), rtol=1e-14)
    ty_unprepared = di.pushforward(f, backend, x, tangents, y=y)
    np.testing.assert_allclose(np.asarray(to_numpy(ty_unprepared[1])), -2.0 * jac(t0))
    np.testing.assert_allclose(np.asarray(to_numpy(y)).reshape(-1)[:3], np.sin(t0) * np.ones(3))


@MODES
@pytest.mark.parametrize(("f", "shape", "jac"), FILLS)
def test_jacobian_and_derivative_of_a_fill(
    backend: Any, f: Any, shape: tuple[int, ...], jac: Any
) -> None:
    t0 = 1.3
    x, y = np.asarray(t0), np.zeros(shape)
    J = di.jacobian(f, backend, x, y=y)
    np.testing.assert_allclose(J, jac(t0).reshape(-1, 1), rtol=1e-14)
    np.testing.assert_allclose(di.derivative(f, backend, x, y=y), jac(t0), rtol=1e-14)


def two_products(y: Any, x: Any) -> None:
    """0-d products written into slices; its sparse Jacobian needs two colors."""
    y[:2] = x[0] * x[1]
    y[2:] = x[1] * x[2]


@pytest.mark.parametrize("inner", [FORWARD, REVERSE], ids=["forward", "reverse"])
def test_sparse_jacobian_of_fills(inner: Any) -> None:
    x = np.array([1.0, 2.0, 3.0])
    want = np.array([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0], [0.0, 3.0, 2.0], [0.0, 3.0, 2.0]])
    J = di.jacobian(two_products, di.AutoSparse(inner), x, y=np.zeros(4))
    np.testing.assert_allclose(np.asarray(dense(J)), want, rtol=1e-14)
    dense_J = di.jacobian(two_products, FORWARD, x, y=np.zeros(4))
    np.testing.assert_allclose(dense_J, want, rtol=1e-14)


def sum_filled(x: Any) -> Any:
    """``f(x) = 2 s**2`` with ``s = sum(x)``, built by filling a fresh buffer."""
    xp = array_namespace(x)
    buffer = xp.zeros(3, dtype=x.dtype)
    buffer[:2] = xp.sum(x)
    return xp.sum(buffer**2)


@MODES
def test_hvp_and_hessian_of_a_fill(backend: Any) -> None:
    x = np.array([1.0, 2.0, -3.0])
    tangents = (np.ones(3), np.arange(3.0))
    hessian = 4 * np.ones((3, 3))  # of 2 sum(x)**2
    for t, got in zip(tangents, di.hvp(sum_filled, backend, x, tangents), strict=True):
        np.testing.assert_allclose(got, hessian @ t, rtol=1e-14)
    np.testing.assert_allclose(di.hessian(sum_filled, backend, x), hessian, rtol=1e-14)


def test_the_loop_is_remembered_and_safe_between_threads() -> None:
    """Once vmap failed, later calls push tangents one at a time without trying it again."""
    calls = {"n": 0}
    lock = threading.Lock()

    def counted(y: Any, x: Any) -> None:
        with lock:
            calls["n"] += 1
        num_to_vec(y, x)

    x, y = np.asarray(0.3), np.zeros(6)
    tangents = (np.asarray(1.0), np.asarray(2.0))
    prep = di.prepare_pushforward(counted, FORWARD, x, tangents, y=y)
    calls["n"] = 0
    di.pushforward(counted, FORWARD, x, tangents, y=y, prep=prep)
    assert calls["n"] == 1 + len(tangents)  # vmap's failed attempt, then one pass per tangent
    for _ in range(2):
        calls["n"] = 0
        di.pushforward(counted, FORWARD, x, tangents, y=y, prep=prep)
        assert calls["n"] == len(tangents)  # no vmap attempt any more
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                ty = di.pushforward(counted, FORWARD, x, tangents, y=np.zeros(6), prep=prep)
                np.testing.assert_allclose(ty[1], 2.0 * _num_to_vec_jacobian(0.3), rtol=1e-14)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors


# --- 3a. stride-0 (expanded) x ----------------------------------------------------------------

VECTOR = [s for s in SCENARIOS if s.x.shape == (4,)]


@MODES
@pytest.mark.parametrize("s", VECTOR, ids=_ids(VECTOR))
def test_expanded_x(backend: Any, s: Scenario) -> None:
    """A stride-0 x (all entries share one element) is materialised, never written."""
    base = torch.tensor([0.8], dtype=torch.float64)
    x = base.expand(4)
    case = dataclasses.replace(_torch(s), x=x)
    got = results(case, backend)
    want, tol = reference(case)
    assert max_relative_error(got[0], want[0]) <= tol
    if want[1] is not None:
        assert max_relative_error(got[1], want[1]) <= tol
    assert base.item() == 0.8  # the caller's x is untouched
    assert x.stride() == (0,)


@MODES
def test_writable_zero_stride_numpy_x(backend: Any) -> None:
    x = np.lib.stride_tricks.as_strided(np.array([0.8]), shape=(4,), strides=(0,))
    tangents = (np.ones(4), np.arange(4.0))
    ty = di.pushforward(lambda v: v**2, backend, x, tangents)
    for t, got in zip(tangents, ty, strict=True):
        np.testing.assert_allclose(got, 2 * 0.8 * t, rtol=1e-14)
    np.testing.assert_allclose(di.jacobian(lambda v: v**2, backend, x), 1.6 * np.eye(4))


# --- 3b. non-array contexts -------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("namespace", ["numpy", "torch"])
@pytest.mark.parametrize("s", OUT_OF_PLACE, ids=_ids(OUT_OF_PLACE))
def test_dict_constant_is_passed_through(backend: Any, namespace: str, s: Scenario) -> None:
    """A context may be any Python object: f receives it as it is."""
    if namespace == "torch":
        s = _torch(s)
    inner = s.f

    def scaled(x: Any, *args: Any) -> Any:
        options = args[-1]
        assert type(options) is dict
        return options["scale"] * inner(x, *args[:-1])

    scale = 2.5
    case = dataclasses.replace(
        s,
        f=scaled,
        contexts=(*s.contexts, di.Constant({"scale": scale})),
        res1=_scaled(s.res1, scale),
        res2=_scaled(s.res2, scale),
    )
    assert_matches(case, results(case, backend))
    assert_matches(case, results(case, backend, prepare(case, backend)))


def _scaled(value: Any, scale: float) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_scaled(v, scale) for v in value)
    return scale * np.asarray(to_numpy(value))


# --- 3c. operations torch cannot differentiate ------------------------------------------------


@MODES
@pytest.mark.parametrize("s", OUT_OF_PLACE, ids=_ids(OUT_OF_PLACE))
def test_floor_divide_raises_a_library_error(backend: Any, s: Scenario) -> None:
    """torch has no derivative for floor_divide: a library error, chained from torch's."""
    inner = s.f

    def with_floor_division(x: Any, *args: Any) -> Any:
        xp = array_namespace(x)
        return inner(x, *args) + 0.0 * xp.sum(x // 2)

    case = dataclasses.replace(s, f=with_floor_division)
    with pytest.raises(di.UnsupportedOperationError, match="floor_divide") as info:
        results(case, backend)
    assert type(info.value.__cause__) in (RuntimeError, NotImplementedError)
    assert "could not differentiate f" in str(info.value)


@MODES
def test_floor_rewrite_agrees_with_jax_floor_divide(backend: Any) -> None:
    """The rewrite the message suggests, xp.floor(x / d), gives JAX's derivative of x // d."""
    x = np.array([1.0, 2.5, 3.0, -4.2])

    def floor_half(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.floor(v / 2) + v**2)

    def floor_divide_half(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(v // 2 + v**2)

    want = np.asarray(di.gradient(floor_divide_half, di.AutoJAX(), x))
    np.testing.assert_allclose(want, 2 * x)  # floor has derivative zero almost everywhere
    np.testing.assert_allclose(di.gradient(floor_half, backend, x), want, rtol=1e-15)


@MODES
def test_errors_of_f_itself_pass_unchanged(backend: Any) -> None:
    """A RuntimeError f raises on its own (here at a point the preparation did not see) is
    f's, not torch's differentiation error: it reaches the caller as it is."""

    def positive_only(x: Any) -> Any:
        xp = array_namespace(x)
        if bool(xp.any(x < 0)):
            raise RuntimeError("positive_only: negative input")
        return xp.sum(x**2)

    x = np.array([1.0, 2.0])
    prep = di.prepare_gradient(positive_only, backend, x)
    np.testing.assert_allclose(di.gradient(positive_only, backend, x, prep=prep), 2 * x)
    with pytest.raises(RuntimeError, match="negative input") as info:
        di.gradient(positive_only, backend, -x, prep=prep)
    assert type(info.value) is RuntimeError


@MODES
def test_arrays_built_from_lists_of_x_values_are_refused(backend: Any) -> None:
    """xp.asarray([x[0], x[1]]) copies values and drops derivatives: torch returned zeros."""

    def from_list(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.asarray([x[0], x[1]]) * x[:2]

    def stacked(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.stack([x[0], x[1]]) * x[:2]

    x = np.array([1.5, -2.0, 3.0])
    with pytest.raises(di.DisconnectedGraphError, match=r"xp\.stack"):
        di.jacobian(from_list, backend, x)
    want = np.array([[3.0, 0.0, 0.0], [0.0, -4.0, 0.0]])
    np.testing.assert_allclose(di.jacobian(stacked, backend, x), want)


# --- 3d. meta tensors -------------------------------------------------------------------------

VALUE_ENGINES = [di.AutoJAX(), di.AutoJAX(mode="forward"), di.AutoAutograd(), di.AutoFiniteDiff()]


@pytest.mark.parametrize("backend", VALUE_ENGINES, ids=repr)
@pytest.mark.parametrize("s", OUT_OF_PLACE, ids=_ids(OUT_OF_PLACE))
def test_meta_tensors_are_refused_by_engines_that_need_values(backend: Any, s: Scenario) -> None:
    case = with_arrays(_torch(s), lambda a: a.to("meta"))
    with pytest.raises(di.UnsupportedOperationError, match="'meta' device"):
        results(case, backend)


@MODES
@pytest.mark.parametrize("s", OUT_OF_PLACE, ids=_ids(OUT_OF_PLACE))
def test_meta_tensors_propagate_shapes_through_autotorch(backend: Any, s: Scenario) -> None:
    case = with_arrays(_torch(s), lambda a: a.to("meta"))
    want = results(_torch(s), backend)
    got = results(case, backend)
    for g, w in zip(leaves(got), leaves(want), strict=True):
        assert g.device.type == "meta"
        assert g.shape == w.shape
        assert g.dtype == w.dtype


# --- 3e. bfloat16 through JAX -----------------------------------------------------------------

BF16_TOL = 3e-2  # 8-bit significands: a few units in the last place after a few operations


@pytest.mark.parametrize("backend", [di.AutoJAX(), di.AutoJAX(mode="forward")], ids=repr)
@pytest.mark.parametrize("s", OUT_OF_PLACE, ids=_ids(OUT_OF_PLACE))
def test_bfloat16_torch_through_jax(backend: Any, s: Scenario) -> None:
    case = with_arrays(_torch(s), lambda a: a.to(torch.bfloat16))
    got = results(case, backend)
    for r in leaves(got):
        assert type(r) is torch.Tensor
        assert r.dtype == torch.bfloat16
        assert not r.requires_grad
    assert_matches(s, (_float64(got[0]), _float64(got[1])), tol=BF16_TOL)
    # ... and what AutoTorch gives on the same bfloat16 tensors (another engine)
    torch_got = results(case, REVERSE)
    assert max_relative_error(_float64(got[0]), _float64(torch_got[0])) <= BF16_TOL


def _float64(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_float64(v) for v in value)
    return value.to(torch.float64)


def test_bfloat16_results_do_not_alias_jax_buffers() -> None:
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)
    g1 = di.gradient(lambda v: (v**3).sum(), di.AutoJAX(), x)
    g2 = di.gradient(lambda v: (v**3).sum(), di.AutoJAX(), x)
    g1[0] = -1.0  # writable, and its own storage
    assert g2[0].item() == 3.0
    np.testing.assert_allclose(g2.to(torch.float64).numpy(), [3.0, 12.0, 27.0])

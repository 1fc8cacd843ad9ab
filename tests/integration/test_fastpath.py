"""Every speed tier against the full call, for every engine (operators/_fastpath.py).

A prepared or repeated call may be served by the express closure (tier 1) or the quick tier
(tier 2) instead of the full call (tier 3). The tiers must return exactly what the full call
returns (values, dtypes, namespaces) and, where they cannot serve a call, decline so that the
full call raises what it raises. Each tier is called here directly on the same inputs.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._array import namespace_of, to_numpy
from differentiation_interface.operators import _call, _fastpath
from differentiation_interface.operators._table import OPERATORS
from differentiation_interface.testing import Scenario, default_scenarios
from differentiation_interface.testing._run import dense, max_relative_error, tolerance
from differentiation_interface.testing._variants import FUNCTIONS

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
pytest.importorskip("autograd")
pytest.importorskip("scipy")

FD = di.AutoFiniteDiff()
JAX, JAX_F = di.AutoJAX(), di.AutoJAX(mode="forward")
TORCH, TORCH_F = di.AutoTorch(), di.AutoTorch(mode="forward")
AG = di.AutoAutograd()
BACKENDS = [
    FD,
    JAX,
    JAX_F,
    TORCH,
    TORCH_F,
    AG,
    di.SecondOrder(JAX_F, JAX),
    di.SecondOrder(FD, TORCH),
    di.AutoSparse(FD),
    di.AutoSparse(JAX),
]
# One scenario per operator and shape kind, out-of-place functions (y= and contexts always
# take the full call).
SCENARIOS = [s for s in default_scenarios() if s.y is None and not s.contexts]


def _namespaces(backend: Any) -> list[str]:
    """numpy for every backend, plus the engine's own arrays (their express paths differ)."""
    text = repr(backend)
    own = []
    if "AutoJAX" in text and "AutoTorch" not in text:
        own.append("jax")
    if "AutoTorch" in text and "AutoJAX" not in text:
        own.append("torch")
    return ["numpy", *own]


def _convert(s: Scenario, namespace: str) -> Scenario:
    if namespace == "numpy":
        return s
    if namespace == "jax":
        with jax.enable_x64(True):
            return s.to_namespace(jax.numpy)
    return s.to_namespace(torch)


CASES = [
    pytest.param(backend, s, namespace, id=f"{backend!r}-{s.name}-{namespace}")
    for backend in BACKENDS
    for namespace in _namespaces(backend)
    for s in SCENARIOS
    if not (isinstance(backend, di.AutoSparse) and s.operator not in ("jacobian", "hessian"))
    if not (isinstance(backend, di.AutoSparse) and namespace != "numpy" and not s.x.ndim)
]


def _host(a: Any) -> Any:
    if isinstance(a, tuple):
        return tuple(_host(b) for b in a)
    with jax.enable_x64(True):  # a float64 BCOO densifies in 64-bit mode only
        return np.array(to_numpy(dense(a)))


def _assert_same(got: Any, want: Any, what: str) -> None:
    """Same kind (tuple structure, type, dtype) and the very same values."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple), what
        assert len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, f"{what}[{i}]")
        return
    assert type(got) is type(want), f"{what}: {type(got)} is not {type(want)}"
    assert str(got.dtype) == str(want.dtype), what
    np.testing.assert_array_equal(_host(got), _host(want), err_msg=what)


def _args(s: Scenario) -> tuple[Any, ...]:
    return (s.x, s.tangents) if OPERATORS[s.operator].tangents else (s.x,)


def _full(s: Scenario, backend: Any, prep: Any, *, value: bool, x: Any = None) -> Any:
    spec = OPERATORS[s.operator]
    x = s.x if x is None else x
    return _call.call(
        spec, s.f, backend, x, s.tangents, (), None, prep, None, value=value, quick=False
    )


def _quick(s: Scenario, backend: Any, prep: Any, *, value: bool, x: Any = None) -> Any:
    spec = OPERATORS[s.operator]
    x = s.x if x is None else x
    return _fastpath.quick_call(spec, s.f, backend, x, s.tangents, prep, value=value)


def _in_precision(s: Scenario) -> Any:
    xp = namespace_of(s.x)
    return jax.enable_x64(True) if xp is jax.numpy else contextlib.nullcontext()


@pytest.mark.parametrize(("backend", "s", "namespace"), CASES)
def test_prepared_tiers_return_what_the_full_call_returns(
    backend: Any, s: Scenario, namespace: str
) -> None:
    s = _convert(s, namespace)
    fns = FUNCTIONS[s.operator]
    prep = fns.prepare(s.f, backend, *_args(s))
    # Outside JAX's 64-bit mode, as callers are: the tiers switch it themselves.
    for value in (False, True):
        full = _full(s, backend, prep, value=value)
        quick = _quick(s, backend, prep, value=value)
        assert quick is not None, "the quick tier declined a plain prepared call"
        _assert_same(quick, full, f"quick, value={value}")
        public = (fns.value if value else fns.plain)(s.f, backend, *_args(s), prep=prep)
        _assert_same(public, full, f"public, value={value}")
    plain = _full(s, backend, prep, value=False)
    # The express closure may decline (JAX float64 plans outside 64-bit mode leave it to
    # the quick tier); whatever it returns must be the full call's result.
    for scope in (contextlib.nullcontext(), _in_precision(s)):
        with scope:
            result = None if prep.express is None else prep.express(s.operator, s.f, backend, s.x)
        if result is not None:
            _assert_same(result, plain, "express")
    # ... and what they return is right (an independent reference, not the code itself).
    reference = s.res2 if OPERATORS[s.operator].order == 2 else s.res1
    with _in_precision(s):  # a float64 BCOO densifies in 64-bit mode only
        assert max_relative_error(plain, reference) <= tolerance(backend, s)


@pytest.mark.parametrize(("backend", "s", "namespace"), CASES)
def test_unprepared_tiers_return_what_the_full_call_returns(
    backend: Any, s: Scenario, namespace: str
) -> None:
    s = _convert(s, namespace)
    fns = FUNCTIONS[s.operator]
    _call.clear_cache()
    first = fns.plain(s.f, backend, *_args(s))  # prepares and remembers
    full = _full(s, backend, None, value=False)
    _assert_same(first, full, "first unprepared call")
    quick = _quick(s, backend, None, value=False)
    assert quick is not None, "the quick tier did not find the cached preparation"
    _assert_same(quick, full, "quick, unprepared")
    express = _fastpath.cached_express(s.operator, s.f, backend, s.x, None)
    for scope in (contextlib.nullcontext(), _in_precision(s)):
        with scope:
            result = None if express is None else express(s.operator, s.f, backend, s.x)
        if result is not None:
            _assert_same(result, full, "express, unprepared")


@pytest.mark.parametrize(("backend", "s", "namespace"), CASES)
def test_tiers_decline_what_the_full_call_refuses(
    backend: Any, s: Scenario, namespace: str
) -> None:
    s = _convert(s, namespace)
    fns = FUNCTIONS[s.operator]
    prep = fns.prepare(s.f, backend, *_args(s))
    xp = namespace_of(s.x)
    with _in_precision(s):  # JAX keeps float64 only in its 64-bit mode
        if OPERATORS[s.operator].scalar_input:  # another dtype (another shape is invalid)
            other_x = xp.astype(s.x, xp.float32)
        else:
            other_x = xp.concat([xp.reshape(s.x, (-1,)), xp.reshape(s.x, (-1,))])

    def other_f(*args: Any) -> Any:  # the same values, another function object
        return s.f(*args)

    for label, f, x in (("x of another kind", s.f, other_x), ("another f", other_f, s.x)):
        if prep.express is not None:
            assert prep.express(s.operator, f, backend, x) is None, label
        spec = OPERATORS[s.operator]
        quick = _fastpath.quick_call(spec, f, backend, x, s.tangents, prep, value=False)
        assert quick is None, label
        with pytest.raises(di.PreparationMismatchError):
            _call.call(
                spec, f, backend, x, s.tangents, (), None, prep, None, value=False, quick=False
            )
        with pytest.raises(di.PreparationMismatchError):
            fns.plain(f, backend, *((x, s.tangents) if spec.tangents else (x,)), prep=prep)
    # the express closure belongs to one operator
    if prep.express is not None:
        other = "hessian" if s.operator != "hessian" else "gradient"
        assert prep.express(other, s.f, backend, s.x) is None


def _zeros_like(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(namespace_of(p).zeros_like(p) for p in result)
    return namespace_of(result).zeros_like(result)


@pytest.mark.parametrize(("backend", "s", "namespace"), CASES)
def test_out_tiers_match_the_full_call(backend: Any, s: Scenario, namespace: str) -> None:
    """out= through the full call, the quick tier and the public function: the same values,
    written into (and returned as) the caller's buffers."""
    if isinstance(backend, di.AutoSparse):
        backend = di.AutoSparse(backend.dense, output="dense")
    s = _convert(s, namespace)
    if namespace == "jax":
        return  # JAX arrays are immutable: out= is refused (tested in the JAX engine's tests)
    fns = FUNCTIONS[s.operator]
    spec = OPERATORS[s.operator]
    prep = fns.prepare(s.f, backend, *_args(s))
    plain = _full(s, backend, prep, value=False)
    full_out = _zeros_like(plain)
    written = _call.call(
        spec, s.f, backend, s.x, s.tangents, (), None, prep, full_out, value=False, quick=False
    )
    quick_out = _zeros_like(plain)
    quick = _fastpath.quick_call(spec, s.f, backend, s.x, s.tangents, prep, quick_out, value=False)
    if not spec.results[-1].per_tangent:  # the quick tier serves out= of single results
        assert quick is quick_out, "the quick tier declined a plain prepared out= call"
        _assert_same(quick, plain, "quick out=")
    public_out = _zeros_like(plain)
    public = fns.plain(s.f, backend, *_args(s), prep=prep, out=public_out)
    for result, out in ((written, full_out), (public, public_out)):
        if isinstance(out, tuple):
            assert all(w is o for w, o in zip(result, out, strict=True))
        else:
            assert result is out
        _assert_same(result, plain, "out=")


@pytest.mark.parametrize(("backend", "s", "namespace"), CASES)
def test_quick_out_declines_what_the_full_call_refuses(
    backend: Any, s: Scenario, namespace: str
) -> None:
    """A buffer of another dtype or shape, or a read-only one: the quick tier declines and
    leaves the buffer untouched; the full call refuses it before computing."""
    spec = OPERATORS[s.operator]
    if namespace != "numpy" or spec.results[-1].per_tangent or isinstance(backend, di.AutoSparse):
        return
    s = _convert(s, namespace)
    prep = FUNCTIONS[s.operator].prepare(s.f, backend, *_args(s))
    plain = np.asarray(_full(s, backend, prep, value=False))
    read_only = np.zeros_like(plain)
    read_only.flags.writeable = False
    other_dtype = np.zeros(plain.shape, np.float32 if plain.dtype != np.float32 else np.float64)
    for out in (other_dtype, np.zeros((*plain.shape, 2), plain.dtype), read_only):
        before = out.copy()
        quick = _fastpath.quick_call(spec, s.f, backend, s.x, s.tangents, prep, out, value=False)
        assert quick is None
        np.testing.assert_array_equal(out, before)
        with pytest.raises((di.ArgumentValueError, di.ImmutableOutputError)):
            _call.call(
                spec, s.f, backend, s.x, s.tangents, (), None, prep, out, value=False, quick=False
            )


EXPRESS = [
    (JAX, "gradient:vector->scalar", "jax"),
    (JAX, "hessian:vector->scalar", "jax"),
    (JAX_F, "jacobian:vector->vector", "jax"),
    (JAX, "gradient:vector->scalar", "numpy"),
    (TORCH, "gradient:vector->scalar", "numpy"),
]


@pytest.mark.parametrize(("backend", "name", "namespace"), EXPRESS, ids=str)
def test_the_express_tier_serves_the_plans_that_offer_it(
    backend: Any, name: str, namespace: str
) -> None:
    # Guards the tests above against passing because the express tier never serves.
    s = _convert(next(s for s in SCENARIOS if s.name == name), namespace)
    prep = FUNCTIONS[s.operator].prepare(s.f, backend, s.x)
    assert prep.express is not None
    result = prep.express(s.operator, s.f, backend, s.x)
    assert result is not None
    _assert_same(result, _full(s, backend, prep, value=False), "express")

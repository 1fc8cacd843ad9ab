"""Bad input gives a clear error, never a crash, a hang or a silently wrong number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import array_api_strict as xps
import numpy as np
import pytest

import differentiation_interface as di

FD = di.AutoFiniteDiff()


class Counter:
    """``f(x) = sum(x**2)`` counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        return (x**2).sum()


@pytest.mark.parametrize("x", [np.arange(3), np.array([True, False]), np.arange(3, dtype=np.int32)])
@pytest.mark.parametrize("operator", ["gradient", "hessian", "jacobian"])
def test_integer_and_bool_inputs_raise_type_error(x: Any, operator: str) -> None:
    with pytest.raises(
        TypeError,
        match=rf"^`{operator}` can only differentiate with respect to real or complex floating "
        rf"arrays; got x of dtype {x.dtype}\.",
    ):
        getattr(di, operator)(lambda v: (v**2).sum(), FD, x)


def test_non_array_x_raises() -> None:
    with pytest.raises(di.ArgumentTypeError, match=r"differentiates with respect to an array x"):
        di.gradient(lambda v: v**2, FD, 1.0)
    # a list is a pytree (API section 10): its leaves must be arrays
    with pytest.raises(di.ArgumentTypeError, match=r"x\[0\] is a float, not an array"):
        di.gradient(lambda v: v**2, FD, [1.0, 2.0])


def test_derivative_needs_a_0d_input() -> None:
    with pytest.raises(di.ArgumentValueError, match=r"`derivative` needs a 0-d array x; got shape"):
        di.derivative(lambda t: t**2, FD, np.ones(2))


@pytest.mark.parametrize("operator", ["gradient", "hessian"])
def test_scalar_operators_reject_vector_outputs_and_name_jacobian(operator: str) -> None:
    with pytest.raises(di.FunctionOutputError, match=r"0-d \(scalar\) array.*Use `jacobian`"):
        getattr(di, operator)(lambda v: v**2, FD, np.ones(3))
    with pytest.raises(di.FunctionOutputError, match=r"Use `jacobian`"):
        di.hvp(lambda v: v**2, FD, np.ones(3), (np.ones(3),))


def test_gradient_rejects_complex_outputs() -> None:
    with pytest.raises(di.FunctionOutputError, match=r"needs a real-valued f"):
        di.gradient(lambda v: (v * 1j).sum(), FD, np.ones(2))


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (lambda v: 3.0, r"needs f to return an array; it returned a float"),
        (lambda v: [1.0], r"f\(x\)\[0\] is a float, not an array"),  # a pytree of a non-array
        (lambda v: np.arange(3), r"needs f to return a floating array; it returned dtype int"),
        (lambda v: None, r"needs f to return an array; it returned a NoneType"),
    ],
)
def test_bad_outputs_of_f(f: Any, message: str) -> None:
    with pytest.raises(di.FunctionOutputError, match=message):
        di.jacobian(f, FD, np.ones(3))


def test_output_of_another_namespace() -> None:
    x = xps.asarray([1.0, 2.0])
    with pytest.raises(
        di.FunctionOutputError,
        match=r"f returned a numpy array for a array_api_strict x\. Write f against the Array API",
    ):
        di.jacobian(lambda v: np.ones(2), FD, x)


def test_output_on_another_device() -> None:
    x = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
    with pytest.raises(di.FunctionOutputError, match=r"returned an array on device"):
        di.jacobian(lambda v: xps.ones(2), FD, x)


def test_tangents_must_be_a_tuple_of_arrays_like_x() -> None:
    f, x = (lambda v: v**2), np.ones(3)
    with pytest.raises(di.ArgumentTypeError, match=r"takes its tangents as a tuple of arrays"):
        di.pushforward(f, FD, x, np.ones(3))
    with pytest.raises(di.ArgumentValueError, match=r"needs at least one of its tangents"):
        di.pushforward(f, FD, x, ())
    with pytest.raises(
        di.ArgumentValueError,
        match=r"tangent 1 must be like x \(numpy array, shape \(3,\), dtype float64, device cpu\); "
        r"got numpy array, shape \(2,\)",
    ):
        di.pushforward(f, FD, x, (np.ones(3), np.ones(2)))
    with pytest.raises(di.ArgumentValueError, match=r"dtype float32"):
        di.pushforward(f, FD, x, (np.ones(3, dtype=np.float32),))
    with pytest.raises(di.ArgumentTypeError, match=r"tangent 0\[0\] is a float, not an array"):
        di.hvp(lambda v: (v**2).sum(), FD, x, ([1.0, 2.0, 3.0],))


def test_cotangents_must_be_like_the_output() -> None:
    with pytest.raises(di.ArgumentValueError, match=r"cotangent 0 must be like f\(x\)"):
        di.pullback(lambda v: v[:2], FD, np.ones(3), (np.ones(3),))


def test_contexts_must_be_wrapped() -> None:
    with pytest.raises(di.ArgumentTypeError, match=r"wrapped in di.Constant\(\.\.\.\) or di.Cache"):
        di.gradient(lambda v, a: (a * v).sum(), FD, np.ones(2), np.ones(2))


def test_tangent_count_must_match_the_preparation() -> None:
    f, x = (lambda v: v**2), np.ones(3)
    prep = di.prepare_pushforward(f, FD, x, (x,))
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] tangents"):
        di.pushforward(f, FD, x, (x, x), prep=prep)


class TestOut:
    """``out=`` is fully checked before ``f`` is called."""

    def test_read_only_numpy(self) -> None:
        f = Counter()
        prep = di.prepare_gradient(f, FD, np.ones(3))
        f.calls = 0
        out = np.zeros(3)
        out.flags.writeable = False
        with pytest.raises(di.ImmutableOutputError, match=r"immutable or read-only"):
            di.gradient(f, FD, np.ones(3), prep=prep, out=out)
        assert f.calls == 0

    @pytest.mark.parametrize(
        ("out", "message"),
        [
            (np.zeros(4), r"shape \(4,\) \(expected \(3,\)\)"),
            (np.zeros(3, dtype=np.float32), r"dtype float32 \(expected float64\)"),
            (xps.zeros(3, dtype=xps.float64), r"namespace array_api_strict \(expected numpy\)"),
            ([0.0, 0.0, 0.0], r"needs out= to be an array"),
        ],
    )
    def test_mismatch_raises_before_f_is_called(self, out: Any, message: str) -> None:
        f = Counter()
        prep = di.prepare_gradient(f, FD, np.ones(3))
        f.calls = 0
        with pytest.raises(di.ArgumentValueError, match=message):
            di.gradient(f, FD, np.ones(3), prep=prep, out=out)
        assert f.calls == 0

    def test_wrong_device(self) -> None:
        x = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
        out = xps.zeros(2, dtype=xps.float64)
        expected = (
            r"device array_api_strict.Device\('CPU_DEVICE'\) "
            r"\(expected array_api_strict.Device\('device1'\)\)"
        )
        with pytest.raises(di.ArgumentValueError, match=expected):
            di.gradient(lambda v: xps.sum(v**2), FD, x, out=out)

    def test_tuple_outputs(self) -> None:
        f, x = (lambda v: v**2), np.ones(3)
        with pytest.raises(di.ArgumentValueError, match=r"tuple of 2 arrays; got a tuple of 1"):
            di.pushforward(f, FD, x, (x, x), out=(np.zeros(3),))
        with pytest.raises(di.ArgumentValueError, match=r"tuple of 1 arrays; got ndarray"):
            di.pushforward(f, FD, x, (x,), out=np.zeros(3))
        with pytest.raises(di.ArgumentValueError, match=r"tuple of 2 \(one per derivative"):
            di.value_gradient_and_hessian(lambda v: (v**2).sum(), FD, x, out=np.zeros(3))

    def test_numpy_scalar_out_is_immutable(self) -> None:
        with pytest.raises(di.ImmutableOutputError):
            di.derivative(lambda t: t**2, FD, np.asarray(1.0), out=np.float64(0.0))


class TestTwoArgumentFunctions:
    def test_backend_without_inplace_support(self) -> None:
        @dataclass(frozen=True, kw_only=True, repr=False)
        class NoInplace(di.AutoFiniteDiff):
            _inplace: ClassVar[bool] = False

        def f(y: Any, x: Any) -> None:
            y[...] = x**2

        assert not di.check_inplace(NoInplace())
        with pytest.raises(
            di.UnsupportedOperationError,
            match=r"two-argument function f\(y, x\) is not supported by NoInplace\(\)",
        ):
            di.jacobian(f, NoInplace(), np.ones(2), y=np.zeros(2))

    def test_returning_a_value_is_an_error(self) -> None:
        with pytest.raises(di.FunctionOutputError, match=r"must write into y and return None"):
            di.jacobian(lambda y, x: x**2, FD, np.ones(2), y=np.zeros(2))

    def test_y_must_be_writable(self) -> None:
        y = np.zeros(2)
        y.flags.writeable = False
        with pytest.raises(di.ImmutableOutputError, match=r"needs y= to be writable"):
            di.jacobian(lambda y, x: None, FD, np.ones(2), y=y)

    def test_y_must_be_an_array_of_the_namespace(self) -> None:
        with pytest.raises(di.ArgumentTypeError, match=r"needs y= to be a writable array"):
            di.jacobian(lambda y, x: None, FD, np.ones(2), y=(lambda: None))
        with pytest.raises(di.ArgumentTypeError, match=r"y\[0\] is a float, not an array"):
            di.jacobian(lambda y, x: None, FD, np.ones(2), y=[0.0, 0.0])  # a pytree y=


def test_backend_must_be_a_selector() -> None:
    with pytest.raises(di.ArgumentTypeError, match=r"Expected a backend selector"):
        di.gradient(lambda v: (v**2).sum(), "jax", np.ones(2))


def test_missing_engine_names_the_pip_extra() -> None:
    @dataclass(frozen=True, kw_only=True, repr=False)
    class AutoMissing(di.AutoFiniteDiff):
        _requires: ClassVar[tuple[str, ...]] = ("surely_not_installed_engine",)
        _extra: ClassVar[str] = "missing"

    assert not di.check_available(AutoMissing())
    with pytest.raises(
        di.BackendUnavailableError,
        match=r"AutoMissing needs the 'surely_not_installed_engine' package, which is not "
        r'installed\. Install it with: pip install "differentiation-interface\[missing\]"',
    ):
        di.gradient(lambda v: (v**2).sum(), AutoMissing(), np.ones(2))


def test_complex_hessian_is_unsupported() -> None:
    with pytest.raises(di.UnsupportedOperationError, match=r"not defined as a complex matrix"):
        di.hessian(lambda z: (z * z.conj()).real.sum(), FD, np.ones(2, dtype=complex))


def test_selector_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match=r"method='central', 'forward' or 'backward'"):
        di.AutoFiniteDiff(method="centered")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"positive float step"):
        di.AutoFiniteDiff(step=-1.0)
    with pytest.raises(ValueError, match=r"mode='forward' or mode='reverse'"):
        di.AutoJAX(mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes backend selectors"):
        di.SecondOrder(di.AutoFiniteDiff(), "jax")  # type: ignore[arg-type]


class TestNoMutation:
    """The library never mutates x, tangents or constants; results never alias inputs."""

    def test_inputs_are_untouched(self) -> None:
        x, t, a = np.linspace(0.1, 1.0, 4), np.ones(4), np.arange(4.0)
        copies = (x.copy(), t.copy(), a.copy())
        f = lambda v, c: (c * v**2).sum()  # noqa: E731
        di.gradient_and_hvp(f, FD, x, (t,), di.Constant(a))
        di.value_gradient_and_hessian(f, FD, x, di.Constant(a))
        di.pullback(lambda v, c: c * v, FD, x, (t,), di.Constant(a))
        for before, after in zip(copies, (x, t, a), strict=True):
            np.testing.assert_array_equal(before, after)

    def test_identity_value_does_not_alias_x(self) -> None:
        x = np.ones(3)
        y, _ = di.value_and_jacobian(lambda v: v, FD, x)
        assert not np.shares_memory(y, x)
        y[0] = 5.0
        assert x[0] == 1.0

    def test_value_does_not_alias_a_constant(self) -> None:
        a = np.ones(3)
        f = lambda v, c: c  # noqa: E731
        y, _ = di.value_and_pushforward(f, FD, np.ones(3), (np.ones(3),), di.Constant(a))
        assert not np.shares_memory(y, a)

    def test_view_of_x_is_copied(self) -> None:
        x = np.ones(4)
        y, _ = di.value_and_jacobian(lambda v: v[:2], FD, x)
        assert not np.shares_memory(y, x)
        assert y.flags.writeable


def test_immutable_out_is_refused_before_preparing() -> None:
    from differentiation_interface.operators import clear_cache

    clear_cache()
    f = Counter()
    out = np.zeros(3)
    out.flags.writeable = False
    with pytest.raises(di.ImmutableOutputError):
        di.gradient(f, FD, np.ones(3), out=out)  # unprepared: nothing evaluated either
    assert f.calls == 0

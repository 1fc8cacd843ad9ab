"""Complex non-holomorphic functions, unusual numpy inputs and functions whose output shape
depends on x: every engine agrees on one documented result or raises a library error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

pytest.importorskip("jax")
pytest.importorskip("torch")
pytest.importorskip("autograd")

ENGINES = [
    di.AutoFiniteDiff(),
    di.AutoJAX(),
    di.AutoJAX(mode="forward"),
    di.AutoTorch(),
    di.AutoTorch(mode="forward"),
    di.AutoAutograd(),
]
Z = np.array([1.0 + 2.0j, 3.0 - 1.0j, -0.5 + 0.25j])


def _z_conj_z(z: Any) -> Any:
    xp = array_namespace(z)
    return z * xp.conj(z)


def _abs_squared(z: Any) -> Any:
    xp = array_namespace(z)
    return xp.real(z * xp.conj(z))


def _holomorphic(z: Any) -> Any:
    xp = array_namespace(z)
    return z**2 + xp.exp(xp.flip(z))


# --- complex: one convention, or a library error ------------------------------------------


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
@pytest.mark.parametrize("f", [_z_conj_z, _abs_squared], ids=["z*conj(z)", "|z|^2"])
def test_a_non_holomorphic_jacobian_is_refused(backend: Any, f: Any) -> None:
    """The reported case: forward gave diag[2, ...], reverse diag[2-4j, ...]."""
    with pytest.raises(di.UnsupportedOperationError, match="holomorphic"):
        di.jacobian(f, backend, Z)
    with pytest.raises(di.UnsupportedOperationError, match="holomorphic"):
        di.derivative(f, backend, Z[0])


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_non_holomorphic_pushforward_and_pullback_agree_everywhere(backend: Any) -> None:
    """Defined for any f: the directional derivative and its adjoint for Re<a, b>. For
    f = z conj(z) = |z|^2: J v = 2 Re(conj(z) v), and J* w = 2 z Re(w)."""
    v = np.array([0.3 - 0.2j, 1.0 + 0.5j, -2.0 + 0.0j])
    w = np.array([1.5 + 0.7j, -0.2 + 1.0j, 0.4 - 0.4j])
    (jv,) = di.pushforward(_z_conj_z, backend, Z, (v,))
    (jtw,) = di.pullback(_z_conj_z, backend, Z, (w,))
    np.testing.assert_allclose(jv, 2 * np.real(np.conj(Z) * v), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jtw, 2 * Z * np.real(w), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_a_holomorphic_jacobian_is_the_complex_derivative(backend: Any) -> None:
    J = di.jacobian(_holomorphic, backend, Z)
    expected = np.diag(2 * Z) + np.fliplr(np.diag(np.exp(Z[::-1])))
    np.testing.assert_allclose(J, expected, rtol=1e-6, atol=1e-9)


# --- numpy inputs the Array API does not know -----------------------------------------------


def _sum_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x**2)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_masked_arrays_and_matrices_are_refused(backend: Any) -> None:
    masked = np.ma.masked_array(np.ones(3), mask=[False, True, False])
    with pytest.raises(di.ArgumentTypeError, match="masked array"):
        di.gradient(_sum_sq, backend, masked)
    with pytest.raises(di.ArgumentTypeError, match="matrix"):
        di.gradient(_sum_sq, backend, np.asmatrix(np.ones((2, 2))))


# --- an output whose shape depends on the values of x ----------------------------------------


def _mask(x: Any) -> Any:
    return x[x > 0.5]


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_an_output_shape_that_depends_on_x_is_refused(backend: Any) -> None:
    x0 = np.array([0.1, 0.9, 0.7])
    if isinstance(backend, di.AutoJAX):  # JAX cannot trace a value-dependent shape at all
        with pytest.raises(di.UntraceableFunctionError):
            di.prepare_jacobian(_mask, backend, x0)
        return
    di.clear_cache()
    prep = di.prepare_jacobian(_mask, backend, x0)
    np.testing.assert_allclose(
        di.jacobian(_mask, backend, x0, prep=prep), [[0, 1, 0], [0, 0, 1]], atol=1e-6
    )
    with pytest.raises(di.FunctionOutputError, match="depends on the values of x"):
        di.jacobian(_mask, backend, np.array([0.9, 0.1, 0.1]), prep=prep)
    # unprepared: the preparation cached by the first call does not serve the second
    di.jacobian(_mask, backend, np.array([0.9, 0.1, 0.1]))
    with pytest.raises(di.FunctionOutputError, match="depends on the values of x"):
        di.jacobian(_mask, backend, np.array([0.9, 0.1, 0.9]))
    # results like f(x): an engine could compute them for the new shape; the call refuses
    prep = di.prepare_pushforward(_mask, backend, x0, (np.ones(3),))
    with pytest.raises(di.FunctionOutputError, match=r"returned shape \(1,\)"):
        di.pushforward(_mask, backend, np.array([0.9, 0.1, 0.1]), (np.ones(3),), prep=prep)


# --- same-point preparations at a point with NaN --------------------------------------------


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_a_same_point_prep_accepts_its_own_point_with_nan(backend: Any) -> None:
    """And a NaN entry stays local: finite differences took one step for every tangent
    from max|x_j t_j|, NaN, and returned NaN everywhere."""
    x = np.array([1.0, np.nan, 2.0])

    def square(v: Any) -> Any:
        return v**2

    prep = di.prepare_pushforward_same_point(square, backend, x, (np.ones(3),))
    (jv,) = di.pushforward(square, backend, x.copy(), (np.ones(3),), prep=prep)
    np.testing.assert_allclose(jv, [2.0, np.nan, 4.0], rtol=1e-9)


# --- HIPS autograd: the Array API's sort ------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True])
def test_autograd_sorts_with_the_array_api_signature(descending: bool) -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(xp.sort(x, descending=descending) * xp.arange(4.0))

    x = np.array([3.0, 1.0, 2.0, 0.5])  # no ties: a tie is a kink
    weights = np.arange(4.0)
    order = np.argsort(-x if descending else x, kind="stable")
    expected = np.empty(4)
    expected[order] = weights  # d/dx_i sum_k w_k x_(k) = w_{rank of i}
    np.testing.assert_allclose(di.gradient(f, di.AutoAutograd(), x), expected)
    np.testing.assert_allclose(di.gradient(f, di.AutoJAX(), x), expected)


# --- numpy dtypes beyond what every engine represents ----------------------------------------


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_extended_precision_is_kept_or_refused(backend: Any) -> None:
    x = np.linspace(1.0, 2.0, 3, dtype=np.longdouble)
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("longdouble is float64 on this platform")
    if isinstance(backend, (di.AutoJAX, di.AutoTorch)):
        with pytest.raises(di.UnsupportedOperationError, match="extended precision"):
            di.gradient(_sum_sq, backend, x)
        return
    g = di.gradient(_sum_sq, backend, x)
    assert g.dtype == np.longdouble
    np.testing.assert_allclose(g.astype(np.float64), 2 * x.astype(np.float64), rtol=1e-6)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_byte_swapped_x_is_refused_with_the_fix(backend: Any) -> None:
    x = np.linspace(1.0, 2.0, 3).astype(">f8" if np.little_endian else "<f8")
    with pytest.raises(di.ArgumentTypeError, match="newbyteorder"):
        di.gradient(_sum_sq, backend, x)
    fixed = x.astype(x.dtype.newbyteorder("="))
    np.testing.assert_allclose(di.gradient(_sum_sq, backend, fixed), 2 * fixed, rtol=1e-6)

"""The HIPS autograd engine behind ``AutoAutograd()``.

Values are compared with closed forms (the default scenarios' references and the formulas
below) or with central finite differences computed here in plain numpy, never with the engine
itself. torch and JAX inputs are tested where those packages are installed (the nox session
of this engine installs autograd alone).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from array_api_compat import array_namespace, device

autograd = pytest.importorskip("autograd")

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import to_numpy  # noqa: E402
from differentiation_interface.testing import Scenario, check_scenario, default_scenarios  # noqa: E402

AG = di.AutoAutograd()
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")


def np_of(a: Any) -> np.ndarray:
    return np.array(to_numpy(a))


def close(got: Any, want: Any, rtol: float = 1e-9, atol: float = 1e-11) -> None:
    np.testing.assert_allclose(np_of(got), np.asarray(want), rtol=rtol, atol=atol)


def fd_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a real function of a real array, in plain numpy."""
    flat = x.reshape(-1)
    out = np.empty(flat.size)
    for j in range(flat.size):
        e = np.zeros_like(flat)
        e[j] = h
        out[j] = (float(f((flat + e).reshape(x.shape))) - float(f((flat - e).reshape(x.shape)))) / (
            2 * h
        )
    return out.reshape(x.shape)


def fd_directional(f: Callable[[np.ndarray], Any], x: np.ndarray, t: np.ndarray) -> np.ndarray:
    h = 1e-6
    return (np.asarray(f(x + h * t)) - np.asarray(f(x - h * t))) / (2 * h)


def fd_adjoint(f: Callable[[np.ndarray], Any], x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``L*(w)`` for the real inner product ``Re(sum(conj(a) b))``, by differences."""
    out = np.zeros(x.shape, dtype=x.dtype)
    for j in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[j] = 1
        out[j] = np.real(np.sum(np.conj(fd_directional(f, x, e)) * w))
        if np.iscomplexobj(x):
            out[j] += 1j * np.real(np.sum(np.conj(fd_directional(f, x, 1j * e)) * w))
    return out


# --- the whole operator grid: every variant of every default scenario -------------------------


def _targets() -> dict[str, tuple[Any, ...]]:
    targets: dict[str, tuple[Any, ...]] = {
        "numpy-f64": (np.float64, None, None, ()),
        "numpy-f32": (np.float32, None, None, ()),
        "strict-cpu": (np.float64, "strict", xps.Device("CPU_DEVICE"), ()),
        "strict-device1": (np.float64, "strict", xps.Device("device1"), ()),
        "strict-device1-f32": (np.float32, "strict", xps.Device("device1"), ()),
        "strict-no_float64": (np.float32, "strict", xps.Device("no_float64"), ()),
        "torch-f64": (np.float64, "torch", "cpu", (needs_torch,)),
        "torch-f32": (np.float32, "torch", "cpu", (needs_torch,)),
        "jax-f64": (np.float64, "jax", None, (needs_jax,)),
        "jax-f32": (np.float32, "jax", None, (needs_jax,)),
    }
    return targets


TARGETS = _targets()


def _scenario(label: str, name: str) -> Scenario:
    dtype, kind, dev, _ = TARGETS[label]
    (s,) = [s for s in default_scenarios(dtype=dtype) if s.name == name]
    if kind is None:
        return s
    if kind == "strict":
        return s.to_namespace(xps, dev)
    if kind == "torch":
        import torch

        return s.to_namespace(torch, torch.device(dev))
    import jax
    import jax.numpy as jnp

    return s.to_namespace(jnp, jax.devices("cpu")[0])


def _grid() -> list[Any]:
    params = []
    for label, (dtype, _, _, marks) in TARGETS.items():
        for s in default_scenarios(dtype=dtype):
            params.append(pytest.param(label, s.name, marks=marks, id=f"{label}-{s.name}"))
    return params


@pytest.mark.parametrize(("label", "name"), _grid())
def test_scenario_grid(label: str, name: str) -> None:
    # plain / value-and, unprepared / cached / prepared here / elsewhere / reused /
    # same-point, out=, strict mismatch, namespace, device and dtype, inputs untouched
    s = _scenario(label, name)
    if s.inplace:
        assert not di.check_inplace(AG)
        args = (s.x, s.tangents) if s.tangents is not None else (s.x,)
        with pytest.raises(di.UnsupportedOperationError, match="cannot differentiate through"):
            getattr(di, s.operator)(s.f, AG, *args, y=s.y)
        return
    if label == "jax-f64":
        # the checker's own arithmetic on the scenario (perturbed points) needs JAX's x64
        # mode, which it does not enter itself; the engine does not need it (see
        # test_jax_float64_stays_float64)
        import jax

        with jax.enable_x64(True):
            check_scenario(AG, s)
        return
    check_scenario(AG, s)


def test_grid_covers_every_operator() -> None:
    operators = {s.operator for s in default_scenarios()}
    assert len(operators) == 8


def test_every_operator_is_native() -> None:
    # no generic fallback: each prep holds one of this engine's plans
    from differentiation_interface.backends.autograd import first, second

    modules = {first.__name__, second.__name__}
    for s in default_scenarios():
        if s.inplace:
            continue
        prepare = getattr(di, f"prepare_{s.operator}")
        args = (s.x, s.tangents) if s.tangents is not None else (s.x,)
        prep = prepare(s.f, AG, *args, *s.contexts)
        assert type(prep.plan).__module__ in modules, s.name


# --- Array-API functions: the namespace shim --------------------------------------------------


def _matrix(x: Any) -> Any:
    xp = array_namespace(x)
    n = x.shape[0]
    return x[:, None] * x[None, :] + 3.0 * xp.eye(n, dtype=x.dtype, device=device(x))


def _weights(x: Any, shape: tuple[int, ...]) -> Any:
    xp = array_namespace(x)
    size = int(np.prod(shape))
    return xp.reshape(xp.arange(1, size + 1, dtype=x.dtype, device=device(x)), shape) / size


def _ns(x: Any) -> Any:
    return array_namespace(x)


SHIM_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "linalg.inv": lambda x: _ns(x).sum(_ns(x).linalg.inv(_matrix(x)) * _weights(x, (4, 4))),
    "linalg.det": lambda x: _ns(x).linalg.det(_matrix(x)),
    "linalg.slogdet": lambda x: _ns(x).linalg.slogdet(_matrix(x))[1],
    "linalg.solve": lambda x: _ns(x).sum(_ns(x).linalg.solve(_matrix(x), x) ** 2),
    "linalg.cholesky": lambda x: _ns(x).sum(
        _ns(x).linalg.cholesky(_matrix(x)) * _weights(x, (4, 4))
    ),
    "linalg.cholesky-upper": lambda x: _ns(x).sum(
        _ns(x).linalg.cholesky(_matrix(x), upper=True) * _weights(x, (4, 4))
    ),
    "linalg.eigh": lambda x: _ns(x).sum(_ns(x).linalg.eigh(_matrix(x))[0] ** 3),
    "linalg.eigvalsh": lambda x: _ns(x).sum(_ns(x).linalg.eigvalsh(_matrix(x)) ** 3),
    "linalg.svdvals": lambda x: _ns(x).sum(_ns(x).linalg.svdvals(_matrix(x)) ** 3),
    "linalg.pinv": lambda x: _ns(x).sum(_ns(x).linalg.pinv(_matrix(x)) * _weights(x, (4, 4))),
    "linalg.vector_norm": lambda x: _ns(x).linalg.vector_norm(x),
    "linalg.vector_norm-ord3": lambda x: _ns(x).linalg.vector_norm(x, ord=3),
    "linalg.vector_norm-inf": lambda x: _ns(x).linalg.vector_norm(
        x * _weights(x, (4,)), ord=np.inf
    ),
    "linalg.matrix_norm": lambda x: _ns(x).linalg.matrix_norm(_matrix(x)),
    "linalg.matrix_norm-nuc": lambda x: _ns(x).linalg.matrix_norm(_matrix(x), ord="nuc"),
    "linalg.matrix_norm-1": lambda x: _ns(x).linalg.matrix_norm(
        _matrix(x) * _weights(x, (4, 4)), ord=1
    ),
    "linalg.matrix_power": lambda x: _ns(x).sum(_ns(x).linalg.matrix_power(_matrix(x) / 10, 3)),
    "linalg.trace": lambda x: _ns(x).linalg.trace(_matrix(x) @ _matrix(x), offset=1),
    "linalg.diagonal": lambda x: _ns(x).sum(_ns(x).linalg.diagonal(_matrix(x), offset=-1) ** 2),
    "linalg.outer": lambda x: _ns(x).sum(_ns(x).linalg.outer(x, x**2) * _weights(x, (4, 4))),
    "linalg.cross": lambda x: _ns(x).sum(_ns(x).linalg.cross(x[:3], x[1:]) ** 2),
    "linalg.vecdot": lambda x: _ns(x).linalg.vecdot(x, x**2),
    "fft.fft": lambda x: _ns(x).sum(_ns(x).abs(_ns(x).fft.fft(x)) ** 2 * _weights(x, (4,))),
    "fft.fftn": lambda x: _ns(x).sum(_ns(x).abs(_ns(x).fft.fftn(_matrix(x))) * _weights(x, (4, 4))),
    "fft.ifft": lambda x: _ns(x).sum(_ns(x).abs(_ns(x).fft.ifft(x)) ** 2 * _weights(x, (4,))),
    "vecdot": lambda x: _ns(x).vecdot(x, x**2),
    "matrix_transpose": lambda x: _ns(x).sum(
        _ns(x).matrix_transpose(_matrix(x)) * _weights(x, (4, 4))
    ),
    "mT": lambda x: _ns(x).sum(_matrix(x).mT * _weights(x, (4, 4))),
    "permute_dims": lambda x: _ns(x).sum(
        _ns(x).permute_dims(_matrix(x)[None, ...], (2, 1, 0)) * _weights(x, (4, 4, 1))
    ),
    "cumulative_sum": lambda x: _ns(x).sum(_ns(x).cumulative_sum(x, include_initial=True) ** 2),
    "cumulative_prod": lambda x: _ns(x).sum(_ns(x).cumulative_prod(x)),
    "take": lambda x: _ns(x).sum(_ns(x).take(x, _ns(x).asarray([0, 0, 3])) ** 2),
    "take_along_axis": lambda x: _ns(x).sum(
        _ns(x).take_along_axis(_matrix(x), _ns(x).asarray([[0], [1], [1], [3]]), axis=1) ** 2
    ),
    "flip": lambda x: _ns(x).sum(_ns(x).flip(x) * _weights(x, (4,))),
    "copysign": lambda x: _ns(x).sum(_ns(x).copysign(x, -1.0) * _weights(x, (4,))),
    "asarray-of-x": lambda x: _ns(x).sum(_ns(x).asarray(x, dtype=x.dtype) ** 2),
    "asarray-of-list": lambda x: _ns(x).sum(_ns(x).asarray([x[0], x[1]]) ** 2),
    "broadcast_to": lambda x: _ns(x).sum(_ns(x).broadcast_to(x, (2, 4)) ** 2 * _weights(x, (2, 4))),
    "clip-keywords": lambda x: _ns(x).sum(_ns(x).clip(x, min=1.5, max=2.5) ** 2),
    "unstack": lambda x: _ns(x).unstack(x)[1] * 3,
    "concat-axis-None": lambda x: _ns(x).sum(
        _ns(x).concat([_matrix(x), x[None, :]], axis=None) ** 2
    ),
    "stack": lambda x: _ns(x).sum(_ns(x).stack([x, x**2], axis=1) * _weights(x, (4, 2))),
    "ones_like": lambda x: _ns(x).sum(_ns(x).ones_like(x) * x**2),
    "ones-on-device": lambda x: _ns(x).sum(_ns(x).ones(4, dtype=x.dtype, device=device(x)) * x**2),
    "sort": lambda x: _ns(x).sum(_ns(x).sort(x * _weights(x, (4,))) * _weights(x, (4,))),
    "where": lambda x: _ns(x).sum(_ns(x).where(x > 2.0, x**2, x)),
    "std-correction": lambda x: _ns(x).std(x, correction=1),
    "var-correction": lambda x: _ns(x).var(x, correction=1.5),
    "mean-axis": lambda x: _ns(x).sum(_ns(x).mean(_matrix(x), axis=0) ** 2),
    "max": lambda x: _ns(x).max(x * _weights(x, (4,))),
}


@pytest.mark.parametrize("name", list(SHIM_FUNCTIONS))
def test_array_api_functions(name: str) -> None:
    f = SHIM_FUNCTIONS[name]
    x = np.array([1.1, 1.7, 2.3, 2.9])
    reference = fd_gradient(f, x)
    close(di.gradient(f, AG, x), reference, rtol=1e-6, atol=1e-7)
    # pushforward: make_jvp where forward rules exist, the transposed pullback otherwise
    t = np.array([0.5, -1.0, 0.25, 2.0])
    (ty,) = di.pushforward(f, AG, x, (t,))
    close(ty, reference @ t, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["linalg.inv", "linalg.det", "linalg.eigh", "fft.fft"])
def test_array_api_functions_second_order(name: str) -> None:
    f = SHIM_FUNCTIONS[name]
    x = np.array([1.1, 1.7, 2.3, 2.9])
    hess = di.hessian(f, AG, x)
    reference = np.stack(
        [fd_gradient(lambda v, i=i: fd_gradient(f, v, 1e-4)[i], x, 1e-4) for i in range(4)]
    )
    close(hess, reference, rtol=1e-4, atol=1e-4)
    close(hess, hess.T, rtol=1e-10, atol=1e-10)
    (hv,) = di.hvp(f, AG, x, (x,))
    close(hv, hess @ x, rtol=1e-10, atol=1e-9)


def test_log_det_closed_form() -> None:
    # d/dx log det(A(x)) = tr(A^-1 dA/dx_j), A = x x^T + 3 I: dA/dx_j = e_j x^T + x e_j^T
    x = np.array([1.1, 1.7, 2.3, 2.9])

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.log(xp.linalg.det(_matrix(v)))

    a_inv = np.linalg.inv(np.outer(x, x) + 3 * np.eye(4))
    close(di.gradient(f, AG, x), 2 * a_inv @ x)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
@pytest.mark.parametrize(
    "case",
    [
        "rfft",
        "rfft-n5",
        "rfft-n9",
        "irfft",
        "irfft-n7",
        "irfft-complex",
        "rfftn",
        "irfftn",
        "irfftn-s",
        "hfft",
        "ihfft",
        "fft-n5",
    ],
)
def test_fft_lengths_and_norms(case: str, norm: str) -> None:
    # autograd's own real-FFT rules are wrong for norm="backward"/"forward" spelled out and
    # for explicit lengths; the shim computes them from complex FFTs
    x = np.array([1.1, 1.7, 2.3, 2.9, 0.3, -1.0])

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        fft = xp.fft
        out = {
            "rfft": lambda: xp.abs(fft.rfft(v, norm=norm)) ** 2,
            "rfft-n5": lambda: xp.abs(fft.rfft(v, n=5, norm=norm)) ** 2,
            "rfft-n9": lambda: xp.abs(fft.rfft(v, n=9, norm=norm)) ** 2,
            "irfft": lambda: fft.irfft(v, norm=norm) ** 2,
            "irfft-n7": lambda: fft.irfft(v, n=7, norm=norm) ** 2,
            "irfft-complex": lambda: fft.irfft(v[:4] + 1j * v[2:], norm=norm) ** 2,
            "rfftn": lambda: xp.abs(fft.rfftn(xp.reshape(v, (2, 3)), norm=norm)) ** 2,
            "irfftn": lambda: fft.irfftn(xp.reshape(v, (2, 3)), norm=norm) ** 2,
            "irfftn-s": lambda: (
                fft.irfftn(xp.reshape(v, (2, 3)), s=(3, 5), axes=(0, 1), norm=norm) ** 2
            ),
            "hfft": lambda: fft.hfft(v, norm=norm) ** 2,
            "ihfft": lambda: xp.abs(fft.ihfft(v, norm=norm)) ** 2,
            "fft-n5": lambda: xp.abs(fft.fft(v, n=5, norm=norm)) ** 2,
        }[case]()
        flat = xp.reshape(out, (-1,))
        return xp.sum(flat * xp.arange(1, flat.shape[0] + 1, dtype=flat.dtype))

    y, g = di.value_and_gradient(f, AG, x)
    close(y, f(x), rtol=1e-12)  # the shim computes numpy's values
    close(g, fd_gradient(f, x), rtol=1e-6, atol=1e-6)


def test_std_var_correction_is_never_ignored() -> None:
    # autograd's rules ignore correction= (numpy 2's spelling of ddof): silently wrong
    # derivatives. Through the namespace and through numpy itself, the engine gets them right.
    x = np.array([1.0, 2.0, 4.0, 7.0])
    n, mean = x.size, x.mean()
    for c in (0.0, 1.0, 1.5):
        s = np.std(x, ddof=c)
        closed = (x - mean) / ((n - c) * s)
        close(di.gradient(lambda v, c=c: array_namespace(v).std(v, correction=c), AG, x), closed)
        close(
            di.gradient(lambda v, c=c: array_namespace(v).var(v, correction=c), AG, x),
            2 * (x - mean) / (n - c),
        )
        try:  # numpy's own functions on autograd's boxes
            raw = di.gradient(lambda v, c=c: np.std(v, correction=c), AG, x)
        except TypeError:  # autograd < 1.8's rules reject numpy 2's keywords: an error, fine
            assert not hasattr(autograd.numpy.numpy_wrapper, "_primitive_std")
            continue
        close(raw, closed)
        close(di.gradient(lambda v, c=c: np.var(v, correction=c), AG, x), 2 * (x - mean) / (n - c))
        (tangent,) = di.pushforward(lambda v, c=c: np.std(v, correction=c), AG, x, (np.ones(4),))
        close(tangent, closed.sum(), atol=1e-12)


def test_complex_namespace_functions() -> None:
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j, 0.7 - 1.1j])

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.abs(xp.fft.fft(v)) ** 2) + xp.real(xp.vecdot(v, v**2))

    g = di.gradient(f, AG, z)
    close(g, fd_adjoint(f, z, np.ones(())), rtol=1e-6, atol=1e-6)


# --- operations autograd cannot differentiate ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "f"),
    [
        ("unique_values", lambda x: array_namespace(x).sum(array_namespace(x).unique_values(x))),
        (
            "qr",
            lambda x: array_namespace(x).sum(array_namespace(x).linalg.qr(_matrix(x))[1]),
        ),
    ],
)
def test_missing_rule_raises_clear_error(name: str, f: Callable[[Any], Any]) -> None:
    x = np.array([1.1, 1.7, 2.3, 2.9])
    for call in (
        lambda: di.gradient(f, AG, x),
        lambda: di.pullback(f, AG, x, (np.ones(()),)),
        lambda: di.pushforward(f, AG, x, (np.ones(4),)),
        lambda: di.hessian(f, AG, x),
    ):
        with pytest.raises(di.UnsupportedOperationError, match=f"derivative rule for `{name}`"):
            call()


def test_autograd_internal_limit_raises_clear_error() -> None:
    # a "not implemented" raised inside autograd itself (not a missing rule)
    def f(x: Any) -> Any:
        import autograd.numpy as anp

        return anp.sum(anp.diagonal(_matrix(x), offset=1))

    with pytest.raises(di.UnsupportedOperationError, match="does not support a step"):
        di.gradient(f, AG, np.array([1.1, 1.7, 2.3, 2.9]))


def test_users_own_not_implemented_error_passes_through() -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(type(x).__name__)
        if len(calls) > 1:
            raise NotImplementedError("mine")
        return array_namespace(x).sum(x)

    with pytest.raises(NotImplementedError, match=r"^mine$") as info:
        di.gradient(f, AG, np.ones(3))
    assert not isinstance(info.value, di.DIError)


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="HIPS autograd cannot differentiate through item assignment into an array",
)
def test_limitation_item_assignment() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        y = xp.zeros(3, dtype=x.dtype)
        y[0] = x[0]
        return xp.sum(y)

    di.gradient(f, AG, np.ones(3))


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="autograd boxes x, so array_namespace(x, constant) sees two namespaces; "
    "call array_namespace(x) on x alone",
)
def test_limitation_namespace_of_x_and_a_constant() -> None:
    def f(x: Any, a: Any) -> Any:
        xp = array_namespace(x, a)
        return xp.sum(a * x)

    di.gradient(f, AG, np.ones(3), di.Constant(np.arange(3.0)))


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="autograd cannot differentiate through float() of a traced value (ArrayBox)",
)
def test_limitation_float_of_traced_value() -> None:
    di.gradient(lambda x: x[0] * float(array_namespace(x).sum(x)), AG, np.ones(3))


# --- complex numbers ----------------------------------------------------------------------------

Z = np.array([1.0 + 1.0j, -0.5 + 2.0j, 0.3 - 0.7j])
C = np.array([1.0 + 2.0j, -0.5 + 1.0j, 2.0 - 1.0j])


@pytest.mark.parametrize("target", ["numpy", "strict"])
def test_complex_gradient_convention(target: str) -> None:
    # sum |z|^2: gradient 2 z (df/dRe + i df/dIm; autograd itself returns the conjugate)
    z = Z if target == "numpy" else xps.asarray(Z, device=xps.Device("device1"))

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.abs(v) ** 2)

    g = di.gradient(f, AG, z)
    assert device(g) == device(z)
    close(g, 2 * Z)
    # Re(sum(c z)) = sum(Re c Re z - Im c Im z): gradient conj(c)
    close(
        di.gradient(lambda v: array_namespace(v).sum(array_namespace(v).real(v * C)), AG, Z),
        np.conj(C),
    )
    assert np.allclose(autograd.grad(lambda v: np.sum(np.abs(v) ** 2))(Z), np.conj(2 * Z))


def test_complex_holomorphic_pullback_pushforward_jacobian() -> None:
    def f(v: Any) -> Any:
        return v**2 * C

    w = np.array([0.5 - 1.0j, 2.0 + 0.1j, -1.0 + 0.0j])
    (tx,) = di.pullback(f, AG, Z, (w,))
    close(tx, np.conj(2 * Z * C) * w)  # J^H w
    (ty,) = di.pushforward(f, AG, Z, (w,))
    close(ty, 2 * Z * C * w)  # J v
    close(di.jacobian(f, AG, Z), np.diag(2 * Z * C))


def test_complex_non_holomorphic_and_mixed() -> None:
    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return v * xp.conj(v) * C + v**2

    w = np.array([0.5 - 1.0j, 2.0 + 0.1j, -1.0 + 0.5j])
    close(di.pullback(f, AG, Z, (w,))[0], fd_adjoint(f, Z, w), rtol=1e-6, atol=1e-8)
    close(di.pushforward(f, AG, Z, (w,))[0], fd_directional(f, Z, w), rtol=1e-6, atol=1e-8)
    x = np.array([0.3, -1.2, 2.0])

    def g(v: Any) -> Any:  # real x, complex y
        return array_namespace(v).exp(1j * v) * C

    close(di.pullback(g, AG, x, (w,))[0], fd_adjoint(g, x, w), rtol=1e-6, atol=1e-8)
    close(di.jacobian(g, AG, x), np.diag(1j * np.exp(1j * x) * C))


def test_complex_hvp_and_hessian() -> None:
    # f = sum |z|^4: gradient 4 |z|^2 z; its derivative along t: 4 (2 Re(conj(z) t) z + |z|^2 t)
    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.abs(v) ** 4)

    t = np.array([0.5 - 1.0j, 2.0 + 0.1j, -1.0 + 0.5j])
    g, (hv,) = di.gradient_and_hvp(f, AG, Z, (t,))
    close(g, 4 * np.abs(Z) ** 2 * Z)
    close(hv, 4 * (2 * np.real(np.conj(Z) * t) * Z + np.abs(Z) ** 2 * t))
    with pytest.raises(di.UnsupportedOperationError, match="complex x"):
        di.hessian(f, AG, Z)


def test_complex_derivatives_of_scalar() -> None:
    z0 = np.asarray(0.3 + 0.4j)

    def f(v: Any) -> Any:
        return array_namespace(v).stack([v**2, v**3])

    y, d1, d2 = di.value_derivative_and_second_derivative(f, AG, z0)
    close(y, [z0**2, z0**3])
    close(d1, [2 * z0, 3 * z0**2])
    close(d2, [2, 6 * z0])


# --- dtypes -------------------------------------------------------------------------------------


@needs_torch
def test_bfloat16_torch_rejected() -> None:
    import torch

    x = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(di.DIError, match="bfloat16") as info:
        di.gradient(lambda v: array_namespace(v).sum(v**2), AG, x)
    assert isinstance(info.value, TypeError)


@needs_jax
def test_bfloat16_jax_rejected() -> None:
    import jax.numpy as jnp

    x = jnp.ones(3, dtype=jnp.bfloat16)
    for call in (
        lambda: di.gradient(lambda v: array_namespace(v).sum(v**2), AG, x),
        lambda: di.pushforward(lambda v: v * 2, AG, x, (x,)),
    ):
        with pytest.raises(TypeError, match="bfloat16"):
            call()


def test_bfloat16_output_rejected() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")

    with pytest.raises(TypeError, match="bfloat16"):
        di.jacobian(lambda v: v.astype(ml_dtypes.bfloat16), AG, np.ones(3))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64])
def test_dtypes_are_kept(dtype: Any) -> None:
    x = np.array([0.5, 1.0, 1.5], dtype=dtype)

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.abs(v) ** 2)

    g = di.gradient(f, AG, x)
    assert g.dtype == dtype
    close(g, 2 * x.astype(np.complex128 if x.dtype.kind == "c" else np.float64), rtol=1e-3)


def test_float32_function_with_float64_constant_keeps_x_dtype() -> None:
    x = np.array([0.5, 1.0], dtype=np.float32)
    g = di.gradient(lambda v: array_namespace(v).sum(v * 2.0 * np.ones(2, dtype=np.float64)), AG, x)
    assert g.dtype == np.float32
    close(g, [2.0, 2.0])


# --- other namespaces ---------------------------------------------------------------------------


def _sum_sin_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def test_strict_device1_with_contexts() -> None:
    dev = xps.Device("device1")
    x = xps.asarray([0.5, 1.0, 1.5], device=dev)
    a = xps.asarray([1.0, 2.0, 3.0], device=dev)
    cache = xps.zeros(3, device=dev)

    def f(v: Any, a: Any, cache: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(a * v**2) + xp.sum(cache * 0.0)

    g = di.gradient(f, AG, x, di.Constant(a), di.Cache(cache))
    assert device(g) == dev
    close(g, 2 * np.array([1.0, 2.0, 3.0]) * np.array([0.5, 1.0, 1.5]))


def test_context_from_another_namespace() -> None:
    x = np.array([0.5, 1.0, 1.5])
    a = xps.asarray([1.0, 2.0, 3.0])
    g = di.gradient(lambda v, a: array_namespace(v).sum(a * v), AG, x, di.Constant(a))
    close(g, [1.0, 2.0, 3.0])


@needs_jax
def test_jax_float64_stays_float64() -> None:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x = jnp.asarray(np.linspace(0.5, 2.0, 4))
    assert x.dtype == jnp.float64
    y, g = di.value_and_gradient(_sum_sin_sq, AG, x)
    assert g.dtype == jnp.float64
    assert y.dtype == jnp.float64
    assert array_namespace(g) is array_namespace(x)
    close(g, np.sin(2 * np.linspace(0.5, 2.0, 4)), rtol=1e-12)


@needs_torch
def test_torch_tensor_requiring_grad() -> None:
    # numpy cannot carry torch's derivatives: refused instead of silently detached
    import torch

    x = torch.linspace(0.5, 2.0, 5, dtype=torch.float32, requires_grad=True)
    with pytest.raises(di.UnsupportedOperationError, match="torch is differentiating"):
        di.gradient(_sum_sin_sq, AG, x)
    for call in (lambda: di.gradient(_sum_sin_sq, AG, x.detach()), lambda: _no_grad_gradient(x)):
        g = call()
        assert isinstance(g, torch.Tensor)
        assert g.dtype == torch.float32
        assert not g.requires_grad
        close(g, np.sin(2 * np_of(x)), rtol=1e-5, atol=1e-6)


def _no_grad_gradient(x: Any) -> Any:
    import torch

    with torch.no_grad():
        return di.gradient(_sum_sin_sq, AG, x)


@needs_torch
def test_torch_over_autograd_goes_through_the_bridge() -> None:
    # torch cannot see into autograd's computation: f is bridged to autograd (compose/), and
    # the Hessian equals autograd's own
    x = np.array([0.5, 1.0, 1.5])
    cross = di.hessian(_norm_times_sum, di.SecondOrder(di.AutoTorch(), AG), x)
    np.testing.assert_allclose(cross, di.hessian(_norm_times_sum, AG, x), rtol=1e-10)


@needs_jax
def test_jax_transform_over_autograd_is_refused() -> None:
    import jax
    import jax.numpy as jnp

    def outer(v: Any) -> Any:
        return jnp.sum(di.gradient(_sum_sin_sq, AG, v))

    with pytest.raises(di.UnsupportedOperationError, match="jax is differentiating"):
        jax.grad(outer)(jnp.linspace(0.5, 2.0, 3))


def test_dask_input() -> None:
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.linspace(0.5, 2.0, 6), chunks=3)
    g = di.gradient(_sum_sin_sq, AG, x)
    assert array_namespace(g) is array_namespace(x)
    close(g, np.sin(2 * np.linspace(0.5, 2.0, 6)))


# --- results are fresh, writable arrays -----------------------------------------------------------


def test_results_never_alias_inputs() -> None:
    x = np.array([1.0, 2.0])
    a = np.array([3.0, 4.0])
    y, (tx,) = di.value_and_pullback(lambda v: v, AG, x, (np.array([1.0, 1.0]),))
    assert not np.shares_memory(y, x)
    assert not np.shares_memory(tx, x)
    close(tx, [1.0, 1.0])
    jac = di.jacobian(lambda v: v, AG, x)
    close(jac, np.eye(2))
    g = di.gradient(lambda v, a: array_namespace(v).sum(a * v), AG, x, di.Constant(a))
    assert not np.shares_memory(g, a)
    g0 = di.gradient(lambda v: v * 1.0, AG, np.asarray(2.0))  # autograd returns a numpy scalar
    assert isinstance(g0, np.ndarray)
    assert g0.shape == ()
    assert g0.flags.writeable
    close(g0, 1.0)
    for result in (y, tx, jac, g, g0):
        assert result.flags.writeable


def test_readonly_input() -> None:
    x = np.linspace(1.0, 2.0, 4)
    x.flags.writeable = False
    g = di.gradient(lambda v: array_namespace(v).sum(v), AG, x)  # the rule broadcasts the seed
    assert g.flags.writeable
    close(g, np.ones(4))


def test_constant_function_has_zero_derivatives_without_warning() -> None:
    x = np.array([1.0, 2.0])
    # warnings are errors: autograd's "Output seems independent of input" must not appear
    y, g = di.value_and_gradient(lambda v: array_namespace(v).sum(v) * 0.0 + 1.0, AG, x)
    close(y, 1.0)
    close(g, [0.0, 0.0])
    close(di.hessian(lambda v: array_namespace(v).sum(v), AG, x), np.zeros((2, 2)))
    (ty,) = di.pushforward(lambda v: np.ones(2), AG, x, (x,))
    close(ty, [0.0, 0.0])


def test_gradient_rejects_non_scalar_output_at_run_time() -> None:
    def f(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(v) if v[0] > 0 else v * 1.0

    prep = di.prepare_gradient(f, AG, np.ones(2), strict=False)
    with pytest.raises(di.DIError, match="0-d"):
        di.gradient(f, AG, -np.ones(2), prep=prep)


# --- forward mode and its fallback --------------------------------------------------------------


def test_pushforward_modes() -> None:
    x = np.array([1.1, 1.7, 2.3, 2.9])
    t = (np.ones(4), np.linspace(-1.0, 1.0, 4))
    elementwise = di.prepare_pushforward(_sum_sin_sq, AG, x, t)
    assert elementwise.plan.forward  # make_jvp
    linalg = SHIM_FUNCTIONS["linalg.det"]
    transposed = di.prepare_pushforward(linalg, AG, x, t)
    assert not transposed.plan.forward  # autograd has no forward rule for det
    reference = fd_gradient(linalg, x)
    for tangent, result in zip(t, di.pushforward(linalg, AG, x, t, prep=transposed), strict=True):
        close(result, reference @ tangent, rtol=1e-6)


def test_second_derivative_without_forward_rules() -> None:
    def f(t: Any) -> Any:
        xp = array_namespace(t)
        a = xp.stack([xp.stack([t, t**2]), xp.stack([1.0 + 0.0 * t, 3.0 + t])])
        return xp.stack([xp.linalg.det(a), xp.sum(xp.linalg.inv(a))])

    t0 = np.asarray(0.7)
    prep = di.prepare_second_derivative(f, AG, t0)
    assert not prep.plan.forward
    # det = 3t + t^2 - t^2 = 3t ... closed forms: det(A) = t(3 + t) - t^2 = 3t
    y, d1, d2 = di.value_derivative_and_second_derivative(f, AG, t0, prep=prep)
    h = 1e-4
    close(y, np.asarray(f(t0)))
    fd1 = (np.asarray(f(t0 + h)) - np.asarray(f(t0 - h))) / (2 * h)
    fd2 = (np.asarray(f(t0 + h)) - 2 * np.asarray(f(t0)) + np.asarray(f(t0 - h))) / h**2
    close(d1, fd1, rtol=1e-6, atol=1e-6)
    close(d2, fd2, rtol=1e-4, atol=1e-4)
    close(d1[0], 3.0)
    close(d2[0], 0.0, atol=1e-9)


# --- second order through compositions and same-point preparations -------------------------------


def _norm_times_sum(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x * x) * xp.sum(x)


def _norm_times_sum_hessian(x: np.ndarray) -> np.ndarray:
    n, s = x.size, x.sum()
    return 2 * s * np.eye(n) + 2 * np.outer(x, np.ones(n)) + 2 * np.outer(np.ones(n), x)


@pytest.mark.parametrize(
    "backend",
    [
        di.SecondOrder(AG, AG),
        di.SecondOrder(di.AutoFiniteDiff(), AG),
        di.SecondOrder(AG, di.AutoFiniteDiff()),
    ],
    ids=str,
)
def test_second_order_compositions(backend: di.SecondOrder) -> None:
    x = np.array([0.5, 1.0, 1.5, 2.0])
    rtol = 1e-9 if backend.outer == backend.inner else 1e-5
    close(di.hessian(_norm_times_sum, backend, x), _norm_times_sum_hessian(x), rtol=rtol)
    (hv,) = di.hvp(_norm_times_sum, backend, x, (x,))
    close(hv, _norm_times_sum_hessian(x) @ x, rtol=rtol)


def test_same_point_preparations() -> None:
    x = np.array([0.5, 1.0, 1.5, 2.0])
    a = np.array([1.0, 2.0, 3.0, 4.0])
    w = (np.array([0.3, -1.0, 2.0, 0.5]),)

    def f(v: Any, a: Any) -> Any:
        return array_namespace(v).sin(v) * a

    def pullback_closed(v: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.cos(v) * a * w[0]

    prep = di.prepare_pullback_same_point(f, AG, x, w, di.Constant(a))
    close(di.pullback(f, AG, x, w, di.Constant(a), prep=prep)[0], pullback_closed(x, a))
    # a non-strict same-point prep called elsewhere retraces instead of reusing the graph
    loose = di.prepare_pullback_same_point(f, AG, x, w, di.Constant(a), strict=False)
    close(di.pullback(f, AG, x + 1, w, di.Constant(a), prep=loose)[0], pullback_closed(x + 1, a))
    close(di.pullback(f, AG, x, w, di.Constant(2 * a), prep=loose)[0], pullback_closed(x, 2 * a))
    t = (x, np.ones(4))
    hvp_prep = di.prepare_hvp_same_point(_norm_times_sum, AG, x, t, strict=False)
    for point in (x, x + 1, x):
        results = di.hvp(_norm_times_sum, AG, point, t, prep=hvp_prep)
        for tangent, result in zip(t, results, strict=True):
            close(result, _norm_times_sum_hessian(point) @ tangent)


# --- the namespace shim is scoped to the engine's own calls -------------------------------------


def _autograd_own_namespace(box: Any) -> Any:
    """What ``array_namespace`` gives for a box outside the engine: autograd's own answer."""
    try:
        return array_namespace(box)
    except TypeError:  # autograd < 1.8 boxes have no __array_namespace__
        return None


def _expected_own_namespace() -> Any:
    from autograd.numpy import numpy_wrapper

    version = tuple(int(p) for p in importlib.metadata.version("autograd").split(".")[:2])
    return numpy_wrapper if version >= (1, 8) else None


def test_shim_is_scoped_to_engine_calls() -> None:
    from autograd.numpy.numpy_boxes import ArrayBox

    di.gradient(_sum_sin_sq, AG, np.ones(2))  # the engine is loaded
    box = ArrayBox(np.ones(3), 0, None)
    assert _autograd_own_namespace(box) is _expected_own_namespace()  # unchanged
    assert not hasattr(box, "device")
    assert not hasattr(box, "mT")
    seen = []

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        seen.append((xp.__name__, device(v)))
        return xp.sum(xp.linalg.inv(_matrix(v)))

    di.gradient(f, AG, np.array([1.0, 2.0]))
    assert seen[-1] == ("differentiation_interface.autograd_array_api", "cpu")


def test_shim_is_per_thread() -> None:
    # while one thread is inside f, another thread's boxes still get autograd's namespace
    from autograd.numpy.numpy_boxes import ArrayBox

    inside, release = threading.Event(), threading.Event()
    other: list[Any] = []

    def f(v: Any) -> Any:
        xp = array_namespace(v)
        if not isinstance(v, np.ndarray):
            inside.set()
            release.wait(10)
        return xp.sum(v**2)

    def observe() -> None:
        inside.wait(10)
        other.append(_autograd_own_namespace(ArrayBox(np.ones(2), 0, None)))
        release.set()

    watcher = threading.Thread(target=observe)
    watcher.start()
    g = di.gradient(f, AG, np.array([1.0, 2.0]))
    watcher.join()
    assert other == [_expected_own_namespace()]
    close(g, [2.0, 4.0])


def test_preparations_shared_by_threads() -> None:
    x0 = np.array([0.5, 1.0, 1.5, 2.0])
    prep_g = di.prepare_gradient(_norm_times_sum, AG, x0)
    prep_h = di.prepare_hessian(_norm_times_sum, AG, x0)
    errors: list[str] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                x = x0 + 0.01 * (k * 20 + i)
                s, sq = x.sum(), x @ x
                close(di.gradient(_norm_times_sum, AG, x, prep=prep_g), 2 * s * x + sq)
                close(di.hessian(_norm_times_sum, AG, x, prep=prep_h), _norm_times_sum_hessian(x))
        except AssertionError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_import_does_not_load_autograd() -> None:
    code = (
        "import sys, differentiation_interface as di\n"
        "assert di.check_available(di.AutoAutograd())\n"
        "assert not [m for m in sys.modules if m.startswith('autograd')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

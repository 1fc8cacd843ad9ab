"""di.DifferentiateWith across engines and cross-engine SecondOrder, against closed forms.

f(x) = sin(x) * x elementwise, loss(x) = sum(f(x)^2):
f'(x) = sin x + x cos x, loss'(x) = 2 f f', loss''(x) = diag(2 f'^2 + 2 f f''),
f''(x) = 2 cos x - x sin x.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._array import cuda_device

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")
autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

X = np.array([0.5, 1.0, 2.0], dtype=np.float32)


def f1(x):
    return np.sin(x) * x


def df1(x):
    return np.sin(x) + x * np.cos(x)


def d2f1(x):
    return 2 * np.cos(x) - x * np.sin(x)


def grad_loss(x):
    return 2 * f1(x) * df1(x)


def hess_loss(x):
    return np.diag(2 * df1(x) ** 2 + 2 * f1(x) * d2f1(x))


# the same f written for each engine's namespace, with its backend
INNER = {
    "torch": (lambda x: torch.sin(x) * x, di.AutoTorch()),
    "jax": (lambda x: jnp.sin(x) * x, di.AutoJAX()),
    "autograd": (lambda x: anp.sin(x) * x, di.AutoAutograd()),
    "fd": (lambda x: np.sin(x) * x, di.AutoFiniteDiff()),
}
TOL = {"fd": 2e-3}


def close(a, b, inner):
    np.testing.assert_allclose(
        np.asarray(a, dtype=np.float64), b, rtol=TOL.get(inner, 1e-5), atol=TOL.get(inner, 1e-5)
    )


# --- inside JAX --------------------------------------------------------------------------------

JAX_INNER = ["torch", "autograd", "fd"]


@pytest.mark.parametrize("inner", JAX_INNER)
def test_inside_jax_grad_jit_jvp_vmap(inner):
    g = di.DifferentiateWith(*INNER[inner])

    def loss(x):
        return jnp.sum(g(x) ** 2)

    x = jnp.asarray(X)
    close(loss(x), np.sum(f1(X) ** 2), inner)
    close(jax.grad(loss)(x), grad_loss(X), inner)
    close(jax.jit(jax.grad(loss))(x), grad_loss(X), inner)
    t = jnp.asarray([1.0, -2.0, 0.5])
    _, tangent = jax.jvp(loss, (x,), (t,))
    close(tangent, grad_loss(X) @ np.asarray(t), inner)
    xs = jnp.stack([x, 2 * x])
    close(jax.vmap(jax.grad(loss))(xs), np.stack([grad_loss(X), grad_loss(2 * X)]), inner)
    close(jax.jacfwd(g)(x), np.diag(df1(X)), inner)
    close(jax.jit(jax.jacrev(g))(x), np.diag(df1(X)), inner)


@pytest.mark.parametrize("inner", ["torch", "autograd"])
def test_inside_jax_second_order(inner):
    g = di.DifferentiateWith(*INNER[inner])

    def loss(x):
        return jnp.sum(g(x) ** 2)

    x = jnp.asarray(X)
    close(jax.hessian(loss)(x), hess_loss(X), inner)
    close(jax.jit(jax.hessian(loss))(x), hess_loss(X), inner)
    close(jax.jacfwd(jax.jacfwd(loss))(x), hess_loss(X), inner)
    close(jax.jacrev(jax.jacrev(loss))(x), hess_loss(X), inner)


def test_third_order_raises_a_library_error():
    g = di.DifferentiateWith(*INNER["torch"])

    def loss(x):
        return jnp.sum(g(x) ** 2)

    with pytest.raises(di.UnsupportedOperationError, match="higher order"):
        jax.jacfwd(jax.hessian(loss))(jnp.asarray(X))


# --- inside torch ------------------------------------------------------------------------------

TORCH_INNER = ["jax", "autograd", "fd"]


@pytest.mark.parametrize("inner", TORCH_INNER)
def test_inside_torch_backward_and_jvp(inner):
    g = di.DifferentiateWith(*INNER[inner])
    x = torch.tensor(X, requires_grad=True)
    loss = (g(x) ** 2).sum()
    loss.backward()
    close(x.grad, grad_loss(X), inner)
    (gx,) = torch.autograd.grad((g(x) ** 2).sum(), x)
    close(gx, grad_loss(X), inner)
    t = torch.tensor([1.0, -2.0, 0.5])
    _, tangent = torch.func.jvp(lambda v: (g(v) ** 2).sum(), (x.detach(),), (t,))
    close(tangent, grad_loss(X) @ t.numpy(), inner)
    fwd = torch.autograd.forward_ad
    with fwd.dual_level():
        out = g(fwd.make_dual(x.detach(), t))
        close(fwd.unpack_dual(out).tangent, df1(X) * t.numpy(), inner)


@pytest.mark.parametrize("inner", ["jax", "autograd"])
def test_inside_torch_second_order(inner):
    g = di.DifferentiateWith(*INNER[inner])

    def loss(v):
        return (g(v) ** 2).sum()

    x = torch.tensor(X)
    close(torch.autograd.functional.hessian(loss, x), hess_loss(X), inner)
    close(torch.func.hessian(loss)(x), hess_loss(X), inner)


# --- inside autograd ---------------------------------------------------------------------------


@pytest.mark.parametrize("inner", ["torch", "jax", "fd"])
def test_inside_autograd(inner):
    g = di.DifferentiateWith(*INNER[inner])

    def loss(v):
        return anp.sum(g(v) ** 2)

    x = X.astype(np.float64)
    close(autograd.grad(loss)(x), grad_loss(x), inner)
    if inner != "fd":
        close(autograd.hessian(loss)(x), hess_loss(x), inner)


# --- outside any trace, and DLPack -------------------------------------------------------------


def test_outside_a_trace_it_is_f():
    f, backend = INNER["torch"]
    g = di.DifferentiateWith(f, backend)
    t = torch.tensor(X)
    assert torch.equal(g(t), f(t))
    out = g(jnp.asarray(X))  # a JAX array goes in and out through DLPack
    assert isinstance(out, jax.Array)
    close(out, f1(X), "torch")


def test_dlpack_is_zero_copy_on_cpu():
    """Above 64 KiB arrays cross by DLPack without a copy; below, a copy through host numpy
    costs less than DLPack's fixed cost, and keeps the dtype."""
    from differentiation_interface.compose._rules import to_namespace

    seen = {}

    def torch_f(x):
        seen["torch"] = x.data_ptr()
        return x * 2

    n = 1 << 15  # 128 KiB of float32
    xj = jnp.asarray(np.arange(n, dtype=np.float32))
    di.DifferentiateWith(torch_f, di.AutoTorch())(xj)
    assert seen["torch"] == xj.unsafe_buffer_pointer()
    xt = torch.arange(n, dtype=torch.float32)
    assert to_namespace(xt, jnp).unsafe_buffer_pointer() == xt.data_ptr()
    for dtype in (torch.float32, torch.float64):
        small = torch.arange(16, dtype=dtype)
        copied = to_namespace(small, jnp)
        assert copied.unsafe_buffer_pointer() != small.data_ptr()
        assert str(copied.dtype) == str(dtype).removeprefix("torch.")
        np.testing.assert_array_equal(np.asarray(copied), small.numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jax_inside_torch_with_a_value_that_does_not_compile(dtype):
    def jax_f(x):  # float() of a value from 8 elements on: eagerly only (the value
        return x * 2.5 if x.shape[0] < 8 or float(x[0]) >= 0 else x  # falls back to it)

    g = di.DifferentiateWith(jax_f, di.AutoJAX())
    # compiled for 4 elements, then 16 elements fail to compile (the fallback of a
    # compiled value), then both run eagerly
    for start, size in ((0, 4), (-20, 16), (0, 16), (1, 4)):
        xt = torch.arange(start, start + size, dtype=dtype)
        y = g(xt)
        assert y.dtype == dtype
        torch.testing.assert_close(y, xt * 2.5 if start >= 0 else xt)
    g2 = di.DifferentiateWith(lambda x: jnp.sin(x) * x, di.AutoJAX())
    x2 = (torch.arange(16, dtype=torch.float64) / 7).requires_grad_(True)
    (gx,) = torch.autograd.grad(g2(x2).sum(), x2)
    with torch.no_grad():
        torch.testing.assert_close(gx, torch.sin(x2) + x2 * torch.cos(x2))  # closed form


def _cuda_for_both() -> tuple[Any, Any]:
    """The CUDA devices of torch and JAX; skips unless both see one."""
    devices = cuda_device("torch"), cuda_device("jax")
    if None in devices:
        pytest.skip("needs CUDA for both torch and JAX")
    return devices


@pytest.mark.cuda
def test_cuda_torch_inside_jax_grad():
    _, device = _cuda_for_both()
    g = di.DifferentiateWith(*INNER["torch"])
    x = jax.device_put(jnp.asarray(X), device)
    grad = jax.grad(lambda v: jnp.sum(g(v) ** 2))(x)
    assert grad.devices() == {device}
    close(grad, grad_loss(X), "torch")


@pytest.mark.cuda
def test_cuda_jax_inside_torch_backward_zero_copy():
    from differentiation_interface.compose._rules import to_namespace

    torch_device, device = _cuda_for_both()
    x = torch.tensor(X, device=torch_device, requires_grad=True)
    (di.DifferentiateWith(*INNER["jax"])(x) ** 2).sum().backward()
    assert x.grad.device == x.device
    close(x.grad.cpu(), grad_loss(X), "jax")
    big = torch.arange(1 << 15, dtype=torch.float32, device=torch_device)  # 128 KiB: by DLPack
    crossed = to_namespace(big, jnp)
    assert crossed.devices() == {device}
    assert crossed.unsafe_buffer_pointer() == big.data_ptr()  # the same device memory


def test_bad_arguments():
    with pytest.raises(di.ArgumentTypeError):
        di.DifferentiateWith(3, di.AutoTorch())
    with pytest.raises(di.ArgumentTypeError):
        di.DifferentiateWith(np.sin, "torch")


# --- cross-engine SecondOrder ------------------------------------------------------------------

AD = {
    "jax": di.AutoJAX(),
    "torch": di.AutoTorch(),
    "autograd": di.AutoAutograd(),
    "fd": di.AutoFiniteDiff(),
}


def cubic(x):
    return (x**3).sum() + x[0] * x[1]


@pytest.mark.parametrize(("outer", "inner"), list(itertools.permutations(AD, 2)))
def test_cross_engine_second_order(outer, inner):
    backend = di.SecondOrder(AD[outer], AD[inner])
    x = np.array([1.0, 2.0, 3.0])
    hess = np.diag(6 * x)
    hess[0, 1] = hess[1, 0] = 1.0
    grad = 3 * x**2 + np.array([x[1], x[0], 0.0])
    tol = 1e-3 if "fd" in (outer, inner) else 1e-8
    (hv,) = di.hvp(cubic, backend, x, (np.array([1.0, 0.0, -1.0]),))
    np.testing.assert_allclose(hv, hess @ [1.0, 0.0, -1.0], atol=tol)
    g, (hv,) = di.gradient_and_hvp(cubic, backend, x, (np.array([0.0, 1.0, 0.0]),))
    np.testing.assert_allclose(g, grad, atol=tol)
    np.testing.assert_allclose(hv, hess[1], atol=tol)
    y, g, h = di.value_gradient_and_hessian(cubic, backend, x)
    np.testing.assert_allclose(y, cubic(x), atol=tol)
    np.testing.assert_allclose(h, hess, atol=tol)
    y, d, d2 = di.value_derivative_and_second_derivative(lambda t: t**3, backend, np.float64(2.0))
    np.testing.assert_allclose([y, d, d2], [8.0, 12.0, 12.0], atol=tol * 10)


def test_a_numpy_result_with_negative_strides_crosses_into_torch():
    """f returns a reversed view of its argument (negative strides, which torch cannot
    alias): the value and the gradient in torch, against closed forms."""
    g = di.DifferentiateWith(lambda x: np.asarray(x)[::-1], di.AutoFiniteDiff())
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    y = g(x)
    torch.testing.assert_close(y.detach(), torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    (gx,) = torch.autograd.grad((w * y).sum(), x)
    torch.testing.assert_close(gx, w.flip(0), rtol=1e-6, atol=1e-6)


def test_torch_vmap_of_grad_runs_point_by_point():
    g = di.DifferentiateWith(*INNER["jax"])
    xs = torch.tensor(np.stack([X, 2 * X]))
    grads = torch.func.vmap(torch.func.grad(lambda v: (g(v) ** 2).sum()))(xs)
    close(grads, np.stack([grad_loss(X), grad_loss(2 * X)]), "jax")


def test_complex_arrays_raise_a_library_error():
    g = di.DifferentiateWith(torch.sin, di.AutoTorch())
    z = jnp.asarray([1.0 + 1.0j, 2.0])
    with pytest.raises(di.UnsupportedOperationError, match="real arrays"):
        jax.grad(lambda v: jnp.real(jnp.sum(g(v))))(z)


def test_reverse_mode_runs_the_torch_forward_pass_once():
    calls = []

    def counted(x):
        calls.append(1)
        return torch.sin(x) * x

    g = di.DifferentiateWith(counted, di.AutoTorch())
    grad = jax.jit(jax.grad(lambda v: jnp.sum(g(v) ** 2)))
    x = jnp.asarray(X)
    grad(x)  # compiles (and evaluates f once more to learn its output shape)
    calls.clear()
    close(grad(x), grad_loss(X), "torch")
    assert len(calls) == 1  # the backward pass reuses the forward pass's tape
    calls.clear()
    _, tangent = jax.jvp(g, (x,), (jnp.ones(3),))  # forward mode: no tape is left behind
    close(tangent, df1(X), "torch")
    assert not g.rules.get()._tapes


def test_a_torch_f_writing_into_x_inside_jax_grad_gets_a_library_error():
    def writes(t):
        t.mul_(0.0)
        return t * 2

    g = di.DifferentiateWith(writes, di.AutoTorch())
    x = jnp.arange(4, dtype=jnp.float32) + 1
    with pytest.raises(di.FunctionOutputError, match="wrote into its argument x"):
        jax.grad(lambda v: jnp.sum(g(v)))(x)
    # under jit, XLA's host callback wraps the error; the library's message is in it
    with pytest.raises(Exception, match="wrote into its argument x"):
        jax.jit(jax.grad(lambda v: jnp.sum(g(v))))(x)
    np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0, 3.0, 4.0])  # x unchanged


SCALE = {"value": 2.0}


def _scaled(x):
    return x * SCALE["value"]


def test_a_change_of_what_a_jax_f_reads_reaches_value_and_gradient():
    """JAX traces f once; a global f reads changing afterwards must not leave the bridge's
    compiled value and prepared pullback stale (closed form: d(sum(c x))/dx = c)."""
    g = di.DifferentiateWith(_scaled, di.AutoJAX())
    x = torch.ones(3, requires_grad=True)
    try:
        for scale in (2.0, 5.0, 5.0, -1.5):
            SCALE["value"] = scale
            y = g(x)
            torch.testing.assert_close(y.detach(), torch.full((3,), scale))
            (gx,) = torch.autograd.grad(y.sum(), x)
            torch.testing.assert_close(gx, torch.full((3,), scale))
    finally:
        SCALE["value"] = 2.0


def test_an_f_counting_its_calls_is_not_traced_again_every_call():
    traces = []

    def counted(x):
        traces.append(1)  # what f writes itself is its output, not state it reads
        return jnp.sin(x) * x

    g = di.DifferentiateWith(counted, di.AutoJAX())
    x = torch.linspace(0.5, 1.5, 4, dtype=torch.float64, requires_grad=True)
    for _ in range(4):
        (gx,) = torch.autograd.grad(g(x).sum(), x)
    with torch.no_grad():
        torch.testing.assert_close(gx, torch.sin(x) + x * torch.cos(x))
    first = len(traces)
    for _ in range(3):
        torch.autograd.grad(g(x).sum(), x)
    assert len(traces) == first  # compiled once: no new trace


@pytest.mark.parametrize(
    ("make", "dtype"),
    [
        (lambda: torch.linspace(0.5, 1.5, 4, dtype=torch.bfloat16), "bfloat16"),
        (lambda: torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64).conj(), "complex64"),
    ],
)
def test_small_tensors_numpy_cannot_view_cross_with_their_values(make, dtype):
    """bfloat16 (no numpy dtype) and tensors with a lazy conjugate bit go by DLPack or a
    resolved copy, not by a numpy view."""
    from differentiation_interface.compose._rules import to_namespace

    t = make()
    out = to_namespace(t, jnp)
    assert str(out.dtype) == dtype
    np.testing.assert_array_equal(
        np.asarray(out.astype(jnp.float32) if dtype == "bfloat16" else out),
        (t.float() if dtype == "bfloat16" else t.resolve_conj()).numpy(),
    )
    from differentiation_interface._array import namespace_of

    back = to_namespace(out, namespace_of(t))
    assert back.dtype == t.dtype


@pytest.mark.parametrize("n", [16, 1 << 15])
def test_read_only_host_buffers_reach_torch_as_copies(n):
    """A host call's buffers are read-only numpy views that XLA reuses once the call returns
    (a reverse-mode tape outlives the call): torch gets a copy of its own, small or large
    (numpy 2 exports read-only arrays by DLPack, and torch would alias them, writable)."""
    from differentiation_interface.compose._rules import to_namespace

    a = np.arange(n, dtype=np.float32)
    a.flags.writeable = False
    t = to_namespace(a, torch)
    assert not np.shares_memory(t.numpy(), a)
    np.testing.assert_array_equal(t.numpy(), a)


def test_a_torch_f_on_a_large_intermediate_inside_jit_grad():
    """f's argument is an intermediate of the compiled program (2 x), 1 MiB: its host-call
    buffer may be reused before the backward pass reads the tape; gradient against the
    closed form."""
    g = di.DifferentiateWith(lambda x: torch.sin(x) * x, di.AutoTorch())
    x = jnp.linspace(0.25, 1.0, 1 << 18, dtype=jnp.float32)
    grad = jax.jit(jax.grad(lambda v: jnp.sum(g(2 * v) ** 2) + jnp.sum(v**2)))
    xn = 2 * np.asarray(x, dtype=np.float64)
    expected = 2 * (2 * f1(xn) * df1(xn)) + 2 * np.asarray(x, dtype=np.float64)
    for _ in range(2):
        np.testing.assert_allclose(
            np.asarray(grad(x), dtype=np.float64), expected, rtol=2e-5, atol=2e-5
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_torch_tensors_reach_the_jax_programs_without_a_conversion(dtype, monkeypatch):
    """A JAX f inside a torch loss: small CPU tensors go into the compiled JAX value and
    derivative programs as numpy views (no conversion dispatch of their own); value,
    gradient (backward) and JVP (torch.func.jvp) against closed forms, in both precisions."""
    from differentiation_interface.compose._rules import Rules

    g = di.DifferentiateWith(lambda x: jnp.sin(x) * x, di.AutoJAX())
    x = torch.linspace(0.5, 2.0, 9, dtype=dtype)
    t = torch.cos(x)

    def run():
        xr = x.clone().requires_grad_(True)
        y = g(xr)
        (gx,) = torch.autograd.grad((y**2).sum(), xr)
        _, jv = torch.func.jvp(g, (x,), (t,))
        return y.detach(), gx, jv

    run()  # prepares; the calls below must not convert x, the cotangent or the tangent

    def refuse(self, a):
        raise AssertionError("converted an array the JAX program could take as it is")

    monkeypatch.setattr(Rules, "here", refuse)
    y, gx, jv = run()
    with torch.no_grad():
        fx = torch.sin(x) * x
        dfx = torch.sin(x) + x * torch.cos(x)
    rtol = 1e-6 if dtype == torch.float32 else 1e-12
    for got, expected in ((y, fx), (gx, 2 * fx * dfx), (jv, dfx * t)):
        assert got.dtype == dtype
        torch.testing.assert_close(got, expected, rtol=rtol, atol=rtol)

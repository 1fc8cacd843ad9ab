"""Finite differences are differentiable: an AD engine can differentiate through them.

``AutoFiniteDiff`` computes in the caller's namespace, so when ``x`` (or a context) is on an
engine's tape its results stay attached to the caller's graph. The difference quotients are
then differentiable functions of ``x`` (steps are constants chosen from ``x``'s values), and
their derivative is the finite-difference approximation of the next derivative. Every
reference below is a closed form; tolerances are those of the finite differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

torch = pytest.importorskip("torch")

# The caller-side validation copies x with torch.asarray, which torch 2.13 warns about once
# per process for tensors that require grad (operators/_validate.py, not this engine).

FD = di.AutoFiniteDiff()
X0 = np.array([0.3, -1.2, 2.0, 2.5, -3.1])
RTOL = 1e-4  # central differences of a derivative: ~1e-7 relative here


def leaf(values: np.ndarray = X0) -> Any:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def close(result: Any, expected: np.ndarray, rtol: float = RTOL) -> None:
    got = result.detach().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


# f(x) = sum(sin(x) x^2): gradient cos(x) x^2 + 2 x sin(x), Hessian diagonal d2 below.
def d2(x: np.ndarray) -> np.ndarray:
    return -np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def d3(x: np.ndarray) -> np.ndarray:
    return -np.cos(x) * x**2 - 6 * x * np.sin(x) + 6 * np.cos(x)


def scalar_f(x: Any) -> Any:  # one point only: stacked points are summed together
    return torch.sum(torch.sin(x) * x**2)


def batchable_f(x: Any) -> Any:  # evaluates stacked points at once
    return torch.sum(torch.sin(x) * x**2, dim=-1)


@pytest.mark.parametrize("f", [scalar_f, batchable_f], ids=["one-point", "batchable"])
@pytest.mark.parametrize(
    ("backend", "rtol"),
    [
        (FD, RTOL),
        (di.AutoFiniteDiff(method="forward"), 1e-3),
        (di.AutoFiniteDiff(method="backward"), 1e-3),
    ],
    ids=["central", "forward", "backward"],
)
def test_backward_through_gradient(f: Any, backend: di.AutoFiniteDiff, rtol: float) -> None:
    x = leaf()
    g = di.gradient(f, backend, x)
    assert g.requires_grad  # attached to the caller's graph, not detached
    (dg,) = torch.autograd.grad(g.sum(), x)
    close(dg, d2(X0), rtol)


def test_backward_through_jacobian_pushforward_derivative() -> None:
    def f(x: Any) -> Any:
        return torch.sin(x) * x  # Jacobian diag(cos x x + sin x)

    expected = -np.sin(X0) * X0 + 2 * np.cos(X0)  # d/dx of the Jacobian's diagonal
    x = leaf()
    (dj,) = torch.autograd.grad(di.jacobian(f, FD, x).sum(), x)
    close(dj, expected)
    x = leaf()
    (ty,) = di.pushforward(f, FD, x, (torch.ones(5, dtype=torch.float64),))
    (dp,) = torch.autograd.grad(ty.sum(), x)
    close(dp, expected)
    s = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    (dd,) = torch.autograd.grad(di.derivative(lambda s: torch.sin(s) * s, FD, s), s)
    close(dd, np.array(-np.sin(1.3) * 1.3 + 2 * np.cos(1.3)))


def test_backward_through_second_order_stencils() -> None:
    x = leaf()
    H = di.hessian(scalar_f, FD, x)
    (dh,) = torch.autograd.grad(torch.trace(H), x)
    close(dh, d3(X0), 1e-3)
    x = leaf()
    (hv,) = di.hvp(scalar_f, FD, x, (torch.ones(5, dtype=torch.float64),))
    (dv,) = torch.autograd.grad(hv.sum(), x)
    close(dv, d3(X0), 1e-3)
    s = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    (ds,) = torch.autograd.grad(di.second_derivative(lambda s: torch.sin(s) * s**2, FD, s), s)
    close(ds, d3(np.array(1.3)), 1e-3)


def test_backward_to_a_context() -> None:
    c = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X0, dtype=torch.float64)  # x itself is not tracked

    def f(x: Any, c: Any) -> Any:
        return torch.sum(c * torch.sin(x) ** 2)  # gradient c sin(2x)

    g = di.gradient(f, FD, x, di.Constant(c))
    (dc,) = torch.autograd.grad(g.sum(), c)
    close(dc, np.array(np.sum(np.sin(2 * X0))))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_fd_gradient_inside_autotorch(mode: str) -> None:
    def outer(x: Any) -> Any:  # sum of the gradient of sum(sin(x)^2), i.e. sum(sin(2x))
        return torch.sum(di.gradient(lambda z: torch.sum(torch.sin(z) ** 2), FD, x))

    g = di.gradient(outer, di.AutoTorch(mode=mode), torch.tensor(X0, dtype=torch.float64))
    close(g, 2 * np.cos(2 * X0))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_fd_gradient_inside_autojax(mode: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def outer(x: Any) -> Any:
        return jnp.sum(di.gradient(lambda z: jnp.sum(jnp.sin(z) ** 2), FD, x))

    with jax.enable_x64(True):
        g = di.gradient(outer, di.AutoJAX(mode=mode), jnp.asarray(X0))
        close(g, 2 * np.cos(2 * X0))


@pytest.mark.parametrize("batchable", [False, True])
def test_fd_inside_a_callers_jit(batchable: bool) -> None:
    """Prepared on tracers (no values to probe), FD maps f with the namespace's vmap."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def f(z: Any) -> Any:
        return jnp.sum(jnp.sin(z) ** 2, axis=-1) if batchable else jnp.sum(jnp.sin(z) ** 2)

    with jax.enable_x64(True):
        g = jax.jit(lambda x: di.gradient(f, FD, x))(jnp.asarray(X0))
        close(g, np.sin(2 * X0), 1e-8)
        h = jax.grad(lambda x: jnp.sum(di.gradient(f, FD, x)))(jnp.asarray(X0))
        close(h, 2 * np.cos(2 * X0))


# --- sparse finite differences ------------------------------------------------------------


def cubic_chain(x: Any) -> Any:  # tridiagonal Hessian; Array API for the sparsity tracer
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 3) + xp.sum(x[1:] * x[:-1] ** 2)


def cubic_chain_trace_gradient(x: np.ndarray) -> np.ndarray:
    """d/dx of trace(H) for ``cubic_chain``: H_ii = 6 sin cos^2 - 3 sin^3 + 2 x_{i+1}."""
    s, c = np.sin(x), np.cos(x)
    d = 6 * c**3 - 21 * s**2 * c
    d[1:] += 2.0
    return d


def sparse_fd(decompression: str, output: str) -> di.AutoSparse:
    return di.AutoSparse(
        FD,
        coloring_algorithm=di.GreedyColoringAlgorithm(decompression=decompression),
        output=output,
    )


@pytest.mark.parametrize("output", ["dense", "sparse"])
def test_backward_through_sparse_fd_hessian(output: str) -> None:
    """Star coloring decompresses by a gather: the result stays differentiable."""
    x0 = np.linspace(0.1, 2.0, 8)
    x = leaf(x0)
    H = di.hessian(cubic_chain, sparse_fd("direct", output), x)
    dense = H if output == "dense" else H.to_dense()
    (dh,) = torch.autograd.grad(torch.trace(dense), x)
    close(dh, cubic_chain_trace_gradient(x0), 1e-3)


def test_substitution_refuses_a_tracked_x() -> None:
    """Acyclic coloring solves on the host: refused rather than a silent zero."""
    backend = sparse_fd("substitution", "dense")
    x0 = np.linspace(0.1, 2.0, 8)
    with pytest.raises(di.UnsupportedOperationError, match='decompression="direct"'):
        di.hessian(cubic_chain, backend, leaf(x0))
    H = di.hessian(cubic_chain, backend, torch.tensor(x0))  # untracked: values as before
    s, c = np.sin(x0), np.cos(x0)
    diagonal = 6 * s * c**2 - 3 * s**3 + np.concatenate([2 * x0[1:], [0.0]])
    close(torch.diagonal(H), diagonal, 1e-5)

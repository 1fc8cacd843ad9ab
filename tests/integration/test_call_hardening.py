"""The call path on every engine: stale unprepared caches, an f that writes into x, out=
checked before f runs (issue: no silently wrong number)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import differentiation_interface as di

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
pytest.importorskip("autograd")
pytest.importorskip("scipy")

ENGINES = [
    di.AutoFiniteDiff(),
    di.AutoJAX(),
    di.AutoJAX(mode="forward"),
    di.AutoTorch(),
    di.AutoTorch(mode="forward"),
    di.AutoAutograd(),
    di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX()),
    di.AutoSparse(di.AutoFiniteDiff()),
    di.AutoSparse(di.AutoJAX()),
]
TRACING = [di.AutoJAX(), di.AutoJAX(mode="forward"), di.AutoSparse(di.AutoJAX())]


# --- unprepared calls see what f reads besides its arguments --------------------------------


class _Model:
    def __init__(self, w: float) -> None:
        self.w = w

    def loss(self, x: Any) -> Any:
        return (self.w * x**2).sum()


@pytest.mark.parametrize("backend", TRACING[:2], ids=repr)
def test_a_bound_method_after_its_object_changed(backend: Any) -> None:
    """The reported case: model.loss after model.w changes gave the old gradient."""
    model = _Model(2.0)
    x = np.linspace(0.5, 1.5, 3)
    np.testing.assert_allclose(di.gradient(model.loss, backend, x), 4.0 * x, rtol=1e-12)
    model.w = 5.0
    np.testing.assert_allclose(di.gradient(model.loss, backend, x), 10.0 * x, rtol=1e-12)
    np.testing.assert_allclose(di.hessian(model.loss, backend, x), 10.0 * np.eye(3), rtol=1e-12)
    model.w = 1.0
    np.testing.assert_allclose(di.hessian(model.loss, backend, x), 2.0 * np.eye(3), rtol=1e-12)


@pytest.mark.parametrize("backend", TRACING, ids=repr)
def test_a_closed_over_array_changed_in_place(backend: Any) -> None:
    A = np.diag([1.0, 2.0, 3.0])

    def f(x: Any) -> Any:
        return A @ x

    x = np.ones(3)

    def dense(J: Any) -> Any:
        return J.toarray() if hasattr(J, "toarray") else np.asarray(J)

    np.testing.assert_allclose(dense(di.jacobian(f, backend, x)), A, rtol=1e-12)
    A[0, 2] = 4.0  # a new nonzero: the pattern and the compiled program are stale
    np.testing.assert_allclose(dense(di.jacobian(f, backend, x)), A, rtol=1e-12)
    A[1, 1] = -1.0
    np.testing.assert_allclose(dense(di.jacobian(f, backend, x)), A, rtol=1e-12)


def test_an_unchanged_state_does_not_recompile() -> None:
    A = np.diag([1.0, 2.0])
    traces = []

    def f(x: Any) -> Any:
        traces.append(1)  # f's own writes (a counter) are its output, not its input
        return (A @ x * x).sum()

    x = np.ones(2)
    di.clear_cache()
    di.gradient(f, di.AutoJAX(), x)
    count = len(traces)
    for k in range(5):
        np.testing.assert_allclose(di.gradient(f, di.AutoJAX(), x + k), 2 * (A @ (x + k)))
    assert len(traces) == count  # compiled once: f never ran again in Python


# --- f must not write into x -----------------------------------------------------------------


def _mutating(x: Any) -> Any:
    value = (x**2).sum()
    x[0] = 100.0
    return value


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_an_f_writing_into_x_is_refused_and_x_is_kept(backend: Any, kind: str) -> None:
    x = np.linspace(1.0, 2.0, 3)
    if kind == "torch":
        x = torch.asarray(x)
    before = x.numpy().copy() if kind == "torch" else x.copy()
    operator = "jacobian" if isinstance(backend, di.AutoSparse) else "gradient"
    f = _mutating if operator == "gradient" else (lambda x: _mutating(x) * x)
    with pytest.raises(di.FunctionOutputError, match="f wrote into its argument x"):
        getattr(di, operator)(f, backend, x)
    with pytest.raises(di.FunctionOutputError, match="f wrote into its argument x"):
        getattr(di, f"prepare_{operator}")(f, backend, x)
    np.testing.assert_array_equal(x.numpy() if kind == "torch" else x, before)


# --- out= is checked before anything is computed ---------------------------------------------


@pytest.mark.parametrize("backend", ENGINES[:6], ids=repr)
def test_a_wrong_out_is_refused_before_f_runs(backend: Any) -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(1)
        return (x**2).sum()

    def g(x: Any) -> Any:
        calls.append(1)
        return x[:2] * x[1:]

    x = np.linspace(1.0, 2.0, 3)
    with pytest.raises(di.ArgumentValueError, match="shape"):
        di.gradient(f, backend, x, out=np.zeros(4))
    with pytest.raises(di.ArgumentValueError, match="dtype"):
        di.gradient(f, backend, x, out=np.zeros(3, dtype=np.float32))
    with pytest.raises(di.ArgumentValueError, match="shape"):
        di.value_gradient_and_hessian(f, backend, x, out=(np.zeros(3), np.zeros((3, 4))))
    assert not calls  # results like x: refused before f ran
    # a Jacobian's shape needs f(x): f runs once, nothing is compiled or differentiated
    with pytest.raises(di.ArgumentValueError, match="shape"):
        di.jacobian(g, backend, x, out=np.zeros((3, 3)))
    assert len(calls) == 1
    np.testing.assert_allclose(
        di.jacobian(g, backend, x, out=np.zeros((2, 3))),
        [[x[1], x[0], 0.0], [0.0, x[2], x[1]]],
        rtol=1e-6,
    )

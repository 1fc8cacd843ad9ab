"""Pytrees on every engine and namespace, against closed forms (API section 10)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface._array import to_numpy

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
    di.SecondOrder(di.AutoFiniteDiff(), di.AutoTorch()),
]
NAMESPACES = ["numpy", "torch", "jax"]


def _accepts(backend: Any, namespace: str) -> bool:
    text = repr(backend)
    if namespace == "torch":
        return "JAX" not in text or "Torch" in text
    if namespace == "jax":
        return "Torch" not in text and "Autograd" not in text
    return True


CASES = [
    pytest.param(b, ns, id=f"{b!r}-{ns}") for b in ENGINES for ns in NAMESPACES if _accepts(b, ns)
]


def _to(namespace: str, tree: Any) -> Any:
    def leaf(a: Any) -> Any:
        if namespace == "torch":
            return torch.asarray(np.asarray(a))
        if namespace == "jax":
            with jax.enable_x64(True):
                return jax.numpy.asarray(np.asarray(a))
        return np.asarray(a)

    if isinstance(tree, dict):
        return {k: _to(namespace, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_to(namespace, v) for v in tree)
    return leaf(tree)


def _np(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _np(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_np(v) for v in tree)
    return np.asarray(to_numpy(tree))


def _tol(backend: Any) -> float:
    return 1e-5 if "FiniteDiff" in repr(backend) else 1e-10


def _mlp_loss(p: Any, X: Any) -> Any:
    xp = array_namespace(p["w1"])
    h = xp.tanh(X @ p["w1"] + p["b1"])
    return xp.sum((h @ p["w2"]) ** 2) / 2


def _mlp(seed: int = 0) -> tuple[dict[str, Any], Any]:
    rng = np.random.default_rng(seed)
    params = {
        "w1": rng.normal(size=(3, 4)) / 2,
        "b1": rng.normal(size=4) / 2,
        "w2": rng.normal(size=(4, 2)) / 2,
    }
    return params, rng.normal(size=(5, 3))


def _mlp_gradient(p: dict[str, Any], X: Any) -> dict[str, Any]:
    pre = X @ p["w1"] + p["b1"]
    h = np.tanh(pre)
    out = h @ p["w2"]
    dh = out @ p["w2"].T * (1 - h**2)
    return {"w1": X.T @ dh, "b1": dh.sum(0), "w2": h.T @ out}


@pytest.mark.parametrize(("backend", "namespace"), CASES)
def test_gradient_of_mlp_parameters(backend: Any, namespace: str) -> None:
    params, X = _mlp()
    p, Xn = _to(namespace, params), _to(namespace, X)
    g = di.gradient(_mlp_loss, backend, p, di.Constant(Xn))
    assert sorted(g) == ["b1", "w1", "w2"]
    expected = _mlp_gradient(params, X)
    for k in expected:
        assert type(g[k]) is type(p[k])
        np.testing.assert_allclose(_np(g[k]), expected[k], rtol=_tol(backend), atol=1e-8)
    prep = di.prepare_gradient(_mlp_loss, backend, p, di.Constant(Xn))
    moved = _mlp(1)[0]
    g2 = di.gradient(_mlp_loss, backend, _to(namespace, moved), di.Constant(Xn), prep=prep)
    np.testing.assert_allclose(
        _np(g2["w2"]), _mlp_gradient(moved, X)["w2"], rtol=_tol(backend), atol=1e-8
    )


def _f(x: Any) -> Any:
    a, b = x
    xp = array_namespace(a)
    return {"p": a * b[0], "s": xp.sin(a) + b[1]}


def _J(a: Any, b: Any) -> Any:
    n = a.size
    top = np.hstack([b[0] * np.eye(n), a[:, None], np.zeros((n, 1))])
    bottom = np.hstack([np.diag(np.cos(a)), np.zeros((n, 1)), np.ones((n, 1))])
    return np.vstack([top, bottom])


@pytest.mark.parametrize(("backend", "namespace"), CASES)
def test_tuple_in_dict_out_jacobian_pushforward_pullback(backend: Any, namespace: str) -> None:
    a, b = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.25])
    x = _to(namespace, (a, b))
    J = _J(a, b)
    tol = _tol(backend)
    np.testing.assert_allclose(_np(di.jacobian(_f, backend, x)), J, rtol=tol, atol=1e-8)
    t = (np.array([1.0, 0.0, -1.0]), np.array([2.0, 1.0]))
    (jt,) = di.pushforward(_f, backend, x, (_to(namespace, t),))
    assert sorted(jt) == ["p", "s"]
    flat = np.concatenate([_np(jt["p"]), _np(jt["s"])])
    np.testing.assert_allclose(flat, J @ np.concatenate(t), rtol=tol, atol=1e-8)
    w = {"p": np.ones(3), "s": np.array([1.0, 2.0, 3.0])}
    (jtw,) = di.pullback(_f, backend, x, (_to(namespace, w),))
    assert isinstance(jtw, tuple)
    got = np.concatenate([_np(jtw[0]), _np(jtw[1])])
    np.testing.assert_allclose(got, J.T @ np.concatenate([w["p"], w["s"]]), rtol=tol, atol=1e-8)


@pytest.mark.parametrize(("backend", "namespace"), CASES)
def test_hessian_and_hvp_of_a_dict(backend: Any, namespace: str) -> None:
    x = {"u": np.array([1.0, 2.0]), "v": np.asarray(0.5)}

    def f(p: Any) -> Any:
        xp = array_namespace(p["u"])
        return xp.sum(p["u"] ** 2) * p["v"] + p["v"] ** 3

    u, v = x["u"], float(x["v"])
    H = np.array([[2 * v, 0, 2 * u[0]], [0, 2 * v, 2 * u[1]], [2 * u[0], 2 * u[1], 6 * v]])
    tol = 1e-4 if "FiniteDiff" in repr(backend) else 1e-10
    xn = _to(namespace, x)
    np.testing.assert_allclose(_np(di.hessian(f, backend, xn)), H, rtol=tol, atol=1e-6)
    t = _to(namespace, {"u": np.array([1.0, 0.0]), "v": np.asarray(1.0)})
    (hv,) = di.hvp(f, backend, xn, (t,))
    got = np.concatenate([_np(hv["u"]), _np(hv["v"]).reshape(1)])
    np.testing.assert_allclose(got, H @ [1.0, 0.0, 1.0], rtol=tol, atol=1e-6)


@pytest.mark.parametrize(
    "backend", [di.AutoSparse(di.AutoFiniteDiff()), di.AutoSparse(di.AutoJAX())]
)
def test_sparse_jacobian_over_the_raveled_variables(backend: Any) -> None:
    a, b = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.25])
    J = di.jacobian(_f, backend, (a, b))
    dense = J.toarray() if hasattr(J, "toarray") else np.asarray(J.todense())
    np.testing.assert_allclose(dense, _J(a, b), rtol=1e-6, atol=1e-8)
    prep = di.prepare_jacobian(_f, backend, (a, b))
    assert prep.sparsity.shape == (6, 5)
    np.testing.assert_array_equal(prep.sparsity.toarray(), _J(a, b) != 0)


@pytest.mark.parametrize("backend", [di.AutoTorch(), di.AutoFiniteDiff()])
def test_torch_model_parameters(backend: Any) -> None:
    """The tutorial's route: dict(model.named_parameters()) with torch.func.functional_call."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    model = model.double()
    X = torch.randn(6, 3, dtype=torch.float64)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: Any, X: Any) -> Any:
        return torch.func.functional_call(model, p, (X,)).pow(2).mean()

    g = di.gradient(loss, backend, params, di.Constant(X))
    ref = torch.autograd.grad(loss(dict(model.named_parameters()), X), list(model.parameters()))
    for (name, _), expected in zip(model.named_parameters(), ref, strict=True):
        np.testing.assert_allclose(g[name].numpy(), expected.numpy(), rtol=_tol(backend), atol=1e-8)


@pytest.mark.parametrize(
    ("backend", "namespace"),
    [
        (di.AutoJAX(), "numpy"),
        (di.AutoJAX(), "native"),
        (di.AutoTorch(), "numpy"),
        (di.AutoTorch(), "native"),
        (di.AutoAutograd(), "numpy"),  # autograd computes in numpy: its native namespace
    ],
    ids=repr,
)
def test_gradients_on_the_tree_itself(backend: Any, namespace: str) -> None:
    """JAX, the torch tape and HIPS autograd's containers differentiate the leaves without
    raveling (a native plan): the same results, checks and reports as the raveled route."""
    ns = namespace if namespace == "numpy" else ("jax" if "JAX" in repr(backend) else "torch")
    params, X = _mlp()
    p, Xn = _to(ns, params), _to(ns, X)
    prep = di.prepare_gradient(_mlp_loss, backend, p, di.Constant(Xn))
    assert prep.native is not None
    expected = _mlp_gradient(params, X)
    g = di.gradient(_mlp_loss, backend, p, di.Constant(Xn), prep=prep)
    for k in expected:
        np.testing.assert_allclose(_np(g[k]), expected[k], rtol=1e-10, atol=1e-12)
    if ns == "numpy":
        g["w1"][0, 0] = 1.0  # fresh, writable results
    y, g2 = di.value_and_gradient(
        _mlp_loss,
        backend,
        p,
        di.Constant(Xn),
        prep=di.prepare_gradient(_mlp_loss, backend, p, di.Constant(Xn)),
    )
    np.testing.assert_allclose(float(_np(y)), float(_mlp_loss(params, X)), rtol=1e-12)
    np.testing.assert_allclose(_np(g2["b1"]), expected["b1"], rtol=1e-10)
    out = {k: np.zeros_like(v) for k, v in params.items()}
    if ns == "numpy":
        got = di.gradient(_mlp_loss, backend, p, di.Constant(Xn), prep=prep, out=out)
        assert got is out
        np.testing.assert_allclose(out["w2"], expected["w2"], rtol=1e-10)
    wrong = dict(p)
    wrong["w2"] = _to(ns, np.zeros((4, 3)))
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x\['w2'\]"):
        di.gradient(_mlp_loss, backend, wrong, di.Constant(Xn), prep=prep)
    fewer = {k: v for k, v in p.items() if k != "b1"}
    with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x"):
        di.gradient(_mlp_loss, backend, fewer, di.Constant(Xn), prep=prep)


def test_mixed_precision_leaves_on_the_tree_itself() -> None:
    x = {"a": np.array([1.0, 2.0], dtype=np.float32), "b": np.array([3.0])}

    def f(p: Any) -> Any:
        xp = array_namespace(p["a"])
        return xp.sum(xp.astype(p["a"], xp.float64) ** 2) + xp.sum(p["b"] ** 3)

    for backend in (di.AutoJAX(), di.AutoTorch(), di.AutoAutograd()):
        assert di.prepare_gradient(f, backend, x).native is not None
        g = di.gradient(f, backend, x)
        assert g["a"].dtype == np.float32
        assert g["b"].dtype == np.float64
        np.testing.assert_allclose(g["a"], [2.0, 4.0], rtol=1e-6)
        np.testing.assert_allclose(g["b"], [27.0], rtol=1e-12)


def _affine_loss(p: dict[str, Any], X: Any, unused: Any = None) -> Any:
    return ((X @ p["w"] + p["b"]) ** 2).sum()


def _affine_gradient(p: dict[str, Any], X: Any) -> dict[str, np.ndarray]:
    """Closed form: r = X w + b, d/dw = 2 X^T r, d/db = 2 sum over rows of r."""
    w, b, Xn = (to_numpy(a) for a in (p["w"], p["b"], X))
    r = Xn @ w + b
    return {"w": 2 * Xn.T @ r, "b": 2 * r.sum(axis=0)}


def test_prepared_torch_tree_gradient_checked_by_one_tensor_guard(monkeypatch) -> None:
    """A prepared gradient of a dict of tensors with a tensor context takes the express
    route (one C++ guard over leaves and context), and every call it cannot serve goes the
    full way: leaves requiring grad (results stay on the caller's graph), other strides,
    no_grad and inference mode, another shape (the report names the leaf)."""
    from differentiation_interface.operators import _trees

    rng = np.random.default_rng(0)
    p = {"w": torch.asarray(rng.normal(size=(3, 2))), "b": torch.asarray(rng.normal(size=2))}
    X = torch.asarray(rng.normal(size=(4, 3)))
    backend = di.AutoTorch()
    prep = di.prepare_gradient(_affine_loss, backend, p, di.Constant(X))

    def close(g: dict[str, Any], expected: dict[str, np.ndarray]) -> None:
        assert set(g) == {"w", "b"}
        for k, value in expected.items():
            np.testing.assert_allclose(to_numpy(g[k].detach()), value, rtol=1e-12)

    full = _trees._native_call
    taken = []
    monkeypatch.setattr(_trees, "_native_call", lambda *a, **k: taken.append(1) or full(*a, **k))
    close(di.gradient(_affine_loss, backend, p, di.Constant(X), prep=prep), _affine_gradient(p, X))
    assert taken == []  # the express route served it
    q = {"w": p["w"].T.contiguous().T, "b": p["b"]}  # same values, other strides
    close(di.gradient(_affine_loss, backend, q, di.Constant(X), prep=prep), _affine_gradient(q, X))
    expected = _affine_gradient(p, X)
    with torch.no_grad():
        close(di.gradient(_affine_loss, backend, p, di.Constant(X), prep=prep), expected)
    with torch.inference_mode():
        close(di.gradient(_affine_loss, backend, p, di.Constant(X), prep=prep), expected)
    attached = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    g = di.gradient(_affine_loss, backend, attached, di.Constant(X), prep=prep)
    assert g["w"].requires_grad  # on the caller's graph: a gradient penalty can go through
    close(g, _affine_gradient(p, X))
    (gb,) = torch.autograd.grad(g["b"].sum(), attached["b"])  # d/db of 2 sum_rows(r): 2 * rows
    np.testing.assert_allclose(gb.numpy(), np.full(2, 2.0 * X.shape[0]), rtol=1e-12)
    assert len(taken) >= 3  # the calls the express route declined went the full way
    bad = {"w": p["w"], "b": torch.zeros(3, dtype=p["b"].dtype)}
    with pytest.raises(di.PreparationMismatchError, match=r"\['b'\]|b"):
        di.gradient(_affine_loss, backend, bad, di.Constant(X), prep=prep)
    with pytest.raises(di.PreparationMismatchError):
        di.gradient(_affine_loss, backend, p, di.Constant(X[:2]), prep=prep)


def test_prepared_torch_tree_gradient_unused_leaves() -> None:
    """A leaf f does not use gets zeros; none used at all is a disconnected graph unless
    AutoTorch(allow_unused=True) (then all zeros)."""
    rng = np.random.default_rng(1)
    p = {"w": torch.asarray(rng.normal(size=(3, 2))), "b": torch.asarray(rng.normal(size=2))}
    X = torch.asarray(rng.normal(size=(4, 3)))

    def only_w(p: dict[str, Any], X: Any) -> Any:
        return ((X @ p["w"]) ** 2).sum()

    def neither(p: dict[str, Any], X: Any) -> Any:
        return (X**2).sum()

    backend = di.AutoTorch()
    prep = di.prepare_gradient(only_w, backend, p, di.Constant(X))
    for _ in range(2):
        g = di.gradient(only_w, backend, p, di.Constant(X), prep=prep)
        np.testing.assert_allclose(g["b"].numpy(), 0.0)
        r = X.numpy() @ p["w"].numpy()
        np.testing.assert_allclose(g["w"].numpy(), 2 * X.numpy().T @ r, rtol=1e-12)
    prep = di.prepare_gradient(neither, backend, p, di.Constant(X))
    with pytest.raises(di.DisconnectedGraphError):
        di.gradient(neither, backend, p, di.Constant(X), prep=prep)
    loose = di.AutoTorch(allow_unused=True)
    prep = di.prepare_gradient(neither, loose, p, di.Constant(X))
    g = di.gradient(neither, loose, p, di.Constant(X), prep=prep)
    assert all(float(abs(v).sum()) == 0.0 for v in g.values())

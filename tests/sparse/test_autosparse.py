"""AutoSparse with finite differences, on numpy and array-api-strict (every device)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface.testing import ReverseFromPrimitive
from differentiation_interface.testing.sparse_scenarios import (
    SparseScenario,
    brusselator,
    rosenbrock,
    sparse_scenarios,
    tridiagonal,
)
from tests.helpers import TARGETS, Target, numpy_of

FD = di.AutoFiniteDiff()
SPARSE = di.AutoSparse(FD)
SCENARIOS = sparse_scenarios()


def _dense(matrix: Any) -> np.ndarray:
    assert isinstance(matrix, sp.csr_array)
    return matrix.toarray()


def _tolerance(target: Target, operator: str) -> float:
    if not target.float64:
        return 2e-2 if operator == "hessian" else 2e-3
    return 1e-4 if operator == "hessian" else 1e-7


def _on(target: Target, s: SparseScenario) -> SparseScenario:
    if target.float64:
        return s.to_namespace(target.xp, target.device)
    return sparse_scenarios(dtype=np.float32)[SCENARIOS.index(s)].to_namespace(
        target.xp, target.device
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sparse_results_equal_dense_results_of_the_same_engine(
    target: Target, scenario: SparseScenario
) -> None:
    s = _on(target, scenario)
    rtol = _tolerance(target, s.operator)
    if s.operator == "jacobian":
        prep = di.prepare_jacobian(s.f, SPARSE, s.x)
        got = di.jacobian(s.f, SPARSE, s.x, prep=prep)
        dense = numpy_of(di.jacobian(s.f, FD, s.x))
        reference = numpy_of(s.res1)
    else:
        prep = di.prepare_hessian(s.f, SPARSE, s.x)
        got = di.hessian(s.f, SPARSE, s.x, prep=prep)
        dense = numpy_of(di.hessian(s.f, FD, s.x))
        reference = numpy_of(s.res2)
    matrix = _dense(got)
    scale = np.abs(reference).max()
    np.testing.assert_allclose(matrix, dense, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(matrix, reference, rtol=0, atol=rtol * scale)
    assert got.dtype == (np.float64 if target.float64 else np.float32)
    assert (prep.sparsity != s.pattern).nnz == 0
    assert prep.ncolors == len(set(prep.colors.tolist()))
    if s.ncolors is not None and s.operator == "hessian":
        assert prep.ncolors == s.ncolors
    if s.ncolors is not None and s.operator == "jacobian":
        assert prep.ncolors == s.ncolors
        assert prep.partition == "column"


def test_value_variants(target: Target) -> None:
    s = _on(target, SCENARIOS[3])  # Brusselator
    y, jac = di.value_and_jacobian(s.f, SPARSE, s.x)
    np.testing.assert_allclose(numpy_of(y), numpy_of(s.f(s.x)), rtol=1e-6)
    assert type(y) is type(s.x)
    np.testing.assert_allclose(
        _dense(jac), numpy_of(s.res1), atol=_tolerance(target, "jacobian") * 10
    )
    h = _on(target, SCENARIOS[5])  # Rosenbrock
    value, grad, hess = di.value_gradient_and_hessian(h.f, SPARSE, h.x)
    np.testing.assert_allclose(numpy_of(value), numpy_of(h.f(h.x)), rtol=1e-6)
    gscale = np.abs(numpy_of(h.res1)).max()
    gtol = 1e-6 if target.float64 else 1e-4
    np.testing.assert_allclose(numpy_of(grad), numpy_of(h.res1), atol=gtol * gscale)
    atol = _tolerance(target, "hessian") * np.abs(numpy_of(h.res2)).max()
    np.testing.assert_allclose(_dense(hess), numpy_of(h.res2), atol=atol)


def test_dense_output_and_out(target: Target) -> None:
    s = _on(target, SCENARIOS[2])  # 2-D stencil, 2-D input
    backend = di.AutoSparse(FD, output="dense")
    jac = di.jacobian(s.f, backend, s.x)
    assert type(jac) is type(s.x)
    from array_api_compat import device

    assert device(jac) == device(s.x)
    np.testing.assert_allclose(
        numpy_of(jac), numpy_of(s.res1), atol=_tolerance(target, "jacobian") * 10
    )
    if target.xp is np:
        out = np.zeros((16, 16))
        assert di.jacobian(s.f, backend, s.x, out=out) is out
        np.testing.assert_allclose(out, s.res1, atol=1e-7)


def _counting(f: Any, ndim: int) -> tuple[Any, list[int]]:
    """``f`` counting the points it is evaluated at (stacked points count one each)."""
    count = [0]

    def counted(x: Any) -> Any:
        count[0] += x.shape[0] if x.ndim > ndim else 1
        return f(x)

    return counted, count


@pytest.mark.parametrize(("method", "bound"), [("forward", 1), ("central", 0)])
def test_finite_differences_evaluate_f_once_per_color(method: str, bound: int) -> None:
    backend = di.AutoSparse(di.AutoFiniteDiff(method=method))
    x = np.linspace(0.5, 1.5, 200)
    f, count = _counting(brusselator, 1)
    prep = di.prepare_jacobian(f, backend, x)
    count[0] = 0
    di.jacobian(f, backend, x, prep=prep)
    per_color = 2 if method == "central" else 1
    assert count[0] <= per_color * prep.ncolors + bound
    assert prep.ncolors == 4


def test_finite_differences_with_a_function_that_cannot_batch() -> None:
    calls = [0]

    def f(x: Any) -> Any:  # slices the first axis: stacked points would be mixed up
        calls[0] += 1
        return np.concatenate([x[:1] ** 2, x[1:] * x[:-1]])

    backend = di.AutoSparse(di.AutoFiniteDiff(method="forward"))
    x = np.linspace(1.0, 2.0, 30)
    prep = di.prepare_jacobian(f, backend, x)
    calls[0] = 0
    jac = di.jacobian(f, backend, x, prep=prep)
    assert calls[0] <= prep.ncolors + 1
    np.testing.assert_allclose(jac.toarray(), di.jacobian(f, FD, x), atol=1e-6)


def test_reverse_mode_dense_backends_use_row_coloring() -> None:
    backend = di.AutoSparse(ReverseFromPrimitive(FD))
    s = SCENARIOS[1]
    prep = di.prepare_jacobian(s.f, backend, s.x)
    assert prep.partition == "row"
    np.testing.assert_allclose(
        di.jacobian(s.f, backend, s.x, prep=prep).toarray(), s.res1, atol=1e-7
    )


def test_second_order_dense_backend_and_substitution() -> None:
    s = SCENARIOS[5]
    for backend in (
        di.AutoSparse(di.SecondOrder(FD, FD)),
        di.AutoSparse(
            FD, coloring_algorithm=di.GreedyColoringAlgorithm(decompression="substitution")
        ),
    ):
        prep = di.prepare_hessian(s.f, backend, s.x)
        hess = di.hessian(s.f, backend, s.x, prep=prep)
        np.testing.assert_allclose(hess.toarray(), s.res2, atol=1e-3 * np.abs(s.res2).max())
    assert prep.ncolors == 2
    assert prep.decompression == "substitution"


def test_two_argument_functions() -> None:
    def f(y: Any, x: Any) -> None:
        y[...] = tridiagonal(x)

    x = np.linspace(0.1, 0.4, 10)
    y = np.zeros(10)
    jac = di.jacobian(f, SPARSE, x, y=y)
    np.testing.assert_allclose(jac.toarray(), di.jacobian(tridiagonal, FD, x), atol=1e-8)
    np.testing.assert_allclose(y, tridiagonal(x))
    assert di.check_inplace(SPARSE)


def test_contexts() -> None:
    def f(x: Any, scale: Any) -> Any:
        return scale * tridiagonal(x)

    x = np.linspace(0.1, 0.4, 8)
    scale = np.linspace(1.0, 2.0, 8)
    prep = di.prepare_jacobian(f, SPARSE, x, di.Constant(scale))
    other = 3.0 * scale
    jac = di.jacobian(f, SPARSE, x, di.Constant(other), prep=prep)
    np.testing.assert_allclose(jac.toarray(), di.jacobian(f, FD, x, di.Constant(other)), atol=1e-7)


def test_unprepared_calls_reuse_their_preparation() -> None:
    s = SCENARIOS[0]
    first = di.jacobian(s.f, SPARSE, s.x)
    second = di.jacobian(s.f, SPARSE, s.x + 0.1)
    assert first.shape == second.shape
    assert not np.allclose(first.toarray(), second.toarray())


def test_results_are_fresh() -> None:
    s = SCENARIOS[0]
    prep = di.prepare_jacobian(s.f, SPARSE, s.x)
    a = di.jacobian(s.f, SPARSE, s.x, prep=prep)
    b = di.jacobian(s.f, SPARSE, s.x, prep=prep)
    assert not np.shares_memory(a.data, b.data)
    assert not np.shares_memory(a.indices, b.indices)
    assert not np.shares_memory(a.indptr, b.indptr)
    a.data[:] = 0.0
    a.eliminate_zeros()
    assert b.nnz == s.pattern.nnz
    assert di.jacobian(s.f, SPARSE, s.x, prep=prep).nnz == s.pattern.nnz


def test_other_operators_are_the_dense_backends() -> None:
    x = np.linspace(0.5, 1.5, 6)
    np.testing.assert_allclose(di.gradient(rosenbrock, SPARSE, x), di.gradient(rosenbrock, FD, x))
    tangent = (np.ones(6),)
    np.testing.assert_allclose(
        di.pushforward(tridiagonal, SPARSE, x, tangent)[0],
        di.pushforward(tridiagonal, FD, x, tangent)[0],
    )
    np.testing.assert_allclose(
        di.hvp(rosenbrock, SPARSE, x, tangent)[0], di.hvp(rosenbrock, FD, x, tangent)[0]
    )


def test_functions_with_no_dependency() -> None:
    def constant(x: Any) -> Any:
        return array_namespace(x).zeros(3) + 1.0

    jac = di.jacobian(constant, SPARSE, np.ones(4))
    assert jac.shape == (3, 4)
    assert jac.nnz == 0

    def linear(x: Any) -> Any:
        return array_namespace(x).sum(2.0 * x)

    value, grad, hess = di.value_gradient_and_hessian(linear, SPARSE, np.ones(4))
    assert hess.shape == (4, 4)
    assert hess.nnz == 0
    np.testing.assert_allclose(grad, 2.0 * np.ones(4))
    assert float(value) == 8.0


def test_complex_jacobians() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return x**2 * xp.roll(x, 1)

    x = np.linspace(0.5, 1.0, 6) * (1.0 + 0.5j)
    backend = di.AutoSparse(di.AutoFiniteDiff())
    jac = di.jacobian(f, backend, x)
    assert jac.dtype == np.complex128
    np.testing.assert_allclose(jac.toarray(), di.jacobian(f, FD, x), atol=1e-7)
    rows = di.jacobian(f, di.AutoSparse(ReverseFromPrimitive(FD)), x)
    np.testing.assert_allclose(rows.toarray(), di.jacobian(f, FD, x), atol=1e-7)
    with pytest.raises(di.UnsupportedOperationError, match="complex"):
        di.hessian(lambda x: array_namespace(x).sum(abs(x) ** 2), backend, x)


def test_known_patterns() -> None:
    s = SCENARIOS[0]
    wide = sp.csr_array(np.ones((12, 12)))  # a superset is fine, only slower
    backend = di.AutoSparse(FD, sparsity_detector=di.KnownJacobianSparsity(wide))
    prep = di.prepare_jacobian(s.f, backend, s.x)
    assert prep.ncolors == 12
    np.testing.assert_allclose(
        di.jacobian(s.f, backend, s.x, prep=prep).toarray(), s.res1, atol=1e-7
    )
    upper = np.triu(np.ones((12, 12)), k=-1) * np.tril(np.ones((12, 12)), k=0)
    hess = di.hessian(
        rosenbrock,
        di.AutoSparse(FD, sparsity_detector=di.KnownHessianSparsity(upper)),
        SCENARIOS[5].x,
    )
    np.testing.assert_allclose(
        hess.toarray(), SCENARIOS[5].res2, atol=1e-3 * np.abs(SCENARIOS[5].res2).max()
    )


def test_bad_patterns_are_rejected() -> None:
    s = SCENARIOS[0]
    wrong = di.AutoSparse(FD, sparsity_detector=di.KnownJacobianSparsity(np.eye(11, 12)))
    with pytest.raises(di.ArgumentValueError, match=r"shape \(11, 12\).*\(12, 12\)"):
        di.prepare_jacobian(s.f, wrong, s.x)
    hessian_only = di.AutoSparse(FD, sparsity_detector=di.KnownHessianSparsity(np.eye(12)))
    with pytest.raises(di.ArgumentTypeError, match="KnownJacobianSparsity"):
        di.prepare_jacobian(s.f, hessian_only, s.x)
    jacobian_only = di.AutoSparse(FD, sparsity_detector=di.KnownJacobianSparsity(np.eye(12)))
    with pytest.raises(di.ArgumentTypeError, match="KnownHessianSparsity"):
        di.prepare_hessian(rosenbrock, jacobian_only, s.x)
    rectangular = di.AutoSparse(FD, sparsity_detector=di.KnownHessianSparsity(np.eye(3, 4)))
    with pytest.raises(di.ArgumentValueError, match="Hessian"):
        di.prepare_hessian(rosenbrock, rectangular, s.x)
    with pytest.raises(di.ArgumentValueError, match="2-D"):
        di.KnownJacobianSparsity(np.ones(3))
    with pytest.raises(di.ArgumentTypeError, match=r"scipy\.sparse"):
        di.KnownJacobianSparsity("dense")


def test_dense_sparsity_detector() -> None:
    detector = di.DenseSparsityDetector(FD, atol=1e-5)
    s = SCENARIOS[1]
    pattern = di.jacobian_sparsity(s.f, s.x, detector)
    assert (pattern != s.pattern).nnz == 0
    hpattern = di.hessian_sparsity(rosenbrock, SCENARIOS[5].x, detector)
    assert (hpattern != SCENARIOS[5].pattern).nnz == 0
    backend = di.AutoSparse(FD, sparsity_detector=detector)
    np.testing.assert_allclose(di.jacobian(s.f, backend, s.x).toarray(), s.res1, atol=1e-7)


def test_sparsity_functions_check_their_arguments() -> None:
    with pytest.raises(di.ArgumentTypeError, match="detector"):
        di.jacobian_sparsity(tridiagonal, np.ones(3), FD)  # type: ignore[arg-type]
    with pytest.raises(di.ArgumentTypeError, match="floating"):
        di.jacobian_sparsity(tridiagonal, np.ones(3, dtype=int), di.TracerSparsityDetector())
    with pytest.raises(di.FunctionOutputError, match="0-d"):
        di.hessian_sparsity(tridiagonal, np.ones(3), di.TracerSparsityDetector())


def test_selectors() -> None:
    assert di.AutoSparse(di.AutoFiniteDiff()) == SPARSE
    assert hash(SPARSE) == hash(di.AutoSparse(di.AutoFiniteDiff()))
    assert repr(SPARSE) == "AutoSparse(AutoFiniteDiff())"
    assert (
        repr(di.AutoSparse(di.AutoJAX(), output="dense")) == "AutoSparse(AutoJAX(), output='dense')"
    )
    assert SPARSE.mode == "forward"
    assert di.AutoSparse(di.AutoJAX()).mode == "reverse"
    known = di.KnownJacobianSparsity(np.eye(3))
    assert known == di.KnownJacobianSparsity(sp.eye_array(3))
    assert hash(known) == hash(di.KnownJacobianSparsity(sp.eye_array(3)))
    assert known != di.KnownHessianSparsity(np.eye(3))
    assert "3 nonzeros" in repr(known)
    with pytest.raises(AttributeError):
        known.foo = 1  # type: ignore[attr-defined]
    assert di.check_available(SPARSE)
    assert di.check_available(di.AutoSparse(FD, sparsity_detector=di.DenseSparsityDetector(FD)))
    assert not di.check_inplace(di.AutoSparse(di.AutoJAX()))
    with pytest.raises(TypeError, match="dense backend"):
        di.AutoSparse(SPARSE)
    with pytest.raises(TypeError, match="sparsity detector"):
        di.AutoSparse(FD, sparsity_detector=FD)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="GreedyColoringAlgorithm"):
        di.AutoSparse(FD, coloring_algorithm="natural")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output"):
        di.AutoSparse(FD, output="csc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order"):
        di.GreedyColoringAlgorithm("fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decompression"):
        di.GreedyColoringAlgorithm(decompression="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="atol"):
        di.DenseSparsityDetector(FD, atol=-1.0)
    assert di.GreedyColoringAlgorithm(["natural", "random"]).orders == ("natural", "random")


def test_prep_exposes_the_coloring() -> None:
    s = SCENARIOS[2]
    prep = di.prepare_jacobian(s.f, SPARSE, s.x)
    assert isinstance(prep.sparsity, sp.csr_array)
    assert prep.sparsity.dtype == np.bool_
    assert prep.colors.shape == (16,)
    assert prep.ncolors == 5
    assert prep.order == "saturation"
    assert prep.colors_per_order == {"largest_first": 6, "saturation": 5}


def test_strict_arrays_on_another_device_keep_their_device() -> None:
    target = next(t for t in TARGETS if t.name == "strict-device1")
    s = SCENARIOS[0].to_namespace(target.xp, target.device)
    prep = di.prepare_jacobian(s.f, SPARSE, s.x)
    assert prep.plan.index.device == target.device
    jac = di.jacobian(s.f, SPARSE, s.x, prep=prep)
    np.testing.assert_allclose(jac.toarray(), SCENARIOS[0].res1, atol=1e-7)


def test_many_colors_are_split_into_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from differentiation_interface.backends.finite_diff import FiniteDiffEngine

    monkeypatch.setattr(FiniteDiffEngine, "max_batch", lambda self, size, like=None: 2)
    s = SCENARIOS[2]  # 5 colors: chunks of 2, 2 and 1 (padded)
    backend = di.AutoSparse(di.AutoFiniteDiff(method="forward"))
    prep = di.prepare_jacobian(s.f, backend, s.x)
    assert prep.plan.compressed.nchunks == 3
    y, jac = di.value_and_jacobian(s.f, backend, s.x, prep=prep)
    np.testing.assert_allclose(jac.toarray(), s.res1, atol=1e-6)
    np.testing.assert_allclose(y, s.f(s.x))


def test_dask_arrays() -> None:
    da = pytest.importorskip("dask.array")
    s = SCENARIOS[0]
    x = da.from_array(s.x, chunks=6)
    jac = di.jacobian(s.f, SPARSE, x)
    assert isinstance(jac, sp.csr_array)
    np.testing.assert_allclose(jac.toarray(), s.res1, atol=1e-7)


@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1"])
def test_every_variant_through_the_testing_companion(device: str) -> None:
    """Every variant of every sparse scenario (sparse outputs compared through their dense
    form; out= refused with a message naming output='dense')."""
    import array_api_strict as xps

    from differentiation_interface.testing import sparse_scenarios, test_differentiation

    backend = di.AutoSparse(
        di.AutoFiniteDiff(),
        sparsity_detector=di.TracerSparsityDetector(),
        coloring_algorithm=di.GreedyColoringAlgorithm(),
    )
    scenarios = [s.to_namespace(xps, xps.Device(device)) for s in sparse_scenarios()]
    assert test_differentiation([backend], sparse_scenarios()) == len(scenarios)
    assert test_differentiation([backend], scenarios) == len(scenarios)


def test_sparsity_functions_validate_like_the_operators() -> None:
    # One validation for every entry point (operators/_validate.py): the same messages.
    detector = di.TracerSparsityDetector()
    with pytest.raises(di.ArgumentTypeError, match=r"^`jacobian_sparsity` differentiates"):
        di.jacobian_sparsity(lambda x: x, [1.0, 2.0], detector)
    with pytest.raises(di.ArgumentTypeError, match=r"^`hessian_sparsity` can only"):
        di.hessian_sparsity(lambda x: (x**2).sum(), np.arange(3), detector)
    with pytest.raises(di.ArgumentTypeError, match=r"extra argument 0 is a bare float"):
        di.jacobian_sparsity(lambda x, c: c * x, np.ones(2), detector, 2.0)
    with pytest.raises(di.ArgumentTypeError, match=r"takes a sparsity detector"):
        di.jacobian_sparsity(lambda x: x, np.ones(2), "tracer")
    # A numpy scalar is a 0-d array here as everywhere: d(x**2)/dx is structurally nonzero.
    pattern = di.jacobian_sparsity(lambda x: x**2, np.float64(3.0), detector)
    assert pattern.shape == (1, 1)
    assert pattern.toarray().tolist() == [[True]]

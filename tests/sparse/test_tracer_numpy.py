"""numpy functions and array methods on traced arrays: numpy's meaning, or a clear error.

Every traced pattern is checked against the nonzeros of a dense finite-difference Jacobian
computed independently (``di.AutoFiniteDiff`` runs ``f`` on plain numpy arrays), at random
points where no zero is accidental: equal for the operations whose pattern is exact,
containing it (and equal to a closed form) for the piecewise ones. Every unsupported
argument raises ``UnsupportedOperationError`` naming the function.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.sparse._tracer import install
from differentiation_interface.sparse._tracer.numpy_dispatch import NO_VALUE, registry

TRACER = di.TracerSparsityDetector()


def traced(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    return di.jacobian_sparsity(f, x, TRACER).toarray()


def finite_differences(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    """Nonzeros of the dense Jacobian by finite differences (the independent oracle)."""
    jac = np.asarray(di.jacobian(f, di.AutoFiniteDiff(), x))
    return np.abs(jac) > 1e-6 * max(1.0, float(np.abs(jac).max()))


def point(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 0.8, shape)


# Constants the functions close over (their values are known while tracing).
A34 = np.random.default_rng(1).uniform(0.5, 1.5, (3, 4))
A43 = np.random.default_rng(2).uniform(0.5, 1.5, (4, 3))
A33 = np.random.default_rng(3).uniform(0.5, 1.5, (3, 3)) + 3 * np.eye(3)
MASK = np.array([[True, False, True], [False, True, True], [True, True, False], [False] * 3])


def _filled_empty_like(x: Any) -> Any:
    y = np.empty_like(x)
    y[...] = 2.0 * x[::-1]
    return y


def _zero_derivatives(x: Any) -> Any:
    # Each term is locally constant in x (booleans, integers, roundings).
    terms = [
        np.all(x > 0.1), np.any(x > 2.0), np.count_nonzero(x > 0.5), np.allclose(x, 0.0),
        np.array_equal(x, x), np.digitize(x, [0.5]), np.fix(3.0 * x), np.iscomplex(x),
        np.isreal(x), np.isneginf(x), np.isposinf(x), np.nanargmax(x), np.nanargmin(x),
        np.searchsorted([0.3, 0.6], x), np.around(x, 1), np.argsort(x),
    ]  # fmt: skip
    return x * (1.0 + sum(terms))


def _more_ufuncs(x: Any) -> Any:
    linear = np.fabs(x) + np.radians(x) + np.rad2deg(x) + np.degrees(x) + np.ldexp(x, 2)
    coupled = np.logaddexp2(x, x[::-1]) + np.fmin(x, x[::-1])
    return linear + coupled + np.rint(x) + np.spacing(x)


# (name, f, shape of x): the traced pattern equals the finite-difference one.
EXACT: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    # reshaping, in both orders
    ("reshape order=F", lambda x: np.reshape(x, (3, 4), order="F"), (4, 3)),
    ("reshape order=C", lambda x: np.reshape(x, (2, 6)), (4, 3)),
    ("x.reshape order=F", lambda x: x.reshape(3, 4, order="F"), (4, 3)),
    ("x.reshape tuple", lambda x: x.reshape((12,)), (4, 3)),
    ("ravel order=F", lambda x: np.ravel(x, order="F"), (2, 3, 2)),
    ("x.ravel order=F", lambda x: x.ravel(order="F"), (4, 3)),
    ("x.flatten F", lambda x: x.flatten("F"), (4, 3)),
    ("transpose default", np.transpose, (2, 3, 4)),
    ("transpose axes", lambda x: np.transpose(x, (1, 0, 2)), (2, 3, 4)),
    ("permute_dims", lambda x: np.permute_dims(x, (2, 0, 1)), (2, 3, 4)),
    ("matrix_transpose", np.matrix_transpose, (2, 3, 4)),
    ("linalg.matrix_transpose", np.linalg.matrix_transpose, (2, 3, 4)),
    ("x.transpose varargs", lambda x: x.transpose(2, 0, 1), (2, 3, 4)),
    ("x.transpose none", lambda x: x.transpose(), (2, 3, 4)),
    ("x.T", lambda x: x.T, (2, 3, 4)),
    ("swapaxes", lambda x: np.swapaxes(x, 0, 2), (2, 3, 4)),
    ("x.swapaxes", lambda x: x.swapaxes(2, 0), (2, 3, 4)),
    ("moveaxis", lambda x: np.moveaxis(x, 0, -1), (2, 3, 4)),
    ("rollaxis", lambda x: np.rollaxis(x, 2), (2, 3, 4)),
    ("squeeze no axis", np.squeeze, (1, 3, 1, 4)),
    ("x.squeeze", lambda x: x.squeeze(), (1, 3, 1, 4)),
    ("squeeze axis", lambda x: np.squeeze(x, 2), (1, 3, 1, 4)),
    ("expand_dims positional", lambda x: np.expand_dims(x, 1), (3, 4)),
    ("flip", lambda x: np.flip(x, 1), (3, 4)),
    ("fliplr flipud", lambda x: np.fliplr(np.flipud(x)), (3, 4)),
    ("rot90", lambda x: np.rot90(x, 3), (3, 4)),
    ("roll flat", lambda x: np.roll(x, 5), (3, 4)),
    ("roll axis", lambda x: np.roll(x, -1, axis=0), (3, 4)),
    ("tile int", lambda x: np.tile(x, 2), (3, 4)),
    ("repeat flat", lambda x: np.repeat(x, 2), (3, 4)),
    ("repeat counts", lambda x: np.repeat(x, [1, 0, 2], axis=0), (3, 4)),
    ("x.repeat", lambda x: x.repeat(2, axis=1), (3, 4)),
    ("broadcast_to", lambda x: np.broadcast_to(x[0], (3, 4)) * x, (3, 4)),
    ("broadcast_arrays", lambda x: np.broadcast_arrays(x[:, :1], x[:1])[0] + 0.0, (3, 4)),
    ("atleast_3d", np.atleast_3d, (3, 4)),
    ("atleast_1d 2d", lambda x: np.atleast_2d(x)[0] + np.atleast_1d(x, x[::-1])[1], (4,)),
    ("meshgrid", lambda x: np.meshgrid(x[0], x[1, :2])[0] * np.meshgrid(x[0], x[1, :2])[1], (3, 4)),
    # numpy's diagonal: axes 0 and 1 by default (the Array API's: the last two)
    ("diagonal 3-D default axes", np.diagonal, (3, 3, 2)),
    ("diagonal offset axes", lambda x: np.diagonal(x, 1, 2, 0), (3, 2, 3)),
    ("x.diagonal", lambda x: x.diagonal(), (3, 3, 2)),
    ("linalg.diagonal last axes", np.linalg.diagonal, (2, 3, 3)),
    ("delete", lambda x: np.delete(x, [0, 2], axis=1), (3, 4)),
    ("resize", lambda x: np.resize(x, (7,)), (3, 2)),
    ("compress", lambda x: np.compress([True, False, True], x, axis=0), (3, 4)),
    ("extract", lambda x: np.extract(MASK, x), (4, 3)),
    ("split", lambda x: np.concatenate(np.split(x, 2, axis=1)[::-1], axis=1), (3, 4)),
    ("array_split", lambda x: np.array_split(x, 3)[1], (7,)),
    ("hsplit vsplit", lambda x: np.hsplit(x, 2)[1] + np.vsplit(x, [1])[1][:1, :2], (3, 4)),
    ("dsplit", lambda x: np.dsplit(x, 2)[1], (2, 2, 4)),
    ("unstack", lambda x: np.stack(np.unstack(x, axis=1)[::-1]), (3, 4)),
    ("take flat", lambda x: np.take(x, [5, 1, 11]), (3, 4)),
    ("take axis", lambda x: np.take(x, [3, 0], axis=1), (3, 4)),
    ("take mode wrap", lambda x: np.take(x, [5, -7], mode="wrap"), (4,)),
    ("x.take", lambda x: x.take([2, 0], 0), (3, 4)),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[1], [0], [3]]), 1), (3, 4)),
    ("take_along_axis none", lambda x: np.take_along_axis(x, np.array([4, 0]), None), (3, 2)),
    # joining
    ("concatenate axis None", lambda x: np.concatenate([x, x[:1]], axis=None), (3, 4)),
    ("concatenate axis 1", lambda x: np.concatenate((x, 2.0 * x[:, :1]), 1), (3, 4)),
    ("concat", lambda x: np.concat([x[1:], [[1.0, 2.0, 3.0, 4.0]]]), (3, 4)),
    ("stack axis", lambda x: np.stack([x, x[::-1]], axis=2), (3, 4)),
    ("hstack vstack", lambda x: np.vstack([np.hstack([x, x]), np.hstack([x, x])[:1]]), (2, 2)),
    ("dstack column_stack", lambda x: np.dstack([x, x])[0] + np.column_stack([x, x]), (4,)),
    ("block", lambda x: np.block([[x, np.zeros((2, 1))], [x[:1], x[1:, :1]]]), (2, 2)),
    ("append", lambda x: np.append(x, x[0]), (3, 2)),
    ("append axis", lambda x: np.append(x, x[:1], axis=0), (3, 2)),
    ("insert", lambda x: np.insert(x, 1, x[2] * 2.0), (4,)),
    ("pad constant", lambda x: np.pad(x, 1) * 1.0, (3, 2)),
    ("pad constant values", lambda x: np.pad(x, (1, 2), constant_values=2.0) * x[0], (3,)),
    ("diag builds", lambda x: np.diag(x, 1) * 2.0, (3,)),
    ("diag extracts", lambda x: np.diag(x, -1), (3, 4)),
    ("diagflat", np.diagflat, (2, 2)),
    ("pad reflect", lambda x: np.pad(x, ((1, 2), (0, 1)), mode="reflect"), (3, 3)),
    ("pad wrap edge", lambda x: np.pad(np.pad(x, 1, mode="wrap"), 1, mode="edge"), (3, 2)),
    ("fftshift", lambda x: np.fft.ifftshift(np.fft.fftshift(x, axes=0) * 2.0), (3, 4)),
    ("tril", lambda x: np.tril(x, -1), (4, 3)),
    ("triu 1-D", np.triu, (3,)),
    ("x.copy np.copy", lambda x: x.copy() + np.copy(x, order="F"), (3, 4)),
    ("astype", lambda x: np.astype(x, np.float64), (3, 4)),
    ("like", lambda x: np.ones_like(x) * x + np.zeros_like(x, shape=(4,)), (4,)),
    ("empty_like filled", _filled_empty_like, (3, 2)),
    ("full_like traced fill", lambda x: np.full_like(x, x[0]) * x, (3,)),
    # differences, selections
    ("diff n=2 positional", lambda x: np.diff(x, 2), (6,)),
    ("diff axis 0", lambda x: np.diff(x, axis=0), (3, 4)),
    ("diff prepend scalar", lambda x: np.diff(x, prepend=0.0, append=x[:, :1]), (3, 4)),
    ("diff n=0", lambda x: np.diff(x, 0), (3,)),
    ("where known", lambda x: np.where(MASK, x, 0.0), (4, 3)),
    ("where float condition", lambda x: np.where(MASK * 2.0, x, 3.0 * x[::-1]), (4, 3)),
    ("where unknown condition", lambda x: np.where(x > 0.5, x, -x), (4, 3)),
    ("clip inactive", lambda x: np.clip(x, -1.0, 2.0), (4,)),
    ("x.clip min", lambda x: x.clip(min=-1.0), (4,)),
    ("nan_to_num", np.nan_to_num, (4,)),
    ("real imag of real", lambda x: np.real(x) + np.imag(x) + x.imag, (4,)),
    # reductions, with numpy's arguments
    ("sum axis", lambda x: np.sum(x, axis=0), (3, 4)),
    ("sum keepdims tuple", lambda x: np.sum(x, axis=(0, 2), keepdims=True), (2, 3, 2)),
    ("sum where", lambda x: np.sum(x, axis=1, where=MASK), (4, 3)),
    ("sum int dtype", lambda x: x + np.sum(x, dtype=np.int64), (4,)),
    ("sum initial", lambda x: np.sum(x, 1, initial=2.0), (3, 4)),
    ("x.sum positional", lambda x: x.sum(1), (3, 4)),
    ("mean", lambda x: np.mean(x, axis=1), (3, 4)),
    ("x.mean where", lambda x: x.mean(0, where=MASK), (4, 3)),
    ("nansum nanmean", lambda x: np.nansum(x, 0) + np.nanmean(x, 0), (3, 4)),
    ("std ddof=1", lambda x: np.std(x, ddof=1), (5,)),
    ("std axis ddof", lambda x: np.std(x, 0, ddof=1), (3, 4)),
    ("var correction", lambda x: np.var(x, axis=1, correction=1), (3, 4)),
    ("std given mean", lambda x: np.std(x[:, 1:], axis=1, mean=x[:, :1]), (3, 4)),
    ("x.std x.var", lambda x: x.std(0, ddof=1) + x.var(axis=0), (3, 4)),
    ("prod", lambda x: np.prod(x, axis=0), (3, 4)),
    ("nanprod nancumprod", lambda x: np.nanprod(x, 1)[:, None] * np.nancumprod(x, 1), (3, 4)),
    ("nanstd nanvar", lambda x: np.nanstd(x, 0, ddof=1) + np.nanvar(x, 0, mean=x[:1]), (3, 4)),
    ("cumulative_prod", lambda x: np.cumulative_prod(x, axis=1), (3, 4)),
    ("cumsum flattens", np.cumsum, (3, 4)),
    ("cumsum axis", lambda x: np.cumsum(x, axis=1), (3, 4)),
    ("x.cumsum x.cumprod", lambda x: x.cumsum() + x.cumprod(), (2, 3)),
    ("cumprod", lambda x: np.cumprod(x, 0), (3, 4)),
    ("nancumsum", np.nancumsum, (5,)),
    (
        "cumulative_sum initial",
        lambda x: np.cumulative_sum(x, axis=0, include_initial=True),
        (3, 2),
    ),
    ("add.reduce axis 0", np.add.reduce, (3, 4)),
    ("multiply.reduce", lambda x: np.multiply.reduce(x, axis=1), (3, 4)),
    ("add.accumulate", np.add.accumulate, (3, 4)),
    ("subtract.outer", lambda x: np.subtract.outer(x[0], x[1]), (2, 3)),
    ("trace 3-D default axes", np.trace, (3, 3, 2)),
    ("x.trace", lambda x: x.trace(1), (3, 4)),
    ("linalg.trace last axes", np.linalg.trace, (2, 3, 3)),
    # products
    ("dot vectors", lambda x: np.dot(x, x[::-1])[None], (4,)),
    ("dot 3-D 2-D", lambda x: np.dot(x, A43), (2, 3, 4)),
    ("dot 1-D 3-D", lambda x: np.dot(A34[0, :3], x), (2, 3, 4)),
    ("x.dot", lambda x: x.dot(A43), (3, 4)),
    ("vdot", lambda x: np.vdot(x, A34)[None], (3, 4)),
    ("inner", lambda x: np.inner(x, A34), (2, 4)),
    ("outer flattens", lambda x: np.outer(x, x[0]), (2, 3)),
    ("linalg.outer", lambda x: np.linalg.outer(x, A34[0]), (3,)),
    ("tensordot int positional", lambda x: np.tensordot(x, A34, 2), (2, 3, 4)),
    ("tensordot pair of ints", lambda x: np.tensordot(x, A43, (1, 0)), (3, 4)),
    ("tensordot lists", lambda x: np.tensordot(A34, x, ([0, 1], [1, 2])), (2, 3, 4)),
    ("linalg.tensordot", lambda x: np.linalg.tensordot(x, A43, axes=1), (3, 4)),
    ("kron", lambda x: np.kron(x, A34[:2, :2]), (2, 3)),
    ("cross axes", lambda x: np.cross(x, A34, axisa=0, axisb=0, axisc=0), (3, 4)),
    ("linalg.cross", lambda x: np.linalg.cross(x, A34[:, :3]), (3, 3)),
    ("matmul ufunc", lambda x: np.matmul(A34, x), (4, 2)),
    ("linalg.matmul", lambda x: np.linalg.matmul(x, A43), (2, 4)),
    ("multi_dot", lambda x: np.linalg.multi_dot([A34, x, A34]), (4, 3)),
    ("vecdot ufunc", lambda x: np.vecdot(x, A34), (3, 4)),
    ("linalg.vecdot axis", lambda x: np.linalg.vecdot(x, A34, axis=0), (3, 4)),
    ("norm rows", lambda x: np.linalg.norm(x, axis=1), (3, 4)),
    ("norm all", lambda x: np.linalg.norm(x)[None], (3, 4)),
    ("norm ord 1", lambda x: np.linalg.norm(x, 1, 0), (3, 4)),
    ("vector_norm", lambda x: np.linalg.vector_norm(x, axis=0), (3, 4)),
    ("inv", lambda x: np.linalg.inv(x + 4 * np.eye(3)), (2, 3, 3)),
    ("solve columns", lambda x: np.linalg.solve(A33, x), (3, 2)),
    ("solve vector", lambda x: np.linalg.solve(A33, x), (3,)),
    ("det", lambda x: np.linalg.det(x + 4 * np.eye(2)), (3, 2, 2)),
    ("fft n crops", lambda x: np.real(np.fft.fft(x, n=3)), (5,)),
    ("fft axis positional", lambda x: np.real(np.fft.fft(x, None, 0)), (5, 2)),
    ("irfft n reads n//2+1", lambda x: np.fft.irfft(x, 5), (6,)),
    ("fftn s axes", lambda x: np.real(np.fft.fftn(x, s=(3,), axes=(1,))), (2, 5)),
    ("rfftn", lambda x: np.real(np.fft.rfftn(x)), (2, 5)),
    ("fft2", lambda x: np.real(np.fft.fft2(x)), (2, 3, 3)),
    ("ifft ifftn", lambda x: np.real(np.fft.ifft(x, 3) + np.fft.ifftn(x, (3,), (0,)).T), (3, 3)),
    ("ifft2", lambda x: np.real(np.fft.ifft2(x)), (3, 3)),
    ("rfft rfft2", lambda x: np.real(np.fft.rfft(x)[:, :2] + np.fft.rfft2(x)[:, :2]), (3, 5)),
    ("irfft2 reads s // 2 + 1", lambda x: np.fft.irfft2(x, s=(3, 5)), (3, 4)),
    ("irfftn", lambda x: np.fft.irfftn(x, s=(3, 5), axes=(0, 1)), (4, 3)),
    ("hfft", lambda x: np.fft.hfft(x, 5), (4,)),
    ("ihfft", lambda x: np.real(np.fft.ihfft(x, 5)), (6,)),
    # ufuncs outside the standard, zero derivatives
    ("deg2rad exp2 cbrt", lambda x: np.deg2rad(x) + np.exp2(x[::-1]) * np.cbrt(x), (4,)),
    ("fmod fmax", lambda x: np.fmod(2.0 * x, 0.3 + 0.1 * x[::-1]) + np.fmax(x, 2.0), (4,)),
    ("more ufuncs", _more_ufuncs, (4,)),
    ("matvec", lambda x: np.matvec(A34, x), (4,)),
    ("vecmat", lambda x: np.vecmat(x, A34), (3,)),
    ("round zero derivative", lambda x: x + np.round(x, 2) + x.round(), (4,)),
    ("argmax zero derivative", lambda x: x * (1 + np.argmax(x)) + x.argmin(), (4,)),
    ("zero derivatives", _zero_derivatives, (4,)),
    ("isclose zero derivative", lambda x: np.where(np.isclose(x, 0.5), 0.0, x), (4,)),
]

# (name, f, shape, expected pattern): piecewise or data-dependent selections, where the
# traced pattern is a closed form containing every local nonzero.
UNION_COLUMNS = np.kron(np.ones((1, 3), dtype=bool), np.eye(4, dtype=bool))  # x (3, 4) axis 0
PIECEWISE: list[tuple[str, Callable[[Any], Any], tuple[int, ...], np.ndarray]] = [
    ("max axis 0", lambda x: np.max(x, axis=0), (3, 4), UNION_COLUMNS),
    ("amin ptp", lambda x: np.amin(x, 0) + np.ptp(x, 0), (3, 4), UNION_COLUMNS),
    ("nanmax median", lambda x: np.nanmax(x, 0) * np.median(x, 0), (3, 4), UNION_COLUMNS),
    ("maximum.reduce", np.maximum.reduce, (3, 4), UNION_COLUMNS),
    ("min amax nanmin", lambda x: np.min(x, 0) + np.amax(x, 0) * np.nanmin(x, 0), (3, 4),
     UNION_COLUMNS),
    ("nanmedian", lambda x: np.nanmedian(x, 0), (3, 4), UNION_COLUMNS),
    ("x.max keepdims", lambda x: x.max(0, keepdims=True), (3, 4), UNION_COLUMNS),
    ("sort axis None", lambda x: np.sort(x, axis=None), (2, 3), np.ones((6, 6), dtype=bool)),
    ("sort", np.sort, (2, 3), np.kron(np.eye(2), np.ones((3, 3))) > 0),
    ("partition", lambda x: np.partition(x, 1), (4,), np.ones((4, 4), dtype=bool)),
    ("argsort index", lambda x: x[np.argsort(x)], (4,), np.ones((4, 4), dtype=bool)),
    ("maximum.accumulate", np.maximum.accumulate, (4,), np.tril(np.ones((4, 4))) > 0),
    ("clip active", lambda x: np.clip(x, 0.4, 0.6), (4,), np.eye(4, dtype=bool)),
    ("norm inf", lambda x: np.linalg.norm(x, np.inf)[None], (4,), np.ones((1, 4), dtype=bool)),
]  # fmt: skip


@pytest.mark.parametrize("case", EXACT, ids=lambda c: c[0])
def test_numpy_calls_trace_the_finite_difference_pattern(case: Any) -> None:
    _, f, shape = case
    x = point(*shape)
    oracle = finite_differences(f, x)
    assert oracle.any()
    assert np.array_equal(traced(f, x), oracle)


@pytest.mark.parametrize("case", PIECEWISE, ids=lambda c: c[0])
def test_piecewise_numpy_calls_trace_a_superset(case: Any) -> None:
    _, f, shape, expected = case
    x = point(*shape)
    got = traced(f, x)
    assert np.all(got >= finite_differences(f, x))
    assert np.array_equal(got, expected)


def _norm_of_tensordot(x: Any) -> Any:
    return np.linalg.norm(np.tensordot(x.reshape(2, 3), A33, 1), 2, 1).sum()


EYE3 = np.eye(3)

# (name, f of x of shape (2, 3, 3), outputs per matrix): factorisations and solvers are dense
# per matrix, which contains the finite-difference pattern (triangular factors have zeros).
DENSE_PER_MATRIX: list[tuple[str, Callable[[Any], Any], int]] = [
    ("cholesky", lambda x: np.linalg.cholesky(x @ np.swapaxes(x, 1, 2) + 3.0 * EYE3), 9),
    ("eigh", lambda x: np.linalg.eigh(x + np.swapaxes(x, 1, 2)).eigenvalues, 3),
    ("eigvalsh UPLO", lambda x: np.linalg.eigvalsh(x, UPLO="U"), 3),
    ("qr", lambda x: np.linalg.qr(x).R, 9),
    ("svd values", lambda x: np.linalg.svd(x, compute_uv=False), 3),
    ("svdvals", np.linalg.svdvals, 3),
    ("slogdet", lambda x: np.linalg.slogdet(x + 3.0 * EYE3).logabsdet, 1),
    ("pinv", np.linalg.pinv, 9),
    ("matrix_norm", lambda x: np.linalg.matrix_norm(x, ord="nuc"), 1),
    ("matrix_power", lambda x: np.linalg.matrix_power(x, 3), 9),
]


@pytest.mark.parametrize("case", DENSE_PER_MATRIX, ids=lambda c: c[0])
def test_linalg_factorisations_are_dense_per_matrix(case: Any) -> None:
    _, f, outputs = case
    x = point(2, 3, 3)
    got = traced(f, x)
    assert np.all(got >= finite_differences(f, x))
    assert np.array_equal(got, np.kron(np.eye(2), np.ones((outputs, 9))) > 0)


def _metadata(x: Any) -> tuple[Any, ...]:
    return (
        np.ndim(x), np.shape(x), np.size(x), np.size(x, 1), np.result_type(x, 1),
        np.iscomplexobj(x), np.isrealobj(x), np.can_cast(x, np.float32),
    )  # fmt: skip


def test_metadata_functions_agree_with_numpy() -> None:
    seen = []

    def f(x: Any) -> Any:
        seen.append(_metadata(x))
        return x

    x = point(2, 3)
    traced(f, x)
    assert seen == [_metadata(x)]


# (name, scalar f of x with 6 elements, exact). The traced Hessian pattern contains the
# nonzeros of a finite-difference Hessian; exact: equals them (not for products, which couple
# a group with itself: the diagonal of prod(x) is kept although each factor enters linearly).
HESSIANS: list[tuple[str, Callable[[Any], Any], bool]] = [
    ("std of F-order columns", lambda x: np.std(x.reshape(3, 2, order="F"), axis=0).sum(), True),
    ("prod of diff n=2", lambda x: np.prod(np.diff(x, 2)), False),
    ("cumprod flattened", lambda x: np.sum(np.cumprod(x.reshape(2, 3)[::-1])), False),
    ("norm of tensordot", _norm_of_tensordot, True),
    ("kron", lambda x: np.sum(np.kron(x[:2], x[2:4])), True),
    ("vdot", lambda x: np.vdot(x, np.roll(x, 1)), True),
    ("sort is piecewise linear", lambda x: np.sum(np.sort(x) * np.arange(6.0)), True),
    ("solve with a constant matrix", lambda x: np.sum(np.linalg.solve(A33, x.reshape(3, 2))), True),
    ("inv of diag", lambda x: np.sum(np.linalg.inv(np.diag(x[:2]) + 4.0)), True),
]  # fmt: skip


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c[0])
def test_numpy_calls_trace_the_finite_difference_hessian(case: Any) -> None:
    _, f, exact = case
    x = point(6)
    hessian = np.asarray(di.hessian(f, di.AutoFiniteDiff(), x))
    oracle = np.abs(hessian) > 1e-4 * max(1.0, float(np.abs(hessian).max()))
    got = di.hessian_sparsity(f, x, TRACER).toarray()
    assert np.all(got >= oracle)
    assert np.array_equal(got, oracle) or not exact


def _f_order(x: Any) -> Any:
    flat = x.reshape(-1, order="F")  # the method used to drop order="F"
    return flat[1:] * flat[:-1] + (x**2).reshape(12, order="F")[1:]


def _diagonal(x: Any) -> Any:
    # On a cube, numpy's diagonal (axes 0, 1) and the Array API's (last two) share a shape.
    d = np.diagonal(x)
    return d**2 * np.roll(d, 1, axis=1)


@pytest.mark.parametrize(
    ("f", "shape"), [(_f_order, (4, 3)), (_diagonal, (3, 3, 3))], ids=["order=F", "diagonal"]
)
def test_autosparse_jacobian_equals_the_dense_one(f: Any, shape: tuple[int, ...]) -> None:
    # The originally reported cases: a pattern in the wrong order gave wrong numbers.
    x = point(*shape)
    dense = np.asarray(di.jacobian(f, di.AutoFiniteDiff(), x))
    sparse = di.jacobian(f, di.AutoSparse(di.AutoFiniteDiff()), x).toarray()
    assert np.allclose(sparse, dense, atol=1e-6)
    assert np.array_equal(traced(f, x), finite_differences(f, x))


# (function named in the message, f, shape of x): unsupported arguments and functions.
UNSUPPORTED: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("numpy.ravel", lambda x: np.ravel(x, order="A"), (3, 4)),
    ("numpy.reshape", lambda x: np.reshape(x, (4, 3), order="K"), (3, 4)),
    ("ndarray.flatten", lambda x: x.flatten("A"), (3, 4)),
    ("numpy.sum", lambda x: np.sum(x, out=np.zeros(())), (3,)),
    ("numpy.sum", lambda x: x.sum(out=np.zeros(())), (3,)),
    ("numpy.cumsum", lambda x: np.cumsum(x, 0, None, np.zeros(3)), (3,)),
    ("numpy.where(condition)", lambda x: np.where(x > 0.5)[0] * 1.0, (3,)),
    ("numpy.nonzero", lambda x: np.nonzero(x)[0] * 1.0, (3,)),
    ("numpy.unique", np.unique, (3,)),
    ("numpy.unique_values", np.unique_values, (3,)),
    ("numpy.unique_counts", lambda x: np.unique_counts(x).counts * 1.0, (3,)),
    ("numpy.unique_inverse", lambda x: np.unique_inverse(x).values, (3,)),
    ("numpy.unique_all", lambda x: np.unique_all(x).values, (3,)),
    ("numpy.argwhere", lambda x: np.argwhere(x > 0.5) * 1.0, (3,)),
    ("numpy.flatnonzero", lambda x: np.flatnonzero(x) * 1.0, (3,)),
    ("numpy.sort", lambda x: np.sort(x, order="f"), (3,)),
    ("numpy.median", lambda x: np.median(x, overwrite_input=True)[None], (3,)),
    ("numpy.concatenate", lambda x: np.concatenate([x, x], casting="unsafe"), (3,)),
    ("numpy.pad", lambda x: np.pad(x, 1, mode="mean"), (3,)),
    ("numpy.pad", lambda x: np.pad(x, 1, mode="reflect", reflect_type="odd"), (3,)),
    ("numpy.take", lambda x: np.take(x, [0], out=np.zeros(1)), (3,)),
    ("numpy.repeat", lambda x: np.repeat(x, (x > 0.5).astype(np.int64)), (3,)),
    ("numpy.clip", lambda x: np.clip(x, 0.0, 1.0, casting="unsafe"), (3,)),
    ("numpy.nan_to_num", lambda x: np.nan_to_num(x, copy=False), (3,)),
    ("numpy.cross", lambda x: np.cross(x[:2], x[1:]), (3,)),
    ("numpy.broadcast_arrays", lambda x: np.broadcast_arrays(x, x, subok=True)[0], (3,)),
    ("numpy.einsum", lambda x: np.einsum("i->", x), (3,)),
    ("numpy.linalg.eig", lambda x: np.linalg.eig(x)[0], (2, 2)),
    ("numpy.sin", lambda x: np.sin(x, dtype=np.float32), (3,)),
    ("numpy.add", lambda x: np.add(x, x, out=np.zeros(3)), (3,)),
    ("numpy.sin", lambda x: np.sin(x, where=x > 0.5), (3,)),
    ("numpy.add.at", lambda x: np.add.at(x, [0], 1.0), (3,)),
    ("numpy.maximum.reduce", lambda x: np.maximum.reduce(x, dtype=np.float32), (3,)),
    ("numpy.heaviside", lambda x: np.heaviside(x, 0.5), (3,)),
    ("ndarray.ctypes", lambda x: x.ctypes, (3,)),
]


@pytest.mark.parametrize("case", UNSUPPORTED, ids=lambda c: f"{c[0]} {UNSUPPORTED.index(c)}")
def test_unsupported_arguments_raise_naming_the_function(case: Any) -> None:
    name, f, shape = case
    with pytest.raises(di.UnsupportedOperationError, match=re.escape(name)):
        traced(f, point(*shape))


def test_arguments_outside_numpys_signature_raise_a_type_error() -> None:
    # (numpy's own dispatcher checks the functions; the methods are checked here)
    with pytest.raises(di.ArgumentTypeError, match=r"numpy\.sum"):
        traced(lambda x: x.sum(bogus=1), point(3))


def test_missing_ndarray_attributes_are_absent_for_hasattr() -> None:
    seen = {}

    def f(x: Any) -> Any:
        seen["flags"] = hasattr(x, "flags")
        seen["other"] = hasattr(x, "no_such_attribute")
        return x

    traced(f, point(3))
    assert seen == {"flags": False, "other": False}


def test_one_argument_where_of_a_known_condition_gives_indices() -> None:
    def f(x: Any) -> Any:
        (rows,) = np.where(np.array([True, False, True]))
        return x[rows]

    assert np.array_equal(traced(f, point(3)), np.eye(3, dtype=bool)[[0, 2]])


def test_in_place_sort_and_fill_write_into_the_array() -> None:
    def f(x: Any) -> Any:
        y = x * 1.0
        y.sort()
        z = x * 1.0
        z.fill(1.0)
        return y + z

    assert traced(f, point(3)).all()


def test_known_arrays_give_numpys_values() -> None:
    # Arguments of known values run numpy itself: the results steer shapes and indices.
    def f(x: Any) -> Any:
        xp = x.__array_namespace__()
        known = xp.asarray([3.0, 1.0, 2.0])
        order = np.argsort(known)
        count = int(np.sum(known > 1.5))
        assert np.array_equal(np.asarray(np.cumsum(known, dtype=np.int64)), [3, 4, 6])
        assert float(np.std(known, ddof=1)) == pytest.approx(1.0)
        assert np.array_equal(np.asarray(np.flatnonzero(known > 1.5)), [0, 2])
        assert np.array_equal(np.asarray(np.argwhere(known > 1.5)), [[0], [2]])
        assert np.array_equal(np.asarray(np.unique_values(known)), [1.0, 2.0, 3.0])
        return x[order][:count]

    assert np.array_equal(traced(f, point(3)), np.eye(3, dtype=bool)[[1, 2]])


def test_every_implementation_takes_numpys_argument_names_and_defaults() -> None:
    install()
    for function, entry in registry().items():
        parameters = inspect.signature(function).parameters
        assert entry.accepted <= set(parameters), entry.name
        if entry.by_call:
            continue
        for name, own in inspect.signature(entry.implementation).parameters.items():
            default = parameters[name].default
            if default is inspect.Parameter.empty or default is NO_VALUE:
                continue
            assert own.default == default, (entry.name, name)

"""The engine of ``AutoSparse``: sparse Jacobian and Hessian plans over a dense engine.

Preparation: detect the pattern, color it, build the 0/1 seeds of the colors (in the
caller's namespace, dtype and device), prepare the dense engine's batched pushforward,
pullback or Hessian-vector product for exactly those seeds, and compute the gather index of
every nonzero. A call: one batched dense call over all seeds (split only if the stack would
exceed the memory budget), one gather, one wrap into the ecosystem's sparse matrix.

For JAX callers (and a function without contexts), the dense call and the gather are
jitted together at preparation: JAX dispatches each eager operation separately (tens of
microseconds each), so one compiled program is what makes a sparse Jacobian cost little
more than the dense engine's own batched call. Dense engines that cannot be traced by JAX
(torch with JAX arrays) keep the step-by-step path.

Every operator other than ``jacobian`` and ``hessian`` is the dense engine's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._array import (
    chunking,
    convert,
    device_for,
    device_of,
    differentiated_by,
    host_dtype,
    is_complex_dtype,
    is_jax_namespace,
    is_sharded,
    namespace_of,
    replicated_for,
    to_numpy,
    transformed,
)
from ..adtypes import AbstractBackend, AutoJAX, MixedMode, SecondOrder
from ..backends import Engine, Fn, engine_for
from ..backends._base import ExpressPlan, HessianPlan, JacobianPlan
from ..errors import UnsupportedOperationError
from ..operators._dispatch import build_plan
from . import _coloring as C
from ._detection import detect_hessian, detect_jacobian
from ._outputs import output_for
from ._selectors import AutoSparse, TracerLocalSparsityDetector

if TYPE_CHECKING:
    from ..operators._mixed_mode import MixedModeEngine

__all__ = ["SparseEngine", "SparseHessianPlan", "SparseJacobianPlan", "SparseMixedJacobianPlan"]


def _forward(selector: AbstractBackend, engine: Engine) -> bool:
    """Whether the first-order primitive of the dense backend is the pushforward."""
    if isinstance(selector, SecondOrder):
        return _forward(selector.inner, engine.inner)
    try:
        return selector.mode == "forward"
    except NotImplementedError:
        return bool(engine.forward)


class _Compressed:
    """The dense engine's batched plan over the seeds of every color, in chunks if needed."""

    def __init__(
        self, op: str, engine: Engine, fn: Fn, x: Any, seeds: Any, y: Any, *, size: int
    ) -> None:
        self.op = op
        self.count = int(seeds.shape[0])
        self.batch, self.nchunks = chunking(self.count, engine.max_batch(size, x))
        xp = namespace_of(seeds)
        if self.nchunks > 1:  # pad with zero seeds so that every chunk has one shape
            padding = self.batch * self.nchunks - self.count
            zeros = xp.zeros(
                (padding, *seeds.shape[1:]), dtype=seeds.dtype, device=device_of(seeds)
            )
            seeds = xp.concat([seeds, zeros], axis=0)
        self.seeds = seeds
        first = seeds[: self.batch, ...] if self.nchunks > 1 else seeds
        self.plan = build_plan(op, engine, fn, x, first, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """``(value or None, compressed results of shape (count, ...))``."""
        if self.nchunks == 1:
            return self.plan.run(fn, x, self.seeds, value=value)  # type: ignore[no-any-return]
        xp = namespace_of(x)
        parts, first = [], None
        for k in range(self.nchunks):
            chunk = self.seeds[k * self.batch : (k + 1) * self.batch, ...]
            out, part = self.plan.run(fn, x, chunk, value=value and k == 0)
            first = out if k == 0 else first
            parts.append(part)
        return first, xp.concat(parts, axis=0)[: self.count, ...]


def _seeds(colors: Any, ncolors: int, like: Any) -> Any:
    """The 0/1 seeds ``(ncolors, *like.shape)`` in ``like``'s namespace, dtype and device."""
    xp = namespace_of(like)
    matrix = C.seeds(colors, ncolors).reshape((ncolors, *like.shape))
    return convert(matrix.astype(host_dtype(like)), xp, device_for(like, matrix.shape))


def _index(index: Any, xp: Any, device: Any) -> Any:
    """A gather index in the caller's namespace (int32 when it fits: JAX's default)."""
    small = index.shape[0] == 0 or int(index.max()) < 2**31 - 1
    return convert(index.astype(np.int32 if small else np.int64), xp, device)


class _SparsePlan(ExpressPlan):
    """What the Jacobian and Hessian plans share: output, and the optional fused program.

    Subclasses define ``evaluate(fn, x, value)``, returning the value(s) and the nonzeros
    in CSR order, and set ``output``. ``run`` returns the value(s) and the matrix.
    """

    output: Any
    nones: tuple[None, ...] = (None,)  # ``run``'s results before the matrix, without value
    fused: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
    f: Any = None

    def evaluate(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, ...]:
        raise NotImplementedError

    def assemble(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, ...]:
        """``evaluate`` with the nonzeros wrapped into the result matrix."""
        *values, data = self.evaluate(fn, x, value=value)
        return (*values, self.output(data))

    def fuse(self, fn: Fn, x: Any) -> None:
        """Jit the whole call for a JAX caller (kept only if JAX can trace it).

        The program returns the finished matrix (a BCOO is a pytree), so a call is one
        dispatch of compiled code and nothing else.
        """
        if not is_jax_namespace(namespace_of(x)) or fn.args or fn.inplace:
            return
        if transformed(x):  # inside a caller's trace: the caller's program holds the call
            return
        jax_engine = engine_for(AutoJAX())  # the caller's arrays are JAX's: its engine compiles
        f, batchable = fn.f, fn.batchable

        def program(value: bool) -> Callable[[Any], Any]:
            if value:
                return lambda x: self.assemble(Fn(f, batchable=batchable), x, value=True)
            return lambda x: self.assemble(Fn(f, batchable=batchable), x, value=False)[-1]

        # Compiled now; a dense engine JAX cannot trace (torch) keeps the eager path.
        plain = jax_engine.compile(program(False), example=x)
        with_value = jax_engine.compile(program(True))
        if plain is None or with_value is None:
            return
        self.f = f
        self.fused = (plain, with_value)
        self.express_run = plain  # the matrix alone, one dispatch of compiled code

    def run(self, fn: Fn, x: Any, *, value: bool) -> Any:
        fused = self.fused
        if fused is not None and fn.f is self.f and not fn.args:
            if value:
                return fused[1](x)
            return (*self.nones, fused[0](x))
        return self.assemble(fn, x, value=value)


class SparseJacobianPlan(_SparsePlan, JacobianPlan):
    """Jacobian from compressed pushforwards (column coloring) or pullbacks (row coloring).

    Attributes
    ----------
    sparsity : scipy.sparse.csr_array
        The boolean pattern, shape ``(y.size, x.size)``.
    colors : numpy.ndarray
        The color of each column (``partition == "column"``) or row.
    ncolors : int
        Number of colors: pushforwards or pullbacks per Jacobian.
    partition : str
        ``"column"`` or ``"row"``.
    sparse_output : bool
        Whether results are sparse matrices (``out=`` needs ``output="dense"``).
    order : str
        The vertex order that gave the fewest colors.
    colors_per_order : dict
        Number of colors each order tried gave.
    """

    def __init__(self, backend: AutoSparse, dense: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp, device = namespace_of(x), replicated_for(x)  # structure: whole on every device
        self.xp = xp
        pattern = detect_jacobian(backend.sparsity_detector, fn, x, y)
        self.sparsity = pattern
        forward = _forward(backend.dense, dense)
        self.partition = "column" if forward else "row"
        graph = C.column_graph(pattern if forward else pattern.T)
        algorithm = backend.coloring_algorithm
        colors, self.order, self.colors_per_order = C.best_coloring(
            "column", graph, algorithm.orders, seed=algorithm.seed
        )
        self.colors = np.asarray(colors, dtype=np.int64)
        self.ncolors = C.count_colors(self.colors)
        if forward:
            index = C.column_index(pattern, self.colors)
        else:
            index = C.row_index(pattern, self.colors)
        self.dtype = xp.result_type(x.dtype, y.dtype)
        self.conjugate = not forward and is_complex_dtype(xp, self.dtype)
        self.sparse_output = backend.output != "dense"  # ``out=`` needs a dense result
        self.output = output_for(pattern, xp, device, self.dtype, kind=backend.output)
        self.index = _index(index, xp, device)
        self.compressed = None
        if self.ncolors:
            like = x if forward else y
            seeds = _seeds(self.colors, self.ncolors, like)
            op = "pushforward" if forward else "pullback"
            size = max(math.prod(x.shape), math.prod(y.shape), 1)
            self.compressed = _Compressed(op, dense, fn, x, seeds, y, size=size)
            self.fuse(fn, x)

    def evaluate(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """``(f(x) or None, nonzeros in CSR order)``."""
        xp = namespace_of(x)
        if self.compressed is None:
            empty = xp.zeros((0,), dtype=self.dtype, device=replicated_for(x))
            return (fn(x) if value else None), empty
        y, compressed = self.compressed.run(fn, x, value=value)
        data = xp.take(xp.reshape(compressed, (-1,)), self.index)
        if self.conjugate:
            data = xp.conj(data)
        if data.dtype != self.dtype:
            data = xp.astype(data, self.dtype)
        return y, data


class SparseMixedJacobianPlan(_SparsePlan, JacobianPlan):
    """Jacobian from compressed pushforwards *and* pullbacks (bidirectional coloring,
    ``MixedMode(forward, reverse)`` as the dense backend; ``_coloring.bicoloring``).

    Attributes
    ----------
    sparsity : scipy.sparse.csr_array
        The boolean pattern, shape ``(y.size, x.size)``.
    column_colors, row_colors : numpy.ndarray
        The pushforward color of each column and the pullback color of each row (``-1``:
        in no seed).
    forward_colors, reverse_colors : int
        Pushforwards and pullbacks per Jacobian.
    ncolors : int
        Their sum: calls of the dense backends per Jacobian (one batched call per side).
    partition : str
        ``"mixed"``.
    sparse_output : bool
        Whether results are sparse matrices (``out=`` needs ``output="dense"``).
    order : str
        The vertex order of the greedy colorings that won.
    colors_per_split : dict
        Total colors of each split tried (see ``_coloring.bicoloring.Bicoloring``).
    """

    partition = "mixed"

    def __init__(self, backend: AutoSparse, dense: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp, device = namespace_of(x), replicated_for(x)
        self.xp = xp
        pattern = detect_jacobian(backend.sparsity_detector, fn, x, y)
        self.sparsity = pattern
        algorithm = backend.coloring_algorithm
        split = C.bicoloring(pattern, algorithm.orders, seed=algorithm.seed)
        self.column_colors, self.row_colors = split.column_colors, split.row_colors
        self.forward_colors, self.reverse_colors = split.forward_colors, split.reverse_colors
        self.ncolors = self.forward_colors + self.reverse_colors
        self.order, self.colors_per_split = split.order, split.colors_per_split
        self.dtype = xp.result_type(x.dtype, y.dtype)
        if is_complex_dtype(xp, self.dtype):
            msg = (
                "AutoSparse(MixedMode(...)) computes real Jacobians; for a complex x or f(x), "
                "use a one-sided dense backend (AutoSparse(AutoJAX(mode='forward')), ...)."
            )
            raise UnsupportedOperationError(msg)
        self.sparse_output = backend.output != "dense"
        self.output = output_for(pattern, xp, device, self.dtype, kind=backend.output)
        self.index = _index(split.index, xp, device)
        size = max(math.prod(x.shape), math.prod(y.shape), 1)
        sides = cast("MixedModeEngine", dense)
        self.pushes: _Compressed | None = None
        self.pulls: _Compressed | None = None
        if self.forward_colors:
            seeds = _mixed_seeds(self.column_colors, self.forward_colors, x)
            self.pushes = _Compressed("pushforward", sides.pushing, fn, x, seeds, y, size=size)
        if self.reverse_colors:
            seeds = _mixed_seeds(self.row_colors, self.reverse_colors, y)
            self.pulls = _Compressed("pullback", sides.pulling, fn, x, seeds, y, size=size)
        if self.ncolors:
            self.fuse(fn, x)

    def evaluate(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """``(f(x) or None, nonzeros in CSR order)``."""
        xp = namespace_of(x)
        parts, y = [], None
        for compressed in (self.pushes, self.pulls):
            if compressed is not None:
                out, part = compressed.run(fn, x, value=value and y is None)
                y = out if y is None else y
                parts.append(xp.reshape(part, (-1,)))
        if not parts:
            empty = xp.zeros((0,), dtype=self.dtype, device=replicated_for(x))
            return (fn(x) if value else None), empty
        flat = parts[0] if len(parts) == 1 else xp.concat(parts)
        data = xp.take(flat, self.index)
        if data.dtype != self.dtype:
            data = xp.astype(data, self.dtype)
        return y, data


def _mixed_seeds(colors: Any, ncolors: int, like: Any) -> Any:
    """:func:`_seeds` for a coloring with neutral (``-1``) entries."""
    xp = namespace_of(like)
    matrix = C.mixed_seeds(colors, ncolors).reshape((ncolors, *like.shape))
    return convert(matrix.astype(host_dtype(like)), xp, device_for(like, matrix.shape))


class SparseHessianPlan(_SparsePlan, HessianPlan):
    """Hessian from compressed Hessian-vector products (star or acyclic coloring).

    Attributes
    ----------
    sparsity : scipy.sparse.csr_array
        The symmetric boolean pattern, shape ``(x.size, x.size)``.
    colors : numpy.ndarray
        The color of each variable.
    ncolors : int
        Number of colors: Hessian-vector products per Hessian.
    decompression : str
        ``"direct"`` (star coloring) or ``"substitution"`` (acyclic coloring).
    """

    nones = (None, None)

    def __init__(self, backend: AutoSparse, dense: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp, device = namespace_of(x), replicated_for(x)  # structure: whole on every device
        if is_complex_dtype(xp, x.dtype):
            msg = (
                "`hessian` of a function of a complex x is not defined as a complex matrix; "
                "use `hvp`, or differentiate with respect to the real and imaginary parts."
            )
            raise UnsupportedOperationError(msg)
        self.xp = xp
        pattern = detect_hessian(backend.sparsity_detector, fn, x, y)
        self.sparsity = pattern
        algorithm = backend.coloring_algorithm
        self.decompression = algorithm.decompression
        graph = C.symmetric_graph(pattern)
        kind = "star" if self.decompression == "direct" else "acyclic"
        result, self.order, self.colors_per_order = C.best_coloring(
            kind, graph, algorithm.orders, seed=algorithm.seed
        )
        colors = result if kind == "star" else result[0]
        self.colors = np.asarray(colors, dtype=np.int64)
        self.ncolors = C.count_colors(self.colors)
        self.substitution = None
        if kind == "star":
            self.index = _index(C.star_index(pattern, self.colors), xp, device)
        else:
            _refuse_sharded_substitution(x)
            self.substitution = C.substitution(pattern, self.colors, result[1], result[2])
        self.sparse_output = backend.output != "dense"
        self.output = output_for(pattern, xp, device, x.dtype, kind=backend.output)
        self.compressed = None
        self.gradient = None
        if self.ncolors:
            seeds = _seeds(self.colors, self.ncolors, x)
            self.compressed = _Compressed("hvp", dense, fn, x, seeds, y, size=math.prod(x.shape))
            if self.substitution is None:  # substitution solves on the host: not jittable
                self.fuse(fn, x)
        else:
            self.gradient = build_plan("gradient", dense, fn, x, None, y)

    def evaluate(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        """``(f(x) or None, gradient or None, nonzeros in CSR order)``."""
        xp, device = namespace_of(x), replicated_for(x)
        if self.compressed is None:
            data = xp.zeros((0,), dtype=x.dtype, device=device)
            y, grad = self.gradient.run(fn, x, value=True) if value else (None, None)  # type: ignore[union-attr]
            return y, grad, data
        grad, compressed = self.compressed.run(fn, x, value=value)
        if self.substitution is None:
            data = xp.take(xp.reshape(compressed, (-1,)), self.index)
        else:
            _refuse_tracked_substitution(x, fn.args)
            host = np.asarray(to_numpy(compressed))
            data = convert(self.substitution(host).astype(host.dtype), xp, device)
        if data.dtype != x.dtype:
            data = xp.astype(data, x.dtype)
        return (fn(x) if value else None), grad, data


def _refuse_sharded_substitution(x: Any) -> None:
    """Raise for an ``x`` sharded over several devices: substitution solves on the host."""
    if is_sharded(x):
        msg = (
            "`hessian` with AutoSparse(coloring_algorithm=GreedyColoringAlgorithm("
            'decompression="substitution")) solves for the entries on the host (numpy), '
            "which would gather the compressed Hessian of an x sharded over several devices "
            "onto one (and cannot see the other processes' shards). Use "
            'GreedyColoringAlgorithm(decompression="direct") (star coloring, decompressed '
            "by a gather on the devices)."
        )
        raise UnsupportedOperationError(msg)


def _refuse_tracked_substitution(x: Any, args: tuple[Any, ...]) -> None:
    """Raise if an AD engine tracks ``x`` or a context: substitution solves on the host.

    The host round trip drops the derivative information, so an engine differentiating
    through this Hessian would see a constant: a silent zero. The star coloring's
    decompression is a gather in the caller's namespace, which stays differentiable.
    """
    owner = next((o for o in map(differentiated_by, (x, *args)) if o is not None), None)
    if owner is not None:
        msg = (
            "`hessian` with AutoSparse(coloring_algorithm=GreedyColoringAlgorithm("
            'decompression="substitution")) solves for the entries on the host (numpy), '
            f"out of reach of {owner}, which is tracing x or a context: a derivative through "
            "this Hessian would be zero (and a jitted one has no values to solve with). Use "
            'GreedyColoringAlgorithm(decompression="direct") (star coloring, decompressed '
            "by a gather that stays differentiable), or pass detached arrays if only the "
            "values matter."
        )
        raise UnsupportedOperationError(msg)


class SparseEngine(Engine):
    """Engine of :class:`~differentiation_interface.AutoSparse` (see the module docstring)."""

    backend: AutoSparse
    traces = True  # the sparsity pattern is detected once, from f as it is then

    def __init__(self, backend: AutoSparse) -> None:
        super().__init__(backend)
        self.dense = engine_for(backend.dense)
        self.point_local = isinstance(backend.sparsity_detector, TracerLocalSparsityDetector)
        self.forward = self.dense.forward  # type: ignore[misc]
        self.reverse = self.dense.reverse  # type: ignore[misc]

    @property
    def inplace(self) -> bool:
        return self.dense.inplace

    @property
    def outer(self) -> Engine:
        return self.dense.outer

    @property
    def inner(self) -> Engine:
        return self.dense.inner

    def max_batch(self, size: int, like: Any = None) -> int:
        return self.dense.max_batch(size, like)

    def sparse_result(self, operator: str) -> bool:
        # the operators this engine prepares itself (below); the rest are the dense engine's
        return self.backend.output != "dense" and operator in ("jacobian", "hessian")

    def prepare_pushforward(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        return build_plan("pushforward", self.dense, fn, x, tx, y, same_point=same_point)

    def prepare_pullback(self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool) -> Any:
        return build_plan("pullback", self.dense, fn, x, ty, y, same_point=same_point)

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return build_plan("derivative", self.dense, fn, x, None, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return build_plan("gradient", self.dense, fn, x, None, y)

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return build_plan("second_derivative", self.dense, fn, x, None, y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        return build_plan("hvp", self.dense, fn, x, tx, y, same_point=same_point)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> JacobianPlan:
        if isinstance(self.backend.dense, MixedMode):
            return SparseMixedJacobianPlan(self.backend, self.dense, fn, x, y)
        return SparseJacobianPlan(self.backend, self.dense, fn, x, y)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan:
        return SparseHessianPlan(self.backend, self.dense, fn, x, y)

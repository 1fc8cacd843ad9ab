"""The sparse selectors: ``AutoSparse``, sparsity detectors and the coloring algorithm.

Like every selector they are small, immutable, hashable and import nothing heavy: scipy is
imported when a pattern is given (``KnownJacobianSparsity``) or when the engine first runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..adtypes import AbstractBackend
from ..backends import check_inplace
from ._coloring import ORDERS, Order

__all__ = [
    "AbstractSparsityDetector",
    "AutoSparse",
    "DenseSparsityDetector",
    "GreedyColoringAlgorithm",
    "KnownHessianSparsity",
    "KnownJacobianSparsity",
    "TracerLocalSparsityDetector",
    "TracerSparsityDetector",
]


class AbstractSparsityDetector:
    """Base class of sparsity detectors (what ``AutoSparse`` asks for a pattern).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.sparse import AbstractSparsityDetector
    >>> isinstance(di.TracerSparsityDetector(), AbstractSparsityDetector)
    True
    """

    def __repr__(self) -> str:
        return AbstractBackend.__repr__(self)  # type: ignore[arg-type]


@dataclass(frozen=True, repr=False)
class TracerSparsityDetector(AbstractSparsityDetector):
    """Global sparsity patterns by running ``f`` on a tracing array namespace.

    ``f`` is called once with an array whose namespace (``array_namespace(x)``) propagates,
    instead of values, the set of input elements every element depends on: sparse boolean
    matrices combined with sparse-matrix algebra. No AD engine is involved, so this works
    for any ``f`` written against the Array API (and for numpy functions called on the
    traced array).

    The pattern is *global*: valid for every ``x``, never missing a nonzero that some ``x``
    produces. Python control flow on values of ``x`` (``if x[0] > 0``) has no global pattern
    and raises, as does any operation the tracer does not implement; the error names it.
    Write such code with ``xp.where``, or use :class:`DenseSparsityDetector`.

    Arrays that ``f`` creates or closes over are constants whose values are used (a zero in
    a constant matrix is a structural zero); ``Constant`` contexts are constants of unknown
    value (they may change between calls), ``Cache`` contexts may be written into.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def f(x):
    ...     xp = array_namespace(x)
    ...     return x[1:] * x[:-1]
    >>> di.jacobian_sparsity(f, np.ones(4), di.TracerSparsityDetector()).toarray()
    array([[ True,  True, False, False],
           [False,  True,  True, False],
           [False, False,  True,  True]])
    """


@dataclass(frozen=True, repr=False)
class TracerLocalSparsityDetector(AbstractSparsityDetector):
    """The sparsity pattern at one point ``x``, by tracing ``f`` with ``x``'s values.

    Like :class:`TracerSparsityDetector`, ``f`` runs once on a tracing array namespace, but
    the traced arrays also carry their values at ``x``, so operations whose derivative
    depends on the branch taken keep only that branch's dependencies: ``where`` the branch
    chosen at ``x``, ``maximum``/``minimum``/``clip`` (hence ReLU) the operand that wins (both
    at a tie), a product an operand's dependencies only where the other factor is nonzero at
    ``x``. Comparisons have values, so Python control flow on them (``if x[0] > 0:``)
    follows the branch taken at ``x`` instead of raising. The result is at least as sparse
    as the global pattern, and never misses a nonzero of the Jacobian *at x*.

    It is valid at that point only: elsewhere another branch may be taken and the pattern
    miss nonzeros. ``AutoSparse`` with this detector therefore never reuses a preparation
    for an unprepared call (each call detects again, at its own ``x``); a preparation passed
    as ``prep=`` is for the point it was made at. Second-order patterns (Hessians) stay
    global in their second-order terms. ``x`` needs values: inside a caller's ``jit``,
    prepare outside. ``Constant`` contexts are taken at their values too (valid for those
    values only).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def relu_layer(x):
    ...     xp = array_namespace(x)
    ...     return xp.maximum(x[1:] + x[:-1], 0.0)
    >>> x = np.array([1.0, -3.0, 1.0, 2.0])
    >>> di.jacobian_sparsity(relu_layer, x, di.TracerLocalSparsityDetector()).toarray()
    array([[False, False, False, False],
           [False, False, False, False],
           [False, False,  True,  True]])
    >>> di.jacobian_sparsity(relu_layer, x, di.TracerSparsityDetector()).sum()  # global
    np.int64(6)
    """


@dataclass(frozen=True, repr=False)
class DenseSparsityDetector(AbstractSparsityDetector):
    """Local sparsity patterns from a dense Jacobian or Hessian computed with ``backend``.

    An entry is a nonzero when its absolute value exceeds ``atol``. The pattern holds at the
    preparation point only: an entry that happens to vanish there is missed elsewhere, so
    prepare at a generic point (not zeros or ones). Costs one dense derivative.

    Parameters
    ----------
    backend : AbstractBackend
        The backend computing the dense Jacobian or Hessian.
    atol : float
        Entries with ``abs(value) <= atol`` are structural zeros.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> detector = di.DenseSparsityDetector(di.AutoFiniteDiff(), atol=1e-6)
    >>> di.jacobian_sparsity(lambda x: x**2, np.array([1.0, 2.0]), detector).toarray()
    array([[ True, False],
           [False,  True]])
    """

    backend: AbstractBackend
    atol: float = field(default=0.0, kw_only=True)

    def __post_init__(self) -> None:
        backend: Any = self.backend  # anything may be passed, whatever the annotation says
        if not isinstance(backend, AbstractBackend):
            msg = f"`DenseSparsityDetector` takes a backend selector; got {backend!r}."
            raise TypeError(msg)
        if isinstance(backend, AutoSparse):
            msg = "`DenseSparsityDetector` needs a dense backend, not AutoSparse."
            raise TypeError(msg)
        if not isinstance(self.atol, int | float) or isinstance(self.atol, bool) or self.atol < 0:
            msg = f"`DenseSparsityDetector` takes a nonnegative atol; got atol={self.atol!r}."
            raise ValueError(msg)


class _KnownSparsity(AbstractSparsityDetector):
    """A pattern given by the user, compared and hashed by content."""

    __slots__ = ("_hash", "_pattern")
    _what: ClassVar[str] = ""
    _hash: int
    _pattern: Any

    def __init__(self, pattern: Any) -> None:
        from ._known import canonical_pattern

        csr = canonical_pattern(pattern, type(self).__name__)
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(csr.indptr.tobytes())
        digest.update(csr.indices.astype("int64").tobytes())
        object.__setattr__(self, "_pattern", csr)
        object.__setattr__(self, "_hash", hash((type(self).__name__, csr.shape, digest.digest())))

    def __setattr__(self, name: str, value: Any) -> None:
        msg = f"{type(self).__name__} is immutable"
        raise AttributeError(msg)

    @property
    def pattern(self) -> Any:
        """The pattern, a boolean ``scipy.sparse.csr_array`` (a copy)."""
        return self._pattern.copy()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        a, b = self._pattern, other._pattern
        return bool(
            self._hash == other._hash
            and a.shape == b.shape
            and (a.indptr == b.indptr).all()
            and (a.indices == b.indices).all()
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        rows, cols = self._pattern.shape
        what = f"{rows}x{cols} {self._what} pattern, {self._pattern.nnz} nonzeros"
        return f"{type(self).__name__}(<{what}>)"


class KnownJacobianSparsity(_KnownSparsity):
    """A Jacobian sparsity pattern you already know.

    Parameters
    ----------
    pattern : array or scipy.sparse matrix
        Shape ``(f(x).size, x.size)``; every nonzero (or ``True``) entry, and every stored
        entry of a scipy sparse matrix, is a structural nonzero. Arrays of any namespace are
        accepted. The shape is checked when the Jacobian is prepared.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> backend = di.AutoSparse(
    ...     di.AutoFiniteDiff(), sparsity_detector=di.KnownJacobianSparsity(np.eye(3))
    ... )
    >>> J = di.jacobian(lambda x: 2.0 * x, backend, np.ones(3))
    >>> J.toarray()
    array([[2., 0., 0.],
           [0., 2., 0.],
           [0., 0., 2.]])
    """

    _what = "Jacobian"


class KnownHessianSparsity(_KnownSparsity):
    """A Hessian sparsity pattern you already know.

    Parameters
    ----------
    pattern : array or scipy.sparse matrix
        Shape ``(x.size, x.size)``; nonzero entries are structural nonzeros. It is made
        symmetric (a nonzero at ``[i, j]`` implies one at ``[j, i]``).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> backend = di.AutoSparse(
    ...     di.AutoFiniteDiff(), sparsity_detector=di.KnownHessianSparsity(np.eye(2))
    ... )
    >>> H = di.hessian(lambda x: (x**3).sum(), backend, np.ones(2))
    >>> np.allclose(H.toarray(), 6.0 * np.eye(2), atol=1e-4)
    True
    """

    _what = "Hessian"


@dataclass(frozen=True, repr=False)
class GreedyColoringAlgorithm:
    """Greedy coloring of sparsity patterns, with one vertex order or the best of several.

    Jacobians get a column coloring (forward-mode dense backends: one pushforward per
    color) or a row coloring (reverse mode: one pullback per color); Hessians a star
    coloring (``decompression="direct"``) or an acyclic coloring
    (``decompression="substitution"``, fewer colors, entries recovered by a triangular
    solve on the host).

    Parameters
    ----------
    order : str or tuple of str
        ``"natural"``, ``"random"``, ``"largest_first"``, ``"smallest_last"``,
        ``"incidence_degree"``, ``"dynamic_largest_first"``, or ``"saturation"`` (the order
        DSATUR colors in). A tuple tries each and keeps the fewest colors (the first wins
        ties). The default tries largest-first and saturation: the only way to reach the
        optimal 5 colors on a 2-D 5-point stencil, where largest-first alone gives 7.
    decompression : {"direct", "substitution"}
        For Hessians: star coloring with direct decompression, or acyclic coloring with
        substitution.
    seed : int
        Seed of the ``"random"`` order (colorings are reproducible).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.GreedyColoringAlgorithm("smallest_last")
    GreedyColoringAlgorithm(order='smallest_last')
    >>> di.GreedyColoringAlgorithm(order=("natural", "random"), seed=3).order
    ('natural', 'random')
    """

    order: Order | tuple[Order, ...] = ("largest_first", "saturation")
    decompression: Literal["direct", "substitution"] = field(default="direct", kw_only=True)
    seed: int = field(default=0, kw_only=True)

    def __post_init__(self) -> None:
        order: Any = self.order
        if isinstance(order, list):
            object.__setattr__(self, "order", tuple(order))
        for order in self.orders:
            if order not in ORDERS:
                msg = (
                    f"`GreedyColoringAlgorithm` takes order among {', '.join(map(repr, ORDERS))} "
                    f"(or a tuple of them); got {order!r}."
                )
                raise ValueError(msg)
        if not self.orders:
            msg = "`GreedyColoringAlgorithm` needs at least one order."
            raise ValueError(msg)
        if self.decompression not in ("direct", "substitution"):
            msg = (
                "`GreedyColoringAlgorithm` takes decompression='direct' or 'substitution'; "
                f"got {self.decompression!r}."
            )
            raise ValueError(msg)

    @property
    def orders(self) -> tuple[str, ...]:
        """The orders tried, as a tuple."""
        return (self.order,) if isinstance(self.order, str) else tuple(self.order)

    def __repr__(self) -> str:
        return AbstractBackend.__repr__(self)  # type: ignore[arg-type]


@dataclass(frozen=True, repr=False)
class _SciPy(AbstractBackend):
    """The requirement of the sparse engine itself, for availability checks and messages."""

    _requires: ClassVar[tuple[str, ...]] = ("scipy",)
    _extra: ClassVar[str] = "sparse"


@dataclass(frozen=True, repr=False)
class AutoSparse(AbstractBackend):
    """Sparse Jacobians and Hessians: detect the pattern, color it, compress, decompress.

    ``jacobian`` and ``hessian`` (and their value-and variants) cost one batched call of the
    dense backend over a few compressed seeds — as many as colors, often independent of
    ``x.size`` — instead of one per column. Every other operator is delegated to ``dense``.

    Preparation detects the sparsity pattern, colors it and prepares the dense backend's
    batched pushforward (column coloring, for forward-mode backends), pullback (row
    coloring, reverse mode) or Hessian-vector product; the prep exposes ``sparsity``,
    ``colors`` and ``ncolors``. Results are sparse matrices of the caller's ecosystem:
    ``scipy.sparse.csr_array`` for numpy and array-api-strict, ``torch.sparse_csr_tensor``
    for torch, ``jax.experimental.sparse.BCOO`` for JAX, ``cupyx.scipy.sparse.csr_matrix``
    for CuPy. With ``output="dense"`` they are dense arrays of the caller's namespace (and
    ``out=`` may then be used), which for large matrices costs more than the sparse
    computation itself.

    Parameters
    ----------
    dense : AbstractBackend
        The backend computing the compressed derivatives (``SecondOrder`` for Hessians).
    sparsity_detector : AbstractSparsityDetector
        Where the pattern comes from (default: :class:`TracerSparsityDetector`).
    coloring_algorithm : GreedyColoringAlgorithm
        How the pattern is colored.
    output : {"sparse", "dense", "coo"}
        Kind of the returned matrices: the ecosystem's sparse matrix, a dense array, or a
        :class:`~differentiation_interface.SparseCOO` (index and value arrays of the
        caller's namespace, for any namespace).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def f(x):  # a tridiagonal Jacobian
    ...     xp = array_namespace(x)
    ...     padded = xp.concat([xp.zeros(1), x, xp.zeros(1)])
    ...     return padded[:-2] - 2.0 * x + padded[2:] + x**2
    >>> backend = di.AutoSparse(di.AutoFiniteDiff())
    >>> prep = di.prepare_jacobian(f, backend, np.zeros(100))
    >>> prep.ncolors
    3
    >>> J = di.jacobian(f, backend, np.ones(100), prep=prep)
    >>> J.shape, J.nnz
    ((100, 100), 298)
    >>> np.allclose(J.toarray()[:2, :3], [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    True
    """

    dense: AbstractBackend
    sparsity_detector: AbstractSparsityDetector = field(
        default=TracerSparsityDetector(), kw_only=True
    )
    coloring_algorithm: GreedyColoringAlgorithm = field(
        default=GreedyColoringAlgorithm(), kw_only=True
    )
    output: Literal["sparse", "dense", "coo"] = field(default="sparse", kw_only=True)

    _engine: ClassVar[str] = "differentiation_interface.sparse._engine:SparseEngine"

    def __post_init__(self) -> None:
        dense: Any = self.dense  # anything may be passed, whatever the annotations say
        detector: Any = self.sparsity_detector
        coloring: Any = self.coloring_algorithm
        if not isinstance(dense, AbstractBackend) or isinstance(dense, AutoSparse):
            msg = f"`AutoSparse` takes a dense backend selector; got dense={dense!r}."
            raise TypeError(msg)
        if not isinstance(detector, AbstractSparsityDetector):
            msg = (
                "`AutoSparse` takes a sparsity detector such as di.TracerSparsityDetector(); "
                f"got sparsity_detector={detector!r}."
            )
            raise TypeError(msg)
        if not isinstance(coloring, GreedyColoringAlgorithm):
            msg = (
                "`AutoSparse` takes coloring_algorithm=di.GreedyColoringAlgorithm(...); "
                f"got {coloring!r}."
            )
            raise TypeError(msg)
        if self.output not in ("sparse", "dense", "coo"):
            msg = (
                f"`AutoSparse` takes output='sparse', 'dense' or 'coo'; got output={self.output!r}."
            )
            raise ValueError(msg)

    @property
    def mode(self) -> str:
        """Mode of the dense backend."""
        return self.dense.mode

    def _parts(self) -> tuple[AbstractBackend, ...]:
        parts: tuple[AbstractBackend, ...] = (self.dense, _SciPy())
        if isinstance(self.sparsity_detector, DenseSparsityDetector):
            parts += (self.sparsity_detector.backend,)
        return parts

    def _inplace_support(self) -> bool:
        return check_inplace(self.dense)


def replace(selector: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for selectors (used by tests and benchmarks)."""
    return dataclasses.replace(selector, **changes)

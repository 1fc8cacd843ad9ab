"""What an engine is: the contract between the operators and one AD engine.

Vocabulary
----------
``Fn``
    The function being differentiated, bound to one call's contexts (and ``y`` buffer for
    two-argument functions). ``fn(x)`` evaluates it out of place.
plan
    What an engine prepares for one operator: an object whose ``run`` method computes the
    operator for any ``x`` of the prepared signature. Plans are immutable after preparation,
    so one plan may serve several threads at once.
stacked tangents
    Batches of tangents travel as one array of shape ``(B, *x.shape)`` (or ``(B, *y.shape)``
    for cotangents): engines ``vmap`` over the leading axis or evaluate the batch at once.

Plans receive and return arrays of the **caller's** namespace and device. An engine that
computes elsewhere converts on the way in and out (with the helpers of the array layer) and
returns fresh, writable arrays that alias no input.

Extension contract
------------------
An engine subclasses :class:`Engine`, sets the class flags ``forward`` / ``reverse`` /
``inplace``, and overrides ``prepare_pushforward`` and/or ``prepare_pullback``. It may
override any other ``prepare_<operator>`` to provide a native implementation; each returns a
plan or ``None`` ("use the generic fallback", derived from pushforward and pullback in
:mod:`differentiation_interface.operators`). Engines never import the operators.

Plans of operators without tangents may also offer the prepared call's *express* tier (see
:class:`ExpressPlan` and ``operators/_fastpath.py``), for engines whose calls cost
microseconds.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from .._array import ArraySpec, namespace_of, stack_elements, transformed
from ..contexts import Cache, Context

__all__ = [
    "AuxBox",
    "DerivativePlan",
    "Engine",
    "ExpressPlan",
    "Fn",
    "GradientPlan",
    "HVPPlan",
    "HessianPlan",
    "JacobianPlan",
    "LeavesGradientPlan",
    "PullbackPlan",
    "PushforwardPlan",
    "SecondDerivativePlan",
    "collecting_aux",
    "offer_aux",
]


class Fn:
    """The function being differentiated, bound to one call's contexts.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> y``, or ``f(y, x, *contexts) -> None`` when ``y`` is given.
    contexts : tuple of Context
        Wrapped extra arguments (values in the caller's namespace).
    y : array or None
        Output buffer of a two-argument function.
    batchable : bool or None
        Whether ``f`` may be evaluated on points stacked along a new leading axis.
        ``None`` lets an engine find out; ``False`` forbids it (derived functions, two-argument
        functions and functions with ``Cache`` contexts are never batchable).
    unstacked : bool
        Set by the operator layer when it prepares for one tangent, which its calls hand to
        the plan without a batch axis (``plan.run_single``, where ``plan.single``): an
        engine that compiles may then compile for that alone. Other users of plans (sparse
        and composite engines) stack their seeds and leave it false.
    """

    __slots__ = ("args", "batchable", "contexts", "f", "unstacked", "y")

    def __init__(
        self,
        f: Any,
        contexts: tuple[Context, ...] = (),
        y: Any = None,
        *,
        batchable: bool | None = None,
        unstacked: bool = False,
    ) -> None:
        self.f = f
        self.contexts = contexts
        self.args = tuple(c.value for c in contexts)
        self.unstacked = unstacked
        self.y = y
        if y is not None or any(isinstance(c, Cache) for c in contexts):
            batchable = False
        self.batchable = batchable

    @property
    def inplace(self) -> bool:
        """Whether ``f`` is a two-argument function ``f(y, x, *contexts)``."""
        return self.y is not None

    @property
    def has_aux(self) -> bool:
        """Whether ``f`` offers an auxiliary output at each evaluation (:func:`offer_aux`);
        engines that compile ``f`` return it from their programs."""
        return bool(getattr(self.f, "has_aux", False))

    @property
    def precision(self) -> str | None:
        """The name of the least precise dtype among the variables behind ``x`` when ``x``
        raveled leaves of several dtypes (``f`` declares it: the pytree layer's functions
        do), else ``None``: ``x``'s dtype is the precision. Finite differences size their
        steps by it."""
        return getattr(self.f, "precision", None)

    def __call__(self, x: Any) -> Any:
        """Evaluate out of place: the output, as a new array for two-argument functions."""
        if self.y is None:
            return self.f(x, *self.args)
        self.f(self.y, x, *self.args)
        return namespace_of(self.y).asarray(self.y, copy=True)

    def rebind(self, args: tuple[Any, ...]) -> Fn:
        """The same function with other context values (same wrapper kinds, same ``y``)."""
        contexts = tuple(type(c)(v) for c, v in zip(self.contexts, args, strict=True))
        return Fn(self.f, contexts, self.y, batchable=self.batchable)


# --- auxiliary outputs (has_aux) -------------------------------------------------------------


class AuxBox:
    """What one collection of auxiliary outputs found: the first usable offer."""

    __slots__ = ("aux", "discard", "found", "traced")

    def __init__(self, *, discard: bool = False, traced: bool = False) -> None:
        self.aux: Any = None
        self.found = False
        self.discard = discard
        self.traced = traced  # a JAX program collecting its own tracers as outputs

    def offer(self, aux: Any) -> None:
        if self.found or self.discard or (not self.traced and _escapes(aux)):
            return
        self.aux, self.found = aux, True


class _AuxStack(threading.local):
    def __init__(self) -> None:
        self.boxes: list[AuxBox] = []


_aux_stack = _AuxStack()


@contextlib.contextmanager
def collecting_aux(*, discard: bool = False, traced: bool = False) -> Iterator[AuxBox]:
    """Collect what ``f`` offers as auxiliary output while the block runs (in this thread):
    the first offer whose arrays can leave the engine's transformation. ``discard`` hides
    offers from outer collections (JAX traces the derivative part of a program under one,
    and evaluates ``f`` again for its auxiliary output, which XLA merges with the first);
    ``traced`` keeps tracers (that program returns them as outputs)."""
    box = AuxBox(discard=discard, traced=traced)
    _aux_stack.boxes.append(box)
    try:
        yield box
    finally:
        _aux_stack.boxes.pop()


def offer_aux(aux: Any) -> None:
    """Called by a function with auxiliary output at each evaluation (see
    :func:`collecting_aux`); nothing happens outside a collection."""
    boxes = _aux_stack.boxes
    if boxes:
        boxes[-1].offer(aux)


def _escapes(tree: Any) -> bool:
    """Whether an offered value holds arrays that cannot outlive the transformation that
    made them (a vmapped torch tensor, a JAX tracer): not the value at ``x``."""
    from .._tree import flatten  # a leaf module: no cycle

    try:
        leaves, _ = flatten(tree, "aux")
    except Exception:  # noqa: BLE001 - non-array leaves: nothing transformation-bound
        leaves = []
    return any(transformed(leaf) for leaf in leaves)


class PushforwardPlan(ABC):
    """Prepared pushforward (Jacobian-vector products) for a stack of tangents."""

    operator: ClassVar[str] = "pushforward"

    @abstractmethod
    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(y or None, ty)`` with ``ty`` of shape ``(B, *y.shape)``."""


class PullbackPlan(ABC):
    """Prepared pullback (vector-Jacobian products) for a stack of cotangents."""

    operator: ClassVar[str] = "pullback"

    @abstractmethod
    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(y or None, tx)`` with ``tx`` of shape ``(B, *x.shape)``."""


class ExpressPlan:
    """The optional express tier of plans for operators without tangents.

    A prepared call with no contexts, ``out=`` or ``y=`` first tries the preparation's
    express closure (``operators/_fastpath.py``), which the call path builds from one of two
    hooks:

    * :meth:`make_express`: the plan builds the whole closure itself, when its engine checks
      ``x`` faster than the generic closure can (the JAX plans: the executable's C++ entry
      point checks ``x``);
    * ``express_run(x)``: the generic closure checks the call (operator, ``f`` and backend
      identity; ``x``'s type, shape, dtype and placement; the prepared JAX precision) and
      calls it. It returns the operator's result alone (no value) as a fresh array of the
      caller's namespace, or ``None`` when it cannot serve this call (the torch tape's
      gradient of a numpy ``x``).

    Either saves the generic call path's frames, microseconds per call.
    """

    express_run: Callable[[Any], Any] | None = None

    def make_express(
        self, operator: str, f: Any, backend: Any, like: ArraySpec
    ) -> Callable[[str, Any, Any, Any], Any] | None:
        """The whole express closure, if this engine can check the call faster.

        Returns ``express(op_name, f, backend, x)`` with the express tier's contract: the
        operator's result alone when ``op_name``, ``f`` and ``backend`` are the prepared
        objects and ``x`` is like ``like`` (type, shape, dtype, placement) in the prepared
        precision, else ``None``. The default, ``None``, lets the call path build one around
        ``express_run``.
        """
        return None


class DerivativePlan(ExpressPlan, ABC):
    """Prepared derivative of a function of a 0-d array."""

    operator: ClassVar[str] = "derivative"

    @abstractmethod
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(y or None, der)``."""


class GradientPlan(ExpressPlan, ABC):
    """Prepared gradient of a real scalar function."""

    operator: ClassVar[str] = "gradient"

    @abstractmethod
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(y or None, grad)``."""


class JacobianPlan(ExpressPlan, ABC):
    """Prepared Jacobian, shape ``(y.size, x.size)``."""

    operator: ClassVar[str] = "jacobian"

    @abstractmethod
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(y or None, jac)``."""


class SecondDerivativePlan(ExpressPlan, ABC):
    """Prepared second derivative of a function of a 0-d array."""

    operator: ClassVar[str] = "second_derivative"

    @abstractmethod
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        """Return ``(y or None, der or None, der2)``."""


class HVPPlan(ABC):
    """Prepared Hessian-vector products for a stack of tangents."""

    operator: ClassVar[str] = "hvp"

    @abstractmethod
    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        """Return ``(grad or None, tg)`` with ``tg`` of shape ``(B, *x.shape)``."""


class HessianPlan(ExpressPlan, ABC):
    """Prepared Hessian, shape ``(x.size, x.size)``."""

    operator: ClassVar[str] = "hessian"

    @abstractmethod
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        """Return ``(y or None, grad or None, hess)``."""


class LeavesGradientPlan(ABC):
    """Prepared gradient of a real scalar function of a pytree, on its leaves (see
    :meth:`Engine.prepare_leaves_gradient`)."""

    operator: ClassVar[str] = "gradient"
    #: The engine's own check that leaves are exactly like the prepared ones (type, shape,
    #: dtype, device), where it has one faster than the generic per-leaf reads (torch's
    #: tensor guards, in C); ``False`` only sends the call on to the generic check.
    leaf_check: Callable[[list[Any]], bool] | None = None

    @abstractmethod
    def run(
        self, leaves: list[Any], args: tuple[Any, ...], *, value: bool
    ) -> tuple[Any, Any] | None:
        """``(y or None, list of gradient leaves)``, in the leaves' namespace and device;
        ``None`` declines the call (it must stay on the caller's graph, say), which then
        takes the raveled route."""


class Engine:
    """One AD engine behind a backend selector.

    Attributes
    ----------
    forward : bool
        Pushforwards are cheap (one pass per tangent).
    reverse : bool
        Pullbacks are cheap (one pass per cotangent).
    inplace : bool
        Two-argument functions ``f(y, x)`` can be differentiated (the selector's ``_inplace``).
    traces : bool
        Preparations keep what ``f`` reads besides its arguments (a compiled program, a
        sparsity pattern), as ``jax.jit`` does: the cache of unprepared calls then checks
        that state before reusing one (``_freshness.Witness``).
    shards : bool
        The engine's plans take JAX arrays sharded over several devices as they are and
        lay out their results as ``x`` and ``f(x)`` are (JAX, which compiles for the
        shardings); other engines' plans are run by ``operators._sharded``.
    point_local : bool
        Preparations hold for the values of ``x`` they were made at only (a sparsity
        pattern detected locally): unprepared calls never reuse one.
    native_only_for : dict
        Operators whose ``prepare_<operator>`` serves some inputs only and returns ``None``
        (the generic fallback) for the others, with the inputs it serves (finite
        differences: pullbacks of a torch DTensor); the capability matrix says so.
    """

    forward: ClassVar[bool] = False
    reverse: ClassVar[bool] = False
    traces: bool = False
    shards: ClassVar[bool] = False
    point_local: bool = False
    native_only_for: ClassVar[dict[str, str]] = {}

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    @property
    def inplace(self) -> bool:
        """Whether two-argument functions are supported (declared by the selector)."""
        return bool(type(self.backend)._inplace)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend!r})"

    def compile(
        self, program: Callable[[Any], Any], example: Any = None
    ) -> Callable[[Any], Any] | None:
        """``program``, a function of one array of this engine's namespace written against
        the Array API, compiled into one program of the engine; ``None`` if the engine does
        not compile, or (with ``example``, on which it is then compiled at once) cannot trace
        it. Sparse plans fuse their dense call and decompression this way for JAX callers.
        """
        return None

    def sparse_result(self, operator: str) -> bool:
        """Whether ``operator`` returns a sparse matrix here (which ``out=`` cannot take);
        known before preparing, so that ``out=`` is refused before ``f`` runs."""
        return False

    def max_batch(self, size: int, like: Any = None) -> int:
        """Most tangents one batched call may take for an input of ``size`` elements, with
        arrays like ``like``: in host memory a fixed budget, on a CUDA device one that
        follows its free memory (:func:`~differentiation_interface._array.stack_elements`),
        so that a GPU takes a whole basis in one call where it fits, as ``jax.jacrev`` and
        ``torch.func.jacrev`` do."""
        return max(1, stack_elements(like) // max(1, size))

    def explain(self, operator: str, err: Exception) -> Exception | None:
        """The library's error for ``err``, raised by ``f`` where preparation first evaluates
        it on the caller's ``x``, when this engine knows what went wrong (torch: numpy on a
        tensor that requires grad); ``None`` lets ``err`` reach the caller as it is."""
        return None

    # --- first order: engines override pushforward and/or pullback, the rest optionally ---

    def prepare_pushforward(
        self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool
    ) -> PushforwardPlan | None:
        """Native pushforward plan, or ``None`` for the fallback through pullbacks."""
        return None

    def prepare_pullback(
        self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool
    ) -> PullbackPlan | None:
        """Native pullback plan, or ``None`` for the fallback through pushforwards."""
        return None

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> DerivativePlan | None:
        """Native derivative plan, or ``None`` (fallback: one pushforward)."""
        return None

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> GradientPlan | None:
        """Native gradient plan, or ``None`` (fallback: one pullback, or basis pushforwards)."""
        return None

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> JacobianPlan | None:
        """Native Jacobian plan, or ``None`` (fallback: batched pushforwards or pullbacks)."""
        return None

    def prepare_leaves_gradient(
        self,
        f: Callable[..., Any],
        leaves: list[Any],
        rebuild: Callable[[list[Any]], Any],
        args: tuple[Any, ...],
        y: Any,
    ) -> LeavesGradientPlan | None:
        """A gradient plan working on the leaves of a pytree ``x`` itself (no raveling), for
        engines that take containers natively; ``None`` (the default) lets the pytree layer
        hand the engine a raveled problem. ``f(rebuild(leaves), *args)`` is the function."""
        return None

    # --- second order: ``None`` means "this engine over itself" through the fallbacks ---

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> SecondDerivativePlan | None:
        """Native second-derivative plan, or ``None`` (derivative of derivative)."""
        return None

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> HVPPlan | None:
        """Native Hessian-vector-product plan, or ``None`` (composition of first order)."""
        return None

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan | None:
        """Native Hessian plan, or ``None`` (batched Hessian-vector products)."""
        return None

    @property
    def outer(self) -> Engine:
        """Engine differentiating the inner derivative in second-order fallbacks."""
        return self

    @property
    def inner(self) -> Engine:
        """Engine computing first derivatives (also in second-order fallbacks)."""
        return self

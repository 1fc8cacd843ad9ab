"""What preparation checks once by evaluating ``f`` on the tape: misuse, and a cut graph.

:func:`check_misuse` runs ``f`` once at ``x`` (a fresh leaf that requires grad) under
:class:`_Watch`, a torch function mode that sees every torch call ``f`` makes, and refuses
what would give silently wrong derivatives:

* a conversion of an ``x``-dependent tensor to a Python number (``.item()``, ``float()``,
  ``tolist()``...), which torch treats as a constant (:class:`FunctionOutputError`);
* an array built from a Python list of ``x``-dependent tensors (``xp.asarray([x[0], x[1]])``),
  whose derivatives torch drops (:class:`DisconnectedGraphError`);
* an output with no path back to ``x`` in torch's graph (:class:`DisconnectedGraphError`),
  unless ``AutoTorch(allow_unused=True)`` says that ``f`` truly does not depend on ``x``.
  Partial dependence (some outputs or some entries of ``x`` unconnected) is not a cut graph.
  The error names the cutting operation ``f`` called on an ``x``-dependent tensor when the
  watch saw one (``.detach()``, ``.data``, ``.numpy()``).

Torch's own errors for numpy inside ``f`` (``np.sin(x)``, whose advice to ``.detach()`` would
silently lose the derivative; a closed-over numpy array ``A @ x``) become
:class:`UntraceableFunctionError` chained from torch's error.

Checking at preparation costs nothing per call; unprepared calls prepare once per function
and kind of ``x``, so every mode and operator is covered, forward mode included (whose
passes would otherwise return zeros, or fail inside torch, on a cut graph).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ..._array import refuse_extended
from ...errors import DisconnectedGraphError, FunctionOutputError, UntraceableFunctionError
from .._base import Fn
from .io import Bound, outside_inference_mode, outside_transforms, probe_value, torch_dtype

__all__ = ["check_misuse", "disconnected", "explain"]

Tensor = torch.Tensor

_NUMERIC_CONVERSIONS = frozenset(
    {Tensor.item, Tensor.tolist, Tensor.__float__, Tensor.__int__, Tensor.__complex__}
)
# Array constructors that copy the values of a Python list of tensors, not their derivatives.
_ARRAY_BUILDERS = frozenset({torch.asarray, torch.tensor, torch.as_tensor})
# Operations that hand out an x-dependent value without its derivative, by how to name them.
_CUTTERS = {Tensor.detach: ".detach()", Tensor.detach_: ".detach_()", Tensor.numpy: ".numpy()"}
_SUSPECTS_KEPT = 8  # the first few cutting calls are enough to name one in the error


def _holds_differentiated(items: Any) -> bool:
    """Whether a (nested) Python list or tuple holds a tensor that depends on ``x``."""
    if isinstance(items, list | tuple):
        return any(_holds_differentiated(i) for i in items)
    return isinstance(items, Tensor) and items.requires_grad


def _cut_name(func: Any) -> str | None:
    """How to name ``func`` if it hands out a value without its derivative, else None."""
    name = _CUTTERS.get(func)
    if name is not None:
        return name
    owner = getattr(func, "__self__", None)  # Tensor.data's descriptor, read or written
    if getattr(owner, "__name__", None) == "data" and func.__name__ in ("__get__", "__set__"):
        return ".data"
    return None


class _Watch(TorchFunctionMode):
    """Refuses numeric conversions and list-built arrays of ``x``-dependent tensors, and
    remembers the first calls that cut a tensor off the graph (named if the output turns
    out disconnected)."""

    def __init__(self) -> None:
        super().__init__()
        self.suspects: list[tuple[str, Tensor]] = []

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        first = args[0] if args else None
        tracked = isinstance(first, Tensor) and first.requires_grad
        if tracked and func in _NUMERIC_CONVERSIONS:
            name = getattr(func, "__name__", str(func))
            msg = (
                f"f called `{name}` on a value that depends on x, turning it into a Python "
                "number: torch would treat that number as a constant and return silently "
                "wrong derivatives. Keep the computation in arrays (for control flow, compare "
                "0-d arrays directly: `if xp.sum(x) > 0:` works)."
            )
            raise FunctionOutputError(msg)
        if func in _ARRAY_BUILDERS and args and _holds_differentiated(first):
            msg = (
                "f built an array from a Python list of values that depend on x (such as "
                "`xp.asarray([x[0], x[1]])`): torch copies their values and drops their "
                "derivatives, which would silently be zero. Build it with `xp.stack([...])` "
                "(or `xp.concat`), which torch differentiates."
            )
            raise DisconnectedGraphError(msg)
        if tracked and len(self.suspects) < _SUSPECTS_KEPT:
            name = _cut_name(func)
            if name is not None:
                self.suspects.append((name, first))  # type: ignore[arg-type]
        return func(*args, **(kwargs or {}))


def reaches(y: Tensor, x: Tensor) -> bool:
    """Whether torch's graph has a path from ``y`` back to the leaf ``x`` (a walk over the
    recorded nodes: nothing is computed, so no backward formula can fail here)."""
    if y is x:
        return True
    root = y.grad_fn
    if root is None:
        return False
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        if getattr(node, "variable", None) is x:  # x's AccumulateGrad node
            return True
        for parent, _ in node.next_functions:
            if parent is not None and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return False


def disconnected(operator: str, cut: str | None = None) -> DisconnectedGraphError:
    """The library's error for an output of ``f`` with no path back to ``x``."""
    named = (
        f"f called `{cut}` on a value that depends on x, which hands out the value without "
        "its derivative. "
        if cut is not None
        else ""
    )
    msg = (
        f"`{operator}` with AutoTorch: f's output is not connected to x in torch's graph, so "
        f"every derivative would silently be zero. {named}The graph is typically cut by "
        "`.detach()` or `.data` (torch.nn.utils.vector_to_parameters writes `.data`: call "
        "the model with torch.func.functional_call(model, params, inputs) instead), by a "
        "round trip through numpy (`.numpy()`, np.asarray), or by an array built from a "
        "Python list (`xp.asarray([x[0] * x[1], x[2]])`: use xp.stack). Compute f with torch "
        "operations or the Array API namespace of x (array_api_compat.array_namespace(x)). "
        "If f truly does not depend on x, AutoTorch(allow_unused=True) returns zeros."
    )
    return DisconnectedGraphError(msg)


def _untraceable(operator: str, err: BaseException, advice: str) -> UntraceableFunctionError:
    first_line = str(err).strip().splitlines()[0]
    msg = (
        f"`{operator}` with AutoTorch: torch could not run f on x, a torch tensor here "
        f"({type(err).__name__}: {first_line!r}). {advice}"
    )
    return UntraceableFunctionError(msg)


_NUMPY_ON_TAPE = "Can't call numpy() on Tensor that requires grad"
_NUMPY_ADVICE = (
    "f calls a numpy function on x (np.sin(x), np.asarray(x), ...); torch's advice to "
    "`.detach()` would silently lose the derivative. Compute with torch functions or the "
    "Array API namespace of x (xp = array_api_compat.array_namespace(x); xp.sin(x))."
)
_OPERAND_ADVICE = (
    "f combines x with a numpy array it closes over (A @ x with a numpy A, say), which "
    "torch cannot take. Make it an argument of f and pass it as a context: "
    "di.gradient(f, backend, x, di.Constant(A)) with f(x, A); the library converts it to a "
    "torch tensor for the engine."
)


def explain(operator: str, err: Exception) -> UntraceableFunctionError | None:
    """The library's error for torch's error ``err`` about numpy inside ``f``, else None."""
    text = str(err)
    if isinstance(err, RuntimeError) and _NUMPY_ON_TAPE in text:
        return _untraceable(operator, err, _NUMPY_ADVICE)
    if isinstance(err, TypeError) and "numpy.ndarray" in text and "Tensor" in text:
        return _untraceable(operator, err, _OPERAND_ADVICE)
    return None


@outside_inference_mode
def check_misuse(fn: Fn, x: Any, y: Any, *, operator: str, allow_unused: bool) -> None:
    """Evaluate ``f`` once on the tape at preparation and refuse what breaks derivatives
    (module doc). ``x`` and the contexts may be tensors of a caller's ``torch.func``
    transform: the probe uses their values."""
    refuse_extended(x, "AutoTorch()")
    watch = _Watch()
    # Outside any torch.func transform (a no-op where none is active): inside one, every
    # operation would wrap its result again, and the probe needs plain tensors.
    with outside_transforms():
        bound = Bound(fn, tuple(y.shape), torch_dtype(y), probe=True)
        xt = probe_value(x).detach().requires_grad_(True)
        try:
            with torch.enable_grad(), watch:
                out = bound(xt)
        except (RuntimeError, TypeError) as err:
            explained = explain(operator, err)
            if explained is None:
                raise
            raise explained from err
    if allow_unused or xt.numel() == 0 or out.numel() == 0 or reaches(out, xt):
        return  # (nothing to differentiate in an empty x or y)
    cut = next((name for name, t in watch.suspects if reaches(t, xt)), None)
    raise disconnected(operator, cut)

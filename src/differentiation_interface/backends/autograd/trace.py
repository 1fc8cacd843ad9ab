"""Running HIPS autograd: its traces, and the scope in which ``f`` sees the Array-API shim.

The scope
---------
While the engine traces ``f`` (and only then, and only in that thread), autograd's
``ArrayBox`` answers the Array-API questions ``f`` asks:

* ``array_namespace(box)`` returns the shim of :mod:`.namespace` (working ``linalg``
  and ``fft``, Array-API functions with derivative rules) instead of ``numpy_wrapper``;
* ``array_api_compat.device(box)`` (``box.device``) is ``"cpu"`` and ``box.mT`` works.

This is done by class attributes installed once on ``ArrayBox`` that consult a thread-local
depth counter: outside the engine's calls they behave exactly as autograd's own (the original
``__array_namespace__`` is called, or is absent as in autograd 1.7; ``device`` and ``mT``
raise ``AttributeError`` as before),
so other users of autograd in the same process, including other threads, see no change.
array-api-compat is not touched. The same counter guards autograd's rules for
``std``/``var``: called with ``correction=`` (numpy 2 spelling, e.g. ``np.std(x,
correction=1)`` on a box) autograd's rules silently ignore it; inside the scope it is passed
on as ``ddof``, which they honour.

The traces
----------
:func:`vjp_trace`, :func:`jvp_trace` and :func:`pull` are autograd's ``make_vjp`` /
``make_jvp`` without the ``unary_to_nary`` argument plumbing and without the "Output seems
independent of input" warning (a constant output simply has no graph: ``None``). They accept
boxes as inputs, so they nest (Hessians are traces of traces). Missing derivative rules become
:class:`~differentiation_interface.UnsupportedOperationError` naming the primitive; a missing
forward rule raises :class:`MissingForwardRuleError`, which plans catch to use reverse mode.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.core import JVPNode, VJPNode, backward_pass, primitive_jvps, primitive_vjps
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.tracer import getval, isbox, new_box, trace_stack

from ..._array import namespace_of
from ...errors import UnsupportedOperationError
from .namespace import build_namespace

__all__ = [
    "NAMESPACE",
    "MissingForwardRuleError",
    "getval",
    "isbox",
    "jvp_trace",
    "jvps",
    "pull",
    "transposed_jvps",
    "vjp_trace",
]

#: The Array-API namespace of boxes inside the engine's traces.
NAMESPACE: ModuleType = build_namespace()


class _Depth(threading.local):
    depth = 0


_state = _Depth()


class MissingForwardRuleError(UnsupportedOperationError):
    """autograd has no forward-mode (JVP) rule for a primitive ``f`` uses.

    Plans catch it and compute the pushforward in reverse mode instead (the transpose of the
    pullback); it does not reach users.
    """


# --- the scoped ArrayBox attributes -----------------------------------------------------------

_INSTALLED = "_differentiation_interface_scope"


def _install() -> None:
    """Install the scoped attributes on ``ArrayBox`` and the std/var guard (once)."""
    if getattr(ArrayBox, _INSTALLED, False):
        return
    # autograd >= 1.8 answers numpy_wrapper; 1.7 has no __array_namespace__ at all
    original = ArrayBox.__dict__.get("__array_namespace__")

    def shim(*, api_version: str | None = None) -> ModuleType:
        return NAMESPACE

    def array_namespace(self: Any) -> Any:
        if _state.depth:
            return shim
        if original is None:
            msg = f"'{type(self).__name__}' object has no attribute '__array_namespace__'"
            raise AttributeError(msg)
        return original.__get__(self, type(self))

    def device(self: Any) -> str:
        if _state.depth:
            return "cpu"
        msg = f"'{type(self).__name__}' object has no attribute 'device'"
        raise AttributeError(msg)

    def m_t(self: Any) -> Any:
        if _state.depth:
            return anp.swapaxes(self, -1, -2)
        msg = f"'{type(self).__name__}' object has no attribute 'mT'"
        raise AttributeError(msg)

    ArrayBox.__array_namespace__ = property(array_namespace)
    ArrayBox.device = property(device)
    ArrayBox.mT = property(m_t)
    wrapper = anp.numpy_wrapper
    for name in ("std", "var"):  # the primitive behind the list-accepting wrapper (>= 1.8)
        _guard_correction(getattr(wrapper, f"_primitive_{name}", getattr(wrapper, name)))
    setattr(ArrayBox, _INSTALLED, True)
    # The library's own namespace lookup caches one namespace per type; make sure the one it
    # remembers for ArrayBox is the shim (library helpers and scenarios use it inside f).
    _state.depth += 1
    try:
        namespace_of(ArrayBox(np.zeros(()), 0, None))
    finally:
        _state.depth -= 1


def _as_ddof(kwargs: dict[str, Any]) -> dict[str, Any]:
    if not _state.depth or "correction" not in kwargs:
        return kwargs
    kwargs = dict(kwargs)
    kwargs["ddof"] = kwargs.pop("correction")
    return kwargs


def _guard_correction(primitive: Any) -> None:
    """Make the VJP/JVP rules of ``std``/``var`` see ``correction=`` as ``ddof=`` (in scope)."""
    vjp_maker = primitive_vjps.get(primitive)
    jvp_maker = primitive_jvps.get(primitive)
    if vjp_maker is not None:

        def vjp(argnums: Any, ans: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            return vjp_maker(argnums, ans, args, _as_ddof(kwargs))

        primitive_vjps[primitive] = vjp
    if jvp_maker is not None:

        def jvp(argnums: Any, gs: Any, ans: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            return jvp_maker(argnums, gs, ans, args, _as_ddof(kwargs))

        primitive_jvps[primitive] = jvp


# --- errors -----------------------------------------------------------------------------------

_MISSING_RULE = re.compile(r"^(VJP|JVP) of (.+?) wrt argnums? .* not defined$")


def _raised_by_autograd(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("autograd")


def _translate(err: NotImplementedError) -> Exception:
    """autograd's "not implemented" errors as library errors; the user's own unchanged."""
    if isinstance(err, UnsupportedOperationError):
        return err
    match = _MISSING_RULE.match(str(err))
    if match is None:
        if not _raised_by_autograd(err):
            return err
        msg = (
            f"AutoAutograd() cannot differentiate f: HIPS autograd does not support a step "
            f"of it ({err}). Express that step differently, or use another backend "
            "(di.AutoJAX(), di.AutoTorch(), di.AutoFiniteDiff())."
        )
        return UnsupportedOperationError(msg)
    kind, name = match.groups()
    if kind == "JVP":
        msg = f"HIPS autograd has no forward-mode rule for `{name}`."
        return MissingForwardRuleError(msg)
    msg = (
        f"AutoAutograd() cannot differentiate f: HIPS autograd has no derivative rule for "
        f"`{name}`, which f calls. Express that step with differentiable operations (for "
        "instance through array_api_compat.array_namespace(x), whose functions have rules), "
        "or use another backend (di.AutoJAX(), di.AutoTorch(), di.AutoFiniteDiff())."
    )
    return UnsupportedOperationError(msg)


# --- traces -----------------------------------------------------------------------------------


_level_lock = threading.Lock()
_last_level = [0]


def _new_level(top: int) -> int:
    """A trace level above every level in use, never handed out twice.

    autograd orders nested traces by level (the highest one is differentiated first) and
    takes levels from one process-wide counter that goes up and down with ``with`` blocks;
    threads interleaving those updates could give a nested trace the level of its parent.
    Levels from here only grow, so concurrent and nested traces never share one.
    """
    with _level_lock:
        level = max(_last_level[0], top) + 1
        _last_level[0] = level
    return level


def _trace(fun: Callable[[Any], Any], x: Any, root: Any) -> tuple[Any, Any]:
    """Evaluate ``fun`` on ``x`` boxed with ``root``: ``(value, end node or None)``."""
    stack = trace_stack
    saved = stack.top
    level = stack.top = _new_level(saved)  # autograd calls inside f nest above this trace
    _state.depth += 1
    try:
        end = fun(new_box(x, level, root))
    except NotImplementedError as err:
        raise _translate(err) from err
    finally:
        _state.depth -= 1
        stack.top = saved
    if isbox(end) and end._trace == level:
        return end._value, end._node
    return end, None  # the output does not depend on x


def vjp_trace(fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """Trace ``fun`` at ``x`` for reverse mode: ``(fun(x), graph or None if constant)``."""
    return _trace(fun, x, VJPNode.new_root())


def pull(node: Any, w: Any, x: Any) -> Any:
    """autograd's vector-Jacobian product of ``w`` through a traced graph (zeros if ``None``).

    For complex numbers this is autograd's convention, ``conj(L*(conj(w)))`` where ``L*`` is
    the adjoint of the derivative for the real inner product; plans convert.
    """
    if node is None:
        value = getval(x)
        return np.zeros(np.shape(value), dtype=np.result_type(value))
    return _backward(w, node)


def _backward(w: Any, node: Any) -> Any:
    # some rules only fail when they run, in the backward pass (e.g. ``diagonal`` offsets)
    try:
        return backward_pass(w, node)
    except NotImplementedError as err:
        raise _translate(err) from err


def jvp_trace(fun: Callable[[Any], Any], x: Any, t: Any) -> tuple[Any, Any]:
    """Forward mode: ``(fun(x), directional derivative along t or None if constant)``.

    Raises
    ------
    MissingForwardRuleError
        If a primitive of ``fun`` has no forward-mode rule in autograd.
    """
    value, node = _trace(fun, x, JVPNode.new_root(t))
    return value, None if node is None else node.g


def transposed_jvps(fun: Callable[[Any], Any], x: Any, ts: Iterable[Any]) -> tuple[Any, list[Any]]:
    """Directional derivatives in reverse mode only: the pullback of the pullback.

    The pullback ``w -> vjp(w)`` is linear, so pulling ``t`` back through it gives the
    pushforward of ``t`` (autograd's ``make_jvp_reversemode``; with autograd's complex
    convention the two conjugations cancel). Costs one trace of ``fun``, one traced pullback,
    then one backward pass per tangent. ``None`` entries mean "zero".
    """
    y, node = vjp_trace(fun, x)
    ts = list(ts)
    if node is None:
        return y, [None] * len(ts)
    value = getval(y)
    w0 = np.zeros(np.shape(value), dtype=np.result_type(value))
    _, node_t = vjp_trace(lambda w: _backward(w, node), w0)
    if node_t is None:
        return y, [None] * len(ts)
    return y, [_backward(t, node_t) for t in ts]


def jvps(
    fun: Callable[[Any], Any], x: Any, ts: list[Any], *, forward: bool
) -> tuple[Any, list[Any]]:
    """``(fun(x), [J t for t in ts])``: forward mode if asked and possible, else transposed.

    ``None`` entries mean "zero". A missing forward rule switches to reverse mode for this
    call (plans probe at preparation, so this only happens on a new branch of ``f``).
    """
    if forward:
        try:
            y, first = jvp_trace(fun, x, ts[0])
            return y, [first] + [jvp_trace(fun, x, t)[1] for t in ts[1:]]
        except MissingForwardRuleError:
            pass
    return transposed_jvps(fun, x, ts)


_install()

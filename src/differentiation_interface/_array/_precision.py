"""JAX's 64-bit mode: the one place that knows when it is needed and how to enter it.

JAX computes float64, int64 and complex128 in 32 bits (float32, int32, complex64) unless the
work runs in 64-bit mode. The library never touches JAX's global ``jax_enable_x64`` flag: it
enters ``jax.enable_x64(True)``, a thread-local state, around the work that needs it, and
``jax.jit`` keys its caches on that state.

* :func:`is_64bit` is the single predicate: does an array's dtype need the mode?
* :func:`needs_x64` / :func:`precision_scope` answer and enter it for a namespace and its
  arrays (a no-op for every namespace but JAX's).
* :func:`x64_switch` gives the thread-local state. :data:`X64`, :data:`X64_ENTER` and
  :data:`X64_RESTORE` are that state and its own methods, resolved once: the JAX engine calls
  :func:`x64_switch` at its import, and anything that finds a JAX array has JAX loaded.
* :func:`in_x64` / :func:`in_precision` run a function in the mode, the cheap way.

Costs: reading ``X64.value`` is an attribute read; entering the ``X64(True)`` context costs
several times the state's own ``swap_local`` / ``set_local`` (behind the context), which in
turn cost several times that read. So callers read ``X64.value`` first and enter the mode only
when the thread is not in it (measured in ``docs/backends/jax.md``).

This module never imports JAX: it reads ``sys.modules["jax"]``, which is only asked for once
a JAX array or the JAX engine exists.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import array_api_compat as aac

from ._namespace import namespace_of

__all__ = [
    "X64",
    "X64_ENTER",
    "X64_RESTORE",
    "in_precision",
    "in_x64",
    "is_64bit",
    "needs_x64",
    "precision_scope",
    "x64_switch",
]

#: The thread-local 64-bit state (``jax.enable_x64``): ``X64.value`` reads it, ``X64(True)``
#: is a context entering it. ``None`` until :func:`x64_switch` first runs.
X64: Any = None
#: ``prev = X64_ENTER(True)`` puts this thread in 64-bit mode and ``X64_RESTORE(prev)`` takes
#: it back (see :func:`_thread_switch`); ``None`` where only the context ``X64(True)`` works.
X64_ENTER: Any = None
X64_RESTORE: Any = None

_FLOATING = ("real floating", "complex floating")


def is_64bit(a: Any) -> bool:
    """Whether ``a``'s dtype needs JAX's 64-bit mode: 64-bit real or integer, 128-bit complex.

    These are the dtypes JAX truncates (to float32, int32, complex64) outside the mode.
    Objects without a dtype (Python floats, which JAX types weakly) never need it.
    Reads ``itemsize`` where the dtype has one (numpy, JAX, torch: a few attribute reads);
    for other dtypes (array-api-strict) asks the array's namespace for the width of the
    dtype's real components, without converting ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> is_64bit(np.ones(2)), is_64bit(np.ones(2, np.float32)), is_64bit(np.ones(2, np.int64))
    (True, False, True)
    >>> is_64bit(np.ones(2, np.complex128)), is_64bit(np.ones(2, np.complex64)), is_64bit(1.0)
    (True, False, False)
    """
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        return False
    size = getattr(dtype, "itemsize", None)
    if size is None:
        return _components_are_64bit(namespace_of(a), dtype)
    complex_ = getattr(dtype, "kind", "") == "c" or bool(getattr(dtype, "is_complex", False))
    return bool(size == 16 or (size == 8 and not complex_))


def _components_are_64bit(xp: ModuleType, dtype: Any) -> bool:
    """The Array API way: ``finfo`` gives the real component's width of complex dtypes too."""
    if xp.isdtype(dtype, _FLOATING):
        return bool(xp.finfo(dtype).bits == 64)
    if xp.isdtype(dtype, "integral"):
        return bool(xp.iinfo(dtype).bits == 64)
    return False


class _OldJAXSwitch:
    """``jax.enable_x64``'s interface (``.value``, a call giving a context) for JAX < 0.8.

    Its ``value`` is always false, so the mode is always entered (a context, nestable).
    """

    value = False

    def __call__(self, on: bool) -> contextlib.AbstractContextManager[Any]:
        return sys.modules["jax"].experimental.enable_x64(on)  # type: ignore[no-any-return]


def _thread_switch(switch: Any) -> tuple[Any, Any]:
    """``(enter, restore)``: ``prev = enter(True)`` puts this thread in 64-bit mode and
    ``restore(prev)`` takes it back, which is what ``with jax.enable_x64(True)`` does, without
    building a context object (several times cheaper). ``(None, None)`` for a JAX
    without these methods, or with a hook the context manager would run on a change."""
    enter, restore = getattr(switch, "swap_local", None), getattr(switch, "set_local", None)
    if enter is None or restore is None or getattr(switch, "_update_thread_local_hook", None):
        return None, None
    return enter, restore


def x64_switch() -> Any:
    """JAX's thread-local 64-bit switch: ``switch.value`` says whether this thread is in
    64-bit mode (one attribute read), ``with switch(True):`` enters it.

    Resolved from the loaded JAX on the first call, which also sets :data:`X64`,
    :data:`X64_ENTER` and :data:`X64_RESTORE`; later calls return the cached switch.
    Preparations keep the switch, so that a prepared call already in 64-bit mode pays one
    attribute read instead of building a context.
    """
    switch = X64
    if switch is None:
        switch = _resolve()
    return switch


def _resolve() -> Any:
    global X64, X64_ENTER, X64_RESTORE  # noqa: PLW0603 - one fact about the loaded JAX
    state = getattr(sys.modules["jax"], "enable_x64", None)
    switch = state if hasattr(state, "value") else _OldJAXSwitch()
    X64_ENTER, X64_RESTORE = _thread_switch(switch)
    X64 = switch  # set last: whoever sees X64 set sees the methods set too
    return switch


def needs_x64(xp: ModuleType, *arrays: Any) -> bool:
    """Whether work on these arrays of ``xp`` must run in JAX's 64-bit mode."""
    return bool(aac.is_jax_namespace(xp)) and any(is_64bit(a) for a in arrays)


def precision_scope(xp: ModuleType, *arrays: Any) -> contextlib.AbstractContextManager[Any]:
    """A context in which JAX keeps 64-bit dtypes, if ``xp`` is JAX and any array is 64-bit.

    For every other namespace (and 32-bit JAX work) this is a no-op context.
    """
    if needs_x64(xp, *arrays):
        switch = x64_switch()
        if not switch.value:  # already 64-bit in this thread: nothing to enter
            return switch(True)  # type: ignore[no-any-return]
    return contextlib.nullcontext()


def in_precision(x64: bool, fun: Callable[..., Any], *args: Any) -> Any:
    """``fun(*args)`` inside the 64-bit mode if ``x64`` and the thread is not in it yet."""
    if not x64 or x64_switch().value:
        return fun(*args)
    return in_x64(fun, *args)


def in_x64(fun: Callable[..., Any], *args: Any) -> Any:
    """``fun(*args)`` with this thread switched into 64-bit mode, then back (callers have
    found it out of that mode, so :func:`x64_switch` has run): the state's own switch when
    JAX has it, else the context."""
    if X64_ENTER is None:
        with x64_switch()(True):
            return fun(*args)
    previous = X64_ENTER(True)
    try:
        return fun(*args)
    finally:
        X64_RESTORE(previous)

"""What ``f`` reads besides its arguments, so that an unprepared call never reuses a stale
preparation.

Engines that trace ``f`` once (JAX's ``jit``, the sparsity tracer) bake into their preparation
everything ``f`` reads besides its arguments: a bound method's attributes, closure variables,
globals, the contents of arrays among them. A prepared call keeps that state by design, as
``jax.jit`` does; an *unprepared* call must give what a fresh preparation would. A
:class:`Witness` records that state at preparation and tells, at every later unprepared call,
whether it is unchanged; if not, the call prepares again.

The state is recorded once, at preparation, as a flat list of checks (where to look, what
was there), so that checking it costs a loop over a few lookups, not a new walk. What is
observed, starting from ``f`` (a function, a bound method, a ``functools.partial`` or
a callable object):

* a Python function's code object, defaults, closure cells and the globals its code names;
* objects reached from there (a bound method's ``self``, instances, user modules): their
  attributes whose names the code of ``f`` or of the object's own class uses (``self.w``
  makes ``w`` a name), in the instance dictionary or slots, or in the class (constants,
  methods, properties' getters);
* containers (tuple, list, dict, set) element by element;
* arrays: numpy, CuPy and array-api-strict arrays by content (a copy is kept), torch tensors
  by identity and version counter (bumped by every in-place change), JAX and dask arrays,
  which are immutable, by identity;
* scalars and strings by value; functions of libraries (numpy, jax, torch, ...) not at all.

What is not observed (pass such data as :class:`~differentiation_interface.Constant`
contexts, or prepare explicitly): state reached by names the code does not spell (``getattr``
with a computed name, ``vars``, a class's ``__getattr__``, the internals of library objects,
C extensions). A state too large to observe (more than
:data:`MAX_CHECKS` values) makes the cache give up on that function: each unprepared call then
prepares afresh.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ._array import is_array, namespace_of

__all__ = ["MAX_CHECKS", "Witness"]

#: Most values a witness observes; beyond, the function is not cached.
MAX_CHECKS = 4096
#: How deep references are followed from ``f``.
MAX_DEPTH = 8

# Packages whose functions and objects are library code, not the user's state.
_LIBRARIES = frozenset(
    {
        "array_api_compat",
        "array_api_extra",
        "array_api_strict",
        "autograd",
        "builtins",
        "cupy",
        "cupyx",
        "dask",
        "differentiation_interface",
        "functools",
        "jax",
        "jaxlib",
        "math",
        "numpy",
        "operator",
        "scipy",
        "torch",
        "typing",
    }
)
_SCALARS = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis))
_MISSING: Any = object()


class _TooLargeError(Exception):
    """The state exceeds :data:`MAX_CHECKS`."""


# --- where a value is looked up again ----------------------------------------------------------


def _in_dict(d: dict[Any, Any], key: Any) -> Any:
    return d.get(key, _MISSING)


def _in_cell(cell: Any, _: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name assigned later)
        return _MISSING


def _attribute(obj: Any, name: str) -> Any:
    return getattr(obj, name, _MISSING)


def _in_class(kind: type, name: str) -> Any:
    for k in kind.__mro__:
        if name in vars(k):
            return vars(k)[name]
    return _MISSING


def _item(seq: Any, i: int) -> Any:
    return seq[i] if i < len(seq) else _MISSING


def _length(seq: Any, _: Any) -> int:
    return len(seq)


def _keys(d: dict[Any, Any], _: Any) -> tuple[Any, ...]:
    return tuple(d)


def _frozen(s: Any, _: Any) -> frozenset[Any]:
    return frozenset(s)


Fetch = Callable[[Any, Any], Any]


# --- what was there ----------------------------------------------------------------------------


class _Same:
    """An object compared by identity (it is descended into, or opaque)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def matches(self, value: Any) -> bool:
        return value is self.obj


class _Equal:
    """A scalar, string or other immutable value compared by value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def matches(self, value: Any) -> bool:
        before = self.value
        if value is before:
            return True
        if type(value) is not type(before):
            return False
        if isinstance(before, float) and before != before:  # noqa: PLR0124 - NaN
            return bool(value != value)  # noqa: PLR0124
        try:
            return bool(value == before)
        except Exception:  # noqa: BLE001 - incomparable values are different
            return False


class _ArrayState:
    """An array's contents: by version counter (torch), identity (immutable JAX and dask
    arrays), its bytes (numpy: comparing bytes is the cheapest test, and NaN equals itself)
    or a copy kept at preparation (CuPy, array-api-strict)."""

    __slots__ = ("array", "copy", "dtype", "shape", "version")

    def __init__(self, array: Any) -> None:
        self.array = array
        self.shape, self.dtype = array.shape, array.dtype
        self.version = getattr(array, "_version", None)  # torch: bumped by in-place writes
        self.copy: Any = None
        if isinstance(array, np.ndarray):
            self.copy = array.tobytes()
        elif self.version is None and _mutable(array):
            self.copy = namespace_of(array).asarray(array, copy=True)

    def matches(self, array: Any) -> bool:
        copy = self.copy
        if copy is None:
            return array is self.array and getattr(array, "_version", None) == self.version
        if type(array) is not type(self.array) or array.shape != self.shape:
            return False
        if array.dtype != self.dtype:
            return False
        if isinstance(copy, bytes):
            return bool(array.tobytes() == copy)
        xp = namespace_of(array)
        return bool(xp.all((array == copy) | (xp.isnan(array) & xp.isnan(copy))))


def _mutable(array: Any) -> bool:
    """Arrays whose contents may change in place without a version counter."""
    return type(array).__module__.partition(".")[0] not in ("jax", "jaxlib", "dask")


# --- recording ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _names(code: types.CodeType) -> frozenset[str]:
    """Every attribute and global name a code object (and the code nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return frozenset(names)


def _library_module(name: Any) -> bool:
    return isinstance(name, str) and name.partition(".")[0] in _LIBRARIES


def _library(obj: Any) -> bool:
    """Functions and objects of libraries (their state is not the user's)."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = type(obj).__module__
    return _library_module(module)


@functools.lru_cache(maxsize=256)
def _class_names(kind: type) -> frozenset[str]:
    """The names the methods and properties of a user class use (library bases excluded)."""
    names: set[str] = set()
    for k in kind.__mro__:
        if _library(k):
            continue
        for member in vars(k).values():
            fun = member.fget if isinstance(member, property) else member
            fun = getattr(fun, "__func__", fun)  # staticmethod, classmethod
            if isinstance(fun, types.FunctionType):
                names |= _names(fun.__code__)
    return frozenset(names)


class _Recorder:
    """Builds the checks of a witness by following references from ``f``."""

    def __init__(self) -> None:
        self.checks: list[tuple[Fetch, Any, Any, Any]] = []
        self.seen: set[int] = set()

    def add(self, fetch: Fetch, where: Any, key: Any, expected: Any) -> None:
        self.checks.append((fetch, where, key, expected))
        if len(self.checks) > MAX_CHECKS:
            raise _TooLargeError

    def value(self, fetch: Fetch, where: Any, key: Any, names: frozenset[str], depth: int) -> None:
        """Record what ``fetch(where, key)`` gives now, and what lies inside it."""
        value = fetch(where, key)
        if isinstance(value, _SCALARS) or value is _MISSING:
            self.add(fetch, where, key, _Equal(value))
            return
        if is_array(value):
            self.add(fetch, where, key, _ArrayState(value))
            return
        self.add(fetch, where, key, _Same(value))
        if depth < MAX_DEPTH and id(value) not in self.seen:
            self.seen.add(id(value))
            self.inside(value, names, depth + 1)

    def inside(self, obj: Any, names: frozenset[str], depth: int) -> None:
        """Record what an object (already checked by identity) holds."""
        if isinstance(obj, (tuple, list)):
            self.add(_length, obj, None, _Equal(len(obj)))
            for i in range(len(obj)):
                self.value(_item, obj, i, names, depth)
        elif isinstance(obj, dict):
            self.add(_keys, obj, None, _Equal(tuple(obj)))
            for key in tuple(obj):
                self.value(_in_dict, obj, key, names, depth)
        elif isinstance(obj, (set, frozenset)):
            self.add(_frozen, obj, None, _Equal(frozenset(obj)))
        elif isinstance(obj, types.ModuleType):
            if not _library_module(obj.__name__):
                for name in sorted(names & obj.__dict__.keys()):
                    self.value(_in_dict, obj.__dict__, name, names, depth)
        elif isinstance(obj, type):
            pass  # classes: identity only
        elif _library(obj):  # library code: identity only, but what it wraps is the user's
            if getattr(obj, "__wrapped__", None) is not None:
                self.value(_attribute, obj, "__wrapped__", names, depth)
        elif isinstance(obj, types.MethodType):
            self.value(_attribute, obj, "__func__", names, depth)
            self.value(_attribute, obj, "__self__", names, depth)
        elif isinstance(obj, functools.partial):
            for name in ("func", "args", "keywords"):
                self.value(_attribute, obj, name, names, depth)
        elif isinstance(obj, types.FunctionType):
            self.function(obj, depth)
        elif not isinstance(obj, (types.BuiltinFunctionType, types.CodeType)):
            kind: type = type(obj)
            self.instance(obj, names | _class_names(kind), depth)

    def function(self, fun: types.FunctionType, depth: int) -> None:
        names = _names(fun.__code__)
        for name in ("__code__", "__defaults__", "__kwdefaults__"):
            self.value(_attribute, fun, name, names, depth)
        for cell in fun.__closure__ or ():
            self.value(_in_cell, cell, None, names, depth)
        module_globals = fun.__globals__
        for name in sorted(names & module_globals.keys()):
            self.value(_in_dict, module_globals, name, names, depth)

    def instance(self, obj: Any, names: frozenset[str], depth: int) -> None:
        """The attributes code may read: those it names, in the instance (dictionary or
        slots) or its class (constants, methods, properties)."""
        own = getattr(obj, "__dict__", None)
        kind = type(obj)
        self.add(_attribute, obj, "__class__", _Same(kind))
        for name in sorted(names):
            if own is not None:
                self.value(_in_dict, own, name, names, depth)  # _MISSING recorded too
                if name in own:
                    continue
            member = _in_class(kind, name)
            if member is _MISSING:
                continue
            if type(member).__name__ == "member_descriptor":  # a slot
                self.value(_attribute, obj, name, names, depth)
            else:  # constants, methods, properties: through the class
                self.value(_in_class, kind, name, names, depth)
                inner = member.fget if isinstance(member, property) else member
                inner = getattr(inner, "__func__", inner)
                if inner is not member and isinstance(inner, types.FunctionType):
                    self.inside(inner, names, depth + 1)


_GLOBAL, _ATTRIBUTE = 0, 1
_CALL = 2
_KIND: dict[Any, int] = {_in_dict: _GLOBAL, _attribute: _ATTRIBUTE}


class Witness:
    """The state ``f`` reads besides its arguments, as it was at preparation (see the
    module docstring; tested in ``tests/core/test_freshness.py``)."""

    __slots__ = ("_checks", "_plan")

    def __init__(self, checks: list[tuple[Fetch, Any, Any, Any]]) -> None:
        self._checks = checks
        # The same checks, in the same order, with the common ones (a global or an attribute
        # that must still be the same object) as inline identity tests: ``holds`` runs before
        # every reuse by an unprepared call, whose whole cost is a few microseconds.
        self._plan: list[tuple[int, Any, Any, Any, Any]] = []
        for fetch, where, key, expected in checks:
            if type(expected) is _Same:
                same: Any = expected.obj
            elif type(expected) is _Equal and expected.value is None:  # no defaults, say
                same = None
            else:
                self._plan.append((_CALL, where, key, expected, fetch))
                continue
            kind = _KIND.get(fetch, _CALL)
            if kind == _CALL:
                self._plan.append((kind, where, key, expected, fetch))
            else:
                self._plan.append((kind, where, key, same, None))

    @property
    def nbytes(self) -> int:
        """Bytes of the copies the witness keeps."""
        total = 0
        for *_, expected in self._checks:
            if isinstance(expected, _ArrayState) and expected.copy is not None:
                copy = expected.copy
                total += len(copy) if isinstance(copy, bytes) else int(copy.nbytes)
        return total

    @classmethod
    def of(cls, f: Any) -> Witness | None:
        """The witness of ``f`` now, or ``None`` if its state is too large to observe."""
        recorder = _Recorder()
        try:
            recorder.inside(f, frozenset(), 0)
        except _TooLargeError:
            return None
        return cls(recorder.checks)

    def without_changes_since(self, before: Witness | None) -> Witness | None:
        """This witness less what changed since ``before`` was taken of the same ``f``: state
        that ``f`` itself wrote while it was prepared (call counters, logs, caches) is its
        output, not its input, and must not make every later call prepare again."""
        if before is None:
            return None
        earlier = {(fetch, id(where), key): seen for fetch, where, key, seen in before._checks}
        kept = []
        for fetch, where, key, expected in self._checks:
            seen = earlier.get((fetch, id(where), key))
            if seen is not None and seen.matches(fetch(where, key)):
                kept.append((fetch, where, key, expected))
        return Witness(kept)

    def holds(self) -> bool:
        """Whether everything recorded is as it was (checks run in recording order, so an
        object is known to be the same before what lies inside it is looked up)."""
        for kind, where, key, expected, fetch in self._plan:
            if kind == _GLOBAL:
                if where.get(key, _MISSING) is not expected:
                    return False
            elif kind == _ATTRIBUTE:
                if getattr(where, key, _MISSING) is not expected:
                    return False
            elif not expected.matches(fetch(where, key)):
                return False
        return True

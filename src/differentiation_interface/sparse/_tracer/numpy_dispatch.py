"""numpy functions called on traced arrays: dispatch by function object, numpy's signature.

numpy's ``__array_function__`` protocol hands ``np.xxx(traced, ...)`` to :func:`call`. The
dispatch is safe by construction:

- A numpy function is handled only by an implementation registered for that very function
  object with :func:`implements`, never looked up by name: ``np.diagonal`` (axes 0 and 1)
  and ``np.linalg.diagonal`` (the last two axes) are different functions.
- The arguments are bound against numpy's own signature, so a positional argument gets
  numpy's meaning (``np.diff(x, 2)`` is ``n=2``, ``np.tensordot(a, b, 2)`` is ``axes=2``).
- An implementation names the arguments it implements: its own parameters (it is then
  called with them by keyword, each default equal to numpy's), or the ``arguments`` given to
  :func:`implements` (it then receives a :class:`NumpyCall`, which can re-run numpy's own
  function on element numbers, known values or samples). Any other argument raises
  :class:`~.core.TracingError` naming the function and the argument, unless it is given at
  numpy's default value. Nothing is dropped, nothing is bound to another meaning.

Functions numpy implements as ufuncs (``np.sin``, ``np.add``, ``np.matmul``) arrive through
``__array_ufunc__`` instead (:func:`call_ufunc`); they are matched by ufunc object too, and
their options (``out``, ``where``, ``dtype``, ...) are refused unless at their defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from ...errors import ArgumentTypeError
from .core import TracedArray, TracingError, unsupported
from .creation import asarray

__all__ = [
    "NO_VALUE",
    "NumpyCall",
    "NumpyFunction",
    "array_like",
    "call",
    "implements",
    "numpy_name",
    "registry",
    "resolve",
]

F = TypeVar("F", bound=Callable[..., Any])

#: numpy's marker of an argument left out (``keepdims=<no value>``)
NO_VALUE: Any = getattr(np, "_NoValue", object())

#: what an argument whose numpy default is ``NO_VALUE`` means when left out
_NO_VALUE_MEANS: dict[str, Any] = {"where": True, "keepdims": False}

#: what to write instead of an argument the tracer does not implement
_HINTS = {
    "out": "Assign the result instead: `y[...] = result`.",
    "where": "Select with np.where(condition, x, 0) before reducing.",
    "dtype": "Convert the result with xp.astype instead.",
    "casting": "Leave `casting` at its default.",
    "order": "Use order='C' or order='F'.",
    "copy": "Leave `copy` at its default.",
    "overwrite_input": "Leave `overwrite_input=False`.",
}

_REGISTRY: dict[Any, NumpyFunction] = {}


def array_like(value: Any) -> Any:
    """``value``, with a list or tuple (of numbers or traced arrays) as one array, as numpy
    reads its array arguments; other values (Python scalars stay weakly typed) unchanged."""
    if isinstance(value, list | tuple):
        return asarray(value)
    return value


def numpy_name(function: Any) -> str:
    """``numpy.linalg.inv`` for ``np.linalg.inv``: how messages name a numpy function."""
    module = getattr(function, "__module__", None) or "numpy"
    if not module.startswith("numpy") or "._" in module:
        module = "numpy"
    return f"{module}.{getattr(function, '__name__', repr(function))}"


def resolve(dotted: str) -> Any:
    """``np.linalg.inv`` for ``"linalg.inv"``; ``None`` if this numpy version lacks it."""
    target: Any = np
    for part in dotted.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def registry() -> dict[Any, NumpyFunction]:
    """Every numpy function the tracer implements, by function object."""
    return dict(_REGISTRY)


def implements(*names: str, arguments: Iterable[str] | None = None) -> Callable[[F], F]:
    """Register the decorated function as the tracer's implementation of numpy ``names``.

    Parameters
    ----------
    *names
        numpy functions by dotted name below ``numpy`` (``"sum"``, ``"linalg.inv"``); those
        this numpy version lacks are skipped.
    arguments
        ``None``: the implementation's parameters are the numpy arguments it implements,
        under numpy's names and with numpy's defaults; it is called with them by keyword
        (and with numpy's ``*args``, if it has one, positionally). Otherwise the names of
        the numpy arguments the implementation understands; it is called with one
        :class:`NumpyCall`.
    """

    def register(implementation: F) -> F:
        for name in names:
            function = resolve(name)
            if function is not None:
                _REGISTRY[function] = NumpyFunction(
                    function, f"numpy.{name}", implementation, arguments
                )
        return implementation

    return register


def call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``function(*args, **kwargs)`` for a numpy ``function`` called on traced arrays."""
    entry = _REGISTRY.get(function)
    if entry is None:
        raise unsupported(numpy_name(function), "The tracer does not implement it.")
    return entry(args, kwargs)


class NumpyCall:
    """One call of a numpy function, its arguments bound to numpy's signature.

    ``arguments`` holds the arguments given (``np._NoValue`` ones left out). :meth:`run`
    calls numpy's own function with the same arguments, some replaced (element numbers,
    say), traced arrays among the others replaced by their known values or by samples.
    """

    __slots__ = ("arguments", "function", "name", "signature")

    def __init__(
        self, function: Any, name: str, signature: inspect.Signature, arguments: dict[str, Any]
    ) -> None:
        self.function = function
        self.name = name
        self.signature = signature
        self.arguments = arguments

    def get(self, argument: str, default: Any = None) -> Any:
        """The argument ``argument`` if given, else ``default``."""
        return self.arguments.get(argument, default)

    def known(self) -> bool:
        """Whether every traced array among the arguments has known values."""
        return all(a.value is not None for a in _traced(self.arguments.values()))

    def traced(self) -> list[TracedArray]:
        """The traced arrays among the arguments (also inside lists and tuples)."""
        return _traced(self.arguments.values())

    def run(self, *, sample: bool = False, **replace: Any) -> Any:
        """numpy's function on the arguments, ``replace`` substituted.

        Traced arrays among the other arguments are replaced by their known values; with
        ``sample``, arrays of unknown values by zeros (``True`` for booleans), which lets
        numpy check the arguments and tell the result's shape and dtype. Without it, they
        raise: the argument must be known at tracing time.
        """
        arguments = {
            name: replace[name] if name in replace else self._value(name, value, sample)
            for name, value in self.arguments.items()
        }
        bound = inspect.BoundArguments(self.signature, arguments)
        with np.errstate(all="ignore"):
            return self.function(*bound.args, **bound.kwargs)

    def constant(self) -> Any:
        """numpy's result on the known values, as traced arrays of known values."""
        return _wrap(self.run(), known=True)

    def opaque(self) -> Any:
        """Traced arrays of unknown values shaped like numpy's result (on samples): the
        result of a function whose derivative vanishes (indices, booleans, roundings)."""
        return _wrap(self.run(sample=True), known=False)

    def value(self, argument: str, default: Any = None) -> Any:
        """The argument ``argument`` with traced arrays replaced by their known values
        (raises if one is unknown)."""
        if argument not in self.arguments:
            return default
        return self._value(argument, self.arguments[argument], sample=False)

    def _value(self, argument: str, value: Any, sample: bool) -> Any:
        if isinstance(value, TracedArray):
            value.check_fresh()
            if value.value is not None:
                return value.value
            if sample:
                fill = np.ones if value.dtype == np.bool_ else np.zeros
                return fill(value.shape, dtype=value.dtype)
            msg = f"{self.name}(..., {argument}=...)"
            raise unsupported(
                msg,
                f"`{argument}` must be known at tracing time (an array f creates or closes "
                "over), not computed from x or passed as a Constant context.",
            )
        if type(value) in (list, tuple):
            return type(value)(self._value(argument, v, sample) for v in value)
        if type(value) is dict:
            return {k: self._value(argument, v, sample) for k, v in value.items()}
        return value


def _wrap(result: Any, *, known: bool) -> Any:
    """numpy's ``result`` with its arrays and scalars as traced arrays."""
    if isinstance(result, np.ndarray | np.generic | bool | int | float | complex):
        array = np.asarray(result)
        return TracedArray(array.shape, array.dtype, value=array if known else None)
    if isinstance(result, tuple) and hasattr(result, "_fields"):  # named tuples
        return type(result)(*(_wrap(r, known=known) for r in result))
    if isinstance(result, list | tuple):
        return type(result)(_wrap(r, known=known) for r in result)
    return result


def _traced(values: Iterable[Any]) -> list[TracedArray]:
    found: list[TracedArray] = []
    for value in values:
        if isinstance(value, TracedArray):
            found.append(value)
        elif type(value) in (list, tuple):
            found.extend(_traced(value))
        elif type(value) is dict:
            found.extend(_traced(value.values()))
    return found


class NumpyFunction:
    """The tracer's implementation of one numpy function (see the module docstring)."""

    __slots__ = ("_signature", "accepted", "by_call", "function", "implementation", "name")

    def __init__(
        self,
        function: Any,
        name: str,
        implementation: Callable[..., Any],
        arguments: Iterable[str] | None,
    ) -> None:
        self.function = function
        self.name = name
        self.implementation = implementation
        self.by_call = arguments is not None
        if arguments is None:
            parameters = inspect.signature(implementation).parameters
            self.accepted = frozenset(parameters)
        else:
            self.accepted = frozenset(arguments)
        self._signature: inspect.Signature | None = None

    @property
    def signature(self) -> inspect.Signature:
        """numpy's signature of the function (computed once, on first use)."""
        if self._signature is None:
            self._signature = self._numpy_signature()
        return self._signature

    def _numpy_signature(self) -> inspect.Signature:
        try:
            return inspect.signature(self.function)
        except (TypeError, ValueError):
            if self.by_call:
                msg = self.name
                raise unsupported(
                    msg, "This numpy version does not expose its signature; use numpy >= 2."
                ) from None
            # Older numpy: bind against the implementation, which names numpy's arguments
            # in numpy's order; what it does not name cannot be bound, hence raises.
            return inspect.signature(self.implementation)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        signature = self.signature
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            msg = (
                f"Sparsity detection: f calls `{self.name}` with arguments its signature "
                f"{self.name}{signature} does not accept ({err})."
            )
            raise ArgumentTypeError(msg) from None
        arguments: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if value is NO_VALUE:
                continue
            parameter = signature.parameters[name]
            if name in self.accepted:
                arguments[name] = value
            elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
                if value:
                    raise self.refusal(", ".join(sorted(value)), value)
            elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    msg_0 = f"*{name}"
                    raise self.refusal(msg_0, value)
            elif not _is_default(name, value, parameter.default):
                raise self.refusal(name, value)
        if self.by_call:
            return self.implementation(NumpyCall(self.function, self.name, signature, arguments))
        positional: tuple[Any, ...] = ()
        keywords: dict[str, Any] = {}
        for name, value in arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                positional = tuple(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                keywords.update(value)
            else:
                keywords[name] = value
        return self.implementation(*positional, **keywords)

    def refusal(self, argument: str, value: Any) -> TracingError:
        """The error for an argument this implementation does not implement."""
        hint = _HINTS.get(
            argument, f"Call {self.name} without `{argument}`, or write it differently."
        )
        return unsupported(
            f"{self.name}(..., {argument}=...)",
            f"The tracer implements {self.name} but not its argument `{argument}` (given "
            f"{_describe(value)}). {hint}",
        )


def _is_default(name: str, value: Any, default: Any) -> bool:
    """Whether an argument given explicitly equals numpy's default (so may be ignored)."""
    if default is inspect.Parameter.empty:
        return False
    if default is NO_VALUE:
        if name not in _NO_VALUE_MEANS:
            return False
        default = _NO_VALUE_MEANS[name]
    if value is default:
        return True
    if isinstance(default, bool | np.bool_):
        return isinstance(value, bool | np.bool_) and bool(value) == bool(default)
    if isinstance(default, int | float | str | tuple):
        return type(value) is type(default) and bool(value == default)
    return False


def _describe(value: Any) -> str:
    if isinstance(value, TracedArray | np.ndarray):
        return f"an array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"

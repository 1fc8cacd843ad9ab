"""``--function module:callable --x SHAPE``: the user's own function, as scenarios.

Every mistake a user can make here (a module that does not import, a name that is missing
or not callable, a shape that cannot be read or that ``f`` rejects, an operator ``f`` does
not fit) raises :class:`UsageError` with one line saying what is wrong and how to fix it;
the command line prints it and exits with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._array import convert, namespace_of
from ..operators._table import NAMES, OPERATORS
from ..testing.scenarios import Scenario

__all__ = ["UsageError", "applicable", "load_function", "parse_shape", "user_scenarios"]


class UsageError(Exception):
    """Bad command-line input: the message is one line, with the fix."""


def load_function(spec: str) -> Callable[..., Any]:
    """The callable named by ``module:callable`` (``module`` importable from here).

    Examples
    --------
    >>> from differentiation_interface._cli._function import load_function
    >>> load_function("math:sin")(0.0)
    0.0
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        msg = (
            f"--function {spec!r} is not of the form module:callable; write e.g. "
            "--function mymodule:f (mymodule.py in the current directory or on PYTHONPATH)"
        )
        raise UsageError(msg)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name):
            msg = (
                f"--function {spec!r}: no module named {module_name!r}; run from the "
                f"directory holding {module_name.split('.')[0]}.py or add it to PYTHONPATH"
            )
        else:
            msg = f"--function {spec!r}: importing {module_name!r} failed: {err}"
        raise UsageError(msg) from None
    except Exception as err:  # noqa: BLE001 - the user's module failed: say so, in one line
        msg = f"--function {spec!r}: importing {module_name!r} raised {type(err).__name__}: {err}"
        raise UsageError(msg) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = _own_callables(module)
            listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            msg = (
                f"--function {spec!r}: {module_name!r} has no attribute {attribute!r}; "
                f"its callables: {listed or 'none'}"
            )
            raise UsageError(msg)
        target = getattr(target, part)
    if not callable(target):
        kind = type(target).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        msg = (
            f"--function {spec!r} is {article} {kind}, not a callable; "
            "name a function f(x) -> array"
        )
        raise UsageError(msg)
    return target  # type: ignore[no-any-return]


def _own_callables(module: Any) -> list[str]:
    """The public callables a module defines itself (not those it imports)."""
    return [
        name
        for name in sorted(vars(module))
        if not name.startswith("_")
        and callable(value := getattr(module, name))
        and getattr(value, "__module__", None) == module.__name__
    ]


def parse_shape(text: str) -> tuple[int, ...]:
    """``"10"``, ``"3,4"``, ``"3x4"`` or ``"()"`` (a 0-d ``x``) as a shape.

    Examples
    --------
    >>> from differentiation_interface._cli._function import parse_shape
    >>> parse_shape("3x4"), parse_shape("10"), parse_shape("()")
    ((3, 4), (10,), ())
    """
    cleaned = text.strip().strip("()[]").replace("x", ",").replace(" ", "")
    if not cleaned:
        return ()
    try:
        shape = tuple(int(part) for part in cleaned.split(",") if part)
    except ValueError:
        shape = (-1,)
    if any(n < 0 for n in shape):
        msg = f"--x {text!r} is not a shape; write e.g. --x 10, --x 3,4 or --x '()' (0-d)"
        raise UsageError(msg)
    return shape


def applicable(operator: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> str | None:
    """Why ``operator`` does not fit these shapes of ``x`` and ``f(x)``, or None."""
    spec = OPERATORS[operator]
    if spec.scalar_input and x_shape != ():
        return f"{operator} needs a 0-d x (--x '()'); x has shape {x_shape}"
    if spec.scalar_output and y_shape != ():
        return f"{operator} needs f(x) to be 0-d; f(x) has shape {y_shape}"
    return None


def user_scenarios(
    f: Callable[..., Any],
    shape: tuple[int, ...],
    dtype: Any,
    operators: Sequence[str] | None,
    xp: Any = np,
    device: Any = None,
) -> list[Scenario]:
    """One scenario per operator that fits ``f``, at a random ``x`` (seed 0), no references.

    Tangents and cotangents are random too. With ``operators=None`` every operator that fits
    the shapes of ``x`` and ``f(x)`` is used; a requested one that does not fit is an error.
    """
    rng = np.random.default_rng(0)

    def random(like_shape: tuple[int, ...]) -> Any:
        values = np.asarray(rng.standard_normal(like_shape), dtype=dtype)
        return convert(values, xp, device)

    x = random(shape)
    try:
        y = f(x)
    except Exception as err:  # noqa: BLE001 - the user's function: one line, not a traceback
        msg = (
            f"f rejected x of shape {shape} and dtype {np.dtype(dtype).name}: "
            f"{type(err).__name__}: {err}; pass --x with a shape f accepts"
        )
        raise UsageError(msg) from None
    try:
        y_shape = tuple(namespace_of(y).asarray(y).shape)
    except Exception:  # noqa: BLE001 - not an array: say what it is
        msg = f"f(x) returned {type(y).__name__!r}, not an array; make f return an array"
        raise UsageError(msg) from None
    if operators is None:
        chosen = [op for op in NAMES if applicable(op, shape, y_shape) is None]
    else:
        chosen = list(operators)
        for op in chosen:
            reason = applicable(op, shape, y_shape)
            if reason is not None:
                msg = f"--operator {op}: {reason}; choose another --operator or --x"
                raise UsageError(msg)
    name = getattr(f, "__name__", "f")
    scenarios = []
    for op in chosen:
        seeds = OPERATORS[op].seeds
        tangents = None
        if seeds is not None:
            tangents = (random(shape if seeds == "x" else y_shape),)
        scenarios.append(Scenario(f, x, operator=op, tangents=tangents, name=f"{op}:{name}"))
    return scenarios

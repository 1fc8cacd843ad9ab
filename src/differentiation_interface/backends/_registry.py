"""Find the engine of a backend selector by name, importing it on first use only."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from typing import Any

from ..adtypes import AbstractBackend, MixedMode, SecondOrder
from ..errors import ArgumentTypeError, BackendUnavailableError
from ._base import Engine

__all__ = ["check_available", "check_inplace", "engine_for"]

_lock = threading.Lock()
_engines: dict[AbstractBackend, Engine] = {}


def _parts(backend: AbstractBackend) -> tuple[AbstractBackend, ...]:
    """The selectors a composite selector is made of (itself for a plain one)."""
    children = getattr(backend, "_parts", None)
    if children is not None:
        return tuple(p for child in children() for p in _parts(child))
    if isinstance(backend, SecondOrder):
        return (*_parts(backend.outer), *_parts(backend.inner))
    return (backend,)


def _check_selector(backend: Any) -> None:
    if not isinstance(backend, AbstractBackend):
        msg = (
            f"Expected a backend selector such as di.AutoFiniteDiff() or di.AutoJAX(); "
            f"got {backend!r} of type {type(backend).__name__}."
        )
        raise ArgumentTypeError(msg)


def engine_for(backend: AbstractBackend) -> Engine:
    """The engine of ``backend``, imported and built on first use, then cached.

    Raises
    ------
    BackendUnavailableError
        If a package the engine needs is not installed.
    """
    engine = _engines.get(backend)
    if engine is not None:
        return engine
    _check_selector(backend)
    for part in _parts(backend):
        # a private requirement (AutoSparse's _SciPy) is named by the selector the user wrote
        shown = type(part).__name__
        if shown.startswith("_"):
            shown = type(backend).__name__
        for module in type(part)._requires:
            if importlib.util.find_spec(module) is None:
                msg = (
                    f"{shown} needs the '{module}' package, which is not "
                    f'installed. Install it with: pip install "differentiation-interface'
                    f'[{type(part)._extra}]"'
                )
                raise BackendUnavailableError(msg, name=module)
    module_name, _, class_name = type(backend)._engine.partition(":")
    try:
        engine_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as err:
        msg = (
            f"{type(backend).__name__} could not load its engine ({err}). Reinstall it with: "
            f'pip install "differentiation-interface[{type(backend)._extra or "all"}]"'
        )
        raise BackendUnavailableError(msg, name=err.name) from err
    engine = engine_class(backend)
    with _lock:
        engine = _engines.setdefault(backend, engine)
    return engine


def check_available(backend: object) -> bool:
    """Whether the engine(s) behind ``backend`` are installed.

    Never raises and never imports an engine: it only asks the import system whether the
    packages exist.

    Parameters
    ----------
    backend : AbstractBackend
        A backend selector (composite selectors need every part available).

    Returns
    -------
    bool
        ``True`` if every package the backend needs can be imported.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.check_available(di.AutoFiniteDiff())
    True
    """
    if not isinstance(backend, AbstractBackend):
        return False
    try:
        return all(
            importlib.util.find_spec(module) is not None
            for part in _parts(backend)
            for module in type(part)._requires
        )
    except (ImportError, ValueError):  # a broken install counts as unavailable
        return False


def check_inplace(backend: AbstractBackend) -> bool:
    """Whether ``backend`` differentiates two-argument functions ``f(y, x)``.

    Answered from the selector alone: no engine is imported.

    Parameters
    ----------
    backend : AbstractBackend
        A backend selector. For :class:`SecondOrder` the inner backend decides, since only
        first-order operators take two-argument functions.

    Returns
    -------
    bool
        ``True`` if ``y=`` is supported.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.check_inplace(di.AutoFiniteDiff()), di.check_inplace(di.AutoJAX())
    (True, False)
    """
    _check_selector(backend)
    if isinstance(backend, SecondOrder):
        return check_inplace(backend.inner)
    if isinstance(backend, MixedMode):
        return check_inplace(backend.forward) and check_inplace(backend.reverse)
    inplace = getattr(backend, "_inplace_support", None)
    if inplace is not None:
        return bool(inplace())
    return bool(type(backend)._inplace)

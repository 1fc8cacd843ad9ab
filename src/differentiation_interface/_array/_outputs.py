"""Validation of ``out=`` buffers and writes into them.

``out=`` is checked completely before anything is computed, because numpy and torch would
otherwise cast (float64 into float32) or broadcast ((1,) into (3,)) silently, and an immutable
buffer would leave the caller with stale values.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import array_api_compat as aac

from ..errors import ArgumentValueError, ImmutableOutputError
from ._dtensor import DTensorPlacement, same_layout
from ._namespace import device_of, is_array, namespace_name, namespace_of

__all__ = ["check_out", "write_out"]


def check_out(
    op: str,
    what: str,
    out: Any,
    *,
    xp: ModuleType,
    shape: tuple[int, ...],
    dtype: Any,
    device: Any,
) -> None:
    """Raise unless ``out`` is a writable array of ``xp`` with this shape, dtype and device.

    ``what`` names the result for the message (``"the gradient"``, ``"tangent 2"``, ...).
    """
    if not is_array(out):
        msg = f"`{op}` needs out= to be an array for {what}; got {type(out).__name__}."
        raise ArgumentValueError(msg)
    if not aac.is_writeable_array(out):
        msg = (
            f"`{op}` cannot write {what} into out=: this {namespace_name(namespace_of(out))} "
            "array is immutable or read-only. Call without out= to get a new array."
        )
        raise ImmutableOutputError(msg)
    problems = []
    out_xp = namespace_of(out)
    if out_xp is not xp:
        problems.append(f"namespace {namespace_name(out_xp)} (expected {namespace_name(xp)})")
    if tuple(out.shape) != tuple(shape):
        problems.append(f"shape {tuple(out.shape)} (expected {tuple(shape)})")
    if out_xp is xp:  # dtypes and devices of different namespaces are not comparable
        if out.dtype != dtype:
            problems.append(f"dtype {out.dtype} (expected {dtype})")
        out_device = device_of(out)
        if device is not None and out_device != device:
            problems.append(f"device {out_device} (expected {device})")
        elif isinstance(device, DTensorPlacement) and not same_layout(out_device, device):
            problems.append(f"layout {out_device!r} (expected {device!r})")
    if problems:
        msg = f"`{op}` cannot write {what} into out=: it has " + ", ".join(problems) + "."
        raise ArgumentValueError(msg)


def write_out(out: Any, value: Any) -> Any:
    """Write ``value`` (already in ``out``'s namespace, shape and dtype) into ``out``."""
    if aac.is_torch_array(out):
        with sys.modules["torch"].no_grad():
            out[...] = value
    else:
        out[...] = value
    return out

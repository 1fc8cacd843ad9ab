"""``fft`` of the HIPS autograd Array-API namespace (see :mod:`.namespace`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from .namespace import axis_of, flip, index_along

__all__ = ["FFT"]


# autograd's complex FFT rules are right for every ``n``/``s`` and ``norm``; its real-FFT rules
# are silently wrong for ``norm="backward"``/``"forward"`` spelled out (the Array-API default is
# the string ``"backward"``) and for odd or explicit lengths. The real transforms are therefore
# computed from the complex ones (twice the work, exact derivatives).

_SWAP_NORM = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _slice(x: Any, axis: int, start: int, stop: int) -> Any:
    return x[index_along(axis, slice(start, stop))]


def _fit(x: Any, n: int, axis: int) -> Any:
    """``x`` truncated or zero-padded to length ``n`` along ``axis``."""
    shape = list(np.shape(getval(x)))
    if shape[axis] >= n:
        return x if shape[axis] == n else _slice(x, axis, 0, n)
    shape[axis] = n - shape[axis]
    return anp.concatenate([x, np.zeros(shape, dtype=np.result_type(getval(x)))], axis=axis)


def _fftaxes_of(x: Any, s: Sequence[int] | None, axes: Sequence[int] | None) -> list[int]:
    ndim = len(np.shape(getval(x)))
    if axes is None:
        axes = range(ndim) if s is None else range(ndim - len(s), ndim)
    return [axis_of(a, ndim) for a in axes]


def _rfft(x: Any, /, *, n: int | None = None, axis: int = -1, norm: str = "backward") -> Any:
    ax = axis_of(axis, len(np.shape(getval(x))))
    n = np.shape(getval(x))[ax] if n is None else n
    full = anp.fft.fft(_fit(x, n, ax), axis=ax, norm=norm)
    return _slice(full, ax, 0, n // 2 + 1)


def _irfft(x: Any, /, *, n: int | None = None, axis: int = -1, norm: str = "backward") -> Any:
    # the Hermitian extension of the half spectrum, then a complex inverse transform; taking
    # the real part drops Im X[0] (and Im X[n/2]) exactly as numpy's c2r transform does
    ax = axis_of(axis, len(np.shape(getval(x))))
    n = 2 * (np.shape(getval(x))[ax] - 1) if n is None else n
    half = _fit(x, n // 2 + 1, ax)
    tail = anp.conj(flip(_slice(half, ax, 1, n - n // 2), axis=ax))
    full = anp.concatenate([half, tail], axis=ax)
    return anp.real(anp.fft.ifft(full, axis=ax, norm=norm))


def _rfftn(
    x: Any,
    /,
    *,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str = "backward",
) -> Any:
    axes = _fftaxes_of(x, s, axes)
    shape = np.shape(getval(x))
    s = [shape[a] for a in axes] if s is None else list(s)
    full = anp.fft.fftn(x, s=s, axes=axes, norm=norm)
    return _slice(full, axes[-1], 0, s[-1] // 2 + 1)


def _irfftn(
    x: Any,
    /,
    *,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str = "backward",
) -> Any:
    axes = _fftaxes_of(x, s, axes)
    shape = np.shape(getval(x))
    if s is None:
        s = [shape[a] for a in axes[:-1]] + [2 * (shape[axes[-1]] - 1)]
    if len(axes) > 1:
        x = anp.fft.ifftn(x, s=list(s[:-1]), axes=axes[:-1], norm=norm)
    return _irfft(x, n=s[-1], axis=axes[-1], norm=norm)


def _rfft2(
    x: Any,
    /,
    *,
    s: Sequence[int] | None = None,
    axes: Sequence[int] = (-2, -1),
    norm: str = "backward",
) -> Any:
    return _rfftn(x, s=s, axes=axes, norm=norm)


def _irfft2(
    x: Any,
    /,
    *,
    s: Sequence[int] | None = None,
    axes: Sequence[int] = (-2, -1),
    norm: str = "backward",
) -> Any:
    return _irfftn(x, s=s, axes=axes, norm=norm)


def _hfft(x: Any, /, *, n: int | None = None, axis: int = -1, norm: str = "backward") -> Any:
    return _irfft(anp.conj(x), n=n, axis=axis, norm=_SWAP_NORM[norm])


def _ihfft(x: Any, /, *, n: int | None = None, axis: int = -1, norm: str = "backward") -> Any:
    return anp.conj(_rfft(x, n=n, axis=axis, norm=_SWAP_NORM[norm]))


FFT: dict[str, Any] = {
    "hfft": _hfft,
    "ihfft": _ihfft,
    "irfft": _irfft,
    "irfft2": _irfft2,
    "irfftn": _irfftn,
    "rfft": _rfft,
    "rfft2": _rfft2,
    "rfftn": _rfftn,
}

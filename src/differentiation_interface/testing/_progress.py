"""A one-line progress bar on standard error, for runs that last more than a second.

It draws nothing during the first second (short runs stay quiet), nothing at all when
standard output or standard error is not a terminal (logs and pipes stay clean), and erases
itself when the run ends, so the tables printed afterwards start on a clean line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from ._text import terminal_width

__all__ = ["Progress", "progress_bar"]

#: ``advance(label)``: one step done, ``label`` says which.
Progress = Callable[[str], None]

_DELAY = 1.0  # seconds before the bar appears


def _on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress_bar(
    total: int,
    description: str,
    *,
    enabled: bool | None = None,
    stream: TextIO | None = None,
    delay: float = _DELAY,
) -> Iterator[Progress]:
    """Yield ``advance(label)``; draw ``description [####....] done/total label``.

    ``enabled=None`` draws when standard output and standard error are terminals;
    ``stream`` defaults to standard error.

    Examples
    --------
    >>> import io
    >>> from differentiation_interface.testing._progress import progress_bar
    >>> out = io.StringIO()
    >>> with progress_bar(2, "checking", enabled=True, stream=out, delay=0.0) as advance:
    ...     advance("fd")
    >>> "checking" in out.getvalue() and "1/2" in out.getvalue()
    True
    """
    draw = _on_terminal() if enabled is None else enabled
    target = sys.stderr if stream is None else stream
    start = time.perf_counter()
    done = 0
    drawn = [False]

    def advance(label: str) -> None:
        nonlocal done
        done += 1
        if not draw or time.perf_counter() - start < delay:
            return
        width = min(terminal_width(), 120) - 1
        counter = f"{done}/{total}"
        bar_width = max(10, width // 3)
        filled = bar_width * done // max(total, 1)
        head = f"{description} [{'#' * filled}{'.' * (bar_width - filled)}] {counter} "
        line = (head + label)[:width]
        target.write("\r" + line.ljust(width))
        target.flush()
        drawn[0] = True

    try:
        yield advance
    finally:
        if drawn[0]:
            width = min(terminal_width(), 120) - 1
            target.write("\r" + " " * width + "\r")
            target.flush()

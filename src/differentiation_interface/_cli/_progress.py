"""A progress bar: rich's when installed, a plain one-line counter otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress(total: int, description: str) -> Iterator[Any]:
    """Yield an ``advance(label)`` callable that moves the bar by one step."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:
        yield _plain(total, description)
        sys.stderr.write("\n")
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[label]}"),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total, label="")

        def advance(label: str) -> None:
            bar.update(task, advance=1, label=label)

        yield advance


def _plain(total: int, description: str) -> Any:
    done = [0]

    def advance(label: str) -> None:
        done[0] += 1
        sys.stderr.write(f"\r{description} {done[0]}/{total} {label[:50]:50s}")
        sys.stderr.flush()

    return advance

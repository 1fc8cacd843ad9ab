"""A dask callback counting the graphs dask computes (tests that calls stay lazy); import it
after ``pytest.importorskip("dask.array")``."""

from __future__ import annotations

from dask.callbacks import Callback


class Computes(Callback):  # type: ignore[misc]
    """Counts the graphs dask computes while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: object) -> None:
        self.count += 1

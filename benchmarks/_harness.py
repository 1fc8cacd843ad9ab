"""Benchmark harness: interleaved rounds, medians, paired ratios (never timed assertions).

Every candidate of a group is calibrated to a batch lasting at least ``min_batch_s``; then
``rounds`` rounds run every candidate once each, **in a random order per round**, so drifts
in machine load hit all candidates alike. A group reports, per candidate, the median time per
call over rounds and, against a baseline, the median of the per-round ratios (paired ratio).
Garbage collection is disabled while a batch runs.

On a machine shared with other work, ``DI_BENCH_CLOCK=thread`` times batches by the CPU time
of the calling thread (``time.thread_time``) instead of wall time: time the process spends
waiting for a core no longer counts, which steadies ratios of single-threaded calls (it
misses work done on other threads, so do not use it for multi-threaded engines' absolute
times). The clock in use is recorded by :func:`environment`.

Usage::

    from _harness import Group
    g = Group("gradient n=10", rounds=41)
    g.add("native", lambda: native(x))
    g.add("di", lambda: di.gradient(f, backend, x, prep=prep))
    result = g.run()
    print(result.table(baseline="native"))
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Group", "GroupResult", "environment", "write_json"]

_CLOCK_NAME = os.environ.get("DI_BENCH_CLOCK", "wall")
_clock = time.thread_time if _CLOCK_NAME == "thread" else time.perf_counter


def environment() -> dict[str, Any]:
    """Versions and settings to record next to every benchmark table."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "clock": _CLOCK_NAME,
    }
    for name in ("numpy", "jax", "torch", "autograd", "scipy", "array_api_compat"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        info[name] = getattr(module, "__version__", "?")
    try:
        import jax

        info["jax_cpu_enable_async_dispatch"] = bool(
            jax.config.read("jax_cpu_enable_async_dispatch")
        )
    except (ImportError, AttributeError, KeyError):
        pass
    return info


@dataclass
class GroupResult:
    """Per-candidate seconds per call for every round, in candidate order."""

    name: str
    candidates: list[str]
    per_round: dict[str, list[float]] = field(default_factory=dict)

    def median(self, candidate: str) -> float:
        """Median seconds per call."""
        return statistics.median(self.per_round[candidate])

    def ratio(self, candidate: str, baseline: str) -> float:
        """Median of the per-round ratios ``candidate / baseline``."""
        pairs = zip(self.per_round[candidate], self.per_round[baseline], strict=True)
        return statistics.median(c / b for c, b in pairs)

    def table(self, baseline: str | None = None) -> str:
        """A Markdown table: candidate, median time, ratio to ``baseline``."""
        lines = [f"### {self.name}", "", "| candidate | median | ratio |", "|---|---|---|"]
        for c in self.candidates:
            ratio = f"{self.ratio(c, baseline):.3f}" if baseline else ""
            lines.append(f"| {c} | {_format_time(self.median(c))} | {ratio} |")
        return "\n".join(lines)

    def to_dict(self, baseline: str | None = None) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "name": self.name,
            "rounds": len(next(iter(self.per_round.values()))),
            "median_s": {c: self.median(c) for c in self.candidates},
            "ratio": {c: self.ratio(c, baseline) for c in self.candidates} if baseline else {},
        }


def _format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


class Group:
    """Candidates timed against each other in interleaved rounds."""

    def __init__(
        self, name: str, *, rounds: int = 41, min_batch_s: float = 4e-3, seed: int = 0
    ) -> None:
        self.name = name
        self.rounds = rounds
        self.min_batch_s = min_batch_s
        self.random = random.Random(seed)
        self.candidates: dict[str, Callable[[], Any]] = {}

    def add(self, name: str, call: Callable[[], Any]) -> None:
        """Add a candidate (a no-argument callable that does one call)."""
        self.candidates[name] = call

    def _batch(self, call: Callable[[], Any], number: int) -> float:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = _clock()
            for _ in range(number):
                call()
            return (_clock() - start) / number
        finally:
            if gc_was_enabled:
                gc.enable()

    def _calibrate(self, call: Callable[[], Any]) -> int:
        call()
        call()  # warm-up: compilation, caches
        number = 1
        while True:
            start = _clock()
            for _ in range(number):
                call()
            if _clock() - start >= self.min_batch_s or number >= 1 << 20:
                return number
            number *= 2

    def run(self) -> GroupResult:
        """Run all rounds; return every per-round time."""
        numbers = {name: self._calibrate(call) for name, call in self.candidates.items()}
        result = GroupResult(self.name, list(self.candidates))
        result.per_round = {name: [] for name in self.candidates}
        order = list(self.candidates)
        for _ in range(self.rounds):
            self.random.shuffle(order)
            for name in order:
                result.per_round[name].append(self._batch(self.candidates[name], numbers[name]))
        return result


def write_json(payload: dict[str, Any], path: str) -> None:
    """Write ``payload`` to ``path`` (creating its folder) and say where."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"\nwrote {path}")

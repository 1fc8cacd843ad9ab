"""Where a check's references come from, and the report of a run that collects failures.

A scenario's own ``res1``/``res2`` come first; a missing one is computed by the
``reference=`` backend; without either, a correctness check refuses to run (a scenario
without references would otherwise check nothing and pass). ``correctness=False`` needs no
values: the missing references become placeholders of the right kind (:mod:`._kinds`).
"""

from __future__ import annotations

import dataclasses

from ..adtypes import AbstractBackend
from ..operators._table import OPERATORS
from ._kinds import kind_references
from ._run import run_operator, tolerance
from .scenarios import Scenario

__all__ = ["Failure", "MissingReferenceError", "TestReport", "missing", "with_references"]


class MissingReferenceError(ValueError):
    """A correctness check was asked for a scenario without references."""


def missing(s: Scenario) -> tuple[bool, bool]:
    """Whether the scenario lacks ``res1``, and whether it lacks ``res2`` (second order)."""
    second = OPERATORS[s.operator].order == 2
    return s.res1 is None, second and s.res2 is None


def with_references(
    s: Scenario, reference: AbstractBackend | None, *, correctness: bool
) -> tuple[Scenario, float]:
    """The scenario with every reference filled in, and the tolerance the references add.

    Raises :class:`MissingReferenceError` for a correctness check of a scenario that lacks
    a reference when no ``reference`` backend is given. Exceptions of the reference
    backend propagate.
    """
    lacks1, lacks2 = missing(s)
    if not (lacks1 or lacks2):
        return s, 0.0
    if reference is None:
        if correctness:
            which = "res1" if lacks1 else "res2"
            msg = (
                f"scenario {s.name!r} has no {which}, so its results cannot be checked: "
                "pass reference=<backend> to test_differentiation (e.g. "
                "reference=di.AutoFiniteDiff()), give the scenario res1/res2, or pass "
                "correctness=False to check only that calls succeed."
            )
            raise MissingReferenceError(msg)
        res1, res2 = kind_references(s)
        added = 0.0
    else:
        res1, res2 = run_operator(reference, s)
        added = tolerance(reference, s)
    filled = dataclasses.replace(
        s, res1=res1 if lacks1 else s.res1, res2=res2 if lacks2 else s.res2
    )
    return filled, added


@dataclasses.dataclass(frozen=True)
class Failure:
    """One failed check: the backend, the scenario, the variant and what went wrong.

    Examples
    --------
    >>> from differentiation_interface.testing import Failure
    >>> Failure("AutoFiniteDiff()", "s", "plain, unprepared", "result 0 is off").variant
    'plain, unprepared'
    """

    backend: str
    scenario: str
    variant: str
    message: str


@dataclasses.dataclass(frozen=True)
class TestReport:
    """What ``test_differentiation(..., collect=True)`` found.

    Attributes
    ----------
    checked : int
        The number of (backend, scenario) pairs run.
    failures : tuple of Failure
        Every failed check, in the order they ran (each variant of each pair once).

    Examples
    --------
    >>> from differentiation_interface.testing import Failure, TestReport
    >>> report = TestReport(2, (Failure("AutoFiniteDiff()", "s", "plain, unprepared",
    ...                                 "result 0 is off by 1.00e-02 (tolerance 1e-07)"),))
    >>> report.ok
    False
    >>> print(report)
    1 failure in 2 (backend, scenario) pairs:
      AutoFiniteDiff() on scenario 's', variant [plain, unprepared]: result 0 is off by 1.00e-02 (tolerance 1e-07)
    """  # noqa: E501 - a doctest output line

    __test__ = False  # not a pytest test class, despite its name

    checked: int
    failures: tuple[Failure, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failures

    def __str__(self) -> str:
        if self.ok:
            return f"all checks passed on {self.checked} (backend, scenario) pairs"
        count = len(self.failures)
        lines = [
            f"{count} failure{'s' if count > 1 else ''} in {self.checked} "
            "(backend, scenario) pairs:"
        ]
        lines += [
            f"  {f.backend} on scenario {f.scenario!r}, variant [{f.variant}]: {f.message}"
            for f in self.failures
        ]
        return "\n".join(lines)

"""Testing companion: scenarios with references, and tools to check backends against them.

Public names: :class:`Scenario` and :func:`default_scenarios`. ``pytest`` is never imported
at module level, so this package can be used from plain scripts.
"""

from ._checks import check_scenario, test_differentiation
from ._wrappers import ForwardFromPrimitive, ReverseFromPrimitive
from .scenarios import Scenario, default_scenarios

__all__ = [
    "ForwardFromPrimitive",
    "ReverseFromPrimitive",
    "Scenario",
    "check_scenario",
    "default_scenarios",
    "test_differentiation",
]

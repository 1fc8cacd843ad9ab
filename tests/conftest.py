"""Shared fixtures: the namespaces and devices the core tests run on (no engine needed)."""

from __future__ import annotations

import pytest

import differentiation_interface as di
from tests.helpers import TARGETS, Target


@pytest.fixture(params=TARGETS, ids=[t.name for t in TARGETS])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param


@pytest.fixture
def fd() -> di.AutoFiniteDiff:
    return di.AutoFiniteDiff()

"""``select_backend`` with finite differences only (no engine installed): pytrees, default
tangents, a lone candidate, the printed table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.testing import select_backend

FD, FORWARD = di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward")
COARSE = di.AutoFiniteDiff(method="forward", step=0.5)


def _loss(p: Any) -> Any:
    return np.sum(p["w"] ** 2) + np.sum(np.sin(p["b"]))


def test_a_pytree_point_and_default_tangents() -> None:
    params = {"w": np.arange(4.0).reshape(2, 2), "b": np.linspace(0.0, 1.0, 3)}
    best, table = select_backend(
        _loss, params, "hvp", [FD, FORWARD, COARSE], progress=False, rounds=1, min_time=1e-4
    )
    assert [c.status for c in table] == ["ok", "ok", "wrong"]
    assert best in (FD, FORWARD)
    # The default tangent is ones like x: the Hessian-vector product in closed form.
    (hv,) = di.hvp(_loss, best, params, ({"w": np.ones((2, 2)), "b": np.ones(3)},))
    np.testing.assert_allclose(hv["w"], 2 * np.ones((2, 2)), atol=1e-6)
    np.testing.assert_allclose(hv["b"], -np.sin(params["b"]), atol=1e-6)


def test_a_lone_candidate_is_unchecked_and_the_table_fits_80_columns() -> None:
    x = np.linspace(0.0, 1.0, 4)
    selection = select_backend(
        lambda v: np.sum(v**3), x, "gradient", [FD], progress=False, rounds=1, min_time=1e-4
    )
    assert selection.backend == FD
    assert [c.status for c in selection.table] == ["unchecked"]
    text = selection.format(width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.splitlines()[2].startswith("* AutoFiniteDiff()")


def test_an_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown operator 'laplacian'"):
        select_backend(np.sum, np.ones(2), "laplacian", [FD])

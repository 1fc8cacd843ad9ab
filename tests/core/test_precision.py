"""The one 64-bit predicate of the array layer, against the dtype facts.

JAX truncates exactly the dtypes whose real components are 64 bits wide (float64, int64,
uint64, complex128) unless it runs in 64-bit mode; every namespace must agree on them.
array-api-strict dtypes have no ``itemsize``, which once made a second predicate say False.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest

from differentiation_interface._array import is_64bit, needs_x64

# (dtype name, needs 64-bit mode): the standard's dtypes, by the width of their components
FACTS = [
    ("float64", True),
    ("float32", False),
    ("complex128", True),
    ("complex64", False),
    ("int64", True),
    ("uint64", True),
    ("int32", False),
    ("int16", False),
    ("uint8", False),
    ("bool", False),
]


@pytest.mark.parametrize(("name", "wide"), FACTS)
def test_numpy(name: str, wide: bool) -> None:
    a = np.zeros(3, dtype=getattr(np, name))
    assert is_64bit(a) is wide
    assert is_64bit(a[0]) is wide  # numpy scalars have the dtype too


@pytest.mark.parametrize(("name", "wide"), FACTS)
def test_array_api_strict(name: str, wide: bool) -> None:
    a = xps.zeros(3, dtype=getattr(xps, name))
    assert is_64bit(a) is wide


def test_array_api_strict_on_another_device() -> None:
    device = xps.Device("device1")
    assert is_64bit(xps.zeros(2, dtype=xps.float64, device=device))
    assert not is_64bit(xps.zeros(2, dtype=xps.complex64, device=device))


@pytest.mark.parametrize("value", [1.0, 1j, 3, None, "float64"])
def test_objects_without_a_dtype(value: Any) -> None:
    # Python numbers are weakly typed in JAX: they never force 64-bit mode
    assert not is_64bit(value)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
@pytest.mark.parametrize(("name", "wide"), FACTS)
def test_torch(name: str, wide: bool) -> None:
    import torch

    if name == "uint64" and not hasattr(torch, "uint64"):
        pytest.skip("this torch has no uint64")
    assert is_64bit(torch.zeros(3, dtype=getattr(torch, name))) is wide


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
@pytest.mark.parametrize(("name", "wide"), FACTS)
def test_jax(name: str, wide: bool) -> None:
    import jax
    import jax.numpy as jnp

    mode = getattr(jax, "enable_x64", None)  # a State: no truth value
    if mode is None:  # JAX < 0.8
        mode = jax.experimental.enable_x64
    with mode(True):  # outside it JAX would have made the array 32-bit already
        a = jnp.zeros(3, dtype=getattr(jnp, name))
    assert is_64bit(a) is wide
    assert needs_x64(jnp, a) is wide
    with mode(False):
        assert not is_64bit(jnp.zeros(3))  # float32 by default


def test_only_jax_needs_the_mode() -> None:
    assert not needs_x64(np, np.zeros(3))
    assert not needs_x64(xps, xps.zeros(3, dtype=xps.float64))

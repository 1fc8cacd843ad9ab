"""The public surface of ../shared/API.md, the selectors, and the import rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import differentiation_interface as di

# The contract of ../shared/API.md, written out here on purpose: the operator table
# (operators/_table.py) is checked against it, not the other way round.
OPERATORS = [
    "pushforward",
    "pullback",
    "derivative",
    "gradient",
    "jacobian",
    "second_derivative",
    "hvp",
    "hessian",
]
VALUE_AND = [
    "value_and_pushforward",
    "value_and_pullback",
    "value_and_derivative",
    "value_and_gradient",
    "value_and_jacobian",
    "value_derivative_and_second_derivative",
    "gradient_and_hvp",
    "value_gradient_and_hessian",
]
PREPARE = [f"prepare_{op}" for op in OPERATORS] + [
    "prepare_pushforward_same_point",
    "prepare_pullback_same_point",
    "prepare_hvp_same_point",
]
SELECTORS = ["AutoFiniteDiff", "AutoJAX", "AutoTorch", "AutoAutograd", "SecondOrder", "MixedMode"]
ERRORS = [
    "DIError",
    "BackendUnavailableError",
    "UnsupportedOperationError",
    "PreparationMismatchError",
    "ImmutableOutputError",
]
OTHERS = [
    "Constant",
    "Cache",
    "check_available",
    "check_inplace",
    "ravel",
    "clear_cache",
    "DifferentiateWith",
    "plot_sparsity",
]


def test_the_operator_table_is_the_contract() -> None:
    from differentiation_interface.operators._table import OPERATORS as TABLE

    assert list(TABLE) == OPERATORS
    assert [spec.value_and for spec in TABLE.values()] == VALUE_AND
    prepares = [spec.prepare for spec in TABLE.values()]
    prepares += [spec.prepare_same_point for spec in TABLE.values() if spec.prepare_same_point]
    assert prepares == PREPARE


def test_every_name_of_the_contract_is_exported() -> None:
    for name in OPERATORS + VALUE_AND + PREPARE + SELECTORS + ERRORS + OTHERS:
        assert name in di.__all__, name
        assert hasattr(di, name), name


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(di) if not n.startswith("_")} - {
        "adtypes",
        "backends",
        "compose",
        "lineax",  # subpackages, present once something imported them
        "scipy",
        "contexts",
        "errors",
        "operators",
        "prep",
        "sparse",
        "testing",
    }
    assert public | {"__version__"} == set(di.__all__)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        ("BackendUnavailableError", ImportError),
        ("UnsupportedOperationError", NotImplementedError),
        ("PreparationMismatchError", ValueError),
        ("ImmutableOutputError", TypeError),
        ("ArgumentTypeError", TypeError),
        ("ArgumentValueError", ValueError),
        ("FunctionOutputError", ValueError),
    ],
)
def test_error_hierarchy(error: str, builtin: type) -> None:
    cls = getattr(di, error)
    assert issubclass(cls, di.DIError)
    assert issubclass(cls, builtin)


def test_selectors_are_frozen_hashable_keyword_only() -> None:
    a, b = di.AutoFiniteDiff(method="forward"), di.AutoFiniteDiff(method="forward")
    assert a == b
    assert hash(a) == hash(b)
    assert a != di.AutoFiniteDiff()
    with pytest.raises(AttributeError):
        a.method = "central"  # type: ignore[misc]
    with pytest.raises(TypeError):
        di.AutoFiniteDiff("forward")  # type: ignore[misc]
    assert {di.AutoJAX(), di.AutoJAX(mode="reverse")} == {di.AutoJAX()}


def test_jax_compiler_options_are_a_frozen_copy() -> None:
    given = {"xla_cpu_use_fusion_emitters": True}
    a = di.AutoJAX(compiler_options=given)
    given["xla_cpu_use_fusion_emitters"] = False  # the selector kept its own copy
    assert a.compiler_options == {"xla_cpu_use_fusion_emitters": True}
    assert a == di.AutoJAX(compiler_options={"xla_cpu_use_fusion_emitters": True})
    assert hash(a) == hash(di.AutoJAX(compiler_options={"xla_cpu_use_fusion_emitters": True}))
    assert a != di.AutoJAX()
    assert di.AutoJAX(compiler_options={}) != di.AutoJAX()
    with pytest.raises(TypeError, match="cannot be changed"):
        a.compiler_options["xla_cpu_use_fusion_emitters"] = False  # type: ignore[index]
    assert repr(a) == "AutoJAX(compiler_options={'xla_cpu_use_fusion_emitters': True})"
    with pytest.raises(TypeError, match="dict of XLA option names"):
        di.AutoJAX(compiler_options=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="numbers, strings or bools"):
        di.AutoJAX(compiler_options={"a": [1]})


def test_selector_reprs_show_only_non_defaults() -> None:
    assert repr(di.AutoFiniteDiff()) == "AutoFiniteDiff()"
    assert repr(di.AutoFiniteDiff(step=1e-3)) == "AutoFiniteDiff(step=0.001)"
    assert repr(di.AutoJAX(mode="forward")) == "AutoJAX(mode='forward')"
    assert repr(di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX())) == (
        "SecondOrder(AutoJAX(mode='forward'), AutoJAX())"
    )


def test_modes() -> None:
    assert di.AutoFiniteDiff().mode == "forward"
    assert di.AutoJAX().mode == "reverse"
    assert di.AutoTorch(mode="forward").mode == "forward"
    assert di.AutoAutograd().mode == "reverse"
    assert di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX()).mode == "forward"


def test_check_inplace_needs_no_engine() -> None:
    assert di.check_inplace(di.AutoFiniteDiff())
    assert di.check_inplace(di.AutoTorch())
    assert not di.check_inplace(di.AutoJAX())
    assert not di.check_inplace(di.AutoAutograd())
    assert di.check_inplace(di.SecondOrder(di.AutoJAX(), di.AutoFiniteDiff()))


def test_check_available_never_raises() -> None:
    assert di.check_available(di.AutoFiniteDiff())
    assert di.check_available(di.SecondOrder(di.AutoFiniteDiff(), di.AutoFiniteDiff()))
    assert di.check_available("not a backend") is False


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_loads_no_engine() -> None:
    # In a fresh interpreter: importing the package, building every selector, asking for
    # availability and differentiating with finite differences loads no engine.
    out = _run(
        """
        import sys
        import numpy as np
        import differentiation_interface as di
        backends = [di.AutoJAX(), di.AutoTorch(), di.AutoAutograd(), di.AutoFiniteDiff()]
        [di.check_available(b) for b in backends]
        [di.check_inplace(b) for b in backends]
        di.hessian(lambda x: (x**3).sum(), di.AutoFiniteDiff(), np.ones(3))
        import differentiation_interface.testing
        print(sorted(m for m in ("jax", "torch", "autograd", "cupy") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_every_public_function_has_a_docstring_with_an_example() -> None:
    for name in di.__all__:
        obj = getattr(di, name)
        if name == "__version__":
            continue
        doc = obj.__doc__ or ""
        assert "Examples" in doc, name

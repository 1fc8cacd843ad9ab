"""The eight operators, their value-and variants and their preparations.

``_table`` holds every fact about every operator; each ``_<operator>.py`` module holds one
operator's public functions. A call is validated by ``_validate``, served by a speed tier of
``_fastpath`` or by the full call of ``_call``; ``_dispatch`` picks the engine's native plan or
the generic fallback (``_first_order``, ``_second_order``) the table names.
"""

from ._call import clear_cache
from ._derivative import derivative, prepare_derivative, value_and_derivative
from ._gradient import gradient, prepare_gradient, value_and_gradient
from ._hessian import hessian, prepare_hessian, value_gradient_and_hessian
from ._hvp import gradient_and_hvp, hvp, prepare_hvp, prepare_hvp_same_point
from ._jacobian import jacobian, prepare_jacobian, value_and_jacobian
from ._pullback import (
    prepare_pullback,
    prepare_pullback_same_point,
    pullback,
    value_and_pullback,
)
from ._pushforward import (
    prepare_pushforward,
    prepare_pushforward_same_point,
    pushforward,
    value_and_pushforward,
)
from ._second_derivative import (
    prepare_second_derivative,
    second_derivative,
    value_derivative_and_second_derivative,
)

__all__ = [
    "clear_cache",
    "derivative",
    "gradient",
    "gradient_and_hvp",
    "hessian",
    "hvp",
    "jacobian",
    "prepare_derivative",
    "prepare_gradient",
    "prepare_hessian",
    "prepare_hvp",
    "prepare_hvp_same_point",
    "prepare_jacobian",
    "prepare_pullback",
    "prepare_pullback_same_point",
    "prepare_pushforward",
    "prepare_pushforward_same_point",
    "prepare_second_derivative",
    "pullback",
    "pushforward",
    "second_derivative",
    "value_and_derivative",
    "value_and_gradient",
    "value_and_jacobian",
    "value_and_pullback",
    "value_and_pushforward",
    "value_derivative_and_second_derivative",
    "value_gradient_and_hessian",
]

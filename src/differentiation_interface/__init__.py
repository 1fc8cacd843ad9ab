"""differentiation-interface: one interface to every automatic-differentiation engine.

Write ``f`` once against the Python Array API, pass arrays of any namespace (numpy, torch,
JAX, CuPy, array-api-strict, dask), choose an engine with a backend selector, and get
derivatives in your own namespace, on your own device::

    import differentiation_interface as di
    g = di.gradient(f, di.AutoFiniteDiff(), x)

Importing this package loads no engine: JAX, PyTorch and autograd are imported on the first
use of their selector.
"""

from ._plot import plot_sparsity
from ._tree import ravel
from ._version import __version__
from .adtypes import (
    AbstractBackend,
    AutoAutograd,
    AutoFiniteDiff,
    AutoJAX,
    AutoTorch,
    MixedMode,
    SecondOrder,
)
from .backends import check_available, check_inplace
from .compose import DifferentiateWith
from .contexts import Cache, Constant
from .errors import (
    ArgumentTypeError,
    ArgumentValueError,
    BackendUnavailableError,
    DIError,
    DisconnectedGraphError,
    FunctionOutputError,
    ImmutableOutputError,
    PreparationMismatchError,
    UnsupportedOperationError,
    UntraceableFunctionError,
)
from .operators import (
    clear_cache,
    derivative,
    gradient,
    gradient_and_hvp,
    hessian,
    hvp,
    jacobian,
    prepare_derivative,
    prepare_gradient,
    prepare_hessian,
    prepare_hvp,
    prepare_hvp_same_point,
    prepare_jacobian,
    prepare_pullback,
    prepare_pullback_same_point,
    prepare_pushforward,
    prepare_pushforward_same_point,
    prepare_second_derivative,
    pullback,
    pushforward,
    second_derivative,
    value_and_derivative,
    value_and_gradient,
    value_and_jacobian,
    value_and_pullback,
    value_and_pushforward,
    value_derivative_and_second_derivative,
    value_gradient_and_hessian,
)
from .prep import Prep
from .sparse import (
    AutoSparse,
    DenseSparsityDetector,
    GreedyColoringAlgorithm,
    KnownHessianSparsity,
    KnownJacobianSparsity,
    SparseCOO,
    TracerLocalSparsityDetector,
    TracerSparsityDetector,
    hessian_sparsity,
    jacobian_sparsity,
)

__all__ = [
    "AbstractBackend",
    "ArgumentTypeError",
    "ArgumentValueError",
    "AutoAutograd",
    "AutoFiniteDiff",
    "AutoJAX",
    "AutoSparse",
    "AutoTorch",
    "BackendUnavailableError",
    "Cache",
    "Constant",
    "DIError",
    "DenseSparsityDetector",
    "DifferentiateWith",
    "DisconnectedGraphError",
    "FunctionOutputError",
    "GreedyColoringAlgorithm",
    "ImmutableOutputError",
    "KnownHessianSparsity",
    "KnownJacobianSparsity",
    "MixedMode",
    "Prep",
    "PreparationMismatchError",
    "SecondOrder",
    "SparseCOO",
    "TracerLocalSparsityDetector",
    "TracerSparsityDetector",
    "UnsupportedOperationError",
    "UntraceableFunctionError",
    "__version__",
    "check_available",
    "check_inplace",
    "clear_cache",
    "derivative",
    "gradient",
    "gradient_and_hvp",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "jacobian",
    "jacobian_sparsity",
    "plot_sparsity",
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
    "ravel",
    "second_derivative",
    "value_and_derivative",
    "value_and_gradient",
    "value_and_jacobian",
    "value_and_pullback",
    "value_and_pushforward",
    "value_derivative_and_second_derivative",
    "value_gradient_and_hessian",
]

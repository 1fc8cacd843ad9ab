"""The HIPS autograd engine behind ``AutoAutograd``: every operator native, over numpy.

Modules
-------
``engine``
    :class:`AutogradEngine`, which picks a plan for each operator.
``io``
    The caller-array adapter (:class:`~.io.CallerIO`: ``put``, ``back``) between the caller's
    namespace and numpy, and the dtype check.
``trace``
    Tracing ``f`` with autograd, scoped so that ``f`` sees the engine's Array-API namespace.
``first``, ``second``
    First- and second-order plans.
``namespace``, ``linalg``, ``fft``
    The Array-API namespace ``f`` sees on autograd's boxes.

This package imports autograd: it is loaded on the first use of an ``AutoAutograd`` selector
only (the package ``differentiation_interface.backends`` does not import it).
"""

from .engine import AutogradEngine

__all__ = ["AutogradEngine"]

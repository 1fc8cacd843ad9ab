"""The JAX engine behind ``AutoJAX``: every operator native, jitted at preparation.

Modules
-------
``engine``
    :class:`JAXEngine`, which picks a plan for each operator.
``io``
    :class:`~.io.CallerIO`, the route of the caller's arrays into JAX and of results back.
``trace``
    What every plan shares: contexts, jitting, compiler options, error translation.
``plan``
    The base plan, its preparation and prepared-call path.
``first``, ``second``
    First- and second-order plans.

This package imports JAX: it is loaded on the first use of an ``AutoJAX`` selector only (the
package ``differentiation_interface.backends`` does not import it). JAX's 64-bit mode is the
array layer's (:mod:`differentiation_interface._array._precision`).
"""

from .engine import JAXEngine

__all__ = ["JAXEngine"]

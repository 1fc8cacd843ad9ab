"""The sparsity tracer: run ``f`` on pattern-carrying arrays to find its global sparsity.

:class:`TracedArray` (``core``) carries, instead of values, the boolean pattern of the
inputs each element depends on; ``namespace`` is the Array-API namespace that
``array_namespace`` returns for it, built from one module per family of functions
(``creation``, ``dtypes``, ``elementwise``, ``indexing``, ``shape``, ``reduce``,
``statistics``, ``linalg``); ``array`` attaches Python operators and numpy interoperability
(:func:`install`). Second-order pairs accumulate on the :class:`Tape` of a trace.

Imports: numpy, scipy, ``differentiation_interface._array``, ``differentiation_interface.errors``
and the shared leaf ``sparse._pattern`` only; never the coloring (``sparse._coloring``), the
glue modules of ``sparse`` nor ``operators``, ``backends`` or ``testing``.
"""

from .array import install
from .core import Tape, TracedArray, TracingError, lift

__all__ = ["Tape", "TracedArray", "TracingError", "install", "lift"]

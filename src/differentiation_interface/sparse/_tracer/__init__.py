"""The sparsity tracer: run ``f`` on pattern-carrying arrays to find its global sparsity.

:class:`TracedArray` (``core``) carries, instead of values, the boolean pattern of the
inputs each element depends on; ``namespace`` is the Array-API namespace that
``array_namespace`` returns for it, built from one module per family of functions
(``creation``, ``dtypes``, ``elementwise``, ``indexing``, ``shape``, ``reduce``,
``statistics``, ``linalg``); ``array`` attaches Python operators, numpy's array methods and
numpy interoperability (:func:`install`). numpy functions called on traced arrays get
numpy's meaning: ``numpy_dispatch`` matches them by function object and binds their
arguments to numpy's signature, refusing any it does not implement; ``numpy_moves``,
``numpy_arrays``, ``numpy_reductions`` and ``numpy_linalg`` implement them, ``numpy_ufuncs``
the ufuncs. Second-order pairs accumulate on the :class:`Tape` of a trace.

Imports: numpy, scipy, ``differentiation_interface._array``, ``differentiation_interface.errors``
and the shared leaf ``sparse._pattern`` only; never the coloring (``sparse._coloring``), the
glue modules of ``sparse`` nor ``operators``, ``backends`` or ``testing``.
"""

from .array import install
from .core import Tape, TracedArray, TracingError, lift

__all__ = ["Tape", "TracedArray", "TracingError", "install", "lift"]

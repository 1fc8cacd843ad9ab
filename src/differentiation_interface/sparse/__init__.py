"""Sparse Jacobians and Hessians: sparsity detection, coloring, compressed evaluation.

``AutoSparse(dense)`` turns any backend into one whose ``jacobian`` and ``hessian`` cost as
many batched pushforwards, pullbacks or Hessian-vector products as the sparsity pattern has
colors. The pipeline (see ``docs/explanation/sparsity.md``):

1. **detection** (:mod:`._detection`): a global pattern by tracing ``f`` on an Array-API
   namespace of pattern-carrying arrays (:mod:`._tracer`), a local one from a dense
   derivative, or a known one (:mod:`._known`);
2. **coloring** (:mod:`._coloring`): greedy column, row, star or acyclic colorings, and the
   seeds and gather indices of decompression;
3. **evaluation and decompression** (:mod:`._engine`, :mod:`._outputs`): one batched call
   of the dense engine over the color seeds, one gather into the nonzeros of a sparse
   matrix of the caller's ecosystem.

Layout, with one-way imports: the subsystems :mod:`._tracer` and :mod:`._coloring` import
neither each other nor the rest of the package (only ``differentiation_interface._array``,
``differentiation_interface.errors`` and :mod:`._pattern`, the leaf that holds the boolean
CSR pattern algebra both work on); the glue modules here (:mod:`._selectors`, :mod:`._api`,
:mod:`._detection`, :mod:`._known`, :mod:`._engine`, :mod:`._outputs`) import both through
their ``__init__``.

Importing this package imports neither scipy nor any engine; the engine module does, on
first use of ``AutoSparse``.
"""

from ._api import hessian_sparsity, jacobian_sparsity
from ._coo import SparseCOO
from ._selectors import (
    AbstractSparsityDetector,
    AutoSparse,
    DenseSparsityDetector,
    GreedyColoringAlgorithm,
    KnownHessianSparsity,
    KnownJacobianSparsity,
    TracerLocalSparsityDetector,
    TracerSparsityDetector,
)

__all__ = [
    "AbstractSparsityDetector",
    "AutoSparse",
    "DenseSparsityDetector",
    "GreedyColoringAlgorithm",
    "KnownHessianSparsity",
    "KnownJacobianSparsity",
    "SparseCOO",
    "TracerLocalSparsityDetector",
    "TracerSparsityDetector",
    "hessian_sparsity",
    "jacobian_sparsity",
]

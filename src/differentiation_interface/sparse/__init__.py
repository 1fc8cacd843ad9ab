"""Sparse Jacobians and Hessians: sparsity detection, coloring, compressed evaluation.

``AutoSparse(dense)`` turns any backend into one whose ``jacobian`` and ``hessian`` cost as
many batched pushforwards, pullbacks or Hessian-vector products as the sparsity pattern has
colors. The pipeline (see ``docs/explanation/sparsity.md``):

1. **detection** (:mod:`._detection`): a global pattern by tracing ``f`` on an Array-API
   namespace of pattern-carrying arrays (:mod:`._tracer_core` and siblings), a local one
   from a dense derivative, or a known one;
2. **coloring** (:mod:`._coloring`, :mod:`._orders`): greedy column, row, star or acyclic
   colorings;
3. **evaluation and decompression** (:mod:`._engine`, :mod:`._decompression`,
   :mod:`._outputs`): one batched call of the dense engine over the color seeds, one gather
   into the nonzeros of a sparse matrix of the caller's ecosystem.

Importing this package imports neither scipy nor any engine; the engine module does, on
first use of ``AutoSparse``.
"""

from ._api import hessian_sparsity, jacobian_sparsity
from ._selectors import (
    AbstractSparsityDetector,
    AutoSparse,
    DenseSparsityDetector,
    GreedyColoringAlgorithm,
    KnownHessianSparsity,
    KnownJacobianSparsity,
    TracerSparsityDetector,
)

__all__ = [
    "AbstractSparsityDetector",
    "AutoSparse",
    "DenseSparsityDetector",
    "GreedyColoringAlgorithm",
    "KnownHessianSparsity",
    "KnownJacobianSparsity",
    "TracerSparsityDetector",
    "hessian_sparsity",
    "jacobian_sparsity",
]

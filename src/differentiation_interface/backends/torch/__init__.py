"""The PyTorch engine behind ``AutoTorch``: every operator native, in either mode.

Modules
-------
``engine``
    :class:`TorchEngine`, which picks a plan for each operator and mode.
``io``
    The caller-array adapter (:class:`~.io.CallerIO`: ``put``, ``back``), binding ``f`` to
    torch contexts, and misuse checks.
``backward``
    One backward pass through torch's autograd engine, without ``torch.autograd.grad``'s
    Python wrapper.
``plan``
    What every plan shares: its signature, and the engine side of its runs (outside
    ``torch.inference_mode()``; torch's differentiation errors as library errors).
``first``, ``second``
    First- and second-order plans.

This package imports torch: it is loaded on the first use of an ``AutoTorch`` selector only
(the package ``differentiation_interface.backends`` does not import it).
"""

from .engine import TorchEngine

__all__ = ["TorchEngine"]

"""Composition between engines (API section 11): ``DifferentiateWith`` and the bridges.

A bridge lets one engine (JAX, PyTorch, HIPS autograd) trace a function whose derivatives
another engine computes: ``_jax`` (JAX primitives), ``_torch`` (``torch.autograd.Function``
objects) and ``_autograd`` (autograd primitives), each importing only its own engine and
imported on first use. ``_rules`` holds what they ask for (value, pushforward, pullback,
Hessian-vector product), computed by this library's operators. ``_second_order`` serves
cross-engine ``SecondOrder(outer, inner)``: ``outer``'s second order of ``f`` bridged to
``inner``.
"""

from ._api import DifferentiateWith

__all__ = ["DifferentiateWith"]

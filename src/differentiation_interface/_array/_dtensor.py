"""torch ``DTensor``: tensors sharded over a ``DeviceMesh`` of processes.

A ``DTensor`` is a ``torch.Tensor`` whose values are spread over the processes of a mesh; each
operation on it may be a collective. Its placement, what a preparation's signature records
and what ``out=`` and tangents are checked against, is :class:`DTensorPlacement`: the mesh
and how the tensor is cut over it. Two placements are *equal* when their meshes are (an
output computed from ``x`` lives on ``x``'s mesh however it is cut, as a JAX sharding's
device set does); :func:`same_layout` compares the cut as well.

Nothing here imports ``torch.distributed``: a DTensor can only exist once its module is in
``sys.modules``, and every test starts with a type lookup, so plain tensors and numpy arrays
cost one dict lookup.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..errors import UnsupportedOperationError

__all__ = [
    "DTensorPlacement",
    "distribute_like",
    "is_dtensor",
    "redistribute_like",
    "refuse_dtensor",
    "same_layout",
]

_DTENSOR_MODULE = "torch.distributed.tensor"
_kind_by_type: dict[type, bool] = {np.ndarray: False}


def is_dtensor(a: Any) -> bool:
    """Whether ``a`` is a ``torch.distributed.tensor.DTensor`` (cached per type)."""
    t = type(a)
    kind = _kind_by_type.get(t)
    if kind is None:
        module = sys.modules.get(_DTENSOR_MODULE)
        dtensor = getattr(module, "DTensor", None) if module is not None else None
        kind = dtensor is not None and issubclass(t, dtensor)
        # cached either way: a type that exists before DTensor's module loads cannot be one
        # of its subclasses (bases are fixed when a class is made)
        _kind_by_type[t] = kind
    return kind


class DTensorPlacement:
    """Where a DTensor lives: its ``DeviceMesh`` and its ``placements`` (``Shard(0)``, ...).

    Equal to another when the meshes are equal (the same processes and devices);
    :func:`same_layout` also compares the placements.
    """

    __slots__ = ("mesh", "placements")

    def __init__(self, mesh: Any, placements: tuple[Any, ...]) -> None:
        self.mesh = mesh
        self.placements = placements

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTensorPlacement) and other.mesh == self.mesh

    def __hash__(self) -> int:
        return hash(self.mesh)

    def __repr__(self) -> str:
        cut = ", ".join(repr(p) for p in self.placements)
        return (
            f"DTensor over a {self.mesh.device_type} DeviceMesh of shape "
            f"{tuple(self.mesh.shape)}, placements ({cut})"
        )


def placement_of(a: Any) -> DTensorPlacement:
    """The :class:`DTensorPlacement` of a DTensor."""
    return DTensorPlacement(a.device_mesh, tuple(a.placements))


def same_layout(a: Any, b: Any) -> bool:
    """Whether two DTensors (or placements) have the same mesh and placements."""
    pa = a if isinstance(a, DTensorPlacement) else placement_of(a)
    pb = b if isinstance(b, DTensorPlacement) else placement_of(b)
    return pa == pb and pa.placements == pb.placements


def refuse_dtensor(a: Any, what: str) -> None:
    """Raise :class:`UnsupportedOperationError` if ``a`` is a DTensor: converting it to another
    namespace (numpy, JAX, autograd's numpy) would gather every shard onto each process.

    ``what`` names who asked (``"AutoJAX()"``), for the message.
    """
    if is_dtensor(a):
        msg = (
            f"{what} would convert a torch DTensor ({placement_of(a)!r}) to another array "
            "library, which gathers every shard onto each process; this library never does "
            "that. Differentiate DTensors with di.AutoTorch() (reverse mode) or "
            "di.AutoFiniteDiff(), which compute on the DTensor itself, or call "
            "x.full_tensor() yourself if gathering is what you want."
        )
        raise UnsupportedOperationError(msg)


def distribute_like(plain: Any, x: Any) -> Any:
    """A plain tensor, made the same on every process, as a DTensor on ``x``'s mesh: of shape
    ``(*lead, *x.shape)``, cut like ``x`` along ``x``'s dimensions and replicated along the
    leading ones; of any other shape, replicated. Each process keeps its own part (no
    communication)."""
    tensor_module = sys.modules[_DTENSOR_MODULE]
    return tensor_module.distribute_tensor(
        plain, x.device_mesh, _placements_like(plain, x), src_data_rank=None
    )


def _placements_like(a: Any, x: Any) -> list[Any]:
    tensor_module = sys.modules[_DTENSOR_MODULE]
    lead = a.ndim - x.ndim
    like = lead >= 0 and tuple(a.shape[lead:]) == tuple(x.shape)
    placements = []
    for p in x.placements:
        dim = getattr(p, "dim", None)
        if like and p.is_shard() and dim is not None:
            placements.append(tensor_module.Shard(dim + lead))
        else:
            placements.append(tensor_module.Replicate())
    return placements


def redistribute_like(a: Any, x: Any) -> Any:
    """A DTensor ``a`` of shape ``(*lead, *x.shape)`` cut like ``x`` along ``x``'s dimensions
    and replicated along the leading ones (:func:`distribute_like`'s layout); a pending sum
    (``Partial``) is reduced, nothing is gathered beyond what that layout replicates."""
    placements = _placements_like(a, x)
    if list(a.placements) == placements:
        return a
    return a.redistribute(x.device_mesh, placements)

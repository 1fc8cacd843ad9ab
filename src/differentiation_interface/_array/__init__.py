"""The array layer: the only bridge to array-api-compat and array-api-extra.

Everything the rest of the library needs to know about arrays (namespace, device, dtype,
conversion in and out, JAX's 64-bit precision, ``out=`` buffers, basis seeds) goes through
this package, so that the rules learned from experiments (see ``docs/explanation/arrays.md``)
live in one place.

The thread switch of JAX's 64-bit mode is resolved once, on the first :func:`x64_switch`;
its state and methods are the module globals ``X64``, ``X64_ENTER`` and ``X64_RESTORE`` of
``_precision`` (not re-exported here: they are ``None`` until then).
"""

from ._convert import (
    convert,
    fresh,
    from_numpy,
    host_dtype,
    refuse_extended,
    refuse_meta,
    to_numpy,
)
from ._dask import chunked_like, is_dask, map_coordinates
from ._dtensor import (
    DTensorPlacement,
    distribute_like,
    is_dtensor,
    redistribute_like,
    refuse_dtensor,
    same_layout,
)
from ._extra import at
from ._grad import constant
from ._namespace import (
    DTYPE_NAMES,
    ArraySpec,
    compat_namespace,
    device_of,
    dtype_in,
    dtype_name,
    eps_of,
    is_array,
    is_complex_dtype,
    is_eager_and_writable,
    is_floating_dtype,
    is_jax_namespace,
    is_numpy_namespace,
    is_strict_namespace,
    is_torch_namespace,
    is_writable,
    namespace_name,
    namespace_of,
    placement,
    real_dtype,
    same_values,
    spec_accepts,
    spec_of,
    spec_traced,
)
from ._outputs import check_out, write_out
from ._precision import (
    in_precision,
    in_x64,
    is_64bit,
    needs_x64,
    precision_scope,
    x64_switch,
)
from ._seeds import (
    MAX_STACK_ELEMENTS,
    basis_chunk,
    chunking,
    rows,
    stack,
    unstack,
    vectorizer,
)
from ._sharding import (
    describe_placement,
    device_for,
    is_sharded,
    layout_for,
    place_like,
    replicated_for,
    same_devices,
    sharding_of,
)
from ._tracing import differentiated_by, refuse_foreign, transformed

__all__ = [
    "DTYPE_NAMES",
    "MAX_STACK_ELEMENTS",
    "ArraySpec",
    "DTensorPlacement",
    "at",
    "basis_chunk",
    "check_out",
    "chunked_like",
    "chunking",
    "compat_namespace",
    "constant",
    "convert",
    "describe_placement",
    "device_for",
    "device_of",
    "differentiated_by",
    "distribute_like",
    "dtype_in",
    "dtype_name",
    "eps_of",
    "fresh",
    "from_numpy",
    "host_dtype",
    "in_precision",
    "in_x64",
    "is_64bit",
    "is_array",
    "is_complex_dtype",
    "is_dask",
    "is_dtensor",
    "is_eager_and_writable",
    "is_floating_dtype",
    "is_jax_namespace",
    "is_numpy_namespace",
    "is_sharded",
    "is_strict_namespace",
    "is_torch_namespace",
    "is_writable",
    "layout_for",
    "map_coordinates",
    "namespace_name",
    "namespace_of",
    "needs_x64",
    "place_like",
    "placement",
    "precision_scope",
    "real_dtype",
    "redistribute_like",
    "refuse_dtensor",
    "refuse_extended",
    "refuse_foreign",
    "refuse_meta",
    "replicated_for",
    "rows",
    "same_devices",
    "same_layout",
    "same_values",
    "sharding_of",
    "spec_accepts",
    "spec_of",
    "spec_traced",
    "stack",
    "to_numpy",
    "transformed",
    "unstack",
    "vectorizer",
    "write_out",
    "x64_switch",
]

"""The exception hierarchy.

Every error the library raises on purpose derives from :class:`DIError` *and* from the builtin
exception a Python user would expect (``ImportError`` for a missing engine, ``ValueError`` for a
shape mismatch, ...), so ``except ValueError`` keeps working in code that does not know this
library.

Messages follow one structure: which operator, what it requires, what it received, and how to
fix it.
"""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "BackendUnavailableError",
    "DIError",
    "FunctionOutputError",
    "ImmutableOutputError",
    "PreparationMismatchError",
    "UnsupportedOperationError",
    "UntraceableFunctionError",
]


class DIError(Exception):
    """Base class of every error raised by differentiation-interface.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> try:
    ...     di.gradient(lambda x: x * 2, di.AutoFiniteDiff(), np.ones(3))
    ... except di.DIError as err:
    ...     print(type(err).__name__)
    FunctionOutputError
    """


class BackendUnavailableError(DIError, ImportError):
    """The engine behind a backend selector is not installed.

    Raised at first use of the selector, never at construction. The message names the pip
    extra that installs the engine, e.g. ``pip install "differentiation-interface[jax]"``.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> issubclass(di.BackendUnavailableError, ImportError)
    True
    """


class UnsupportedOperationError(DIError, NotImplementedError):
    """The backend cannot perform this operation (e.g. two-argument functions with JAX).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> issubclass(di.UnsupportedOperationError, NotImplementedError)
    True
    """


class PreparationMismatchError(DIError, ValueError):
    """A prepared call received arguments that do not match the preparation.

    The message lists every argument (function, backend, ``x``, tangents, contexts, ``y``) as
    matching or not, with what preparation saw and what the call gave.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**2).sum()
    >>> prep = di.prepare_gradient(f, di.AutoFiniteDiff(), np.ones(3))
    >>> try:
    ...     di.gradient(f, di.AutoFiniteDiff(), np.ones(4), prep=prep)
    ... except di.PreparationMismatchError as err:
    ...     print(str(err).splitlines()[0])
    `gradient` was called with arguments that do not match its preparation:
    """


class ImmutableOutputError(DIError, TypeError):
    """``out=`` was given an array that cannot be written (a JAX array, read-only numpy).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> out = np.zeros(3)
    >>> out.flags.writeable = False
    >>> try:
    ...     di.gradient(lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(3), out=out)
    ... except di.ImmutableOutputError:
    ...     print("read-only")
    read-only
    """


class ArgumentTypeError(DIError, TypeError):
    """An argument has the wrong type: ``x`` is not an array or not floating, a context is
    not wrapped in :class:`~differentiation_interface.Constant` or
    :class:`~differentiation_interface.Cache`, tangents are not a tuple of arrays, ...

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> try:
    ...     di.gradient(lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.arange(3))
    ... except TypeError as err:
    ...     print(str(err).split(";")[0])
    `gradient` can only differentiate with respect to real or complex floating arrays
    """


class ArgumentValueError(DIError, ValueError):
    """An argument has the right type but the wrong shape, dtype, device or count.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> try:
    ...     di.pushforward(lambda x: x**2, di.AutoFiniteDiff(), np.ones(3), (np.ones(2),))
    ... except ValueError as err:
    ...     print(type(err).__name__)
    ArgumentValueError
    """


class FunctionOutputError(DIError, ValueError):
    """The differentiated function returned something the operator cannot use.

    For example a non-array, an array of another namespace, an integer array, or a non-scalar
    output for :func:`~differentiation_interface.gradient`.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> try:
    ...     di.gradient(lambda x: x**2, di.AutoFiniteDiff(), np.ones(3))
    ... except di.FunctionOutputError as err:
    ...     print("jacobian" in str(err))
    True
    """


class UntraceableFunctionError(ArgumentTypeError):
    """JAX could not trace ``f``: it must compute with the Array API or ``jax.numpy``.

    Raised by engines that trace ``f`` (``AutoJAX``) when ``f`` calls numpy on a traced array,
    converts a traced value to a Python number (``float()``, ``int()``, ``.item()``),
    branches on a traced value, or writes into an array in place; and by ``AutoTorch`` when
    ``f`` calls numpy on a tensor on its tape or combines one with a numpy array it closes
    over (pass that array as ``di.Constant``). It is an
    :class:`~differentiation_interface.ArgumentTypeError` (so a ``DIError`` and a
    ``TypeError``), and its ``__cause__`` is the engine's error.

    Examples
    --------
    With JAX installed, ``di.gradient(lambda x: np.sum(np.sin(x)), di.AutoJAX(), x)`` raises
    it (``np.sin`` cannot take a JAX tracer). It is a ``TypeError``:

    >>> import differentiation_interface as di
    >>> issubclass(di.UntraceableFunctionError, (di.DIError, TypeError))
    True
    """


class DisconnectedGraphError(DIError, ValueError):
    """``f``'s output is not connected to ``x`` in the engine's graph.

    Engines that record operations (``AutoTorch``) see nothing of what happens outside their
    graph: ``.data`` or ``.detach()``, ``xp.asarray([...])`` built from ``x``-dependent
    scalars, a round trip through numpy, or ``torch.nn.utils.vector_to_parameters`` (which
    writes ``.data``) cut it, and every derivative would silently be zero. Preparation
    evaluates ``f`` once on the graph and raises this error instead, in every mode and for
    every operator, naming the cutting operation it saw and the fix (torch or Array API
    operations, ``xp.stack``, ``torch.func.functional_call``). Only an output with no path
    back to ``x`` at all is refused: a function that depends on part of ``x`` is connected.
    A function that truly does not depend on ``x`` can be differentiated with
    ``AutoTorch(allow_unused=True)``, which returns zeros. It is a ``DIError`` and a
    ``ValueError``.

    Examples
    --------
    With torch installed, ``di.gradient(lambda x: (x.detach() ** 2).sum(), di.AutoTorch(), x)``
    raises it (see the how-to "Differentiate through operators in a torch graph"). It is a
    ``ValueError``:

    >>> import differentiation_interface as di
    >>> issubclass(di.DisconnectedGraphError, (di.DIError, ValueError))
    True
    """

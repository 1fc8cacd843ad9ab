"""Backend selectors: small frozen dataclasses that name an engine and its settings.

A selector imports nothing. The engine behind it is loaded by name on first use (see
:mod:`differentiation_interface.backends`), so constructing ``AutoJAX()`` on a machine without
JAX is fine; differentiating with it raises
:class:`~differentiation_interface.BackendUnavailableError`.

Extension contract
------------------
A selector class defines three class variables:

``_engine``
    ``"module:Class"`` of the engine implementing it; imported lazily.
``_requires``
    Top-level modules the engine imports (checked by :func:`check_available` with
    :func:`importlib.util.find_spec`, never imported).
``_extra``
    The pip extra that installs them, used in error messages.
``_inplace``
    Whether the engine differentiates two-argument functions ``f(y, x)``
    (:func:`check_inplace`); declared here so that answering needs no import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "AbstractBackend",
    "AutoAutograd",
    "AutoFiniteDiff",
    "AutoJAX",
    "AutoTorch",
    "MixedMode",
    "SecondOrder",
]

Mode = Literal["forward", "reverse"]


class AbstractBackend:
    """Base class of every backend selector.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> isinstance(di.AutoFiniteDiff(), di.AbstractBackend)
    True
    """

    _engine: ClassVar[str] = ""
    _requires: ClassVar[tuple[str, ...]] = ()
    _extra: ClassVar[str] = ""
    _inplace: ClassVar[bool] = False

    @property
    def mode(self) -> str:
        """Differentiation mode of the engine: ``"forward"`` or ``"reverse"``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        # Only the settings that differ from the defaults, so reports stay readable.
        shown = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.default is dataclasses.MISSING:
                shown.append(repr(value) if not field.kw_only else f"{field.name}={value!r}")
            elif value != field.default:
                shown.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


class _FrozenOptions(dict[str, Any]):
    """A read-only, hashable dict: the compiler options of a frozen selector."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        msg = "a selector's compiler_options cannot be changed; build a new selector"
        raise TypeError(msg)

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only


def _check_mode(selector: str, mode: object) -> None:
    if mode not in ("forward", "reverse"):
        msg = f"`{selector}` takes mode='forward' or mode='reverse'; got mode={mode!r}."
        raise ValueError(msg)


@dataclass(frozen=True, kw_only=True, repr=False)
class AutoFiniteDiff(AbstractBackend):
    """Finite differences written in pure Array-API code.

    Runs natively in the caller's namespace and on the caller's device (numpy,
    array-api-strict, torch, JAX, CuPy, dask): no conversion, no extra dependency.

    Parameters
    ----------
    method : {"central", "forward", "backward"}
        Difference scheme. ``"central"`` costs two evaluations per direction and is accurate to
        about ``eps**(2/3)`` (``4e-11`` in float64, ``2e-5`` in float32); one-sided schemes cost
        one evaluation per direction (plus one at ``x``) and are accurate to about
        ``eps**(1/2)`` (``1.5e-8`` in float64, ``3e-4`` in float32).
    step : float or None
        Relative step. The step along coordinate ``j`` is ``step * max(1, |x_j|)``; along a
        general tangent ``t`` it is ``step * max(1, max_j |x_j t_j| / max|t|) / max|t|``.
        ``None`` picks the optimal step for the scheme: ``eps**(1/3)`` for central differences,
        ``eps**(1/2)`` for one-sided ones and ``eps**(1/4)`` for second-order stencils, with
        ``eps = xp.finfo(x.dtype).eps``.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> backend = di.AutoFiniteDiff(method="forward")
    >>> g = di.gradient(lambda x: (x**2).sum(), backend, np.array([1.0, 2.0]))
    >>> np.allclose(g, [2.0, 4.0])
    True
    """

    method: Literal["central", "forward", "backward"] = "central"
    step: float | None = None

    _engine: ClassVar[str] = "differentiation_interface.backends.finite_diff:FiniteDiffEngine"
    _inplace: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.method not in ("central", "forward", "backward"):
            msg = (
                "`AutoFiniteDiff` takes method='central', 'forward' or 'backward'; "
                f"got method={self.method!r}."
            )
            raise ValueError(msg)
        if self.step is not None and not (
            isinstance(self.step, int | float) and not isinstance(self.step, bool) and self.step > 0
        ):
            msg = f"`AutoFiniteDiff` takes a positive float step or None; got step={self.step!r}."
            raise ValueError(msg)

    @property
    def mode(self) -> str:
        """Finite differences are a forward mode: one evaluation pair per direction."""
        return "forward"


@dataclass(frozen=True, kw_only=True, repr=False)
class AutoJAX(AbstractBackend):
    """JAX (``jax.jvp``, ``jax.vjp``, ``jax.grad``, ...), jitted at preparation.

    Parameters
    ----------
    mode : {"reverse", "forward"}
        Reverse mode (``vjp``/``grad``/``jacrev``) or forward mode (``jvp``/``jacfwd``).
    compiler_options : dict or None
        XLA options every jitted program is compiled with (``jax.jit(compiler_options=...)``).
        ``None`` means the library's defaults: on CPU, XLA's classic loop emitters
        (``{"xla_cpu_use_fusion_emitters": False}``), with which programs compile faster
        than with XLA's default MLIR fusion emitters and mostly run faster too, with
        bit-identical float64 results (reverse-mode Jacobians, which run slower with them,
        keep JAX's defaults; the measurements are in the JAX backend page,
        ``docs/backends/jax.md``); no options on other platforms, or with a JAX lacking
        this one. A dict is used exactly as given: ``{}`` compiles with JAX's own defaults.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.AutoJAX(mode="forward")
    AutoJAX(mode='forward')
    >>> di.AutoJAX(compiler_options={})
    AutoJAX(compiler_options={})
    """

    mode: Mode = "reverse"
    compiler_options: dict[str, Any] | None = None

    _engine: ClassVar[str] = "differentiation_interface.backends.jax:JAXEngine"
    _requires: ClassVar[tuple[str, ...]] = ("jax",)
    _extra: ClassVar[str] = "jax"

    def __post_init__(self) -> None:
        _check_mode("AutoJAX", self.mode)
        options: object = self.compiler_options
        if options is None:
            return
        if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
            msg = (
                "`AutoJAX` takes compiler_options as a dict of XLA option names to values "
                f"(or None for the library's defaults); got {options!r}."
            )
            raise TypeError(msg)
        # A selector is hashable (caches are keyed on it): freeze a copy of the options.
        frozen = _FrozenOptions(options)
        try:
            hash(frozen)
        except TypeError:
            msg = (
                "`AutoJAX` takes compiler option values that are numbers, strings or bools; "
                f"got {options!r}."
            )
            raise TypeError(msg) from None
        object.__setattr__(self, "compiler_options", frozen)


@dataclass(frozen=True, kw_only=True, repr=False)
class AutoTorch(AbstractBackend):
    """PyTorch: the ``torch.autograd`` tape in reverse mode, ``torch.func`` in forward mode.

    Parameters
    ----------
    mode : {"reverse", "forward"}
        Reverse mode (autograd tape) or forward mode (``torch.func.jvp``).
    compile : bool
        Reverse-mode gradients (``gradient``, ``value_and_gradient``) of a function of ``x``
        alone evaluate ``torch.compile(f)``, whose fused forward and backward kernels make
        the gradient of compute-bound functions of large ``x`` several times faster (no gain
        on ``sum(x**2)``, whose backward is memory-bound), but small problems no faster or
        slightly slower, at the price of seconds of compilation at preparation (it needs a
        C++ compiler; the measurements are in the PyTorch backend page,
        ``docs/backends/torch.md``). Other operators, functions with contexts and forward
        mode use ``f`` as it is (a compiled backward cannot be differentiated again).
    allow_unused : bool
        Whether an ``f`` whose output is not connected to ``x`` in torch's graph is
        differentiated as a constant (zeros). By default that raises
        :class:`~differentiation_interface.DisconnectedGraphError` at preparation, since the
        graph is usually cut by mistake (``.detach()``, ``.data``, a numpy round trip) and the
        zeros would be silently wrong; set it for functions that truly do not depend on ``x``.
        Functions that depend on only part of ``x`` need no flag.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.AutoTorch(), di.AutoTorch(mode="forward"), di.AutoTorch(compile=True)
    (AutoTorch(), AutoTorch(mode='forward'), AutoTorch(compile=True))

    A function that does not depend on ``x`` at all has zero derivatives only when allowed
    (with torch installed, ``di.gradient(lambda x: x[0] * 0 + 1, ...)`` is connected to ``x``,
    while ``di.gradient(lambda x: xp.ones(()), ...)`` is not; executed examples in the how-to
    "Differentiate through operators in a torch graph"):

    >>> di.AutoTorch(allow_unused=True)
    AutoTorch(allow_unused=True)
    """

    mode: Mode = "reverse"
    compile: bool = False
    allow_unused: bool = False

    _engine: ClassVar[str] = "differentiation_interface.backends.torch:TorchEngine"
    _requires: ClassVar[tuple[str, ...]] = ("torch",)
    _extra: ClassVar[str] = "torch"
    _inplace: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_mode("AutoTorch", self.mode)
        for name in ("compile", "allow_unused"):
            flag: object = getattr(self, name)  # typed bool, but built from user input
            if not isinstance(flag, bool):
                msg = f"AutoTorch({name}=...) must be True or False, got {flag!r}"
                raise TypeError(msg)


@dataclass(frozen=True, kw_only=True, repr=False)
class AutoAutograd(AbstractBackend):
    """HIPS autograd (reverse mode over numpy).

    Examples
    --------
    >>> import differentiation_interface as di
    >>> di.AutoAutograd().mode
    'reverse'
    """

    _engine: ClassVar[str] = "differentiation_interface.backends.autograd:AutogradEngine"
    _requires: ClassVar[tuple[str, ...]] = ("autograd",)
    _extra: ClassVar[str] = "autograd"

    @property
    def mode(self) -> str:
        """HIPS autograd is a reverse-mode engine."""
        return "reverse"


def _check_parts(selector: AbstractBackend, roles: tuple[str, ...]) -> None:
    """A composite selector's parts must be selectors themselves."""
    for role in roles:
        part: Any = getattr(selector, role)
        if not isinstance(part, AbstractBackend):
            msg = f"`{type(selector).__name__}` takes backend selectors; got {role}={part!r}."
            raise TypeError(msg)


@dataclass(frozen=True, repr=False)
class SecondOrder(AbstractBackend):
    """Compose two backends for second-order operators: ``outer`` differentiates ``inner``.

    ``SecondOrder(AutoJAX(mode="forward"), AutoJAX())`` computes Hessian-vector products
    forward-over-reverse: a pushforward (``outer``) of the gradient computed by ``inner``.
    First-order operators called with a ``SecondOrder`` backend use ``inner``.

    Parameters
    ----------
    outer : AbstractBackend
        Backend differentiating the derivative computed by ``inner``.
    inner : AbstractBackend
        Backend computing the first derivative.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> backend = di.SecondOrder(di.AutoFiniteDiff(), di.AutoFiniteDiff())
    >>> H = di.hessian(lambda x: (x**3).sum(), backend, np.array([1.0, 2.0]))
    >>> np.allclose(H, [[6.0, 0.0], [0.0, 12.0]], atol=1e-4)
    True
    """

    outer: AbstractBackend
    inner: AbstractBackend

    _engine: ClassVar[str] = "differentiation_interface.operators._second_order:SecondOrderEngine"

    def __post_init__(self) -> None:
        _check_parts(self, ("outer", "inner"))

    @property
    def mode(self) -> str:
        """Mode of the outer backend."""
        return self.outer.mode


@dataclass(frozen=True, repr=False)
class MixedMode(AbstractBackend):
    """Two backends for one Jacobian: ``forward`` pushes columns, ``reverse`` pulls rows.

    As the dense backend of ``AutoSparse``, the Jacobian's pattern is split between them
    (bidirectional coloring): the densest rows by pullbacks of ``reverse``, the rest by
    pushforwards of ``forward``, or the densest columns by pushforwards and the rest by
    pullbacks, whichever needs the fewest calls. A pattern with dense rows *and* dense
    columns needs as many colors as its densest line one-sided (an arrowhead: ``n``) and
    about 3 both ways. Used directly, ``pushforward`` and ``derivative`` are
    ``forward``'s, ``pullback``, ``gradient`` and the second-order operators
    ``reverse``'s, and ``jacobian`` the cheaper side's (``forward`` when ``x`` is no
    larger than ``f(x)``).

    Parameters
    ----------
    forward : AbstractBackend
        Backend of the pushforwards (a forward-mode backend, or finite differences).
    reverse : AbstractBackend
        Backend of the pullbacks (a reverse-mode backend).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> def arrow(x):  # a dense first row and column, plus the diagonal
    ...     return np.concatenate([[np.sum(x**2)], x[1:] * x[0] + x[1:] ** 3])
    >>> backend = di.AutoSparse(di.MixedMode(di.AutoFiniteDiff(), di.AutoFiniteDiff()))
    >>> prep = di.prepare_jacobian(arrow, backend, np.ones(50))
    >>> prep.ncolors, prep.forward_colors, prep.reverse_colors  # one-sided: 50
    (3, 2, 1)
    >>> J = di.jacobian(arrow, backend, np.ones(50), prep=prep)
    >>> bool(np.allclose(J.toarray()[0], 2.0, atol=1e-6))
    True
    """

    forward: AbstractBackend
    reverse: AbstractBackend

    _engine: ClassVar[str] = "differentiation_interface.operators._mixed_mode:MixedModeEngine"

    def __post_init__(self) -> None:
        _check_parts(self, ("forward", "reverse"))

    @property
    def mode(self) -> str:
        """The mode of the Jacobian's pushforward side: ``"forward"``."""
        return "forward"

    def _parts(self) -> tuple[AbstractBackend, AbstractBackend]:
        return (self.forward, self.reverse)

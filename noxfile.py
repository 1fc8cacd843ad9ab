"""Every check the project runs, one nox session each; CI runs the default sessions.

    nox                       # the default sessions: what CI runs (README's test command)
    nox -s tests              # core and sparse tests: numpy, array-api-strict, dask; no engine
    nox -s "engine(jax)"      # one engine's tests, alone (jax, torch, autograd)
    nox -s integration        # every engine together: cross-engine tests, capability matrix
    nox -s conformance        # engines x namespaces x scenarios x variants
    nox -s docs lint typecheck
    nox -s bench              # benchmarks (not run by CI)

Engines are installed with constraints/ci.txt, which keeps torch on the CPU wheel.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "engine",
    "integration",
    "conformance",
    "docs",
]

CONSTRAINTS = ("-c", "constraints/ci.txt")
ENGINES = ("jax", "torch", "autograd")
# Tests are independent and CPU-bound: one pytest worker per core (2 on CI) about halves the
# wall time of the JAX sessions, which are dominated by compilation.
PARALLEL = ("-n", "auto")
TWO_CPU_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


# Byte-compiling torch's and jax's files at install time costs about 30 s per environment
# (torch: 44 s with, 13 s without); Python compiles the modules it imports on first use anyway.
NO_COMPILE = "--no-compile"


def _install(session: nox.Session, *extras: str) -> None:
    session.install(NO_COMPILE, "-e", f".[{','.join(extras)}]", *CONSTRAINTS)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check; the import rules of docs/dev/architecture.md (import-linter
    contracts in pyproject.toml, read from the source: nothing is imported or installed)."""
    session.install(NO_COMPILE, "ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": "src"})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (engines installed, so their modules are checked)."""
    _install(session, "all", "test")
    session.install(NO_COMPILE, "mypy>=1.10")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """Core and sparse tests with no engine installed (finite differences everywhere)."""
    _install(session, "test")
    session.run(
        "pytest",
        *PARALLEL,
        "tests/core",
        "tests/sparse",
        "--doctest-modules",
        "src/differentiation_interface",
        # engine packages import their engine; their doctests run in the engine sessions
        # (finite_diff imports none: its doctests run here)
        *(f"--ignore=src/differentiation_interface/backends/{engine}" for engine in ENGINES),
        # the lineax adapters import JAX and lineax: their doctests run in `integration`
        "--ignore=src/differentiation_interface/lineax",
        # the bridges between engines import their engines: doctests run in `integration`
        "--ignore=src/differentiation_interface/compose",
        *session.posargs,
    )


@nox.session
@nox.parametrize("engine", ENGINES)
def engine(session: nox.Session, engine: str) -> None:
    """One engine's tests, in an environment with only that engine."""
    _install(session, engine, "test")
    session.run(
        "pytest",
        *PARALLEL,
        f"tests/backends/test_{engine}.py",
        "--doctest-modules",
        f"src/differentiation_interface/backends/{engine}",
        *session.posargs,
        env=TWO_CPU_DEVICES if engine == "jax" else {},
    )


@nox.session
def integration(session: nox.Session) -> None:
    """Every engine installed together: cross-engine compositions and inputs, sparse AD with
    each engine as the dense backend, and the generated capability matrix."""
    _install(session, "all", "test")
    session.run(
        "pytest",
        *PARALLEL,
        "tests/integration",
        "tests/sparse/test_engines.py",
        "tests/core/test_precision.py",  # its torch and JAX cases
        "tests/backends/test_autograd.py",
        "tests/backends/test_torch.py",
        "tests/backends/test_torch_graphs.py",  # attached results: torch with finite diffs
        "--doctest-modules",
        "src/differentiation_interface/lineax",
        "src/differentiation_interface/compose",
        *session.posargs,
        env=TWO_CPU_DEVICES,
    )
    # The GPU tests once more with torch's and JAX's CPU device in place of CUDA (see
    # tests/gpu_dry_run.py): their logic is checked here, since CI has no GPU to run them.
    session.run(
        *("python", "-m", "pytest", "-p", "tests.gpu_dry_run", "-m", "cuda", "tests"),
        *PARALLEL,
        env=TWO_CPU_DEVICES,  # python -m: the plugin is imported from the working directory
    )
    session.run("python", "conformance/report.py", "--check")


@nox.session
@nox.parametrize("engine", ("finite_diff", *ENGINES, "cross"))
def conformance(session: nox.Session, engine: str) -> None:
    """One engine's row of the conformance matrix: every namespace it accepts x every
    scenario x every variant (the namespaces' packages are installed with it). ``cross``:
    cross-engine ``SecondOrder`` pairs."""
    extras = {
        "finite_diff": ("test", "torch", "jax"),
        "autograd": ("test", "all"),
        "cross": ("test", "all"),
    }
    _install(session, *extras.get(engine, ("test", engine)))
    session.run(
        "pytest", *PARALLEL, "conformance", *session.posargs, env={"DI_CONFORMANCE_ENGINES": engine}
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors, then run the examples of the pages
    that opt in (docs/run_examples.py: the tutorials use torch and JAX)."""
    _install(session, "docs", "all")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
    session.run("python", "docs/run_examples.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print their tables (not part of CI)."""
    _install(session, "all", "test")
    session.install(NO_COMPILE, "asdex")  # the sparse benchmark's reference
    os.makedirs("benchmarks/results", exist_ok=True)
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}", *session.posargs)

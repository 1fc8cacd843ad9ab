"""Every check the project runs, one nox session each; CI runs the default sessions.

    nox                       # the default sessions: what CI runs (README's test command)
    nox -s tests              # core tests: numpy, array-api-strict, dask; no engine
    nox -s "engine(jax)"      # one engine's tests (jax, torch, autograd)
    nox -s docs lint typecheck
    nox -s bench              # benchmarks (not run by CI)

Engines are installed with constraints/ci.txt, which keeps torch on the CPU wheel.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["lint", "typecheck", "tests", "docs"]

CONSTRAINTS = ("-c", "constraints/ci.txt")
ENGINES = ("jax", "torch", "autograd")


def _install(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(extras)}]", *CONSTRAINTS)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    _install(session, "test")
    session.install("mypy>=1.10")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """Core tests with no engine installed (finite differences on every namespace)."""
    _install(session, "test")
    session.run(
        "pytest",
        "tests/core",
        "--doctest-modules",
        "src/differentiation_interface",
        *session.posargs,
    )


@nox.session
@nox.parametrize("engine", ENGINES)
def engine(session: nox.Session, engine: str) -> None:
    """One engine's tests, in an environment with only that engine."""
    _install(session, engine, "test")
    env = {}
    if engine == "jax":  # two fake CPU devices, to test device placement without a GPU
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    session.run(
        "pytest",
        f"tests/backends/test_{engine}.py",
        "--doctest-modules",
        *sorted(glob.glob(f"src/differentiation_interface/backends/_{engine}*.py")),
        *session.posargs,
        env=env,
    )


@nox.session
@nox.parametrize("engine", ("finite_diff", *ENGINES))
def conformance(session: nox.Session, engine: str) -> None:
    """One engine's row of the conformance matrix, in an environment with only that engine
    (plus the namespaces it accepts: torch and jax arrays for finite differences)."""
    extras = {"finite_diff": ("test", "torch", "jax")}.get(engine, ("test", engine))
    _install(session, *extras)
    if engine in ("autograd",):
        session.install("jax", "torch", *CONSTRAINTS)  # its input namespaces
    session.run("pytest", "conformance", *session.posargs, env={"DI_CONFORMANCE_ENGINES": engine})


@nox.session
def capabilities(session: nox.Session) -> None:
    """Check that docs/explanation/capabilities.md matches the engines (all installed)."""
    _install(session, "all")
    session.run("python", "conformance/report.py", "--check")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    _install(session, "docs")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print their tables (not part of CI)."""
    _install(session, "jax", "torch", "autograd", "test")
    os.makedirs("benchmarks/results", exist_ok=True)
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}", *session.posargs)

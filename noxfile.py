"""Every project task is a nox session.

`nox -s tests` is the one command CI runs: it runs the test suite (against a real Agent Server it starts on a
free port) and then, as notified sessions, the contract check, the production-shaped test bed (two replicas
on Postgres and Redis), the generated-code drift gate, lint, mypy and the documentation build.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests"]

#: The sessions run on the interpreter that runs nox (any supported Python: 3.11 to 3.14), so
#: `python3 -m pip install nox && nox -s tests` works on whatever Python 3.11+ a machine has.
#: Another one: `nox -s tests --force-python 3.13`.
PYTHON: str | None = None

# The generator is pinned exactly: the generated code must be byte-for-byte reproducible.
GENERATOR_PINS = [
    "openapi-python-client==0.29.1",
    "datamodel-code-generator==0.89.0",
    "ruff==0.17.6",
    "pyyaml>=6",
]
LINT_PINS = ["ruff==0.17.6"]
TYPECHECK_PINS = ["mypy==2.4.1"]
# The documentation site, pinned exactly (what mkdocstrings renders depends on griffe's version too).
DOCS_PINS = [
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.1",
    "mkdocstrings==1.0.8",
    "mkdocstrings-python==2.0.11",
    "mkdocs-autorefs==1.4.5",
    "griffelib==2.4.1",
    "pymdown-extensions==13.1",
    "markdown==3.11.3",
    "ruff==0.17.6",  # mkdocstrings formats the signatures with it
]


@nox.session(python=PYTHON)
def generate(session: nox.Session) -> None:
    """Compile openapi/*.yaml into generated/, and lmsystems/_async/ into lmsystems/_sync/."""
    session.install(*GENERATOR_PINS)
    session.run("python", "scripts/generate.py")
    session.run("python", "scripts/unasync.py")


@nox.session(python=PYTHON)
def check_generated(session: nox.Session) -> None:
    """Drift gate: regenerating generated/ and lmsystems/_sync/ changes nothing."""
    session.install(*GENERATOR_PINS)
    session.run("python", "scripts/generate.py", "--check")
    session.run("python", "scripts/unasync.py", "--check")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the hand-written code (generated/ is formatted by the generator itself)."""
    session.install(*LINT_PINS)
    session.run("ruff", "check", "lmsystems", "tests", "scripts", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "lmsystems", "tests", "scripts", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on lmsystems/."""
    session.install(*TYPECHECK_PINS, "-e", ".[cli,dev,langgraph,otel]")
    session.run("mypy", "--strict", "lmsystems")


@nox.session(python=PYTHON)
def contract(session: nox.Session) -> None:
    """Prove openapi/agent-server.yaml matches a live Agent Server (started here on a free port).

    Then (notified) the same against the production-shaped server: langgraph-api 0.11.1 on Postgres.
    """
    session.install("-e", ".[test]")
    session.run("python", "scripts/contract.py", *session.posargs)
    session.notify("contract_production", posargs=[])


# The production-shaped test bed: the MIT Postgres + Redis runtime runs stock langgraph-api 0.11.1, which
# the in-memory test bed's newer langgraph-api would conflict with: it gets a venv of its own.
DISTRIBUTED_PINS = [
    "langgraph-runtime-pg==0.11.1.post1",
    "langgraph-cli>=0.4.40",
    "langchain-core>=1.0",
    "pytest>=8",
    "pytest-timeout>=2.3",
]
# Debian packages the test bed runs, and a file each installs (installed only when that file is missing).
DISTRIBUTED_DEBIAN = {
    "postgresql": "/usr/lib/postgresql/*/bin/postgres",
    "redis-server": "/usr/bin/redis-server",
}


def _debian_packages(session: nox.Session, packages: dict[str, str]) -> None:
    """apt-get install the packages whose file is missing (as root; otherwise say what to install)."""
    missing = [name for name, path in packages.items() if not glob.glob(path)]
    if not missing:
        return
    if os.geteuid() != 0:
        session.error(f"the test bed needs these Debian packages: sudo apt-get install {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-q", external=True, env=env)
    session.run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, external=True, env=env)


@nox.session(python=PYTHON)
def distributed(session: nox.Session) -> None:
    """Streams on a production-shaped Agent Server: two langgraph-api 0.11.1 replicas on Postgres and Redis.

    Installs Debian's postgresql and redis-server when missing; tests/distributed starts Postgres, Redis,
    the migrations, two replicas and our load balancer on free loopback ports, and stops them all.
    """
    _debian_packages(session, DISTRIBUTED_DEBIAN)
    session.install(*DISTRIBUTED_PINS, "-e", ".")
    session.run("pytest", "tests/distributed", *session.posargs, env={"LMSYSTEMS_DISTRIBUTED": "1"})


@nox.session(python=PYTHON)
def contract_production(session: nox.Session) -> None:
    """Prove openapi/agent-server.yaml against langgraph-api 0.11.1 on Postgres and Redis; print the drift."""
    _debian_packages(session, DISTRIBUTED_DEBIAN)
    session.install(*DISTRIBUTED_PINS, "jsonschema>=4.23", "pyyaml>=6", "-e", ".")
    session.run("python", "scripts/contract.py", "--production", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite against the real Agent Server, then contract, drift gate, lint, typecheck and docs."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)
    session.notify("contract")
    session.notify("distributed", posargs=[])
    session.notify("check_generated")
    for stack in HTTP_STACKS:  # notify() queues one session: each parametrization by its name
        session.notify(f"compat_httpx(stack={stack!r})", posargs=[])
    session.notify("lint")
    session.notify("typecheck")
    session.notify("docs")


# Streams are read below httpx (lmsystems/_body.py, lmsystems/_httpcore_internals.py): the stream tests
# run on the lowest and on the newest httpx/httpcore/h11 that pyproject.toml allows, and once more on the
# newest with the fast path switched off (LMSYSTEMS_FAST_STREAMS=0).
HTTP_STACKS = {
    "lowest": ["httpx==0.27.0", "httpcore==1.0.0", "h11==0.13.0"],
    "newest": ["httpx<1", "httpcore<2", "h11<1"],
    "newest-no-fast-path": ["httpx<1", "httpcore<2", "h11<1"],
}
STREAM_TESTS = ["tests/test_chunked_body.py", "tests/test_thread_stream_repair.py", "tests/test_resume.py"]
# The client's own transport is built on httpcore's public API (lmsystems/_async/_network.py): TLS,
# proxies and its bounds on each version too (httpcore 1.0.0 let a failed TLS handshake out raw).
TRANSPORT_TESTS = ["tests/test_tls.py", "tests/test_proxies.py"]


@nox.session(python=PYTHON)
@nox.parametrize("stack", list(HTTP_STACKS))
def compat_httpx(session: nox.Session, stack: str) -> None:
    """The stream and transport tests on the lowest and the newest supported httpx, httpcore and h11."""
    session.install("-e", ".[test]")
    session.install("--upgrade", *HTTP_STACKS[stack])
    session.run(
        "python",
        "-c",
        "import httpx, httpcore, h11; print(httpx.__version__, httpcore.__version__, h11.__version__)",
    )
    env = {"LMSYSTEMS_FAST_STREAMS": "0"} if stack.endswith("no-fast-path") else {}
    args = ["-k", "not fast_path and not below_httpx"] if env else []
    session.run("pytest", *STREAM_TESTS, *TRANSPORT_TESTS, *args, *session.posargs, env=env)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (docs/, mkdocs.yml) with the API reference from the docstrings, into site/.

    `mkdocs build --strict`: any warning (a broken link or cross-reference, a docstring griffe cannot
    read) fails. The build reads the source statically and fetches nothing from the network.
    """
    session.install(*DOCS_PINS)
    session.run("mkdocs", "build", "--strict", "--clean", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def docs_layout(session: nox.Session) -> None:
    """The documentation site in a real browser: no code block or page scrolls sideways at 1,280 px or 390 px.

    Builds the site, then opens every page in headless Chromium (Debian: `apt-get install chromium`).
    `nox -s docs_layout -- --screenshots DIR` also saves each page at both widths as PNGs.
    """
    session.install(*DOCS_PINS)
    session.run("mkdocs", "build", "--strict", "--clean", env={"NO_MKDOCS_2_WARNING": "1"})
    session.run("python", "scripts/docs_layout.py", "site", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The demo: `lmsystems dev` (Agent Server and marketplace), the documented flow, `lmsystems run`."""
    # Only what the demo runs: the SDK, its command line and `lmsystems dev` (langgraph-cli with the
    # in-memory Agent Server, which brings langgraph and langchain-core for the test bed's graphs).
    session.log(
        "installing lmsystems[dev] (the SDK, the `lmsystems` command, langgraph-cli with its in-memory "
        "Agent Server): a minute or so the first time, pip's progress below"
    )
    session.install("--progress-bar", "off", "-e", ".[dev]", silent=False)
    session.run("python", "scripts/demo.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: ours vs langgraph-sdk vs raw httpx (synthetic SSE server + the real Agent Server).

    `nox -s bench -- --quick` for a short run; results go to bench-results/ (results.md, results.json).
    """
    # Not the test extra: its CLI libraries (click, rich, pygments) make `import httpx` load httpx's own
    # CLI, which would weigh on every contender's import cost. This is what a user of the SDK has, plus
    # the Agent Server for the real-server measurement.
    session.install(
        "-e",
        ".",
        "langgraph-sdk==0.4.14",
        "langgraph-cli[inmem]>=0.4.40",
        "langgraph>=1.0",
        "langchain-core>=1.0",
    )
    session.run("python", "bench/run.py", *session.posargs)
    # Thread sessions: ours vs langgraph-sdk's v3 client on one protocol stream (bench-results/sessions.md).
    session.run("python", "bench/session_bench.py", "--rounds", "3" if "--quick" in session.posargs else "7")

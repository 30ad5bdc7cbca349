"""A production-shaped Agent Server on loopback: Postgres, Redis, two replicas, a load balancer of ours.

    with start_cluster(TEST_AGENT_SERVER_DIR, deployment_key="secret") as cluster:
        cluster.url              # the load balancer (round robin over the replicas)
        cluster.replicas[0].kill()   # SIGKILL one replica
        cluster.balancer.drop_connections()

What it runs, each as a child process in its own session, stopped by process id:

* PostgreSQL (Debian's, ``/usr/lib/postgresql/<version>/bin``): ``initdb`` in a temporary folder and
  ``postgres`` on a free port of 127.0.0.1. Postgres refuses to run as root, so under root both run as
  the ``postgres`` user the Debian package creates (``subprocess.Popen(user=...)``: the pid we hold is
  the server's own);
* ``redis-server`` on a free port, without persistence;
* the runtime's migrations (``langgraph_runtime_pg.migrate upgrade``), once, before any replica;
* the replicas (:mod:`support.pg_replica`, langgraph-api on ``langgraph-runtime-pg``), one after the
  other (replicas starting together on a fresh database race on the migrations), each on a free port
  that is checked to be listened on by the replica's own process (``run_server`` would silently move to
  another port), with a short run heartbeat so a killed executor's run is taken over within seconds;
* a round-robin load balancer (:func:`support.fault_proxy.start_fault_proxy` with several upstreams):
  it can drop every open connection on command and apply a :class:`~support.fault_proxy.FaultPlan`.

The replicas run with the interpreter given (by default this one), which must have
``langgraph-runtime-pg`` installed: ``nox -s distributed`` builds that venv. No pytest imports here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from lmsystems._dev.processes import answers_ok, kill_group, log_tail, stop_group

from .agent_server import DEPLOYMENT_KEY_ENV_VAR, _materialise_config, find_free_port
from .fault_proxy import FaultPlan, RunningProxy, start_fault_proxy

__all__ = ["Cluster", "ClusterError", "Replica", "Service", "start_cluster"]

REPLICA_SCRIPT = Path(__file__).resolve().parent / "pg_replica.py"
#: Seconds between a run's heartbeats (its Redis key lives twice as long): a killed executor's run is
#: taken over by another replica once the key has expired.
HEARTBEAT_SECONDS = 1
_QUIET_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LOG_COLOR": "false",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class ClusterError(RuntimeError):
    """A piece of the cluster did not start; the message holds the tail of its log."""


@dataclass
class Service:
    """One child process of the cluster."""

    name: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    port: int
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def kill(self) -> None:
        """SIGKILL the process (and anything it started in its session), and reap it."""
        kill_group(self.process)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds; then whatever is left of its session."""
        try:
            stop_group(self.process, grace)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


@dataclass
class Replica(Service):
    """One Agent Server replica."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """The running cluster. ``url`` is the load balancer's; ``stop()`` stops everything, in reverse."""

    url: str
    balancer: RunningProxy
    replicas: list[Replica]
    postgres: Service
    redis: Service
    deployment_key: str = field(repr=False)
    database_uri: str
    redis_uri: str
    workdir: Path
    config: Path
    python: str
    env: dict[str, str] = field(repr=False)

    @property
    def plan(self) -> FaultPlan:
        return self.balancer.plan

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.deployment_key}

    def replica_at(self, upstream: str | None) -> Replica:
        """The replica an upstream URL recorded by the balancer names."""
        for replica in self.replicas:
            if replica.url == upstream:
                return replica
        raise LookupError(f"no replica at {upstream!r}")

    def revive(self) -> None:
        """Start again, on its old port if it is free, every replica that is not running."""
        for index, replica in enumerate(self.replicas):
            if replica.alive() and answers_ok(replica.url):
                continue
            replica.stop()
            self.replicas[index] = start_replica(
                replica.name,
                self.config,
                workdir=self.workdir,
                python=self.python,
                env=self.env,
                port=replica.port,
            )
        self.balancer.use_upstreams([replica.url for replica in self.replicas])

    def stop(self) -> None:
        try:
            with contextlib.suppress(Exception):
                self.balancer.stop()
            for service in [*reversed(self.replicas), self.redis, self.postgres]:
                with contextlib.suppress(Exception):
                    service.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them out of PATH, in /usr/lib/postgresql/<v>/bin."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise ClusterError(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")


def _run_as() -> str | None:
    """The user Postgres runs as: `postgres` under root (it refuses root), else the current user."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterError(
            "running as root needs the `postgres` user (Debian's postgresql package)"
        ) from None
    return "postgres"


def _spawn(
    name: str,
    argv: list[str],
    *,
    workdir: Path,
    port: int,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    kind: type[Service] = Service,
) -> Service:
    log_path = workdir / f"{name}.log"
    log = log_path.open("ab")
    log.write(f"$ {' '.join(argv)}\n".encode())
    log.flush()
    process = subprocess.Popen(
        argv,
        cwd=workdir,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=user,
    )
    return kind(name=name, process=process, log_path=log_path, port=port, _log=log)


def _wait(service: Service, ready: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise ClusterError(f"{what} exited with {service.process.returncode}:\n{service.log_tail()}")
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise ClusterError(f"{what} did not get ready within {timeout} s:\n{service.log_tail()}")


def _tcp_answers(port: int, payload: bytes | None = None, expect: bytes | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            if payload is None:
                return True
            sock.sendall(payload)
            return expect is None or sock.recv(64).startswith(expect)
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:port (or any address), from /proc/net/tcp."""
    inodes: set[str] = set()
    wanted = f"{port:04X}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if local.endswith(":" + wanted) and state == "0A":  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _owns_port(pid: int, port: int) -> bool:
    """Whether the process `pid` holds a socket listening on `port` (Linux /proc)."""
    inodes = _listening_inodes(port)
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return True
    return False


def start_postgres(workdir: Path, *, timeout: float = 60.0) -> tuple[Service, str]:
    """initdb + postgres on a free port; (the service, its DATABASE_URI)."""
    user = _run_as()
    data = workdir / "pgdata"
    sockets = workdir / "pgsock"
    for folder in (data, sockets):
        folder.mkdir()
        if user is not None:
            shutil.chown(folder, user, user)
    init = subprocess.run(
        [
            _postgres_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        cwd=workdir,
        user=user,
        capture_output=True,
        check=False,
        timeout=120,
    )
    if init.returncode != 0:
        raise ClusterError(f"initdb failed:\n{init.stdout.decode()}\n{init.stderr.decode()}")
    for _ in range(3):
        port = find_free_port()
        service = _spawn(
            "postgres",
            [
                _postgres_bin("postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            workdir=workdir,
            port=port,
            user=user,
        )
        try:
            _wait(service, lambda port=port: _tcp_answers(port) and _pg_ready(port), timeout, "postgres")
        except ClusterError:
            service.stop()
            if "already in use" in service.log_tail():
                continue
            raise
        return service, f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    raise ClusterError("postgres found no free port")


def _pg_ready(port: int) -> bool:
    result = subprocess.run(
        [_postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def start_redis(workdir: Path, *, timeout: float = 30.0) -> tuple[Service, str]:
    """redis-server on a free port, no persistence; (the service, its REDIS_URI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ClusterError("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = workdir / "redis"
    folder.mkdir()
    for _ in range(3):
        port = find_free_port()
        service = _spawn(
            "redis",
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", str(folder), "--daemonize", "no", "--protected-mode", "no"),
            ],
            workdir=workdir,
            port=port,
        )
        try:
            _wait(service, lambda port=port: _tcp_answers(port, b"PING\r\n", b"+PONG"), timeout, "redis")
        except ClusterError:
            service.stop()
            if "Address already in use" in service.log_tail():
                continue
            raise
        return service, f"redis://127.0.0.1:{port}/0"
    raise ClusterError("redis found no free port")


def start_replica(
    name: str,
    config: Path,
    *,
    workdir: Path,
    python: str,
    env: Mapping[str, str],
    port: int | None = None,
    timeout: float = 120.0,
) -> Replica:
    """One replica on `port` (else a free one) that its own process is seen listening on."""
    for attempt in range(3):
        port = port if port is not None and attempt == 0 else find_free_port()
        replica = _spawn(
            name,
            [python, str(REPLICA_SCRIPT), "--config", str(config), "--port", str(port)],
            workdir=workdir,
            port=port,
            env=env,
            kind=Replica,
        )
        assert isinstance(replica, Replica)
        try:
            _wait(replica, lambda r=replica: answers_ok(r.url) and _owns_port(r.pid, r.port), timeout, name)
        except ClusterError:
            replica.stop()
            if replica.process.returncode == 3:  # the port was taken before it could bind it
                continue
            raise
        return replica
    raise ClusterError(f"{name} found no free port")


def start_cluster(
    config_dir: Path,
    *,
    deployment_key: str,
    replicas: int = 2,
    python: str | None = None,
    plan: FaultPlan | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Cluster:
    """Start everything (see the module docstring); raises ClusterError with a log tail on failure."""
    workdir = Path(tempfile.mkdtemp(prefix="lmsystems-cluster-"))
    workdir.chmod(0o755)  # the postgres user must reach its folders inside
    started: list[Service] = []
    try:
        postgres, database_uri = start_postgres(workdir)
        started.append(postgres)
        redis, redis_uri = start_redis(workdir)
        started.append(redis)
        python = python or sys.executable
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
        env.update(_QUIET_ENV)
        env.update(
            {
                "DATABASE_URI": database_uri,
                "REDIS_URI": redis_uri,
                DEPLOYMENT_KEY_ENV_VAR: deployment_key,
                "LG_RUNTIME_PG_AUTO_MIGRATE": "false",
                "LG_BG_JOB_HEARTBEAT": str(HEARTBEAT_SECONDS),
                "BG_JOB_HEARTBEAT": str(HEARTBEAT_SECONDS),
                "PG_POOL_SIZE": "5",
                "PG_MAX_OVERFLOW": "10",
            }
        )
        env.update(extra_env or {})
        migrate = subprocess.run(
            [python, "-m", "langgraph_runtime_pg.migrate", "upgrade"],
            cwd=workdir,
            env=env,
            capture_output=True,
            check=False,
            timeout=180,
        )
        if migrate.returncode != 0:
            raise ClusterError(f"migrations failed:\n{migrate.stdout.decode()}\n{migrate.stderr.decode()}")
        config = _materialise_config(Path(config_dir) / "langgraph.json", workdir)
        running: list[Replica] = []
        for index in range(replicas):  # one after the other: no race on anything done at start-up
            replica = start_replica(f"replica-{index}", config, workdir=workdir, python=python, env=env)
            running.append(replica)
            started.append(replica)
        balancer = start_fault_proxy([replica.url for replica in running], plan or FaultPlan())
    except BaseException:
        for service in reversed(started):
            with contextlib.suppress(Exception):
                service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Cluster(
        url=balancer.url,
        balancer=balancer,
        replicas=running,
        postgres=postgres,
        redis=redis,
        deployment_key=deployment_key,
        database_uri=database_uri,
        redis_uri=redis_uri,
        workdir=workdir,
        config=config,
        python=python,
        env=env,
    )

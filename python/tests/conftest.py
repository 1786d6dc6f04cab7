"""Real redis-server processes for the package's tests: one with the module loaded,
or a 3-node cluster, on free loopback ports, waited for within a bound and killed
at the end whatever the test did.

The module is the one installed with the package (``module_path()``), so the tests
prove the wheel's library too. ``REDIS_SERVER`` names the server binary (default:
redis-server on the PATH); ``REDIS_CLI`` the redis-cli that creates clusters.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from redis_ratelimit import module_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str:
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    assert binary, "no redis-server: set REDIS_SERVER"
    return binary


class Server:
    """One redis-server with the module loaded (unless ``module`` is False: a server as
    a managed service offers it); ``stop`` and ``start`` again on the same port
    simulate an outage."""

    def __init__(
        self, extra: tuple[str, ...] = (), port: Optional[int] = None, module: bool = True
    ) -> None:
        self.extra = extra
        self.module = module
        self.dir = tempfile.TemporaryDirectory()
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)  # type: ignore[arg-type]

    def start(self, timeout_s: float = 15) -> None:
        for _attempt in range(5):
            self.proc = subprocess.Popen(
                [
                    server_binary(),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self.dir.name,
                    *(("--loadmodule", str(module_path())) if self.module else ()),
                    *self.extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout_s
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if self.client(protocol=2, socket_timeout=1).ping():
                        return
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            self.stop()
            self.port = free_port()  # most likely the port was taken: another one
        pytest.fail("redis-server would not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        self.dir.cleanup()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def bare_server() -> Iterator[Server]:
    """A server without the module, as managed services run them."""
    s = Server(module=False)
    try:
        yield s
    finally:
        s.close()


@contextmanager
def make_cluster(module: bool = True) -> Iterator[list[Server]]:
    """Three masters sharing the slots, for RedisCluster clients."""
    nodes: list[Server] = []
    try:
        for _ in range(3):
            port = free_port()
            nodes.append(
                Server(
                    ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
                    port=port,
                    module=module,
                )
            )
        cli = os.environ.get("REDIS_CLI") or shutil.which("redis-cli")
        assert cli, "no redis-cli: set REDIS_CLI"
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while True:
            states = [n.client(protocol=2).execute_command("CLUSTER", "INFO") for n in nodes]
            if all(b"cluster_state:ok" in s for s in states):
                break
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)
        yield nodes
    finally:
        for n in nodes:
            n.close()


@pytest.fixture(scope="session")
def cluster() -> Iterator[list[Server]]:
    with make_cluster() as nodes:
        yield nodes


@pytest.fixture(scope="session")
def bare_cluster() -> Iterator[list[Server]]:
    """A cluster without the module."""
    with make_cluster(module=False) as nodes:
        yield nodes


@pytest.fixture
def cluster_client(cluster: list[Server]) -> Iterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster[0].port)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def asleep(server: Server, seconds: int = 3) -> Iterator[None]:
    """The server busy for ``seconds`` (DEBUG SLEEP; it must have been started with
    --enable-debug-command yes): entered once a PING goes unanswered."""
    with socket.create_connection(("127.0.0.1", server.port)) as busy:
        busy.sendall(
            f"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${len(str(seconds))}\r\n{seconds}\r\n".encode()
        )
        probe = server.client(socket_timeout=0.1, retry=Retry(NoBackoff(), 0))
        for _ in range(100):
            try:
                probe.ping()
            except redis.exceptions.TimeoutError:
                break
        else:
            pytest.fail("the server never went to sleep")
        yield
        busy.recv(16)  # +OK once the sleep is over


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]

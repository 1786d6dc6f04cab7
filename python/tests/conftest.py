"""Real redis-server processes for the package's tests: one with the module loaded,
or a 3-node cluster, on free loopback ports, waited for within a bound and killed
at the end whatever the test did (``redis_ratelimit.testing``, the package's one way
to start a server, which the examples and the benchmarks use too).

The module is the one installed with the package (``module_path()``), so the tests
prove the wheel's library too. ``REDIS_SERVER`` names the server binary (default:
redis-server on the PATH); ``REDIS_CLI`` the redis-cli that creates clusters.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
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

from redis_ratelimit import testing
from redis_ratelimit.testing import free_port


def server_binary() -> str:
    """The binary of this run (``$REDIS_SERVER``, else redis-server on the PATH)."""
    return testing.server_binary()


class Server(testing.LocalServer):
    """One redis-server with the package's module loaded (unless ``module`` is False:
    a server as a managed service offers it), from the package's own helper; ``stop``
    and ``start`` again on the same port simulate an outage. A server that will not
    start fails the test."""

    def __init__(
        self, extra: tuple[str, ...] = (), port: Optional[int] = None, module: bool = True
    ) -> None:
        try:
            super().__init__(extra=extra, port=port, module=module)
        except testing.ServerDidNotStart as err:
            pytest.fail(str(err))


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

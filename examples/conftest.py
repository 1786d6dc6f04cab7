"""A real redis-server with the module loaded, for the examples' tests.

REDIS_SERVER and RATELIMIT_MODULE name the server binary and the module (`make test`
sets both; the server defaults to redis-server on the PATH).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> bool:
    """Waits, within a bound, until the server answers PING; False if it exits first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url, protocol=2).ping():
                return True
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    module = os.environ["RATELIMIT_MODULE"]
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    assert binary, "redis-server not found: set REDIS_SERVER"
    with tempfile.TemporaryDirectory() as workdir:
        for _attempt in range(5):
            port = free_port()
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", workdir, "--loadmodule", module],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            url = f"redis://127.0.0.1:{port}"
            if answers(proc, url, timeout_s=10):
                break
            proc.kill()  # most likely the port was taken meanwhile: try another
            proc.wait(timeout=10)
        else:
            pytest.fail("redis-server would not start")
        try:
            yield url
        finally:
            proc.kill()
            proc.wait(timeout=10)

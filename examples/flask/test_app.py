"""The Flask example against a real redis-server with the module loaded.

REDIS_SERVER and RATELIMIT_MODULE name the server binary and the module (`make test`
sets both).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis

from app import create_app


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(proc, url, timeout_s):
    """Waits, within a bound, until the server answers PING; False if it exits first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                return True
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    return False


@pytest.fixture
def redis_url():
    module = os.environ["RATELIMIT_MODULE"]
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
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


def get(client, ip):
    return client.get("/", environ_base={"REMOTE_ADDR": ip})


def test_ten_requests_pass_then_429_with_retry_after(redis_url):
    client = create_app(redis_url).test_client()
    for i in range(10):
        response = get(client, "192.0.2.1")
        assert response.status_code == 200, i
        assert response.headers["RateLimit"].startswith(f'"per-ip";r={9 - i};')
        assert response.headers["RateLimit-Policy"] == '"per-ip";q=10;w=60'
    response = get(client, "192.0.2.1")
    assert response.status_code == 429
    assert response.get_json() == {"error": "Too Many Requests"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit"].startswith('"per-ip";r=0;')


def test_each_client_ip_has_its_own_limit(redis_url):
    client = create_app(redis_url, limit=2).test_client()
    assert [get(client, "198.51.100.7").status_code for _ in range(3)] == [200, 200, 429]
    assert get(client, "198.51.100.8").status_code == 200
    keys = sorted(redis.Redis.from_url(redis_url).keys("ratelimit:ip:*"))
    assert keys == [b"ratelimit:ip:198.51.100.7", b"ratelimit:ip:198.51.100.8"]


def test_an_unreachable_redis_lets_requests_through(redis_url):
    closed = f"redis://127.0.0.1:{free_port()}"
    client = create_app(closed).test_client()
    response = get(client, "203.0.113.9")
    assert response.status_code == 200
    assert "RateLimit" not in response.headers

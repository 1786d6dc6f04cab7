"""``python -m redis_ratelimit``: the shipped module's path, and a local server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

import redis_ratelimit
from redis_ratelimit import module_path

from .conftest import Server, free_port, server_binary


def test_module_path_is_the_library_inside_the_package() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "redis_ratelimit", "module-path"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    path = Path(out)
    assert path == module_path()
    assert path.name == "libredis_ratelimit.so" and path.is_file()
    assert path.parent == Path(redis_ratelimit.__file__).resolve().parent


def test_the_printed_path_loads_into_redis_server(server: Server) -> None:
    modules = server.client(protocol=2).execute_command("MODULE", "LIST")
    names = [dict(zip(m[::2], m[1::2]))[b"name"] for m in modules]
    assert b"ratelimit" in names
    assert server.client().execute_command("RATELIMIT.CHECK", "k", 1, 60)[0] == 1


def test_server_command_serves_ratelimit_check() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redis_ratelimit",
            "server",
            "--port",
            str(port),
            "--server",
            server_binary(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = client.execute_command("RATELIMIT.CHECK", "cli", 2, 60)
                break
            except redis.exceptions.ConnectionError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.05)
        assert reply == [1, 2, 1, 0, 60000]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_missing_server_is_a_clear_error() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "redis_ratelimit",
            "server",
            "--server",
            "/nonexistent/redis-server",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and "/nonexistent/redis-server" in run.stderr

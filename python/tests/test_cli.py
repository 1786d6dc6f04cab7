"""``python -m redis_ratelimit``: the shipped module's path, and a local server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

import redis_ratelimit
from redis_ratelimit import module_path

from .conftest import Server, free_port, repo_root, server_binary


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


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redis_ratelimit", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_functions_path_is_the_repositorys_lua_library() -> None:
    out = run_cli("functions", "path")
    assert out.returncode == 0, out.stderr
    shipped = Path(out.stdout.strip())
    assert shipped.parent == Path(redis_ratelimit.__file__).resolve().parent
    assert shipped.read_text() == (repo_root() / "lua" / "ratelimit.lua").read_text()


def functions_available(server: Server) -> bool:
    version = server.client().info("server")["redis_version"]
    return tuple(int(p) for p in version.split(".")[:2]) >= (7, 0)


def test_functions_load_loads_the_library_once(bare_server: Server) -> None:
    if not functions_available(bare_server):
        out = run_cli("functions", "load", "--url", bare_server.url)
        assert out.returncode == 1 and "refuses FUNCTION LOAD" in out.stderr
        return
    out = run_cli("functions", "load", "--url", bare_server.url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{bare_server.url}: ratelimit {redis_ratelimit.script.version()}"
    client = bare_server.client()
    assert client.execute_command("FCALL", "ratelimit_check", 1, "k", 3, 60)[:3] == [1, 3, 2]
    again = run_cli("functions", "load", "--url", bare_server.url)
    assert again.returncode == 0 and again.stdout == out.stdout


def test_functions_load_reaches_every_primary_of_a_cluster(bare_cluster: list[Server]) -> None:
    if not functions_available(bare_cluster[0]):
        return
    out = run_cli("functions", "load", "--url", bare_cluster[0].url)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 3
    for node in bare_cluster:
        assert node.client().function_list(library="ratelimit"), node.port

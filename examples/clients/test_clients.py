"""Runs every client program in this folder against a real redis-server with the
module loaded, each client with its library's default settings, and checks what
each printed: ten requests allowed, the eleventh denied.

CLIENT_PYTHONS names the Python interpreters to run python/check.py with (`make test`
gives one with redis-py 5 and one with redis-py 8); CLIENT_RUST the built
`cargo build --example client`; node/ must hold its node_modules (npm install).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# The protocol each library speaks by default: the reason these programs exist is
# that most of them now speak RESP3 without being asked.
DEFAULT_RESP = {"redis-py 5": 2, "redis-py 8": 3, "ioredis 6": 3, "node-redis 6": 3, "redis-rs": 2}


def programs() -> list[tuple[str, list[str]]]:
    found = []
    for python in os.environ.get("CLIENT_PYTHONS", "").split():
        found.append((f"python {python}", [python, str(HERE / "python" / "check.py")]))
    node = shutil.which("node")
    if node:
        found.append(("ioredis", [node, str(HERE / "node" / "ioredis.mjs")]))
        found.append(("node-redis", [node, str(HERE / "node" / "node-redis.mjs")]))
    if os.environ.get("CLIENT_RUST"):
        found.append(("redis-rs", [os.environ["CLIENT_RUST"]]))
    return found


def test_every_client_is_run() -> None:
    """The programs below are not silently skipped: two redis-pys, two Node clients
    and the Rust one."""
    names = [name for name, _ in programs()]
    assert len([n for n in names if n.startswith("python ")]) == 2, names
    assert {"ioredis", "node-redis", "redis-rs"} <= set(names), names


LINE = re.compile(
    r"(\d+): (allowed|denied) limit=(\d+) remaining=(\d+) "
    r"retry_after_ms=(-?\d+) reset_after_ms=(\d+)"
)


@pytest.mark.parametrize("name,command", programs(), ids=[n for n, _ in programs()])
def test_ten_allowed_then_the_eleventh_denied(redis_url: str, name: str, command: list[str]) -> None:
    run = subprocess.run(
        [*command, "clients:eleven"],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True, text=True, timeout=60, cwd=HERE,
    )
    assert run.returncode == 0, run.stderr
    header, *lines = run.stdout.strip().splitlines()
    library, resp = _header(header)
    assert int(resp) == DEFAULT_RESP[library], f"{library} speaks RESP{resp} by default? {header}"
    calls = [LINE.fullmatch(line) for line in lines]
    assert all(calls), run.stdout
    assert [int(c[1]) for c in calls] == list(range(1, 12))
    assert [c[2] for c in calls] == ["allowed"] * 10 + ["denied"], run.stdout
    assert [int(c[3]) for c in calls] == [10] * 11
    assert [int(c[4]) for c in calls] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    assert all(int(c[5]) == 0 for c in calls[:10])
    assert 0 < int(calls[10][5]) <= 60_000, run.stdout


def _header(header: str) -> tuple[str, str]:
    """("redis-py 8", "3") from "redis-py 8.1.0, RESP3"; ("redis-rs", "2") from
    "redis-rs, RESP2"."""
    match = re.fullmatch(r"(\S+)(?: (\d+)\S*)?, RESP(\d)", header)
    assert match, header
    name, major, resp = match.groups()
    return (f"{name} {major}" if major else name), resp

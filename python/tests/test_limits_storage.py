"""The ``limits`` storage (``redis_ratelimit.limits_storage``): Flask-Limiter and
slowapi apps whose only changes are an import and their ``storage_uri`` limit exactly
under four worker processes, with the module and on a server without it; every scheme
registered, sync and asyncio; bad configuration refused at start. (limits' own test
suite runs against it too: scripts/limits_suite.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

limits = pytest.importorskip("limits", reason="limits 5 needs Python 3.10 or later")

from limits import parse  # noqa: E402
from limits.errors import ConfigurationError  # noqa: E402
from limits.storage import storage_from_string  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402

import redis_ratelimit.limits_storage as ls  # noqa: E402

from .conftest import Server, free_port  # noqa: E402

APPS = Path(__file__).parent / "apps"
LIMIT = 10
STRATEGIES = ("fixed-window", "moving-window", "sliding-window-counter")


def test_every_scheme_is_registered_sync_and_async() -> None:
    from limits.storage import SCHEMES

    for scheme in ls.SCHEMES:
        assert SCHEMES[scheme] is ls.RatelimitStorage, scheme
        assert SCHEMES[f"async+{scheme}"] is ls.AsyncRatelimitStorage, scheme


def serve(kind: str, uri: str, strategy: str) -> tuple[subprocess.Popen[bytes], int]:
    """The app under four worker processes: gunicorn for Flask, uvicorn for slowapi."""
    port = free_port()
    if kind == "flask":
        command = [
            "gunicorn",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(APPS),
            "flask_limiter_app:app",
        ]
    else:
        command = [
            "uvicorn",
            "--workers",
            "4",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--app-dir",
            str(APPS),
            "--log-level",
            "warning",
            "slowapi_app:app",
        ]
    proc = subprocess.Popen(
        [sys.executable, "-m", *command],
        env={**os.environ, "STORAGE_URI": uri, "STRATEGY": strategy},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"{kind} exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/missing", timeout=1):
                pass
        except urllib.error.HTTPError:
            return proc, port  # a 404: serving
        except OSError:
            assert time.monotonic() < deadline, f"{kind} did not serve"
            time.sleep(0.1)


def get(port: int, path: str = "/") -> tuple[int, str]:
    """The status, and the worker process that answered (every answer names it)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("X-Worker", "")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("X-Worker", "")


@pytest.mark.parametrize("kind", ["flask", "slowapi"])
@pytest.mark.parametrize("with_module", [True, False], ids=["module", "no-module"])
def test_an_app_limits_exactly_under_four_workers(
    kind: str, with_module: bool, server: Server, bare_server: Server
) -> None:
    target = server if with_module else bare_server
    for strategy in STRATEGIES:
        target.client().flushall()
        proc, port = serve(kind, f"ratelimit+redis://127.0.0.1:{target.port}", strategy)
        try:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _, p=port: get(p), range(4 * LIMIT)))
            # The admitted requests keep a worker busy (the view sleeps): several
            # processes answered.
            workers = {worker for status, worker in answers if status == 200}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        statuses = [status for status, _ in answers]
        assert statuses.count(200) == LIMIT, (strategy, statuses)
        assert statuses.count(429) == 3 * LIMIT, (strategy, statuses)
        assert len(workers) >= 2, f"{strategy}: admitted by {workers} only"
    stats = target.client().info("commandstats")
    form = "cmdstat_ratelimit.check" if with_module else "cmdstat_fcall"
    assert form in stats, sorted(stats)


def test_async_storage_counts_on_the_same_keys_as_the_sync_one(server: Server) -> None:
    from limits.aio.strategies import MovingWindowRateLimiter as AsyncMoving

    uri = f"ratelimit+redis://127.0.0.1:{server.port}"
    sync = MovingWindowRateLimiter(storage_from_string(uri))
    item = parse("5/minute")
    assert all(sync.hit(item, "shared") for _ in range(3))

    async def main() -> list[bool]:
        storage = storage_from_string(f"async+{uri}")
        limiter = AsyncMoving(storage)
        hits = [await limiter.hit(item, "shared") for _ in range(3)]
        await storage.storage.aclose()
        return hits

    assert asyncio.run(main()) == [True, True, False]


def test_bad_configuration_is_refused_with_a_clear_error(server: Server) -> None:
    uri = f"ratelimit+redis://127.0.0.1:{server.port}"
    for scheme in ("", "async+"):
        with pytest.raises(ConfigurationError, match="no_such_option"):
            storage_from_string(scheme + uri, no_such_option=1)
    with pytest.raises(ConfigurationError):
        storage_from_string("ratelimit+nosuch://127.0.0.1")
    limiter = MovingWindowRateLimiter(storage_from_string(uri))
    with pytest.raises(ConfigurationError, match="above the exact log's bound of 4096"):
        limiter.hit(parse("5000/minute"))
    assert server.client().dbsize() == 0, "nothing written"


@pytest.mark.parametrize("which", ["cluster", "bare_cluster"])
def test_a_cluster_url_limits_exactly_sync_and_async(
    which: str, request: pytest.FixtureRequest
) -> None:
    """``ratelimit+redis+cluster://`` (limits' own form of the URL), with the module and
    on a cluster without it (the library loaded on every primary)."""
    from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixed
    from limits.strategies import FixedWindowRateLimiter

    nodes: list[Server] = request.getfixturevalue(which)
    uri = "ratelimit+redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)
    item = parse("5/minute")
    sync = FixedWindowRateLimiter(storage_from_string(uri))
    subjects = [f"{which}:{i}" for i in range(6)]  # over several slots
    assert all(sum(sync.hit(item, s) for _ in range(7)) == 5 for s in subjects)

    async def main() -> list[int]:
        storage = storage_from_string(f"async+{uri}")
        limiter = AsyncFixed(storage)
        counts = [sum([await limiter.hit(item, f"a:{s}") for _ in range(7)]) for s in subjects]
        await storage.storage.aclose()
        return counts

    assert asyncio.run(main()) == [5] * 6


def test_async_urls_carry_their_hosts_and_credentials_as_limits_reads_them() -> None:
    options: dict[str, object] = {}
    assert ls._hosts(":sekret@h1:7001,h2", options, 6379) == [("h1", 7001), ("h2", 6379)]
    assert options == {"password": "sekret"}
    options = {"password": "given"}
    assert ls._hosts("user:other@localhost", options, 26379) == [("localhost", 26379)]
    assert options == {"password": "given", "username": "user"}

"""Servers without the module, as managed services run them: the client finds the
best form each offers (the function library, which it loads itself, or the script),
limits exactly as the module would, across processes and cluster nodes, logs its
choice once, and takes a server that refuses every form for a configuration error
(logged once at ERROR, then ``on_failure``), never for an outage to limit around in
each process."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from flask import Flask
from redis.cluster import RedisCluster

from redis_ratelimit import AsyncRateLimiter, RateLimiter, script
from redis_ratelimit._forms import DESCRIPTIONS, ServerUnsupported
from redis_ratelimit.flask import Limiter

from .conftest import Server, free_port

LIMIT = 10
ALGORITHMS = ("fixed", "sliding", "gcra", "log")


def has_functions(server: Server) -> bool:
    version = server.client().info("server")["redis_version"]
    return tuple(int(p) for p in version.split(".")[:2]) >= (7, 0)


def expected_form(server: Server) -> str:
    return "functions" if has_functions(server) else "script"


def form_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "rate limiting through" in r.getMessage()]


def user(server: Server, name: str, *rules: str) -> redis.Redis:
    """A client logged in as a new ACL user with these rules (on top of all keys)."""
    server.client().execute_command("ACL", "SETUSER", name, "on", ">pw", "~*", "+@all", *rules)
    return server.client(username=name, password="pw")


def test_the_sync_client_limits_exactly_on_a_server_without_the_module(
    bare_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="redis_ratelimit")
    limiter = RateLimiter(bare_server.client())
    assert limiter.form is None
    allowed = sum(limiter.check("one", f"{LIMIT}/minute").allowed for _ in range(4 * LIMIT))
    assert allowed == LIMIT
    form = expected_form(bare_server)
    assert limiter.form == form
    lines = form_lines(caplog)
    assert len(lines) == 1, lines
    assert DESCRIPTIONS[form] in lines[0]
    if form == "functions":
        libraries = bare_server.client().function_list(library="ratelimit")
        assert len(libraries) == 1, "the client loaded the library"
    # Every algorithm, several limits at once, and PEEK, in the same form.
    for alg in ALGORITHMS:
        both = [limiter.check_all(f"all:{alg}", "3/minute|5/hour", algorithm=alg) for _ in range(4)]
        assert [d.allowed for d in both] == [True, True, True, False]
        assert [d.remaining for d in both[2].decisions] == [0, 2]
        assert [d.remaining for d in both[3].decisions] == [0, 2], "a denial counts nowhere"
        assert limiter.peek(f"peek:{alg}", "2/minute", algorithm=alg).remaining == 2
    assert limiter.form == form
    assert len(form_lines(caplog)) == 1, "the choice is logged once"


def test_the_async_client_limits_exactly_on_a_server_without_the_module(
    bare_server: Server,
) -> None:
    async def main() -> tuple[int, Any]:
        client = redis.asyncio.Redis(port=bare_server.port)
        try:
            limiter = AsyncRateLimiter(client)
            answers = [await limiter.check("one", f"{LIMIT}/minute") for _ in range(4 * LIMIT)]
            many = await limiter.check_all("many", "2/minute;4/hour")
            assert many.allowed and len(many.decisions) == 2
            return sum(a.allowed for a in answers), limiter.form
        finally:
            await client.aclose()

    allowed, form = asyncio.run(main())
    assert allowed == LIMIT
    assert form == expected_form(bare_server)


def serve(app_dir: Path, url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(app_dir),
            "flask_app:app",
        ],
        env={**os.environ, "REDIS_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/missing", timeout=1):
                pass
        except urllib.error.HTTPError:
            return proc, port  # a 404: serving
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not serve"
            time.sleep(0.1)


def get(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            return r.status, r.headers.get("X-Worker", "")
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_flask_under_four_gunicorn_workers_admits_exactly_the_limit(bare_server: Server) -> None:
    proc, port = serve(Path(__file__).parent / "apps", bare_server.url, workers=4)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: get(port), range(4 * LIMIT)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == 3 * LIMIT, statuses
    workers = {worker for status, worker in answers if status == 200}
    assert len(workers) >= 2, f"the admitted requests were served by {workers}"


FOUR_PROCESSES = """
import sys
from flask import Flask
from redis_ratelimit.flask import Limiter
app = Flask(__name__)
limiter = Limiter(app, redis=sys.argv[1], key_func=lambda request: "everyone")
@app.get("/")
@limiter.limit("10/minute")
def index():
    return "ok"
client = app.test_client()
print(sum(client.get("/").status_code == 200 for _ in range(10)))
"""


def test_four_processes_share_one_limit(bare_server: Server) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FOUR_PROCESSES, bare_server.url], stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    admitted = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(admitted) == LIMIT, admitted


def test_a_cluster_without_the_module_limits_exactly_and_holds_the_library_everywhere(
    bare_cluster: list[Server],
) -> None:
    client = RedisCluster(host="127.0.0.1", port=bare_cluster[0].port)
    try:
        limiter = RateLimiter(client)
        # Subjects spread over the three nodes' slots.
        for subject in ("alice", "bob", "carol", "dave", "erin"):
            allowed = sum(
                limiter.check(subject, f"{LIMIT}/minute").allowed for _ in range(4 * LIMIT)
            )
            assert allowed == LIMIT, subject
            both = [limiter.check_all(subject, "2/minute;3/hour") for _ in range(3)]
            assert [b.allowed for b in both] == [True, True, False]
        assert limiter.form == expected_form(bare_cluster[0])
    finally:
        client.close()
    if has_functions(bare_cluster[0]):
        for node in bare_cluster:
            assert node.client().function_list(library="ratelimit"), node.port


@pytest.mark.parametrize("refusal", [("-function|load",), ("-fcall", "-fcall_ro")])
def test_with_functions_refused_the_script_is_used(
    bare_server: Server, refusal: tuple[str, ...]
) -> None:
    if not has_functions(bare_server):
        pytest.skip("no FUNCTION on this server: the script is used anyway")
    limiter = RateLimiter(user(bare_server, "app", *refusal))
    allowed = sum(limiter.check("k", f"{LIMIT}/minute").allowed for _ in range(4 * LIMIT))
    assert allowed == LIMIT
    assert limiter.form == "script"
    assert not bare_server.client().function_list(library="ratelimit")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_server_that_refuses_every_form_is_a_configuration_error(
    bare_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    client = user(bare_server, "app", "-@scripting")
    limiter = RateLimiter(client)
    for _ in range(5):
        with pytest.raises(ServerUnsupported, match="Load the module"):
            limiter.check("k", "10/minute")
    errors = error_lines(caplog)
    assert len(errors) == 1, errors
    message = errors[0].getMessage()
    assert "--loadmodule" in message and "FUNCTION LOAD" in message and "EVALSHA" in message
    assert limiter.form is None


@pytest.mark.parametrize("on_failure,admitted", [("closed", 0), ("open", 40), ("local", LIMIT)])
def test_then_on_failure_decides_and_the_error_is_logged_once(
    bare_server: Server, caplog: pytest.LogCaptureFixture, on_failure: str, admitted: int
) -> None:
    client = user(bare_server, "app", "-@scripting")
    app = Flask(__name__)
    # retry_interval 0: every request asks the server again, and still one ERROR.
    limiter = Limiter(app, redis=client, on_failure=on_failure, retry_interval=0)

    @app.get("/")
    @limiter.limit("10/minute")
    def index() -> str:
        return "ok"

    test = app.test_client()
    statuses = [test.get("/").status_code for _ in range(4 * LIMIT)]
    assert statuses.count(200) == admitted, statuses
    if on_failure == "closed":
        assert set(statuses) == {503}
    assert len(error_lines(caplog)) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [], "not an outage"


def versioned(version: str) -> str:
    """The shipped library, claiming another version."""
    return script.source().replace(
        f"local VERSION = '{script.version()}'", f"local VERSION = '{version}'"
    )


def test_an_older_library_is_replaced_and_a_newer_one_is_kept(bare_server: Server) -> None:
    if not has_functions(bare_server):
        pytest.skip("no FUNCTION on this server")
    admin = bare_server.client()
    version = lambda: admin.execute_command("FCALL_RO", "ratelimit_version", 0)  # noqa: E731
    admin.function_load(versioned("0.0.1"))
    RateLimiter(bare_server.client()).check("k", "10/minute")
    assert version() == script.version().encode(), "the older library was replaced"
    admin.function_load(versioned("999.0.0"), replace=True)
    limiter = RateLimiter(bare_server.client())
    assert limiter.check("k", "10/minute").remaining == 8
    assert limiter.form == "functions"
    assert version() == b"999.0.0", "a newer library is never replaced"


def test_the_forms_come_back_after_a_flush(bare_server: Server) -> None:
    limiter = RateLimiter(bare_server.client())
    assert limiter.check("k", "10/minute").remaining == 9
    admin = bare_server.client()
    if has_functions(bare_server):
        admin.function_flush()
    admin.script_flush()
    assert limiter.check("k", "10/minute").remaining == 8
    assert limiter.form == expected_form(bare_server)
    if has_functions(bare_server):
        assert admin.function_list(library="ratelimit"), "loaded again"


def test_a_module_loaded_later_continues_the_counts(module_command_server: Server) -> None:
    from redis_ratelimit import module_path

    limiter = RateLimiter(module_command_server.client())
    assert limiter.check("k", "10/minute", algorithm="gcra").remaining == 9
    assert limiter.form in ("functions", "script")
    module_command_server.client().execute_command("MODULE", "LOAD", str(module_path()))
    fresh = RateLimiter(module_command_server.client())
    assert fresh.check("k", "10/minute", algorithm="gcra").remaining == 8
    assert fresh.form == "module"
    assert limiter.check("k", "10/minute", algorithm="gcra").remaining == 7


def module_checks(server: Server) -> int:
    stats = server.client().info("commandstats")
    return int(stats.get("cmdstat_ratelimit.check", {}).get("calls", 0))


def test_a_running_client_moves_to_a_module_loaded_later(
    module_command_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    from redis_ratelimit import module_path

    caplog.set_level(logging.INFO, logger="redis_ratelimit")
    limiter = RateLimiter(module_command_server.client(), module_probe_s=0.3)
    assert [limiter.check("k", "10/minute").allowed for _ in range(4)] == [True] * 4
    library = limiter.form
    assert library in ("functions", "script")
    module_command_server.client().execute_command("MODULE", "LOAD", str(module_path()))
    # Within the interval the client keeps its form; past it, it asks for the module.
    assert limiter.check("k", "10/minute").remaining == 5
    assert limiter.form == library
    time.sleep(0.4)
    answers = [limiter.check("k", "10/minute") for _ in range(10)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 5, "the count went on"
    assert limiter.form == "module"
    assert module_checks(module_command_server) == 10
    assert form_lines(caplog)[-1].startswith(f"rate limiting through {DESCRIPTIONS['module']}")
    assert len(form_lines(caplog)) == 2, "each choice logged once"


def test_a_running_async_client_moves_to_a_module_loaded_later(
    module_command_server: Server,
) -> None:
    from redis_ratelimit import module_path

    async def main() -> tuple[list[bool], Any, Any]:
        client = redis.asyncio.Redis(port=module_command_server.port)
        try:
            limiter = AsyncRateLimiter(client, module_probe_s=0.3)
            first = [(await limiter.check("k", "10/minute")).allowed for _ in range(4)]
            before = limiter.form
            await client.execute_command("MODULE", "LOAD", str(module_path()))
            await asyncio.sleep(0.4)
            after = [(await limiter.check("k", "10/minute")).allowed for _ in range(10)]
            return first + after, before, limiter.form
        finally:
            await client.aclose()

    allowed, before, after = asyncio.run(main())
    assert allowed == [True] * 10 + [False] * 4
    assert before in ("functions", "script")
    assert after == "module"
    assert module_checks(module_command_server) == 10


def test_the_module_probe_interval_must_be_positive(bare_server: Server) -> None:
    with pytest.raises(ValueError, match="module_probe_s"):
        RateLimiter(bare_server.client(), module_probe_s=0)


@pytest.fixture
def module_command_server() -> Iterator[Server]:
    probe = Server(module=False)
    extra: tuple[str, ...] = ("--enable-module-command", "local") if has_functions(probe) else ()
    probe.close()
    s = Server(extra, module=False)
    try:
        yield s
    finally:
        s.close()


def test_log_lines_name_the_server_never_its_password() -> None:
    from redis_ratelimit._drivers import describe
    from redis_ratelimit.fastapi import _ClientFromUrl

    assert describe(_ClientFromUrl("redis://app:secret@10.0.0.5:6380/0")) == "10.0.0.5:6380"
    client = redis.Redis.from_url("redis://app:secret@10.0.0.5:6380/0")
    assert describe(client) == "10.0.0.5:6380"

"""The promises Flask and FastAPI share, one suite run against both: the same app in
each framework (`flask_app`, `fastapi_app`), the same requests, the same answers.
What only one framework has is tested in test_flask.py and test_fastapi.py.

The rule for a route's limits against the defaults (Flask-Limiter's): a route's own
limits replace the defaults; with ``override_defaults=False`` they are added to them,
and then a request refused by either counts against neither.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, Optional

import pytest

from .conftest import Server, asleep

DEFAULTS = "3/minute"
TIERS = {"free-key": "free", "pro-key": "pro"}


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case
    body: Any


#: get(path, ip, headers) -> Answer, on one app.
Get = Callable[..., Answer]


def tier_limit(api_key: str) -> str:
    return "5/minute" if TIERS.get(api_key) == "pro" else "2/minute"


def answer(status: int, headers: Any, body: Any) -> Answer:
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)


def flask_app(server: Server, **options: Any) -> Get:
    from flask import Flask, jsonify

    from redis_ratelimit.flask import Limiter

    app = Flask(__name__)
    limiter = Limiter(app, redis=server.url, default_limits=DEFAULTS, **options)

    def api_key(req: Any) -> str:
        return str(req.headers.get("X-API-Key", "anonymous"))

    def view(name: str, *decorators: Callable[[Any], Any]) -> None:
        def endpoint() -> Any:
            return jsonify(ok=True)

        endpoint.__name__ = endpoint.__qualname__ = name
        for decorate in reversed(decorators):
            endpoint = decorate(endpoint)
        app.add_url_rule(f"/{name}", name, endpoint)

    view("ten", limiter.limit("10/minute"))
    view("both", limiter.limit("5/second;100/minute", name="search"))
    view("replaced", limiter.limit("2/second;100/minute", name="search"))
    view("added", limiter.limit("2/3 seconds", name="added", override_defaults=False))
    view("default")
    view("open", limiter.exempt)
    view(
        "tiered",
        limiter.limit(lambda req: tier_limit(api_key(req)), key_func=api_key, name="tier"),
    )

    def get(path: str, ip: str = "192.0.2.1", headers: Optional[dict[str, str]] = None) -> Answer:
        r = app.test_client().get(path, environ_base={"REMOTE_ADDR": ip}, headers=headers or {})
        return answer(r.status_code, r.headers, r.get_json(silent=True))

    return get


@contextmanager
def fastapi_app(server: Server, **options: Any) -> Iterator[Get]:
    from fastapi import Depends, FastAPI, Request
    from fastapi.testclient import TestClient

    from redis_ratelimit.fastapi import Limiter

    app = FastAPI()
    limiter = Limiter(app, redis=server.url, default_limits=DEFAULTS, **options)

    def api_key(req: Request) -> str:
        return req.headers.get("X-API-Key", "anonymous")

    def route(name: str, limit: Any = None, exempt: bool = False) -> None:
        async def endpoint() -> dict[str, bool]:
            return {"ok": True}

        endpoint.__name__ = name
        if exempt:
            endpoint = limiter.exempt(endpoint)
        dependencies = [Depends(limit)] if limit is not None else []
        app.add_api_route(f"/{name}", endpoint, methods=["GET"], dependencies=dependencies)

    route("ten", limiter.limit("10/minute", name="ten"))
    route("both", limiter.limit("5/second;100/minute", name="search"))
    route("replaced", limiter.limit("2/second;100/minute", name="search"))
    route("added", limiter.limit("2/3 seconds", name="added", override_defaults=False))
    route("default")
    route("open", exempt=True)
    route(
        "tiered",
        limiter.limit(lambda req: tier_limit(api_key(req)), key_func=api_key, name="tier"),
    )
    clients: dict[str, TestClient] = {}

    def get(path: str, ip: str = "192.0.2.1", headers: Optional[dict[str, str]] = None) -> Answer:
        if ip not in clients:
            # One test client per client address, as Flask's REMOTE_ADDR.
            clients[ip] = TestClient(app, raise_server_exceptions=False, client=(ip, 50000))
            clients[ip].__enter__()
        r = clients[ip].get(path, headers=headers or {})
        return answer(r.status_code, r.headers, r.json())

    try:
        yield get
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)


FRAMEWORKS = ["flask", "fastapi"]


@contextmanager
def app_for(framework: str, server: Server, **options: Any) -> Iterator[Get]:
    if framework == "flask":
        yield flask_app(server, **options)
    else:
        with fastapi_app(server, **options) as get:
            yield get


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def get(framework: str, server: Server) -> Iterator[Get]:
    with app_for(framework, server) as get:
        yield get


def test_ten_pass_then_429_with_body_and_fields(get: Get) -> None:
    for i in range(10):
        r = get("/ten")
        assert r.status == 200, i
        assert r.headers["ratelimit-policy"] == '"ten";q=10;w=60'
        assert r.headers["ratelimit"].startswith(f'"ten";r={9 - i};t=')
    r = get("/ten")
    assert r.status == 429
    assert r.body["error"] == "Too Many Requests" and r.body["policy"] == "ten"
    assert 0 < r.body["retry_after_ms"] <= 60_000
    assert int(r.headers["retry-after"]) == -(-r.body["retry_after_ms"] // 1000)
    assert r.headers["ratelimit"].startswith('"ten";r=0;t=')
    assert r.headers["ratelimit-policy"] == '"ten";q=10;w=60'
    assert get("/ten", ip="192.0.2.2").status == 200, "per client address"


def test_several_limits_on_one_route_are_all_or_nothing(get: Get) -> None:
    codes = [get("/both").status for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = get("/both")
    assert r.status == 429
    assert r.headers["ratelimit-policy"] == '"search-1";q=5;w=1, "search-2";q=100;w=60'
    # The per-second limit denied; the per-minute one lost nothing to the denials.
    assert r.headers["ratelimit"].startswith('"search-1";r=0;t=1, "search-2";r=95;t=')


def test_defaults_and_exempt(get: Get) -> None:
    assert [get("/default").status for _ in range(4)] == [200, 200, 200, 429]
    denied = get("/default")
    assert denied.body["policy"] == "default"
    assert denied.headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert all(get("/open").status == 200 for _ in range(5))
    assert "ratelimit" not in get("/open").headers
    # A route's own limits replace the defaults...
    ten = [get("/ten") for _ in range(4)]
    assert [r.status for r in ten] == [200] * 4
    assert ten[0].headers["ratelimit-policy"] == '"ten";q=10;w=60'
    # ...unless added to them: then it reports both, the defaults first.
    added = get("/added")
    assert added.headers["ratelimit-policy"] == '"default";q=3;w=60, "added";q=2;w=3'


def test_a_routes_own_limits_replace_the_defaults(get: Get) -> None:
    answers = [get("/replaced") for _ in range(5)]
    assert [r.status for r in answers] == [200, 200, 429, 429, 429]
    for r in answers:
        assert r.headers["ratelimit-policy"] == '"search-1";q=2;w=1, "search-2";q=100;w=60'
    assert answers[2].body["policy"] == "search"
    # The defaults were not touched: a route without limits of its own still has them.
    assert [get("/default").status for _ in range(4)] == [200, 200, 200, 429]


def test_added_limits_count_with_the_defaults_and_a_refusal_counts_against_none(
    get: Get,
) -> None:
    first, second, third = (get("/added") for _ in range(3))
    assert (first.status, second.status, third.status) == (200, 200, 429)
    assert first.headers["ratelimit-policy"] == '"default";q=3;w=60, "added";q=2;w=3'
    assert second.headers["ratelimit"].startswith('"default";r=1;')
    assert third.body["policy"] == "added"
    # Once the route's own window has passed, the defaults still have one left: the
    # refused request counted against neither.
    time.sleep(3.1)
    fourth = get("/added")
    assert fourth.status == 200
    assert fourth.headers["ratelimit"].startswith('"default";r=0;'), fourth.headers
    # Now the defaults refuse, before the route's own limits are asked.
    fifth = get("/added")
    assert fifth.status == 429 and fifth.body["policy"] == "default"


def test_exempt_routes_have_neither(get: Get) -> None:
    answers = [get("/open") for _ in range(6)]
    assert all(r.status == 200 for r in answers)
    assert all("ratelimit-policy" not in r.headers for r in answers)


def test_tiers_by_api_key(get: Get) -> None:
    free = [get("/tiered", headers={"X-API-Key": "free-key"}).status for _ in range(3)]
    pro = [get("/tiered", headers={"X-API-Key": "pro-key"}).status for _ in range(6)]
    assert free == [200, 200, 429]
    assert pro == [200] * 5 + [429]
    r = get("/tiered", ip="203.0.113.5", headers={"X-API-Key": "pro-key"})
    assert r.status == 429, "the key is the subject, not the address"


@pytest.mark.parametrize("mode", ["local", "open", "closed"])
def test_failure_modes_then_recovery(
    framework: str, server: Server, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with app_for(framework, server, on_failure=mode, retry_interval=0) as get:
        assert get("/ten").status == 200
        server.stop()
        caplog.set_level(logging.INFO, logger="redis_ratelimit")
        codes = [get("/ten").status for _ in range(12)]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, "logged once per outage"
        if mode == "local":
            # The local limiter starts from nothing: 10 more in this process, then 429.
            assert codes == [200] * 10 + [429, 429]
            assert get("/ten").headers["ratelimit"].startswith('"ten";r=0;')
        elif mode == "open":
            assert codes == [200] * 12
            assert "ratelimit" not in get("/ten").headers
        else:
            assert codes == [503] * 12
            assert get("/ten").body["error"] == "Service Unavailable"
        assert 500 not in codes
        server.start()
        r = get("/ten")
        assert r.status == 200
        assert r.headers["ratelimit"].startswith('"ten";r=9;'), "counted in Redis again"
        assert server.client().dbsize() == 1
        assert any("answers again" in rec.getMessage() for rec in caplog.records)


def test_a_slow_redis_is_a_failure_after_a_bounded_wait(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The URL form's 250 ms timeout without retries: a server busy for seconds makes
    the request fall back instead of waiting for it."""
    slow = Server(("--enable-debug-command", "yes"))
    try:
        with app_for(framework, slow, on_failure="local") as get:
            assert get("/ten").status == 200
            with asleep(slow):
                caplog.set_level(logging.WARNING, logger="redis_ratelimit")
                assert get("/ten").status == 200
        assert any("TimeoutError" in r.getMessage() for r in caplog.records), caplog.records
    finally:
        slow.close()

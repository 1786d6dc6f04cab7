"""The FastAPI integration through Starlette's TestClient (httpx), against a real
server: dependencies per route, the middleware's defaults, exempt, tiers, failure
modes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from redis_ratelimit.fastapi import Limiter, RateLimitMiddleware

from .conftest import Server, asleep

TIERS = {"free-key": "free", "pro-key": "pro"}


def api_key(request: Request) -> str:
    return request.headers.get("X-API-Key", "anonymous")


def make_app(server: Server, **options: Any) -> tuple[FastAPI, Limiter]:
    options.setdefault("redis", server.url)
    limiter = Limiter(**options)
    app = FastAPI()
    limiter.init_app(app)
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    @app.get("/ten", dependencies=[Depends(limiter.limit("10/minute", name="ten"))])
    async def ten() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/both", dependencies=[Depends(limiter.limit("5/second;100/minute", name="search"))])
    async def both() -> dict[str, bool]:
        return {"ok": True}

    @app.get(
        "/added",
        dependencies=[Depends(limiter.limit("10/minute", name="added", override_defaults=False))],
    )
    async def added() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/open")
    @limiter.exempt
    async def open_() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/default")
    async def default() -> dict[str, bool]:
        return {"ok": True}

    tiered_limit = limiter.limit(
        lambda req: "5/minute" if TIERS.get(api_key(req)) == "pro" else "2/minute",
        key_func=api_key,
        name="tier",
    )

    @app.get("/tiered", dependencies=[Depends(tiered_limit)])
    async def tiered(request: Request) -> dict[str, str]:
        return {"tier": TIERS.get(api_key(request), "anonymous")}

    return app, limiter


@pytest.fixture
def app_client(server: Server) -> Iterator[TestClient]:
    app, _ = make_app(server)
    with TestClient(app) as client:
        yield client


def test_ten_pass_then_429_with_body_and_fields(app_client: TestClient) -> None:
    for i in range(10):
        r = app_client.get("/ten")
        assert r.status_code == 200, i
        assert r.headers["RateLimit-Policy"] == '"ten";q=10;w=60'
        assert r.headers["RateLimit"].startswith(f'"ten";r={9 - i};t=')
    r = app_client.get("/ten")
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "Too Many Requests" and body["policy"] == "ten"
    assert 0 < body["retry_after_ms"] <= 60_000
    assert int(r.headers["Retry-After"]) == -(-body["retry_after_ms"] // 1000)
    assert r.headers["RateLimit"].startswith('"ten";r=0;t=')
    assert r.headers["RateLimit-Policy"] == '"ten";q=10;w=60'


def test_several_limits_on_one_route_are_all_or_nothing(app_client: TestClient) -> None:
    codes = [app_client.get("/both").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = app_client.get("/both")
    assert r.headers["RateLimit-Policy"] == '"search-1";q=5;w=1, "search-2";q=100;w=60'
    assert r.headers["RateLimit"].startswith('"search-1";r=0;t=1, "search-2";r=95;t=')


def test_middleware_defaults_and_exempt(server: Server) -> None:
    app, _ = make_app(server, default_limits="3/minute")
    with TestClient(app) as client:
        assert [client.get("/default").status_code for _ in range(4)] == [200, 200, 200, 429]
        denied = client.get("/default")
        assert denied.json()["policy"] == "default"
        assert denied.headers["RateLimit-Policy"] == '"default";q=3;w=60'
        assert all(client.get("/open").status_code == 200 for _ in range(5))
        assert "RateLimit" not in client.get("/open").headers
        # A route's own limits replace the defaults...
        r = client.get("/ten")
        assert r.headers["RateLimit-Policy"] == '"ten";q=10;w=60'
        # ...unless added to them: then it reports both, the defaults first.
        r = client.get("/added")
        assert r.headers["RateLimit-Policy"] == '"default";q=3;w=60, "added";q=10;w=60'


def test_tiers_by_api_key(app_client: TestClient) -> None:
    free = [
        app_client.get("/tiered", headers={"X-API-Key": "free-key"}).status_code for _ in range(3)
    ]
    pro = [
        app_client.get("/tiered", headers={"X-API-Key": "pro-key"}).status_code for _ in range(6)
    ]
    assert free == [200, 200, 429]
    assert pro == [200] * 5 + [429]


@pytest.mark.parametrize("mode", ["local", "open", "closed"])
def test_failure_modes_then_recovery(
    server: Server, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(server, on_failure=mode, retry_interval=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ten").status_code == 200
        server.stop()
        caplog.set_level(logging.INFO, logger="redis_ratelimit")
        codes = [client.get("/ten").status_code for _ in range(12)]
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        if mode == "local":
            assert codes == [200] * 10 + [429, 429]
        elif mode == "open":
            assert codes == [200] * 12
        else:
            assert codes == [503] * 12
            assert client.get("/ten").json()["error"] == "Service Unavailable"
        assert 500 not in codes
        server.start()
        r = client.get("/ten")
        assert r.status_code == 200
        assert r.headers["RateLimit"].startswith('"ten";r=9;'), "counted in Redis again"
        assert any("answers again" in rec.getMessage() for rec in caplog.records)


def test_without_init_app_a_denial_is_still_a_429(server: Server) -> None:
    limiter = Limiter(redis=server.url)
    app = FastAPI()

    @app.get("/one", dependencies=[Depends(limiter.limit("1/minute"))])
    async def one() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        assert client.get("/one").status_code == 200
        r = client.get("/one")
        assert r.status_code == 429
        assert r.json()["detail"]["error"] == "Too Many Requests"
        assert "Retry-After" in r.headers


class FirstLoopClient:
    """A ``redis.asyncio`` client an app made itself, in the first event loop that used
    it (made there because Python 3.9 cannot make one outside a loop)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client: Any = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.client is None:
            self.client = redis.asyncio.Redis(port=self.port)
        return await self.client.execute_command(*args, **options)


def test_a_client_on_a_closed_event_loop_is_a_failure_not_a_500(server: Server) -> None:
    """Without ``with``, TestClient runs each request on a new event loop, so an
    asyncio client the app made itself keeps a pooled connection that belongs to a
    closed one and raises RuntimeError: the limiter takes that as Redis failing."""
    app, _ = make_app(server, on_failure="local", redis=FirstLoopClient(server.port))
    client = TestClient(app)
    codes = [client.get("/ten").status_code for _ in range(12)]
    # The first request counts in Redis; from the second on, the local limiter
    # decides and starts from nothing: ten more, then 429.
    assert codes == [200] * 11 + [429]


def test_a_limiter_from_a_url_limits_exactly_under_any_event_loop(server: Server) -> None:
    """As FastAPI's own docs write tests: ``Limiter(app, ...)`` like Flask's, and a
    TestClient without ``with``, which runs each request on a new event loop. The
    limiter's client from a URL is made per loop, so Redis decides every request."""
    app = FastAPI()
    limiter = Limiter(app, redis=server.url)

    @app.get("/five", dependencies=[Depends(limiter.limit("5/minute"))])
    async def five() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    codes = [client.get("/five").status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3
    assert client.get("/five").json()["error"] == "Too Many Requests", "init_app's handler"
    assert limiter.enforcer.redis_usable(), "no failure on the way"


def test_init_app_applies_the_defaults_once_even_with_the_middleware_added_again(
    server: Server,
) -> None:
    app = FastAPI()
    limiter = Limiter(app, redis=server.url, default_limits="3/minute")
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        codes = [client.get("/plain").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_a_slow_redis_is_a_failure_after_a_bounded_wait(caplog: pytest.LogCaptureFixture) -> None:
    slow = Server(("--enable-debug-command", "yes"))
    try:
        app, _ = make_app(slow, on_failure="local")
        with TestClient(app) as client:
            assert client.get("/ten").status_code == 200
            with asleep(slow):
                caplog.set_level(logging.WARNING, logger="redis_ratelimit")
                assert client.get("/ten").status_code == 200
        assert any("TimeoutError" in r.getMessage() for r in caplog.records), caplog.records
    finally:
        slow.close()

"""What only the FastAPI integration has, through Starlette's TestClient (httpx),
against a real server: init_app and the middleware, event loops. The promises it
shares with Flask (limits, defaults, exempt, tiers, failure modes) are tested against
both in test_frameworks.py."""

from __future__ import annotations

from typing import Any

import redis.asyncio
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from redis_ratelimit.fastapi import Limiter, RateLimitMiddleware

from .conftest import Server


def make_app(server: Server, **options: Any) -> tuple[FastAPI, Limiter]:
    options.setdefault("redis", server.url)
    limiter = Limiter(**options)
    app = FastAPI()
    limiter.init_app(app)
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    @app.get("/ten", dependencies=[Depends(limiter.limit("10/minute", name="ten"))])
    async def ten() -> dict[str, bool]:
        return {"ok": True}

    return app, limiter


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

"""Costs known after the request: ``charge`` (and refunds), per-limit ``costs``, and
reservations settled once, on a server with the module and on one without it (the
script library), sync and async, and in Flask and FastAPI apps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from flask import Flask, Response, jsonify, request

from redis_ratelimit import (
    AsyncRateLimiter,
    LocalLimiter,
    RateLimiter,
    ReservationClosed,
)
from redis_ratelimit.fastapi import Limiter as FastLimiter
from redis_ratelimit.fastapi import Reservation
from redis_ratelimit.flask import Limiter as FlaskLimiter

from .conftest import Server

ALGORITHMS = ("fixed", "sliding", "gcra", "log")


def left(limiter: RateLimiter, key: str, spec: str) -> list[int]:
    """What each limit of ``check_all(key, spec)`` has left (a check of cost 0: it
    counts nothing), on the keys ``check_all`` and ``reserve`` use."""
    return [d.remaining for d in limiter.check_all(key, spec, cost=0).decisions]


@pytest.fixture(params=["module", "script library", "in process"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    """The same limiter over the module, over the script library (a server without
    the module), and over the in-process fallback."""
    if request.param == "in process":
        yield RateLimiter(LocalLimiter())
        return
    server = Server(module=request.param == "module")
    try:
        yield RateLimiter(server.client())
    finally:
        server.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_charge_past_the_limit_is_debt(limiter: RateLimiter, algorithm: str) -> None:
    assert limiter.check("u", "10/minute", cost=4, algorithm=algorithm).remaining == 6
    after = limiter.charge("u", "10/minute", 15, algorithm=algorithm)
    assert after.allowed, "a charge is never denied"
    assert (after.limit, after.remaining) == (10, 0)
    assert after.retry_after_ms > 0
    denied = limiter.check("u", "10/minute", algorithm=algorithm)
    assert not denied.allowed
    assert 0 < denied.retry_after_ms <= after.retry_after_ms


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_refund_gives_back_what_was_counted_and_never_more(
    limiter: RateLimiter, algorithm: str
) -> None:
    assert limiter.check("u", "10/minute", cost=8, algorithm=algorithm).remaining == 2
    assert limiter.charge("u", "10/minute", -5, algorithm=algorithm).remaining == 7
    assert limiter.charge("u", "10/minute", -100, algorithm=algorithm).remaining == 10
    assert limiter.charge("u", "10/minute", 0, algorithm=algorithm).remaining == 10


def test_costs_count_each_limit_in_its_own_unit_all_or_nothing(limiter: RateLimiter) -> None:
    both = limiter.check_all("k", "60/minute;100000/minute", costs=(1, 90_000))
    assert both.allowed
    assert [d.remaining for d in both.decisions] == [59, 10_000]
    denied = limiter.check_all("k", "60/minute;100000/minute", costs=(1, 20_000))
    assert not denied.allowed
    assert [d.remaining for d in denied.decisions] == [59, 10_000], "counted against neither"
    with pytest.raises(ValueError, match="one per limit"):
        limiter.check_all("k", "60/minute;100000/minute", costs=(1,))


def test_a_reservation_settles_once(limiter: RateLimiter) -> None:
    r = limiter.reserve("llm", "60/minute;100000/minute", costs=(1, 2000))
    assert r.allowed and bool(r)
    assert [d.remaining for d in r.decisions.decisions] == [59, 98_000]
    (tokens,) = r.settle(1, 500)  # the request limit unchanged: one charge only
    assert tokens.remaining == 99_500, "1,500 of the estimate given back"
    with pytest.raises(ReservationClosed):
        r.settle(1, 500)
    with pytest.raises(ReservationClosed):
        r.cancel()
    over = limiter.reserve("llm", "60/minute;100000/minute", costs=(1, 1000))
    (tokens,) = over.settle(1, 99_700)
    assert tokens.remaining == 0 and tokens.retry_after_ms > 0, "in debt"
    assert not limiter.check_all("llm", "60/minute;100000/minute", costs=(1, 1))


def test_a_cancelled_or_failed_reservation_is_given_back(limiter: RateLimiter) -> None:
    r = limiter.reserve("c", "10/minute", cost=4)
    assert left(limiter, "c", "10/minute") == [6]
    r.cancel()
    assert left(limiter, "c", "10/minute") == [10]
    held = limiter.reserve("c", "10/minute", cost=4)
    with pytest.raises(RuntimeError, match="upstream"), held:
        assert left(limiter, "c", "10/minute") == [6]
        raise RuntimeError("upstream failed")
    assert left(limiter, "c", "10/minute") == [10], "the raising block gave it back"
    with limiter.reserve("c", "10/minute", cost=4):
        pass
    assert left(limiter, "c", "10/minute") == [6], "unsettled, it stays counted"


def test_a_denied_reservation_counted_nothing_and_settles_nothing(limiter: RateLimiter) -> None:
    assert limiter.check_all("d", "3/minute;10/minute", costs=(2, 2)).allowed
    r = limiter.reserve("d", "3/minute;10/minute", costs=(2, 2))
    assert not r.allowed and r.retry_after_ms > 0
    assert left(limiter, "d", "3/minute;10/minute") == [1, 8]
    assert r.settle(5) == ()
    assert left(limiter, "d", "3/minute;10/minute") == [1, 8]


def test_the_async_limiter_charges_and_settles(bare_server: Server) -> None:
    async def main() -> tuple[int, int]:
        client = redis.asyncio.Redis(port=bare_server.port)
        try:
            limiter = AsyncRateLimiter(client)
            charged = await limiter.charge("a", "10/minute", 4)
            r = await limiter.reserve("a", "10/minute", cost=3)
            await r.settle(1)
            with pytest.raises(ReservationClosed):
                await r.cancel()
            with pytest.raises(KeyError):
                async with limiter.reserve("a", "10/minute", cost=2) as held:
                    assert held.allowed
                    raise KeyError("boom")
            after = await limiter.check_all("a", "10/minute", cost=0)
            return charged.remaining, after.decisions[0].remaining
        finally:
            await client.aclose()

    charged, left = asyncio.run(main())
    assert charged == 6
    assert left == 5, "one key for the limit: 4 charged, 1 settled, the failed block's 2 given back"


def test_flask_settle_charges_what_the_response_says_was_used(server: Server) -> None:
    app = Flask(__name__)
    limiter = FlaskLimiter(app, redis=server.url)

    @app.post("/chat")
    @limiter.limit(
        "5/minute;1000/minute",
        cost=lambda req: (1, int(req.json["max_tokens"])),
        settle=lambda response: (1, response.json["used"]),
        name="chat",
    )
    def chat() -> Response:
        return jsonify(used=int(request.json["used"]))

    test = app.test_client()
    first = test.post("/chat", json={"max_tokens": 400, "used": 100})
    assert first.status_code == 200
    # Reserved 400 (600 left), then 300 of them given back after the response.
    assert "r=600" in first.headers["RateLimit"]
    second = test.post("/chat", json={"max_tokens": 400, "used": 100})
    assert "r=500" in second.headers["RateLimit"], second.headers["RateLimit"]
    over = test.post("/chat", json={"max_tokens": 100, "used": 900})
    assert over.status_code == 200
    denied = test.post("/chat", json={"max_tokens": 10, "used": 1})
    assert denied.status_code == 429, "the overrun is debt"


def test_fastapi_hands_the_endpoint_its_reservation(server: Server) -> None:
    app = FastAPI()
    limiter = FastLimiter(app, redis=server.url)

    async def estimate(req: Any) -> tuple[int, int]:
        body = await req.json()
        return 1, int(body["max_tokens"])

    tokens = limiter.reserve("5/minute;1000/minute", cost=estimate)

    @app.post("/chat")
    async def chat(
        body: dict[str, int],
        reservation: Reservation = Depends(tokens),  # noqa: B008
    ) -> dict[str, int]:
        (tokens,) = await reservation.settle(1, body["used"])
        return {"left": tokens.remaining}

    client = TestClient(app)
    r = client.post("/chat", json={"max_tokens": 400, "used": 100})
    assert r.status_code == 200 and r.json() == {"left": 900}
    r = client.post("/chat", json={"max_tokens": 400, "used": 950})
    assert r.status_code == 200 and r.json() == {"left": 0}
    r = client.post("/chat", json={"max_tokens": 1, "used": 1})
    assert r.status_code == 429


def test_a_settle_that_cannot_reach_redis_is_logged_and_the_response_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server()
    app = Flask(__name__)
    limiter = FlaskLimiter(app, redis=server.url)

    def used(response: Response) -> int:
        server.stop()  # Redis goes away between the answer and the settlement
        return 1

    @app.get("/")
    @limiter.limit("10/minute", cost=5, settle=used)
    def index() -> str:
        return "ok"

    try:
        assert app.test_client().get("/").status_code == 200
    finally:
        server.close()
    assert any("could not settle" in r.getMessage() for r in caplog.records), caplog.records

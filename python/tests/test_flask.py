"""What only the Flask integration has, through Flask's test client, against a real
server: keys, error replies, decoration. The promises it shares with FastAPI (limits,
defaults, exempt, tiers, failure modes) are tested against both in
test_frameworks.py."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from flask import Flask, jsonify, request

from redis_ratelimit.flask import Limiter

from .conftest import Server

TIERS = {"free-key": "free", "pro-key": "pro"}


def make_app(server: Server, **options: Any) -> tuple[Flask, Limiter]:
    app = Flask(__name__)
    limiter = Limiter(app, redis=server.url, **options)

    @app.get("/ten")
    @limiter.limit("10/minute")
    def ten() -> Any:
        return jsonify(ok=True)

    @app.get("/both")
    @limiter.limit("5/second;100/minute", name="search")
    def both() -> Any:
        return jsonify(ok=True)

    @app.get("/open")
    @limiter.exempt
    def open_() -> Any:
        return jsonify(ok=True)

    @app.get("/default")
    def default() -> Any:
        return jsonify(ok=True)

    def api_key(req: Any) -> str:
        return str(req.headers.get("X-API-Key", "anonymous"))

    @app.get("/tiered")
    @limiter.limit(
        lambda req: "5/minute" if TIERS.get(api_key(req)) == "pro" else "2/minute",
        key_func=api_key,
        name="tier",
    )
    def tiered() -> Any:
        return jsonify(tier=TIERS.get(api_key(request), "anonymous"))

    return app, limiter


def get(app: Flask, path: str, ip: str = "192.0.2.1", **headers: str) -> Any:
    return app.test_client().get(path, environ_base={"REMOTE_ADDR": ip}, headers=headers)


def test_keys_name_the_view_the_client_and_each_limit(server: Server) -> None:
    """(The limits' behaviour, in both frameworks: test_frameworks.py.)"""
    app, _ = make_app(server)
    codes = [get(app, "/both").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert sorted(k for k in server.client().keys("*")) == [
        b"ratelimit:{tests.test_flask.make_app.<locals>.both:192.0.2.1}:100/60000ms",
        b"ratelimit:{tests.test_flask.make_app.<locals>.both:192.0.2.1}:5/1000ms",
    ]


def test_an_error_reply_falls_back_for_that_request_only(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(server, on_failure="open")
    # Another type under one client's key: WRONGTYPE from the module.
    key = "ratelimit:{tests.test_flask.make_app.<locals>.ten:192.0.2.9}:10/60000ms"
    server.client().rpush(key, "x")
    caplog.set_level(logging.WARNING, logger="redis_ratelimit")
    assert [get(app, "/ten", ip="192.0.2.9").status_code for _ in range(3)] == [200] * 3
    assert len(caplog.records) == 1 and "WRONGTYPE" in caplog.records[0].getMessage()
    # Redis is up: the next client is limited through it at once.
    r = get(app, "/ten", ip="192.0.2.10")
    assert r.headers["RateLimit"].startswith('"ten";r=9;')
    assert server.client().exists(key.replace("192.0.2.9", "192.0.2.10")) == 1


def test_a_bad_limit_string_fails_at_decoration() -> None:
    app = Flask(__name__)
    limiter = Limiter(app, redis=redis.Redis(port=1))
    with pytest.raises(ValueError, match="unknown unit 'fortnight'"):
        limiter.limit("10/fortnight")


def test_two_limits_on_one_view_count_all_or_nothing(server: Server) -> None:
    app = Flask(__name__)
    limiter = Limiter(app, redis=server.url)

    @app.get("/two")
    @limiter.limit("2/3 seconds", name="outer")
    @limiter.limit("5/minute", name="inner")
    def two() -> Any:
        return jsonify(ok=True)

    answers = [get(app, "/two") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].get_json()["policy"] == "outer"
    # Once the outer window has passed, the inner limit shows two counted, not three:
    # the refused request gave back what the inner limit had counted for it.
    time.sleep(3.1)
    fourth = get(app, "/two")
    assert fourth.status_code == 200
    assert '"inner";r=2;' in fourth.headers["RateLimit"], fourth.headers["RateLimit"]

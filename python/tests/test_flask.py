"""The Flask integration through Flask's test client, against a real server."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from flask import Flask, jsonify, request

from redis_ratelimit.flask import Limiter

from .conftest import Server, asleep

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


def test_ten_pass_then_429_with_body_and_fields(server: Server) -> None:
    app, _ = make_app(server)
    for i in range(10):
        r = get(app, "/ten")
        assert r.status_code == 200, i
        assert r.headers["RateLimit-Policy"] == '"ten";q=10;w=60'
        assert r.headers["RateLimit"].startswith(f'"ten";r={9 - i};t=')
    r = get(app, "/ten")
    assert r.status_code == 429
    body = r.get_json()
    assert body["error"] == "Too Many Requests" and body["policy"] == "ten"
    assert 0 < body["retry_after_ms"] <= 60_000
    assert int(r.headers["Retry-After"]) == -(-body["retry_after_ms"] // 1000)
    assert r.headers["RateLimit"].startswith('"ten";r=0;t=')
    assert r.headers["RateLimit-Policy"] == '"ten";q=10;w=60'
    assert get(app, "/ten", ip="192.0.2.2").status_code == 200, "per client address"


def test_several_limits_on_one_route_are_all_or_nothing(server: Server) -> None:
    app, _ = make_app(server)
    codes = [get(app, "/both").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = get(app, "/both")
    assert r.status_code == 429
    assert r.headers["RateLimit-Policy"] == '"search-1";q=5;w=1, "search-2";q=100;w=60'
    # The per-second limit denied; the per-minute one lost nothing to the denials.
    assert r.headers["RateLimit"].startswith('"search-1";r=0;t=1, "search-2";r=95;t=')
    assert sorted(k for k in server.client().keys("*")) == [
        b"ratelimit:{tests.test_flask.make_app.<locals>.both:192.0.2.1}:100/60000ms",
        b"ratelimit:{tests.test_flask.make_app.<locals>.both:192.0.2.1}:5/1000ms",
    ]


def test_exempt_and_default_limits(server: Server) -> None:
    app, _ = make_app(server, default_limits="2/minute")
    assert [get(app, "/default").status_code for _ in range(3)] == [200, 200, 429]
    assert all(get(app, "/open").status_code == 200 for _ in range(5))
    assert "RateLimit" not in get(app, "/open").headers
    # A route's own limits replace the defaults.
    assert [get(app, "/ten").status_code for _ in range(3)] == [200, 200, 200]


def test_tiers_by_api_key(server: Server) -> None:
    app, _ = make_app(server)
    free = [get(app, "/tiered", **{"X-API-Key": "free-key"}).status_code for _ in range(3)]
    pro = [get(app, "/tiered", **{"X-API-Key": "pro-key"}).status_code for _ in range(6)]
    assert free == [200, 200, 429]
    assert pro == [200] * 5 + [429]
    r = get(app, "/tiered", ip="203.0.113.5", **{"X-API-Key": "pro-key"})
    assert r.status_code == 429, "the key is the subject, not the address"


@pytest.mark.parametrize("mode", ["local", "open", "closed"])
def test_failure_modes_then_recovery(
    server: Server, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(server, on_failure=mode, retry_interval=0)
    assert get(app, "/ten").status_code == 200
    server.stop()
    caplog.set_level(logging.INFO, logger="redis_ratelimit")
    codes = [get(app, "/ten").status_code for _ in range(12)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "logged once per outage"
    if mode == "local":
        # The local limiter starts from nothing: 10 more in this process, then 429.
        assert codes == [200] * 10 + [429, 429]
        assert get(app, "/ten").headers["RateLimit"].startswith('"ten";r=0;')
    elif mode == "open":
        assert codes == [200] * 12
        assert "RateLimit" not in get(app, "/ten").headers
    else:
        assert codes == [503] * 12
        assert get(app, "/ten").get_json()["error"] == "Service Unavailable"
    assert 500 not in codes
    server.start()
    r = get(app, "/ten")
    assert r.status_code == 200
    assert r.headers["RateLimit"].startswith('"ten";r=9;'), "counted in Redis again"
    assert server.client().dbsize() == 1
    assert any("answers again" in rec.getMessage() for rec in caplog.records)


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


def test_a_slow_redis_is_a_failure_after_a_bounded_wait(caplog: pytest.LogCaptureFixture) -> None:
    """The URL form's 250 ms timeout without retries: a server busy for seconds makes
    the request fall back instead of waiting for it."""
    slow = Server(("--enable-debug-command", "yes"))
    try:
        app, _ = make_app(slow, on_failure="local")
        assert get(app, "/ten").status_code == 200
        with asleep(slow):
            caplog.set_level(logging.WARNING, logger="redis_ratelimit")
            assert get(app, "/ten").status_code == 200
        assert any("TimeoutError" in r.getMessage() for r in caplog.records), caplog.records
    finally:
        slow.close()


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

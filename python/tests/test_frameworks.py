"""The promises Flask and FastAPI share, one suite run against both: the same app
shape in each framework, the same requests, the same answers.

The rule for a route's limits against the defaults (Flask-Limiter's): a route's own
limits replace the defaults; with ``override_defaults=False`` they are added to them,
and then a request refused by either counts against neither.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from .conftest import Server

DEFAULTS = "3/minute"
Get = Callable[[str], tuple[int, dict[str, str], Any]]


def flask_app(server: Server) -> Get:
    from flask import Flask, jsonify

    from redis_ratelimit.flask import Limiter

    app = Flask(__name__)
    limiter = Limiter(app, redis=server.url, default_limits=DEFAULTS)

    @app.get("/replaced")
    @limiter.limit("2/second;100/minute", name="search")
    def replaced() -> Any:
        return jsonify(ok=True)

    @app.get("/added")
    @limiter.limit("2/3 seconds", name="added", override_defaults=False)
    def added() -> Any:
        return jsonify(ok=True)

    @app.get("/plain")
    def plain() -> Any:
        return jsonify(ok=True)

    @app.get("/open")
    @limiter.exempt
    def open_() -> Any:
        return jsonify(ok=True)

    client = app.test_client()

    def get(path: str) -> tuple[int, dict[str, str], Any]:
        r = client.get(path, environ_base={"REMOTE_ADDR": "192.0.2.1"})
        return r.status_code, dict(r.headers), r.get_json()

    return get


def fastapi_app(server: Server) -> Iterator[Get]:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from redis_ratelimit.fastapi import Limiter

    app = FastAPI()
    limiter = Limiter(app, redis=server.url, default_limits=DEFAULTS)
    search = limiter.limit("2/second;100/minute", name="search")
    added_limit = limiter.limit("2/3 seconds", name="added", override_defaults=False)

    @app.get("/replaced", dependencies=[Depends(search)])
    async def replaced() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/added", dependencies=[Depends(added_limit)])
    async def added() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/open")
    @limiter.exempt
    async def open_() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:

        def get(path: str) -> tuple[int, dict[str, str], Any]:
            r = client.get(path)
            return r.status_code, dict(r.headers), r.json()

        yield get


@pytest.fixture(params=["flask", "fastapi"])
def get(request: pytest.FixtureRequest, server: Server) -> Iterator[Get]:
    if request.param == "flask":
        yield flask_app(server)
    else:
        yield from fastapi_app(server)


def policy_names(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}.get("ratelimit-policy", "")


def state(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}.get("ratelimit", "")


def test_a_routes_own_limits_replace_the_defaults(get: Get) -> None:
    answers = [get("/replaced") for _ in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 429, 429, 429]
    for _, headers, _ in answers:
        assert policy_names(headers) == '"search-1";q=2;w=1, "search-2";q=100;w=60'
    assert answers[2][2]["policy"] == "search"
    # The defaults were not touched: a route without limits of its own still has them.
    assert [get("/plain")[0] for _ in range(4)] == [200, 200, 200, 429]


def test_added_limits_count_with_the_defaults_and_a_refusal_counts_against_none(
    get: Get,
) -> None:
    first, second, third = (get("/added") for _ in range(3))
    assert (first[0], second[0], third[0]) == (200, 200, 429)
    assert policy_names(first[1]) == '"default";q=3;w=60, "added";q=2;w=3'
    assert state(second[1]).startswith('"default";r=1;')
    assert third[2]["policy"] == "added"
    # Once the route's own window has passed, the defaults still have one left: the
    # refused request counted against neither.
    time.sleep(3.1)
    fourth = get("/added")
    assert fourth[0] == 200
    assert state(fourth[1]).startswith('"default";r=0;'), state(fourth[1])
    # Now the defaults refuse, before the route's own limits are asked.
    fifth = get("/added")
    assert fifth[0] == 429 and fifth[2]["policy"] == "default"


def test_exempt_routes_have_neither(get: Get) -> None:
    answers = [get("/open") for _ in range(6)]
    assert all(status == 200 for status, _, _ in answers)
    assert all(policy_names(headers) == "" for _, headers, _ in answers)

"""The gateway against a real redis-server with the module loaded: settling with
the actual usage lets a client that uses less than it reserves through more often,
and a client that uses more is denied until its debt has passed."""

import time

import pytest
from fastapi.testclient import TestClient

from app import create_app

SHORT = "60/2 seconds;1000/2 seconds"  # the gateway's limits, on a test's time scale


def ask(client, key, prompt, max_tokens=None):
    body = {"prompt": prompt} | ({"max_tokens": max_tokens} if max_tokens else {})
    return client.post("/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"})


def admitted(client, key, n, **request):
    return sum(ask(client, key, **request).status_code == 200 for _ in range(n))


def test_each_response_reports_both_limits(redis_url):
    with TestClient(create_app(redis_url)) as client:
        r = ask(client, "alice", "hello there", max_tokens=100)
    assert r.status_code == 200
    assert r.json()["usage"] == {"total_tokens": 22}
    assert r.headers["RateLimit-Policy"] == '"llm-1";q=60;w=60, "llm-2";q=100000;w=60'
    # Counted when the request was let in: one request, and its estimate of 102.
    assert r.headers["RateLimit"].startswith('"llm-1";r=59;t=60, "llm-2";r=99898;t=60')


@pytest.mark.parametrize("settle", [True, False])
def test_settling_lets_a_frugal_client_through_more_often(redis_url, settle):
    # Each request reserves 2 + 400 tokens and uses 2 + 20.
    with TestClient(create_app(redis_url, SHORT, settle=settle)) as client:
        through = admitted(client, "bob", 10, prompt="two words", max_tokens=400)
    assert through == (10 if settle else 2)


def test_a_client_that_goes_over_is_denied_until_its_debt_has_passed(redis_url):
    with TestClient(create_app(redis_url, SHORT)) as client:
        # No max_tokens: 256 reserved; the model answers 1,000 of 4,096 allowed.
        over = ask(client, "carol", " ".join(["word"] * 100))
        assert over.status_code == 200
        assert over.json()["usage"] == {"total_tokens": 1100}
        denied = ask(client, "carol", "hi", max_tokens=1)
        assert denied.status_code == 429
        wait = int(denied.headers["Retry-After"])
        assert 1 <= wait <= 2
        time.sleep(wait + 0.1)
        assert ask(client, "carol", "hi", max_tokens=1).status_code == 200

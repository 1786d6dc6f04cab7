"""The FastAPI example against a real redis-server with the module loaded, then with
Redis unreachable (the local fallback)."""

import importlib

import pytest
from fastapi.testclient import TestClient


def client_for(url, monkeypatch):
    """A test client that keeps one event loop for all its requests, as a server does
    (the app's Redis connections belong to the loop they were made on)."""
    monkeypatch.setenv("REDIS_URL", url)
    import app

    return TestClient(importlib.reload(app).app)


@pytest.fixture
def client(redis_url, monkeypatch):
    with client_for(redis_url, monkeypatch) as c:
        yield c


def get(client, key):
    return client.get("/items", headers={"X-API-Key": key} if key else {})


def test_unknown_keys_get_401(client):
    assert get(client, None).status_code == 401
    assert get(client, "made-up").status_code == 401


def test_free_tier_10_per_minute(client):
    codes = [get(client, "free-demo-key").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    denied = get(client, "free-demo-key")
    assert denied.json()["error"] == "Too Many Requests"
    assert denied.headers["RateLimit-Policy"] == '"api";q=10;w=60'


def test_pro_tier_5_per_second_and_100_per_minute(client):
    codes = [get(client, "pro-demo-key").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    policy = get(client, "pro-demo-key").headers["RateLimit-Policy"]
    assert policy == '"api-1";q=5;w=1, "api-2";q=100;w=60'


def test_unreachable_redis_limits_in_process(monkeypatch):
    from redis_ratelimit.testing import free_port

    with client_for(f"redis://127.0.0.1:{free_port()}", monkeypatch) as client:
        codes = [get(client, "free-demo-key").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]

"""The Flask example against a real redis-server with the module loaded (the
`redis_url` fixture in ../conftest.py), with whichever redis-py is installed:
`make test` runs it with redis-py 5 (RESP2 by default) and 8 (RESP3 by default).
"""

import importlib

import pytest
import redis


@pytest.fixture
def client(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    import app

    return importlib.reload(app).app.test_client()


def test_redis_py_speaks_its_default_protocol(redis_url):
    """The app's client is built with redis-py's defaults: RESP3 from redis-py 8 on."""
    major = int(redis.__version__.split(".")[0])
    resp = redis.Redis.from_url(redis_url).client_info()["resp"]
    assert int(resp) == (3 if major >= 8 else 2), (redis.__version__, resp)


def get(client, ip):
    return client.get("/", environ_base={"REMOTE_ADDR": ip})


def test_ten_requests_pass_then_429_with_retry_after(client):
    for i in range(10):
        response = get(client, "192.0.2.1")
        assert response.status_code == 200, i
        assert response.headers["RateLimit"].startswith(f'"default";r={9 - i};')
        assert response.headers["RateLimit-Policy"] == '"default";q=10;w=60'
    response = get(client, "192.0.2.1")
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "Too Many Requests"
    assert 0 < body["retry_after_ms"] <= 60_000
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit"].startswith('"default";r=0;')


def test_each_client_ip_has_its_own_limit(client, redis_url):
    assert [get(client, "198.51.100.7").status_code for _ in range(10)] == [200] * 10
    assert get(client, "198.51.100.7").status_code == 429
    assert get(client, "198.51.100.8").status_code == 200
    keys = sorted(redis.Redis.from_url(redis_url).keys("ratelimit:*"))
    assert len(keys) == 2 and b"198.51.100.7" in keys[0] and b"198.51.100.8" in keys[1]


def test_an_unreachable_redis_falls_back_to_limiting_in_process(monkeypatch):
    from redis_ratelimit.testing import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}")
    import app

    client = importlib.reload(app).app.test_client()
    codes = [get(client, "203.0.113.9").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]

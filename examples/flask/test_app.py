"""The Flask example against a real redis-server with the module loaded (the
`redis_url` fixture in ../conftest.py), with whichever redis-py is installed:
`make test` runs it with redis-py 5 (RESP2 by default) and 8 (RESP3 by default).
"""

import redis

from app import create_app
from conftest import free_port


def test_redis_py_speaks_its_default_protocol(redis_url):
    """The app's client is built with redis-py's defaults: RESP3 from redis-py 8 on."""
    major = int(redis.__version__.split(".")[0])
    resp = redis.Redis.from_url(redis_url).client_info()["resp"]
    assert int(resp) == (3 if major >= 8 else 2), (redis.__version__, resp)


def get(client, ip):
    return client.get("/", environ_base={"REMOTE_ADDR": ip})


def test_ten_requests_pass_then_429_with_retry_after(redis_url):
    client = create_app(redis_url).test_client()
    for i in range(10):
        response = get(client, "192.0.2.1")
        assert response.status_code == 200, i
        assert response.headers["RateLimit"].startswith(f'"per-ip";r={9 - i};')
        assert response.headers["RateLimit-Policy"] == '"per-ip";q=10;w=60'
    response = get(client, "192.0.2.1")
    assert response.status_code == 429
    assert response.get_json() == {"error": "Too Many Requests"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit"].startswith('"per-ip";r=0;')


def test_each_client_ip_has_its_own_limit(redis_url):
    client = create_app(redis_url, limit=2).test_client()
    assert [get(client, "198.51.100.7").status_code for _ in range(3)] == [200, 200, 429]
    assert get(client, "198.51.100.8").status_code == 200
    keys = sorted(redis.Redis.from_url(redis_url).keys("ratelimit:ip:*"))
    assert keys == [b"ratelimit:ip:198.51.100.7", b"ratelimit:ip:198.51.100.8"]


def test_an_unreachable_redis_lets_requests_through(redis_url):
    closed = f"redis://127.0.0.1:{free_port()}"
    client = create_app(closed).test_client()
    response = get(client, "203.0.113.9")
    assert response.status_code == 200
    assert "RateLimit" not in response.headers

"""A Flask API limited per client IP by one RATELIMIT.CHECK call per request.

The limiter is a `before_request` hook: it asks Redis whether the client may make
this request, answers 429 with `Retry-After` when not, and adds the IETF `RateLimit`
headers to every response. Run it with a redis-server that has the module loaded:

    REDIS_URL=redis://127.0.0.1:6379 flask --app app run
"""

import logging
import math
import os

import redis
from flask import Flask, g, jsonify, request

log = logging.getLogger(__name__)


def create_app(redis_url=None, limit=10, window_s=60):
    """The app, limiting each client IP to `limit` requests per `window_s` seconds."""
    app = Flask(__name__)
    client = redis.Redis.from_url(
        redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )

    @app.before_request
    def limit_per_client_ip():
        # The peer address. Behind a proxy, use werkzeug's ProxyFix with the number
        # of proxies you trust rather than reading X-Forwarded-For yourself: a client
        # can put anything in that header.
        key = f"ratelimit:ip:{request.remote_addr}"
        try:
            allowed, cap, remaining, retry_ms, reset_ms = client.execute_command(
                "RATELIMIT.CHECK", key, limit, window_s
            )
        except redis.exceptions.RedisError as err:
            # Fail open: an outage of the limiter must not take the API down with it.
            log.warning("rate limiter unavailable, allowing the request: %s", err)
            return None
        g.ratelimit = (cap, remaining, reset_ms)
        if allowed:
            return None
        response = jsonify(error="Too Many Requests")
        response.status_code = 429
        if retry_ms >= 0:
            # Whole seconds, rounded up, so a client that waits this long succeeds.
            response.headers["Retry-After"] = str(max(1, math.ceil(retry_ms / 1000)))
        return response

    @app.after_request
    def ratelimit_headers(response):
        if "ratelimit" in g:
            cap, remaining, reset_ms = g.ratelimit
            response.headers["RateLimit-Policy"] = f'"per-ip";q={limit};w={window_s}'
            response.headers["RateLimit"] = (
                f'"per-ip";r={remaining};t={math.ceil(reset_ms / 1000)}'
            )
        return response

    @app.get("/")
    def hello():
        return jsonify(message="hello")

    return app

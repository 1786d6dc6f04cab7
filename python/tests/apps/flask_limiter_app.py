"""A Flask-Limiter app as its users write it; the two lines that move it onto this
package are marked. $STORAGE_URI and $STRATEGY are the test's."""

import os
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

import redis_ratelimit.limits_storage  # noqa: F401  (1: registers ratelimit+ schemes)

app = Flask(__name__)
limiter = Limiter(
    get_remote_address,
    app=app,
    storage_uri=os.environ["STORAGE_URI"],  # 2: "ratelimit+redis://..." (was "redis://...")
    strategy=os.environ["STRATEGY"],
    headers_enabled=True,
)


@app.get("/")
@limiter.limit("10/minute")
def index() -> str:
    # A worker busy with one request cannot take the next: the test's concurrent
    # requests spread over the processes.
    time.sleep(0.05)
    return "ok"


@app.after_request
def worker(response):  # type: ignore[no-untyped-def]
    # Which process answered, on every response (429s too), for the test.
    response.headers["X-Worker"] = str(os.getpid())
    return response

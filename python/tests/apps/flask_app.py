"""A Flask app limited to 10 requests a minute per client, for the tests that serve it
from several processes (gunicorn workers). ``REDIS_URL`` names the server."""

import os

from flask import Flask, Response

from redis_ratelimit.flask import Limiter

app = Flask(__name__)
limiter = Limiter(app, redis=os.environ["REDIS_URL"], key_func=lambda request: "everyone")


@app.get("/")
@limiter.limit("10/minute")
def index() -> Response:
    # Long enough that concurrent requests need several workers at once.
    import time

    time.sleep(0.05)
    return Response("ok", headers={"X-Worker": str(os.getpid())})

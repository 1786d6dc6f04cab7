"""A Flask API limited to 10 requests per minute per client IP, with a JSON 429.

    pip install "redis-ratelimit[flask]"
    redis-server --loadmodule "$(python -m redis_ratelimit module-path)" &
    REDIS_URL=redis://127.0.0.1:6379 flask --app app run
"""

import os

from flask import Flask, jsonify

from redis_ratelimit.flask import Limiter

app = Flask(__name__)
limiter = Limiter(app, redis=os.environ.get("REDIS_URL"), default_limits="10/minute")


@app.get("/")
def hello():
    return jsonify(message="hello")

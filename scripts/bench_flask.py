#!/usr/bin/env python3
"""`make bench`, Flask section: one Flask app limited by this package against the same
app limited by Flask-Limiter (Redis storage), on one redis-server in one run.

This package runs twice: on a server with the module, and on one without it (as
managed services run them), where it picks the script library by itself; so does
Flask-Limiter on this package's limits storage (``ratelimit+redis://``), beside
Flask-Limiter on limits' own Redis storage, for each of its strategies (the moving
window with limits of 4096, the log's bound).

Each app serves a route with one limit and a route with two; the limits are high, so
every request is allowed and counted (the common case). Both limiters send rate-limit
headers (this package the IETF fields, Flask-Limiter its X-RateLimit-* ones with
headers_enabled); Flask-Limiter's default, without headers, has a row of its own. Requests are made through
Flask's test client, one after another, so the figures are the framework and the
limiter's own cost per request, without a web server or network in front. The
commands per request are those the client sent (watched with MONITOR: a script's own
calls are part of its time, not commands of their own), and Redis server time per
request is their usec_per_call from INFO commandstats, weighted by that mix.

    python scripts/bench_flask.py --server redis-server --module path/to/module.so
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import flask_limiter
import redis
import redis_ratelimit
from flask import Flask
from flask_limiter import Limiter as FlaskLimiter
from flask_limiter.util import get_remote_address
from redis_ratelimit.flask import Limiter
from redis_ratelimit.testing import LocalServer

ONE = "1000000/minute"
TWO = "1000000/second;1000000/minute"
# The moving window rows, within the exact log's bound (this package's storage takes a
# moving window up to 4096), for limits' own storage too so the rows compare.
ONE_LOG = "4096/minute"
STRATEGIES = ("fixed-window", "moving-window", "sliding-window-counter")
TWO_LOG = "4096/second;4096/minute"


@contextmanager
def server(binary: str, module: Optional[str]) -> Iterator[redis.Redis]:
    """A redis-server with the module loaded, or without it (``module`` None), as a
    managed service runs one: there the package uses the script library."""
    with LocalServer(binary=binary, module=module or False) as local:
        client = local.client(protocol=2, decode_responses=True)
        try:
            yield client
        finally:
            client.close()


def views() -> tuple[Callable[[], str], Callable[[], str]]:
    """Two fresh view functions with names of their own: Flask-Limiter keys a route's
    limits by the view's module and name, so views sharing a name would share limits."""

    def one() -> str:
        return "ok"

    def two() -> str:
        return "ok"

    return one, two


def ours(url: str, algorithm: str) -> Flask:
    app = Flask("ours")
    limiter = Limiter(app, redis=url, algorithm=algorithm)
    one, two = views()
    app.add_url_rule("/one", "one", limiter.limit(ONE, scope=f"{algorithm}:one")(one))
    app.add_url_rule("/two", "two", limiter.limit(TWO, scope=f"{algorithm}:two")(two))
    return app


def theirs(url: str, strategy: str, headers: bool = True) -> Flask:
    """Flask-Limiter as its users run it; with a ``ratelimit+`` URL, on this package's
    limits storage (the import below is all the app adds)."""
    import redis_ratelimit.limits_storage  # noqa: F401  (registers ratelimit+ URLs)

    app = Flask("flask_limiter")
    limiter = FlaskLimiter(get_remote_address, app=app, storage_uri=url, strategy=strategy,
                           headers_enabled=headers, key_prefix=f"{strategy}:{headers}")
    one, two = views()
    moving = strategy == "moving-window"
    app.add_url_rule("/one", "one", limiter.limit(ONE_LOG if moving else ONE)(one))
    app.add_url_rule("/two", "two", limiter.limit(TWO_LOG if moving else TWO)(two))
    return app


def unlimited() -> Flask:
    app = Flask("unlimited")
    one, two = views()
    app.add_url_rule("/one", "one", one)
    app.add_url_rule("/two", "two", two)
    return app


@dataclass
class Row:
    label: str
    strategy: str
    path: str
    client: redis.Redis
    rps: list[float]
    usec: list[float]
    calls: list[float]


def top_level(client: redis.Redis, app: Flask, path: str, requests: int = 100) -> Counter[str]:
    """The commands one request sends, as the client sent them: watched with MONITOR,
    which also shows each script's own calls, marked as such and left out here."""
    test = app.test_client()
    seen: Counter[str] = Counter()
    with client.monitor() as monitor:
        sender = threading.Thread(
            target=lambda: [test.get(path) for _ in range(requests)] and client.echo("bench:end")
        )
        sender.start()
        for event in monitor.listen():
            words = event["command"].split()
            if words[:2] == ["ECHO", "bench:end"]:
                break
            if event.get("client_type") != "lua":
                seen[words[0].strip('"').lower()] += 1
        sender.join()
    return Counter({name: n / requests for name, n in seen.items()})


def measure(client: redis.Redis, app: Flask, path: str, requests: int) -> tuple[float, float, float]:
    """Requests per second; Redis server time and commands per request. Both count what
    the client sent: a script's time includes its own calls, which are not counted
    again (INFO commandstats lists them too)."""
    test = app.test_client()
    for _ in range(200):  # warm up: connections, scripts loaded
        assert test.get(path).status_code == 200
    mix = top_level(client, app, path)
    client.flushall()  # keeps the function library and the scripts
    client.config_resetstat()
    start = time.perf_counter()
    for _ in range(requests):
        test.get(path)
    elapsed = time.perf_counter() - start
    stats = client.info("commandstats")
    per_call = {k.removeprefix("cmdstat_"): v["usec_per_call"] for k, v in stats.items()}
    usec = sum(per_call.get(name, 0.0) * n for name, n in mix.items())
    assert test.get(path).status_code == 200, "every request was allowed"
    return requests / elapsed, usec, sum(mix.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="redis-server")
    parser.add_argument("--module", default=str(redis_ratelimit.module_path()))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with server(args.server, args.module) as client, server(args.server, None) as bare:
        url = f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}"
        bare_url = f"redis://127.0.0.1:{bare.connection_pool.connection_kwargs['port']}"
        script = "redis-ratelimit, script library (no module)"
        fl = f"Flask-Limiter {flask_limiter.__version__}"
        drop_in = f"{fl} + ratelimit+ storage"
        drop_in_bare = f"{drop_in}, script library (no module)"
        apps: list[tuple[str, str, Callable[[], Flask]]] = [
            ("no limiter", "", unlimited),
            ("redis-ratelimit", "fixed", lambda: ours(url, "fixed")),
            ("redis-ratelimit", "sliding", lambda: ours(url, "sliding")),
            (script, "fixed", lambda: ours(bare_url, "fixed")),
            (script, "sliding", lambda: ours(bare_url, "sliding")),
            (f"Flask-Limiter {flask_limiter.__version__}", "fixed-window",
             lambda: theirs(url, "fixed-window")),
            (f"Flask-Limiter {flask_limiter.__version__}", "fixed-window, no headers",
             lambda: theirs(url, "fixed-window", headers=False)),
            (fl, "moving-window", lambda: theirs(url, "moving-window")),
            (fl, "sliding-window-counter", lambda: theirs(url, "sliding-window-counter")),
            *[(drop_in, s, lambda s=s: theirs(f"ratelimit+{url}", s)) for s in STRATEGIES],
            *[(drop_in_bare, s, lambda s=s: theirs(f"ratelimit+{bare_url}", s))
              for s in STRATEGIES],
        ]
        on_bare = (script, drop_in_bare)
        rows = [Row(label, strategy, path, bare if label in on_bare else client, [], [], [])
                for label, strategy, _ in apps for path in ("/one", "/two")]
        built = {(label, strategy): make() for label, strategy, make in apps}
        for _ in range(args.rounds):
            for row in rows:
                rps, usec, calls = measure(row.client, built[(row.label, row.strategy)],
                                           row.path, args.requests)
                row.rps.append(rps)
                row.usec.append(usec)
                row.calls.append(calls)
    version = subprocess.run([args.server, "--version"], capture_output=True, text=True)
    print(f"## Flask: this package against Flask-Limiter ({version.stdout.split(' sha=')[0]}; "
          f"{args.requests} requests per app and route, Flask test client; median of "
          f"{args.rounds} rounds)\n")
    print("| limiter | strategy | limits | requests/s | x no limiter | Redis commands/request "
          "| Redis usec/request |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = {row.path: statistics.median(row.rps) for row in rows if row.label == "no limiter"}
    for row in rows:
        rps = statistics.median(row.rps)
        limits = "1" if row.path == "/one" else "2"
        print(f"| {row.label} | {row.strategy or '-'} | {limits if row.strategy else '-'} | "
              f"{rps:,.0f} | {rps / base[row.path]:.2f} | {statistics.median(row.calls):.1f} | "
              f"{statistics.median(row.usec):.2f} |")
    print()


if __name__ == "__main__":
    main()

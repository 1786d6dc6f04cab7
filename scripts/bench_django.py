#!/usr/bin/env python3
"""`make bench`, Django section: a Django REST framework view throttled by DRF's own
``AnonRateThrottle`` on Django's Redis cache, against the same view throttled by
``redis_ratelimit.django.AnonRateThrottle`` (the module, and the script library on a
server without it), on one redis-server per form in one run.

Requests go through Django's test client one after another (the framework's and the
throttle's own cost, no web server in front). The rate is high, so every request is
allowed and counted. Redis time per request is the server's ``usec`` over all
commands (INFO commandstats, after CONFIG RESETSTAT) divided by the requests.

    python scripts/bench_django.py --module path/to/module.so
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import django
import redis
from django.conf import settings

from redis_ratelimit.testing import LocalServer


def configure() -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["rest_framework"],
        MIDDLEWARE=[],
        DATABASES={},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        REDIS_RATELIMIT={},
        REST_FRAMEWORK={
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_THROTTLE_RATES": {"anon": "100000000/day"},
        },
    )
    django.setup()


configure()

from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import throttling  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

import redis_ratelimit.django as ours  # noqa: E402


def view(throttle: Any) -> Any:
    class View(APIView):
        throttle_classes = (throttle,) if throttle else ()

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    return View.as_view()


urlpatterns = [
    path("none", view(None)),
    path("drf", view(throttling.AnonRateThrottle)),
    path("ours", view(ours.AnonRateThrottle)),
]


def measure(port: int, route: str, requests: int, **overrides: Any) -> tuple[float, float]:
    client = redis.Redis(port=port)
    with override_settings(**overrides):
        test = Client()
        for _ in range(200):  # warm up: connections, the library loaded
            assert test.get(route).status_code == 200
        client.flushall()
        client.config_resetstat()
        start = time.perf_counter()
        for _ in range(requests):
            test.get(route)
        elapsed = time.perf_counter() - start
    stats = client.info("commandstats")
    usec = sum(float(v["usec"]) for v in stats.values())
    client.close()
    return requests / elapsed, usec / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="redis-server")
    parser.add_argument("--module", default=None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with LocalServer(binary=args.server, module=args.module or True) as loaded, \
            LocalServer(binary=args.server, module=False) as bare:
        cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                             "LOCATION": f"redis://127.0.0.1:{loaded.port}"}}
        cases = [
            ("no throttle", loaded.port, "/none", {}),
            ("DRF AnonRateThrottle, Redis cache", loaded.port, "/drf", {"CACHES": cache}),
            ("redis_ratelimit.django.AnonRateThrottle (module)", loaded.port, "/ours",
             {"REDIS_RATELIMIT": {"REDIS": f"redis://127.0.0.1:{loaded.port}"}}),
            ("redis_ratelimit.django.AnonRateThrottle (script library, no module)", bare.port,
             "/ours", {"REDIS_RATELIMIT": {"REDIS": f"redis://127.0.0.1:{bare.port}"}}),
        ]
        results: dict[str, list[tuple[float, float]]] = {c[0]: [] for c in cases}
        for _ in range(args.rounds):
            for label, port, route, overrides in cases:
                results[label].append(measure(port, route, args.requests, **overrides))
    print(f"## Django REST framework: DRF's throttle against this package's ({args.requests} "
          f"requests per view, Django test client; median of {args.rounds} rounds)\n")
    print("| throttle | requests/s | x no throttle | Redis usec/request |")
    print("|---|---:|---:|---:|")
    base = statistics.median(r[0] for r in results["no throttle"])
    for label, rows in results.items():
        rps = statistics.median(r[0] for r in rows)
        usec = statistics.median(r[1] for r in rows)
        print(f"| {label} | {rps:,.0f} | {rps / base:.2f} | {usec:.2f} |")
    print()


if __name__ == "__main__":
    main()

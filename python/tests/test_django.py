"""Django and Django REST framework (``redis_ratelimit.django``): DRF's throttle classes
set in settings limit anonymous, per-user and scoped views exactly under concurrent
requests (DRF's own throttle on a Redis cache measured beside them), with
``Retry-After``; the decorator and the middleware limit plain views; a Redis that is
down leaves it to ``ON_FAILURE``, never a 500; bad settings stop the start."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

django = pytest.importorskip("django")
pytest.importorskip("rest_framework")

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["rest_framework", "redis_ratelimit.django"],
        MIDDLEWARE=["redis_ratelimit.django.RateLimitMiddleware"],
        DATABASES={},
        REDIS_RATELIMIT={"REDIS": "redis://127.0.0.1:1", "DEFAULT_LIMITS": "3/minute"},
        REST_FRAMEWORK={
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_THROTTLE_RATES": {"anon": "5/min", "user": "7/min", "burst": "3/minute"},
        },
    )
    django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import throttling as drf_throttling  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from redis_ratelimit.django import (  # noqa: E402
    AnonRateThrottle,
    ScopedRateThrottle,
    UserRateThrottle,
    check_configuration,
    ratelimit,
    ratelimit_exempt,
)

from .conftest import Server, free_port  # noqa: E402


class User:
    is_authenticated = True

    def __init__(self, pk: str) -> None:
        self.pk = pk


class HeaderUser(BaseAuthentication):
    """``X-User: 42`` is user 42; no header, anonymous."""

    def authenticate(self, request: Any) -> Any:
        pk = request.META.get("HTTP_X_USER")
        return (User(pk), None) if pk else None


def api(throttle: type, scope: str = "") -> Any:
    class View(APIView):
        authentication_classes = (HeaderUser,)
        throttle_classes = (throttle,)
        throttle_scope = scope

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    # The throttles alone limit these: out of the middleware's default limits.
    return ratelimit_exempt(View.as_view())


@ratelimit(key="ip", rate="4/m")
def decorated(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@ratelimit(key="header:x-tenant", rate="2/m", block=False)
def soft(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"limited": request.limited})  # type: ignore[attr-defined]


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@ratelimit_exempt
def free(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("anon", api(AnonRateThrottle)),
    path("user", api(UserRateThrottle)),
    path("scoped", api(ScopedRateThrottle, "burst")),
    path("builtin", api(drf_throttling.AnonRateThrottle)),
    path("decorated", decorated),
    path("soft", soft),
    path("plain", plain),
    path("free", free),
]


@pytest.fixture
def redis_settings(server: Server) -> Iterator[dict[str, Any]]:
    config = {"REDIS": server.url, "DEFAULT_LIMITS": "3/minute"}
    with override_settings(REDIS_RATELIMIT=config):
        yield config


def burst(url: str, n: int, **headers: str) -> list[Any]:
    """``n`` concurrent requests, each through a client of its own."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: Client().get(url, **headers), range(n)))


def statuses(responses: list[Any]) -> list[int]:
    return [r.status_code for r in responses]


def test_drf_throttles_limit_exactly_under_concurrent_requests(
    redis_settings: dict[str, Any], server: Server
) -> None:
    for url, limit, headers in [
        ("/anon", 5, {}),
        ("/user", 7, {"HTTP_X_USER": "42"}),
        ("/scoped", 3, {"HTTP_X_USER": "7"}),
    ]:
        answers = burst(url, 40, **headers)
        assert statuses(answers).count(200) == limit, (url, statuses(answers))
        assert statuses(answers).count(429) == 40 - limit, url
        retry = [int(r["Retry-After"]) for r in answers if r.status_code == 429]
        assert retry and all(1 <= s <= 60 for s in retry), (url, retry)
    # A user's count is the user's: another user, and the anonymous, have their own.
    assert Client().get("/user", HTTP_X_USER="43").status_code == 200
    assert Client().get("/user").status_code == 200
    # The anonymous throttle leaves users alone, as DRF's does.
    assert Client().get("/anon", HTTP_X_USER="42").status_code == 200
    assert server.client().exists("ratelimit:{drf:throttle_anon_127.0.0.1}:5/60000ms") == 1


def test_drfs_own_throttle_on_a_redis_cache_measured_beside_it(
    redis_settings: dict[str, Any], server: Server, record_property: Any
) -> None:
    """DRF's ``SimpleRateThrottle`` reads the history from the cache and writes it
    back: concurrent requests read the same history. Measured, not asserted: how many
    of 40 concurrent requests it admits for a limit of 5 (this package's: exactly 5)."""
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    with override_settings(CACHES=cache):
        builtin = statuses(burst("/builtin", 40)).count(200)
    ours = statuses(burst("/anon", 40)).count(200)
    record_property("drf_builtin_admitted_of_5", builtin)
    print(
        f"of 40 concurrent requests for a limit of 5: DRF's throttle admitted {builtin}, "
        f"redis_ratelimit's {ours}"
    )
    assert builtin >= 5
    assert ours == 5


def test_the_decorator_and_the_middleware_limit_plain_views(
    redis_settings: dict[str, Any],
) -> None:
    answers = [Client().get("/decorated") for _ in range(6)]
    assert statuses(answers) == [200] * 4 + [429] * 2
    assert answers[0]["RateLimit-Policy"] == '"decorated";q=4;w=60'
    assert answers[0]["RateLimit"] == '"decorated";r=3;t=60'
    assert int(answers[-1]["Retry-After"]) >= 1
    # block=False: the view runs, and knows.
    soft = [Client().get("/soft", HTTP_X_TENANT="t1").json()["limited"] for _ in range(3)]
    assert soft == [False, False, True]
    assert Client().get("/soft", HTTP_X_TENANT="t2").json()["limited"] is False
    # The middleware's default limits on a view without its own; none on an exempt one.
    assert statuses([Client().get("/plain") for _ in range(5)]) == [200] * 3 + [429] * 2
    assert statuses([Client().get("/free") for _ in range(5)]) == [200] * 5
    assert "RateLimit" in Client().get("/decorated")


def teapot(request: HttpRequest, retry_after_s: int) -> HttpResponse:
    return HttpResponse(f"slow down for {retry_after_s} s", status=429, content_type="text/plain")


def test_the_429_response_can_be_the_apps_own(server: Server) -> None:
    config = {"REDIS": server.url, "DEFAULT_LIMITS": "3/minute", "RESPONSE": f"{__name__}.teapot"}
    with override_settings(REDIS_RATELIMIT=config):
        answers = [Client().get("/decorated") for _ in range(5)]
    assert statuses(answers) == [200] * 4 + [429]
    assert answers[-1].content.decode().startswith("slow down for ")
    assert answers[-1]["Retry-After"] and answers[-1]["RateLimit-Policy"]
    with override_settings(REDIS_RATELIMIT={"RESPONSE": 42}), pytest.raises(ImproperlyConfigured):
        check_configuration()


@pytest.mark.parametrize(
    "mode,expected",
    [
        ("open", [200] * 6),
        ("closed", [503] * 6),
        ("local", [200] * 4 + [429] * 2),
    ],
)
def test_with_redis_down_on_failure_decides_never_a_500(mode: str, expected: list[int]) -> None:
    down = {
        "REDIS": f"redis://127.0.0.1:{free_port()}",
        "ON_FAILURE": mode,
        "DEFAULT_LIMITS": "3/minute",
        "RETRY_INTERVAL": 60,
    }
    with override_settings(REDIS_RATELIMIT=down):
        assert statuses([Client().get("/decorated") for _ in range(6)]) == expected
        drf = statuses([Client().get("/anon") for _ in range(7)])
        if mode == "closed":
            assert drf == [503] * 7
        elif mode == "open":
            assert drf == [200] * 7
        else:
            assert drf == [200] * 5 + [429] * 2


def test_bad_settings_are_refused_at_start() -> None:
    bad = [
        (
            {"REST_FRAMEWORK": {"DEFAULT_THROTTLE_RATES": {"anon": "5/fortnight"}}},
            r"DEFAULT_THROTTLE_RATES\['anon'\]",
        ),
        (
            {"REST_FRAMEWORK": {"DEFAULT_THROTTLE_RATES": {"anon": "many/day"}}},
            "invalid throttle rate",
        ),
        ({"REDIS_RATELIMIT": {"REDISS": "redis://x"}}, "unknown setting"),
        ({"REDIS_RATELIMIT": {"ON_FAILURE": "maybe"}}, "ON_FAILURE"),
    ]
    for changed, message in bad:
        with override_settings(**changed), pytest.raises(ImproperlyConfigured, match=message):
            check_configuration()
    with pytest.raises(ValueError, match="invalid rate limit"):
        ratelimit(rate="10/fortnight")
    with pytest.raises(ImproperlyConfigured, match="ratelimit key"):
        ratelimit(key="cookie:x", rate="1/m")(plain)

"""Rate limits for Django and Django REST framework, decided in Redis in one call.

Settings (all optional)::

    INSTALLED_APPS = [..., "redis_ratelimit.django"]   # checks these settings at start
    REDIS_RATELIMIT = {
        "REDIS": "redis://127.0.0.1:6379",  # a URL, or a client (redis.Redis, RedisCluster)
        "ON_FAILURE": "local",              # Redis down: "local", "open" or "closed" (503)
        "ALGORITHM": "fixed",               # "fixed", "sliding", "gcra" or "log"
        "DEFAULT_LIMITS": "",               # RateLimitMiddleware's, e.g. "100/minute"
        "PREFIX": "ratelimit:",
        "HEADERS": True,                    # RateLimit-Policy and RateLimit fields
        "RESPONSE": None,                   # (request, retry_after_s) -> the 429 response
    }

- ``@ratelimit(key="ip", rate="10/m", block=True)``: django-ratelimit's arguments
  (``key`` ``"ip"``, ``"user"``, ``"user_or_ip"``, ``"header:x-name"``, ``"get:name"``,
  ``"post:name"`` or a callable ``(group, request)``; ``rate`` as ``"10/m"``,
  ``"100/5m"`` or this package's ``"10/minute;1000/day"``, or a callable; ``method``;
  ``group``), answered with 429, ``Retry-After`` and the IETF fields; with
  ``block=False`` the view runs with ``request.limited`` set.
- ``RateLimitMiddleware``: ``DEFAULT_LIMITS`` on every view that has no ``@ratelimit``
  of its own (``@ratelimit_exempt`` takes a view out).
- ``AnonRateThrottle``, ``UserRateThrottle``, ``ScopedRateThrottle``: Django REST
  framework's, with the same scopes, rates (``DEFAULT_THROTTLE_RATES``), keys and
  ``throttle_scope``, counted in Redis in one atomic call instead of a read and a write
  of the cache. ``wait()`` gives DRF its ``Retry-After``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar, Union, cast

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.retry import Retry

from .._enforce import (
    FAILURE_MODES,
    UNAVAILABLE_BODY,
    Enforcer,
    Policy,
    Verdict,
    rate_limit_fields,
    too_many_requests,
)
from .._framework import DEFAULT_URL, exempt, is_exempt, url_client_options
from ..bounds import algorithm_name
from ..client import RateLimiter
from ..limits import Limit, LimitSpec, parse_limits

__all__ = [
    "ALL",
    "UNSAFE",
    "AnonRateThrottle",
    "RateLimitMiddleware",
    "ScopedRateThrottle",
    "UserRateThrottle",
    "check_configuration",
    "ratelimit",
    "ratelimit_exempt",
]

F = TypeVar("F", bound=Callable[..., Any])

ALL = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
DEFAULTS: dict[str, Any] = {
    "REDIS": None,
    "ON_FAILURE": "local",
    "ALGORITHM": "fixed",
    "DEFAULT_LIMITS": "",
    "PREFIX": "ratelimit:",
    "HEADERS": True,
    "RETRY_INTERVAL": 1.0,
    "RESPONSE": None,
}
_POLICIES = "__redis_ratelimit_django__"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SHORT_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


def _config() -> dict[str, Any]:
    given = getattr(settings, "REDIS_RATELIMIT", {}) or {}
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"REDIS_RATELIMIT: unknown setting {sorted(unknown)}; known: {sorted(DEFAULTS)}"
        )
    config = {**DEFAULTS, **given}
    if config["ON_FAILURE"] not in FAILURE_MODES:
        raise ImproperlyConfigured(
            f"REDIS_RATELIMIT['ON_FAILURE'] must be one of {FAILURE_MODES}, "
            f"not {config['ON_FAILURE']!r}"
        )
    response = config["RESPONSE"]
    if isinstance(response, str):
        from django.utils.module_loading import import_string

        try:
            config["RESPONSE"] = import_string(response)
        except ImportError as err:
            raise ImproperlyConfigured(f"REDIS_RATELIMIT['RESPONSE']: {err}") from err
    elif response is not None and not callable(response):
        raise ImproperlyConfigured("REDIS_RATELIMIT['RESPONSE'] must be a callable or its path")
    try:
        algorithm_name(config["ALGORITHM"])
        if config["DEFAULT_LIMITS"]:
            parse_limits(config["DEFAULT_LIMITS"])
    except (TypeError, ValueError) as err:
        raise ImproperlyConfigured(f"REDIS_RATELIMIT: {err}") from err
    return config


def drf_rate(rate: str) -> Limit:
    """A rate as Django REST framework reads one (``"100/day"``: a count, then a
    period whose first letter is s, m, h or d), as a ``Limit``."""
    try:
        num, period = rate.split("/")
        return Limit(int(num), _UNITS[period.strip()[0]])
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as err:
        raise ImproperlyConfigured(
            f"invalid throttle rate {rate!r}: use '<count>/<s|m|h|d>', as '100/day'"
        ) from err


def rate_limits(rate: LimitSpec) -> tuple[Limit, ...]:
    """django-ratelimit's ``"10/m"`` and ``"100/5m"``, or this package's own forms
    (``"10/minute;1000/day"``)."""
    if isinstance(rate, str):
        short = _SHORT_RATE.match(rate)
        if short:
            count, multiple, unit = short.groups()
            return (Limit(int(count), int(multiple or 1) * _UNITS[unit]),)
    return parse_limits(rate)


def check_configuration() -> None:
    """Every setting read now (the app's ``ready``): ``REDIS_RATELIMIT`` and, with
    Django REST framework, each of ``DEFAULT_THROTTLE_RATES``."""
    _config()
    rest = getattr(settings, "REST_FRAMEWORK", {}) or {}
    for scope, rate in (rest.get("DEFAULT_THROTTLE_RATES") or {}).items():
        if rate is not None:
            try:
                drf_rate(rate)
            except ImproperlyConfigured as err:
                raise ImproperlyConfigured(f"DEFAULT_THROTTLE_RATES[{scope!r}]: {err}") from err


class _Shared:
    """The enforcer every view and throttle of the process uses, made from the
    settings on first use, and again when a test changes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: Optional[tuple[Enforcer, dict[str, Any]]] = None

    def get(self) -> tuple[Enforcer, dict[str, Any]]:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    config = _config()
                    source = config["REDIS"]
                    if source is None or isinstance(source, str):
                        source = redis.Redis.from_url(
                            source or DEFAULT_URL, **url_client_options(Retry)
                        )
                    limiter = RateLimiter(
                        source, prefix=config["PREFIX"], algorithm=config["ALGORITHM"]
                    )
                    enforcer = Enforcer(
                        limiter,
                        on_failure=config["ON_FAILURE"],
                        retry_interval=float(config["RETRY_INTERVAL"]),
                    )
                    self._made = (enforcer, config)
                made = self._made
        return made

    def reset(self, **_: Any) -> None:
        with self._lock:
            self._made = None


_shared = _Shared()
setting_changed.connect(
    lambda setting, **kw: _shared.reset() if setting == "REDIS_RATELIMIT" else None,
    weak=False,
)


def client_ip(request: HttpRequest) -> str:
    """The peer's address (``REMOTE_ADDR``). Behind proxies, set it from the header
    your proxies write in a middleware you trust: a client can write anything into
    ``X-Forwarded-For``."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _user_id(request: HttpRequest) -> Optional[str]:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _key_func(
    key: Union[str, Callable[[str, HttpRequest], str]], group: str
) -> Callable[[HttpRequest], str]:
    """django-ratelimit's ``key``, as a function of the request."""
    if callable(key):
        return lambda request: str(key(group, request))
    if key == "ip":
        return lambda request: f"ip:{client_ip(request)}"
    if key in ("user", "user_or_ip"):
        return lambda request: _user_id(request) or f"ip:{client_ip(request)}"
    kind, _, name = key.partition(":")
    if kind == "header" and name:
        meta = "HTTP_" + name.upper().replace("-", "_")
        return lambda request: f"header:{request.META.get(meta, '')}"
    if kind in ("get", "post") and name:
        return lambda request: f"{kind}:{getattr(request, kind.upper()).get(name, '')}"
    raise ImproperlyConfigured(
        f"ratelimit key {key!r}: use ip, user, user_or_ip, header:<name>, get:<name>, "
        "post:<name> or a callable (group, request)"
    )


def _answer(
    request: HttpRequest, verdict: Verdict, config: dict[str, Any]
) -> Optional[HttpResponse]:
    """The 503 or 429 for a verdict that refuses the request, else ``None``: the
    429 is a JSON body, or ``RESPONSE(request, retry_after_s)``'s (``None`` for a
    request that can never pass), with ``Retry-After`` either way."""
    if verdict.unavailable:
        return JsonResponse(UNAVAILABLE_BODY, status=503)
    if not verdict.allowed:
        body, fields = too_many_requests(verdict)
        make = config["RESPONSE"]
        if make is not None:
            retry = verdict.decisions.retry_after_ms if verdict.decisions else -1
            response = cast(HttpResponse, make(request, None if retry < 0 else -(-retry // 1000)))
        else:
            response = JsonResponse(body, status=429)
        for field, value in fields.items():
            response[field] = value
        return response
    return None


def _with_fields(
    response: HttpResponse, verdicts: Sequence[Verdict], config: dict[str, Any]
) -> HttpResponse:
    if config["HEADERS"]:
        for field, value in rate_limit_fields(verdicts).items():
            response[field] = value
    return response


def ratelimit(
    group: Optional[str] = None,
    key: Union[str, Callable[[str, HttpRequest], str]] = "ip",
    rate: Union[LimitSpec, Callable[[str, HttpRequest], Optional[LimitSpec]], None] = None,
    method: Union[str, Sequence[str]] = ALL,
    block: bool = True,
    algorithm: Optional[str] = None,
    cost: int = 1,
) -> Callable[[F], F]:
    """Limits a Django view, with django-ratelimit's arguments (see the module's doc).
    A request refused gets 429 with ``Retry-After``; every limited response carries
    the IETF fields. Bad arguments fail here, when the view is defined."""
    if rate is None:
        raise ImproperlyConfigured("ratelimit needs a rate, as rate='10/m'")
    if not callable(rate):
        rate_limits(rate)
    if algorithm is not None:
        algorithm_name(algorithm)
    methods = (method,) if isinstance(method, str) else tuple(method)

    def decorate(view: F) -> F:
        name = group or f"{view.__module__}.{view.__qualname__}"
        keyed = _key_func(key, name)

        def spec(request: HttpRequest) -> LimitSpec:
            if callable(rate):
                return rate_limits(rate(name, request) or ())
            return rate_limits(rate)

        policy: Policy[HttpRequest] = Policy(
            spec=spec,
            key_func=keyed,
            scope=name,
            name=name.rsplit(".", 1)[-1],
            cost=cost,
            algorithm=algorithm,
        )

        @functools.wraps(view)
        def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods or not policy.limits(request):
                request.limited = getattr(request, "limited", False)  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)  # type: ignore[no-any-return]
            enforcer, config = _shared.get()
            verdict = enforcer.evaluate(policy, request)
            request.ratelimit = verdict  # type: ignore[attr-defined]
            refusal = _answer(request, verdict, config)
            if refusal is not None and block:
                return _with_fields(refusal, [verdict], config)
            request.limited = refusal is not None  # type: ignore[attr-defined]
            return _with_fields(view(request, *args, **kwargs), [verdict], config)

        setattr(limited, _POLICIES, True)
        return limited  # type: ignore[return-value]

    return decorate


def ratelimit_exempt(view: F) -> F:
    """Takes a view out of ``RateLimitMiddleware``'s default limits."""
    return exempt(view)


class RateLimitMiddleware:
    """``REDIS_RATELIMIT["DEFAULT_LIMITS"]`` on every view without a ``@ratelimit`` of
    its own, counted per view and client address (all or nothing for several)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        config = _config()  # a bad setting stops the start
        if not config["DEFAULT_LIMITS"]:
            raise ImproperlyConfigured(
                "RateLimitMiddleware needs REDIS_RATELIMIT['DEFAULT_LIMITS'], as '100/minute'"
            )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        verdict = getattr(request, "_redis_ratelimit_default", None)
        if verdict is None:
            return response
        return _with_fields(response, [verdict], _shared.get()[1])

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> Optional[HttpResponse]:
        if is_exempt(view) or getattr(view, _POLICIES, False):
            return None
        enforcer, config = _shared.get()
        name = f"{getattr(view, '__module__', '')}.{getattr(view, '__qualname__', view)}"
        policy: Policy[HttpRequest] = Policy(
            spec=rate_limits(config["DEFAULT_LIMITS"]),
            key_func=lambda r: f"ip:{client_ip(r)}",
            scope=f"default:{name}",
            name="default",
        )
        verdict = enforcer.evaluate(policy, request)
        refusal = _answer(request, verdict, config)
        if refusal is not None:
            return _with_fields(refusal, [verdict], config)
        request._redis_ratelimit_default = verdict  # type: ignore[attr-defined]
        return None


_drf: Any
try:
    from rest_framework import exceptions as _drf_exceptions
    from rest_framework import throttling as _drf
except ImportError:  # pragma: no cover - Django without DRF
    _drf = None


if _drf is not None:

    class RateLimiterUnavailable(_drf_exceptions.APIException):
        status_code = 503
        default_detail = "The rate limiter cannot be reached."
        default_code = "rate_limiter_unavailable"

    class _RedisThrottle:
        """DRF's throttle, counted in Redis: one atomic call where DRF's reads the
        request history from the cache and writes it back (concurrent requests both
        read the old history and pass)."""

        rate: Optional[str]
        num_requests: Optional[int]
        duration: Optional[int]
        scope: Optional[str]

        def parse_rate(self, rate: Optional[str]) -> tuple[Optional[int], Optional[int]]:
            if rate is None:
                return (None, None)
            limit = drf_rate(rate)
            return limit.amount, int(limit.window_s)

        def allow_request(self, request: Any, view: Any) -> bool:
            if self.rate is None:
                return True
            key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
            if key is None:
                return True
            assert self.num_requests is not None and self.duration is not None
            limit = Limit(self.num_requests, self.duration)
            policy: Policy[Any] = Policy(
                spec=(limit,),
                key_func=lambda _: str(key),
                scope="drf",
                name=self.scope or "throttle",
            )
            enforcer, _ = _shared.get()
            self.verdict = enforcer.evaluate(policy, request)
            if self.verdict.unavailable:
                raise RateLimiterUnavailable()
            return self.verdict.allowed

        def wait(self) -> Optional[float]:
            verdict = getattr(self, "verdict", None)
            if verdict is None or verdict.decisions is None:
                return None
            retry_ms = verdict.decisions.retry_after_ms
            return None if retry_ms < 0 else retry_ms / 1000

    class AnonRateThrottle(_RedisThrottle, _drf.AnonRateThrottle):  # type: ignore[misc]
        """DRF's ``AnonRateThrottle`` (scope ``anon``), counted in Redis."""

    class UserRateThrottle(_RedisThrottle, _drf.UserRateThrottle):  # type: ignore[misc]
        """DRF's ``UserRateThrottle`` (scope ``user``), counted in Redis."""

    class ScopedRateThrottle(_RedisThrottle, _drf.ScopedRateThrottle):  # type: ignore[misc]
        """DRF's ``ScopedRateThrottle`` (a view's ``throttle_scope``), counted in Redis."""

        def allow_request(self, request: Any, view: Any) -> bool:
            self.scope = getattr(view, self.scope_attr, None)
            if not self.scope:
                return True
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
            return _RedisThrottle.allow_request(self, request, view)

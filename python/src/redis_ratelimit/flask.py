"""Rate limits for Flask apps, kept by the module in Redis.

```python
from flask import Flask
from redis_ratelimit.flask import Limiter

app = Flask(__name__)
limiter = Limiter(app, redis="redis://127.0.0.1:6379", default_limits=["100/minute"])

@app.get("/search")
@limiter.limit("5/second;100/minute")
def search(): ...
```

Every response of a limited route carries ``RateLimit-Policy`` and ``RateLimit``; a
denied request gets 429 with ``Retry-After`` and a JSON body. A route's own limits
replace the default limits (``override_defaults=False`` adds them instead; a request
refused by any counts against none); ``@limiter.exempt`` takes a route out of both.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar, Union

import redis
from flask import Flask, Response, g, jsonify, request
from flask import Request as FlaskRequest
from redis.retry import Retry

from ._enforce import (
    UNAVAILABLE_BODY,
    Cost,
    Enforcer,
    Policy,
    Verdict,
    log,
    rate_limit_fields,
    too_many_requests,
)
from ._framework import DEFAULT_URL, Settings, exempt, is_exempt, url_client_options
from .client import RateLimiter
from .limits import LimitSpec, parse_limits

F = TypeVar("F", bound=Callable[..., Any])

_POLICIES = "__redis_ratelimit_policies__"


def remote_address(req: FlaskRequest) -> str:
    """The peer's address. Behind a proxy, wrap the app in werkzeug's ``ProxyFix``
    with the number of proxies you trust: a client can write anything into
    ``X-Forwarded-For``, and only your proxies' additions are worth believing."""
    return req.remote_addr or "unknown"


def _client(source: Union[str, Any, None]) -> Any:
    if source is None or isinstance(source, str):
        return redis.Redis.from_url(source or DEFAULT_URL, **url_client_options(Retry))
    return source


class Limiter(Settings[FlaskRequest]):
    """Rate limits for a Flask app.

    ``redis``: a client (``redis.Redis``, ``RedisCluster``, a Sentinel's
    ``master_for``) or a URL (default ``redis://127.0.0.1:6379``, with 250 ms
    timeouts). ``key_func``: who a request counts against (default: the client
    address). ``default_limits``: for every route without its own, counted per route.
    ``algorithm``: ``"fixed"``, ``"sliding"``, ``"gcra"`` or ``"log"``.
    ``on_failure``: ``"local"``, ``"open"`` or ``"closed"`` (see ``_enforce``).
    ``headers``: add the ``RateLimit`` fields to responses.
    """

    def __init__(
        self,
        app: Optional[Flask] = None,
        *,
        redis: Union[str, Any, None] = None,
        key_func: Callable[[FlaskRequest], str] = remote_address,
        default_limits: LimitSpec = (),
        algorithm: str = "fixed",
        on_failure: str = "local",
        headers: bool = True,
        prefix: str = "ratelimit:",
        retry_interval: float = 1.0,
    ) -> None:
        super().__init__(key_func=key_func, default_limits=default_limits, headers=headers)
        self.limiter = RateLimiter(_client(redis), prefix=prefix, algorithm=algorithm)
        self.enforcer = Enforcer(self.limiter, on_failure=on_failure, retry_interval=retry_interval)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.before_request(self._before_request)
        app.after_request(self._after_request)
        app.extensions["redis_ratelimit"] = self

    def limit(
        self,
        spec: Union[LimitSpec, Callable[[FlaskRequest], LimitSpec]],
        *,
        key_func: Optional[Callable[[FlaskRequest], str]] = None,
        cost: Union[Cost, Callable[[FlaskRequest], Cost]] = 1,
        settle: Optional[Callable[[Response], Cost]] = None,
        algorithm: Optional[str] = None,
        scope: Optional[str] = None,
        name: Optional[str] = None,
        override_defaults: bool = True,
    ) -> Callable[[F], F]:
        """Limits a view: ``spec`` as ``"10/minute"``, ``"5/second;100/minute"``
        (all or nothing), or a callable of the request giving one. ``cost`` is one
        cost for every limit or one per limit (``(1, estimate)`` for requests and
        tokens), or a callable of the request giving either. With ``settle``, the cost
        is a reservation: once the view has answered, ``settle(response)`` says what
        was used (likewise one value or one per limit) and the difference is charged
        or given back. ``scope`` shares counters between routes that name the same
        scope (default: the view's own); ``name`` is the policy's name in the response
        fields (default: the scope). The view's limits replace the default limits;
        with ``override_defaults=False`` they are added to them."""
        if not callable(spec):
            parse_limits(spec)  # a bad string fails here, at import, not per request

        def decorate(view: F) -> F:
            own = scope or f"{view.__module__}.{view.__qualname__}"
            policy: Policy[FlaskRequest] = Policy(
                spec=spec,
                key_func=key_func or self.key_func,
                scope=own,
                name=name or scope or view.__name__,
                cost=cost,
                algorithm=algorithm,
                settle=settle,
                override_defaults=override_defaults,
            )
            policies = list(getattr(view, _POLICIES, ()))
            setattr(view, _POLICIES, [*policies, policy])
            return view

        return decorate

    def exempt(self, view: F) -> F:
        """Takes a view out of every limit, default or its own."""
        return exempt(view)

    def _policies(self) -> list[Policy[FlaskRequest]]:
        from flask import current_app

        view = current_app.view_functions.get(request.endpoint or "")
        if view is None or is_exempt(view):
            return []
        own: list[Policy[FlaskRequest]] = getattr(view, _POLICIES, [])
        return self.applicable(own, str(request.endpoint))

    def _before_request(self) -> Optional[Response]:
        verdicts = self.enforcer.evaluate_all(self._policies(), request)
        g._redis_ratelimit = verdicts
        for verdict in verdicts:
            if verdict.unavailable:
                response = jsonify(UNAVAILABLE_BODY)
                response.status_code = 503
                return response
            if not verdict.allowed:
                body, fields = too_many_requests(verdict)
                response = jsonify(body)
                response.status_code = 429
                response.headers.update(fields)
                return response
        return None

    def _after_request(self, response: Response) -> Response:
        verdicts: list[Verdict] = g.get("_redis_ratelimit", [])
        for verdict in verdicts:
            settle = verdict.policy.settle
            if settle is None or verdict.reservation is None or not verdict.allowed:
                continue
            try:
                used = settle(response)
            except Exception:
                # The reservation stays counted as it was made; the response stands.
                log.exception(
                    "rate limiting: the settle function of %r failed", verdict.policy.name
                )
                continue
            self.enforcer.settle(verdict, used)
        if self.headers and verdicts:
            for field, value in rate_limit_fields(verdicts).items():
                response.headers[field] = value
        return response

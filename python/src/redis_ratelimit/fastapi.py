"""Rate limits for FastAPI and Starlette apps, kept by the module in Redis, async
end to end.

```python
from fastapi import Depends, FastAPI
from redis_ratelimit.fastapi import Limiter

app = FastAPI()
limiter = Limiter(app, redis="redis://127.0.0.1:6379", default_limits=["100/minute"])

@app.get("/search", dependencies=[Depends(limiter.limit("5/second;100/minute"))])
async def search(): ...
```

``Limiter(app)``, or ``Limiter()`` then ``limiter.init_app(app)``, as with Flask:
``init_app`` answers ``RateLimitExceeded`` with its JSON body and adds
``RateLimitMiddleware``, which applies ``default_limits`` to every route (adding the
middleware yourself as well still counts each request once). As with Flask, a route's
own limits (its ``limit`` or ``reserve`` dependencies) replace the defaults, and
``override_defaults=False`` adds them instead; a request refused by any counts against
none. ``@limiter.exempt`` takes a route out of the defaults.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable
from typing import Any, Callable, Optional, TypeVar, Union

import redis.asyncio
from redis.asyncio.retry import Retry
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._enforce import (
    UNAVAILABLE_BODY,
    AsyncEnforcer,
    Cost,
    Policy,
    Verdict,
    rate_limit_fields,
    too_many_requests,
)
from ._framework import DEFAULT_URL, Settings, exempt, is_exempt, url_client_options
from .client import AsyncRateLimiter
from .limits import LimitSpec, parse_limits
from .reservation import AsyncReservation

#: What a reserving dependency hands the endpoint (``await reservation.settle(used)``).
Reservation = AsyncReservation

F = TypeVar("F", bound=Callable[..., Any])

#: Marks a limit dependency: (its limiter, whether it replaces the defaults).
_LIMITS = "__redis_ratelimit_limits__"
#: The request's verdicts so far (in its ASGI scope), given back if a later one refuses.
_COUNTED = "redis_ratelimit.counted"


def remote_address(request: Request) -> str:
    """The peer's address. Behind a proxy, run uvicorn with ``--forwarded-allow-ips``
    set to your proxies' addresses rather than reading ``X-Forwarded-For`` yourself."""
    return request.client.host if request.client else "unknown"


class RateLimitExceeded(HTTPException):
    """Raised by a limit dependency. ``init_app`` answers it with the JSON body
    ``{"error": "Too Many Requests", "retry_after_ms": ..., "policy": ...}``; without
    it, FastAPI's own handler still answers 429 with the same fields, the body under
    ``detail``."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(status_code=status_code, detail=body, headers=headers)  # type: ignore[arg-type]
        self.body = body


class _ClientFromUrl:
    """``redis.asyncio`` clients made from a URL, one per event loop, each made on
    first use inside the loop that uses it. An asyncio connection belongs to the loop
    that opened it: a test client used without ``with`` (a new loop per request), or
    an app served under several loops, would otherwise meet "Event loop is closed"
    on every request after the first. (On Python 3.9 a client made at import would
    bind to no loop at all.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(self.url, **url_client_options(Retry))
            self._clients[loop] = client
        return client

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await self._client().execute_command(*args, **options)


def _client(source: Union[str, Any, None]) -> Any:
    if source is None or isinstance(source, str):
        return _ClientFromUrl(source or DEFAULT_URL)
    return source


def _refusal(
    verdict: Verdict, fields: dict[str, str]
) -> Optional[tuple[int, dict[str, Any], dict[str, str]]]:
    """(status, body, fields) when the verdict refuses the request."""
    if verdict.unavailable:
        return 503, dict(UNAVAILABLE_BODY), {}
    if not verdict.allowed:
        body, retry = too_many_requests(verdict)
        return 429, body, {**fields, **retry}
    return None


class Limiter(Settings[Request]):
    """Rate limits for a FastAPI or Starlette app; the arguments are those of
    ``redis_ratelimit.flask.Limiter``, with a ``redis.asyncio`` client or a URL."""

    def __init__(
        self,
        app: Optional[Starlette] = None,
        *,
        redis: Union[str, Any, None] = None,
        key_func: Callable[[Request], str] = remote_address,
        default_limits: LimitSpec = (),
        algorithm: str = "fixed",
        on_failure: str = "local",
        headers: bool = True,
        prefix: str = "ratelimit:",
        retry_interval: float = 1.0,
    ) -> None:
        super().__init__(key_func=key_func, default_limits=default_limits, headers=headers)
        self.limiter = AsyncRateLimiter(_client(redis), prefix=prefix, algorithm=algorithm)
        self.enforcer = AsyncEnforcer(
            self.limiter, on_failure=on_failure, retry_interval=retry_interval
        )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Starlette) -> None:
        """Answers ``RateLimitExceeded`` with its JSON body and fields, and applies
        ``default_limits`` to every route through ``RateLimitMiddleware``."""

        async def handler(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, RateLimitExceeded)
            return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

        app.add_exception_handler(RateLimitExceeded, handler)
        app.add_middleware(RateLimitMiddleware, limiter=self)

    def limit(
        self,
        spec: Union[LimitSpec, Callable[[Request], LimitSpec]],
        *,
        key_func: Optional[Callable[[Request], str]] = None,
        cost: Union[Cost, Callable[[Request], Union[Cost, Awaitable[Cost]]]] = 1,
        algorithm: Optional[str] = None,
        scope: Optional[str] = None,
        name: Optional[str] = None,
        override_defaults: bool = True,
    ) -> Callable[[Request, Response], Awaitable[None]]:
        """A dependency limiting the routes that use it:
        ``dependencies=[Depends(limiter.limit("10/minute"))]``. Without ``scope``,
        each route keeps its own counters. ``cost`` is one cost for every limit or one
        per limit, or a callable of the request (async or not) giving either. The
        route's limits replace the defaults; ``override_defaults=False`` adds them."""
        check = self._dependency(spec, key_func, cost, algorithm, scope, name, reserve=False)

        async def dependency(request: Request, response: Response) -> None:
            await check(request, response)

        return self._mark(dependency, override_defaults)

    def reserve(
        self,
        spec: Union[LimitSpec, Callable[[Request], LimitSpec]],
        *,
        key_func: Optional[Callable[[Request], str]] = None,
        cost: Union[Cost, Callable[[Request], Union[Cost, Awaitable[Cost]]]] = 1,
        algorithm: Optional[str] = None,
        scope: Optional[str] = None,
        name: Optional[str] = None,
        override_defaults: bool = True,
    ) -> Callable[[Request, Response], Awaitable[Reservation]]:
        """``limit``, for a cost known only once the request is done: the dependency
        hands the endpoint its ``Reservation`` of ``cost`` (an estimate), to settle
        with what was used::

            @app.post("/chat")
            async def chat(body: Chat, reservation: Reservation = Depends(
                limiter.reserve("60/minute;100000/minute", cost=lambda r: (1, 2000))
            )):
                answer = ...
                await reservation.settle(1, answer.tokens)

        A denied request is answered 429 before the endpoint runs, as with ``limit``.
        Unsettled, the reservation stays counted as it was made."""
        reserve = self._dependency(spec, key_func, cost, algorithm, scope, name, reserve=True)

        async def dependency(request: Request, response: Response) -> Reservation:
            verdict = await reserve(request, response)
            if isinstance(verdict.reservation, AsyncReservation):
                return verdict.reservation
            # The "open" failure mode: nothing was counted, there is nothing to settle.
            return AsyncReservation.unlimited(verdict.limits)

        return self._mark(dependency, override_defaults)

    def _mark(self, dependency: F, override_defaults: bool) -> F:
        """Marks a dependency as this limiter's limits, for the middleware's rule."""
        setattr(dependency, _LIMITS, (self, override_defaults))
        return dependency

    def own_limits(self, route: Any) -> list[bool]:
        """The ``override_defaults`` of each of this limiter's limit dependencies on a
        route (its own, its router's, nested ones)."""
        found: list[bool] = []
        pending = [getattr(route, "dependant", None)]
        while pending:
            dependant = pending.pop()
            for sub in getattr(dependant, "dependencies", ()):
                mark = getattr(sub.call, _LIMITS, None)
                if mark is not None and mark[0] is self:
                    found.append(mark[1])
                pending.append(sub)
        return found

    def _dependency(
        self,
        spec: Union[LimitSpec, Callable[[Request], LimitSpec]],
        key_func: Optional[Callable[[Request], str]],
        cost: Union[Cost, Callable[[Request], Union[Cost, Awaitable[Cost]]]],
        algorithm: Optional[str],
        scope: Optional[str],
        name: Optional[str],
        reserve: bool,
    ) -> Callable[[Request, Response], Awaitable[Verdict]]:
        """Evaluates a route's policy for one request: 429 (or 503) by raising
        ``RateLimitExceeded``, else the response's fields, and the verdict."""
        if not callable(spec):
            parse_limits(spec)

        async def evaluate(request: Request, response: Response) -> Verdict:
            policy = await self._route_policy(request, spec, key_func, cost, algorithm, scope, name)
            # Always a reservation: if a later policy of this request refuses it, what
            # this one counted is given back.
            verdict = await self.enforcer.evaluate(policy, request, reserve=True)
            counted: list[Verdict] = request.scope.setdefault(_COUNTED, [])
            fields = rate_limit_fields([verdict]) if self.headers else {}
            refusal = _refusal(verdict, fields)
            if refusal is not None:
                for earlier in counted:
                    await self.enforcer.give_back(earlier)
                counted.clear()
                raise RateLimitExceeded(*refusal)
            counted.append(verdict)
            _merge(response.headers, fields)
            return verdict

        return evaluate

    async def _route_policy(
        self,
        request: Request,
        spec: Union[LimitSpec, Callable[[Request], LimitSpec]],
        key_func: Optional[Callable[[Request], str]],
        cost: Union[Cost, Callable[[Request], Union[Cost, Awaitable[Cost]]]],
        algorithm: Optional[str],
        scope: Optional[str],
        name: Optional[str],
    ) -> Policy[Request]:
        """A route dependency's policy for one request (its cost worked out)."""
        route = request.scope.get("route")
        weight = cost(request) if callable(cost) else cost
        if inspect.isawaitable(weight):
            weight = await weight
        return Policy(
            spec=spec,
            key_func=key_func or self.key_func,
            scope=scope or (getattr(route, "path", None) or request.url.path),
            name=name or scope or getattr(route, "name", None) or "route",
            cost=weight,
            algorithm=algorithm,
        )

    def exempt(self, endpoint: F) -> F:
        """Takes an endpoint out of the defaults that ``RateLimitMiddleware`` applies."""
        return exempt(endpoint)


def _merge(headers: MutableHeaders, fields: dict[str, str], *, first: bool = False) -> None:
    """Adds the fields, joined as list members with any already there (the
    middleware's defaults and a route's own limits both report); ``first`` puts the
    new members before the present ones."""
    for field, value in fields.items():
        present = headers.get(field)
        if present:
            value = f"{value}, {present}" if first else f"{present}, {value}"
        headers[field] = value


class RateLimitMiddleware:
    """Applies the limiter's ``default_limits`` to every HTTP request, counted per
    route, except for endpoints marked ``@limiter.exempt``."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    def _route(self, scope: Scope) -> Any:
        router = getattr(scope.get("app"), "router", None)
        for route in getattr(router, "routes", []):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route
        return None

    def _defaults_apply(self, scope: Scope) -> tuple[bool, Any]:
        """Whether the defaults apply to this request, and its route: not twice (the
        middleware added by init_app and by hand), not to an exempt endpoint, and not
        where the route's own limits replace them."""
        applied = scope.setdefault("redis_ratelimit.defaults", set())
        if scope["type"] != "http" or not self.limiter.default_limits:
            return False, None
        if id(self.limiter) in applied:
            return False, None
        applied.add(id(self.limiter))
        route = self._route(scope)
        if is_exempt(getattr(route, "endpoint", None)):
            return False, route
        own = self.limiter.own_limits(route)
        return not own or not all(own), route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        apply, route = self._defaults_apply(scope)
        if not apply:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        policy = self.limiter.default_policy(getattr(route, "path", None) or scope["path"])
        # A reservation, given back if the route's own limits then refuse the request.
        verdict = await self.limiter.enforcer.evaluate(policy, request, reserve=True)
        fields = rate_limit_fields([verdict]) if self.limiter.headers else {}
        refusal = _refusal(verdict, fields)
        if refusal is not None:
            status, body, headers = refusal
            await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
            return
        scope.setdefault(_COUNTED, []).append(verdict)

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start" and fields:
                _merge(MutableHeaders(scope=message), fields, first=True)
            await send(message)

        await self.app(scope, receive, send_with_fields)

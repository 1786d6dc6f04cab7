"""What the Flask and FastAPI limiters share: their settings, the client made from a
URL, the exempt mark, and the one rule for a route's limits against the defaults.

The rule, as Flask-Limiter's: a route's own limits **replace** the default limits;
given with ``override_defaults=False`` they are **added** to them. A route without
limits of its own has the defaults; an exempt route has neither. Where several
policies apply to one request, a request refused by any of them counts against none
(``Enforcer.evaluate_all``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Generic, TypeVar

from redis.backoff import NoBackoff

from ._enforce import Policy, R
from .limits import LimitSpec, parse_limits

F = TypeVar("F", bound=Callable[..., Any])

#: The server a limiter made without ``redis=`` talks to.
DEFAULT_URL = "redis://127.0.0.1:6379"

_EXEMPT = "__redis_ratelimit_exempt__"


def url_client_options(retry: Callable[..., Any]) -> dict[str, Any]:
    """The options of a client made from a URL: a bounded wait, so that an unreachable
    or stalled Redis costs a request little (250 ms), and no retry (redis-py 6+
    retries a timed-out call three times by default, which would hold the request
    for seconds). ``retry`` is redis-py's ``Retry`` class, sync or asyncio."""
    return {
        "socket_timeout": 0.25,
        "socket_connect_timeout": 0.25,
        "retry": retry(NoBackoff(), 0),
    }


def exempt(view: F) -> F:
    """Marks a view or endpoint as taken out of every limit."""
    setattr(view, _EXEMPT, True)
    return view


def is_exempt(view: Any) -> bool:
    return bool(getattr(view, _EXEMPT, False))


class Settings(Generic[R]):
    """The settings both limiters take, and the policies they make of them."""

    def __init__(
        self,
        *,
        key_func: Callable[[R], str],
        default_limits: LimitSpec,
        headers: bool,
    ) -> None:
        self.key_func = key_func
        self.headers = headers
        self.default_limits = parse_limits(default_limits) if default_limits else ()

    def default_policy(self, route: str) -> Policy[R]:
        """The defaults on one route (each route keeps its own counters)."""
        return Policy(
            spec=self.default_limits,
            key_func=self.key_func,
            scope=f"default:{route}",
            name="default",
        )

    def applicable(self, own: Sequence[Policy[R]], route: str) -> list[Policy[R]]:
        """The policies of one request, by the rule: the route's own replace the
        defaults unless one of them adds to them (``override_defaults=False``), then
        the defaults come first."""
        adds = any(not p.override_defaults for p in own)
        if self.default_limits and (not own or adds):
            return [self.default_policy(route), *own]
        return list(own)

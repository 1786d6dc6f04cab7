"""What the Flask and FastAPI integrations share: policies, the call to Redis with its
failure modes, and the HTTP fields and body they answer with.

A policy is the limits of one route (or the defaults) with the function that names
the subject (client address, API key, ...). Each request makes one Redis call per
policy: ``RATELIMIT.CHECK`` for one limit, ``RATELIMIT.MCHECK`` for several, so a
denied request counts against none of a policy's limits. Where several policies apply
(the defaults beside a route's own, with ``override_defaults=False``), what the ones
before a refusing policy counted is given back (``RATELIMIT.CHARGE``), so a refused
request counts against none of them either.

When Redis fails (connection refused, timeout, an error reply), or answers without
offering any form of the limiter (no module, and neither functions nor scripts
allowed: a configuration error, logged once at ERROR by the client), the policy's
``on_failure`` decides:

- ``"local"``: an in-process limiter with the module's algorithms decides, per process;
- ``"open"``: the request passes, unlimited;
- ``"closed"``: the request is refused with 503.

The first failure is logged as a warning, the recovery as info, nothing in between.
After a failure Redis is left alone for ``retry_interval`` seconds, then asked again.
An error reply (a key holding another type) is not an outage: that request alone
falls back, and each distinct message is logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, Generic, Optional, TypeVar, Union

import redis.exceptions

from ._forms import ServerUnsupported
from .bounds import algorithm_name
from .client import AsyncRateLimiter, RateLimiter
from .decision import Decisions
from .limits import Limit, LimitSpec, parse_limits
from .local import LocalLimiter
from .reservation import AsyncReservation, Reservation

log = logging.getLogger("redis_ratelimit")

FAILURE_MODES = ("local", "open", "closed")

#: What a failed call to Redis may raise: redis-py's errors and the socket's, and
#: anything else the client raises (an asyncio client used from another event loop
#: raises RuntimeError). The arguments were checked before the call, so whatever the
#: call raises is the limiter's backend failing, which must never become a 500.
REDIS_FAILURES = (Exception,)

R = TypeVar("R")  # the framework's request type

#: One cost for every limit, or one per limit.
Cost = Union[int, Sequence[int]]


@dataclass(frozen=True)
class Policy(Generic[R]):
    """The limits of one route, or the defaults.

    ``spec`` is a limit string, ``Limit`` or list of them, or a callable of the
    request giving one (tiers, limits read from a user record). ``scope`` keeps the
    counters of two policies apart (by default, the route's name).
    """

    spec: Union[LimitSpec, Callable[[R], LimitSpec]]
    key_func: Callable[[R], str]
    scope: str
    name: str
    #: One cost for every limit, or one per limit (requests and tokens: ``(1, 1200)``),
    #: or a callable of the request giving either.
    cost: Union[Cost, Callable[[R], Cost]] = 1
    algorithm: Optional[str] = None
    #: Reserve the cost and settle it with what this callable of the response says was
    #: used (one value, or one per limit), once the response is made.
    settle: Optional[Callable[[Any], Cost]] = None
    #: A route's own limits replace the default limits; ``False`` adds them instead.
    override_defaults: bool = True

    def limits(self, request: R) -> tuple[Limit, ...]:
        spec = self.spec(request) if callable(self.spec) else self.spec
        return parse_limits(spec)

    def weight(self, request: R) -> Cost:
        cost = self.cost(request) if callable(self.cost) else self.cost
        return cost if isinstance(cost, int) else tuple(cost)


@dataclass(frozen=True)
class Verdict:
    """One policy's answer for one request. ``decisions`` is ``None`` when Redis
    failed and the failure mode is ``"open"`` or ``"closed"``."""

    policy: Policy[Any]
    limits: tuple[Limit, ...]
    decisions: Optional[Decisions]
    unavailable: bool = False
    #: The reservation to settle, for a policy with ``settle`` (or a reserving
    #: dependency) that Redis or the local fallback decided.
    reservation: Optional[Union[Reservation, AsyncReservation]] = None

    @property
    def allowed(self) -> bool:
        if self.decisions is None:
            return not self.unavailable
        return self.decisions.allowed


def _member(name: str, i: int, count: int) -> str:
    return f'"{name}"' if count == 1 else f'"{name}-{i + 1}"'


def rate_limit_fields(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers),
    one list member per limit: the quota and window, then what is left and the
    seconds until the quota is whole again."""
    policy: list[str] = []
    state: list[str] = []
    for v in verdicts:
        if v.decisions is None:
            continue
        n = len(v.limits)
        for i, (lim, d) in enumerate(zip(v.limits, v.decisions.decisions)):
            member = _member(v.policy.name, i, n)
            window_s = max(1, -(-lim.window_ms // 1000))
            policy.append(f"{member};q={lim.amount};w={window_s}")
            state.append(f"{member};r={d.remaining};t={d.reset_after_s}")
    if not policy:
        return {}
    return {"RateLimit-Policy": ", ".join(policy), "RateLimit": ", ".join(state)}


def too_many_requests(verdict: Verdict) -> tuple[dict[str, Any], dict[str, str]]:
    """The 429 body and its ``Retry-After`` (whole seconds, rounded up; absent when
    the request can never pass)."""
    assert verdict.decisions is not None
    retry_ms = verdict.decisions.retry_after_ms
    body = {"error": "Too Many Requests", "retry_after_ms": retry_ms, "policy": verdict.policy.name}
    fields = {} if retry_ms < 0 else {"Retry-After": str(max(1, -(-retry_ms // 1000)))}
    return body, fields


FALLBACKS = {
    "local": "limiting in this process",
    "open": "letting requests through unlimited",
    "closed": "refusing requests with 503",
}

UNAVAILABLE_BODY = {"error": "Service Unavailable", "reason": "the rate limiter cannot be reached"}


@dataclass(frozen=True)
class Call:
    """One request's check against one policy: the same for Redis and the fallback."""

    limits: tuple[Limit, ...]
    subject: str
    cost: Cost
    algorithm: str
    scope: str
    reserve: bool = False

    @property
    def args(self) -> tuple[str, tuple[Limit, ...]]:
        return (f"{self.scope}:{self.subject}", self.limits)

    @property
    def options(self) -> dict[str, Any]:
        if isinstance(self.cost, int):
            return {"cost": self.cost, "algorithm": self.algorithm}
        return {"costs": tuple(self.cost), "algorithm": self.algorithm}


def _costs(used: Cost) -> tuple[int, ...]:
    return (used,) if isinstance(used, int) else tuple(used)


class _Outage:
    """Failure mode, the local fallback and the outage's log lines."""

    def __init__(
        self,
        limiter: Union[RateLimiter, AsyncRateLimiter],
        *,
        on_failure: str,
        retry_interval: float,
    ) -> None:
        if on_failure not in FAILURE_MODES:
            raise ValueError(
                f"on_failure must be one of {', '.join(FAILURE_MODES)}, not {on_failure!r}"
            )
        self.on_failure = on_failure
        self.retry_interval = retry_interval
        self.algorithm = limiter.algorithm
        # The same requests, on the same keys, kept in this process.
        self.local = RateLimiter(LocalLimiter(), prefix=limiter.prefix, algorithm=limiter.algorithm)
        self._lock = threading.Lock()
        self._down_since: Optional[float] = None
        self._retry_at = 0.0
        self._refusals: set[str] = set()

    def redis_usable(self) -> bool:
        return time.monotonic() >= self._retry_at

    def failed(self, err: BaseException) -> None:
        if isinstance(err, ServerUnsupported):
            # Logged at ERROR by the client, with the fix; asked again after a pause.
            self._retry_at = time.monotonic() + self.retry_interval
            return
        if isinstance(err, redis.exceptions.ResponseError):
            self.refused(err)
            return
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_interval
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "rate limiting: Redis failed (%s: %s); %s until it answers again",
                    type(err).__name__,
                    err,
                    FALLBACKS[self.on_failure],
                )

    def refused(self, err: BaseException) -> None:
        """An error reply (a key holding another type, the module not loaded): Redis
        is up, so only this request falls back. Each distinct message is logged once."""
        message = str(err)
        with self._lock:
            if message in self._refusals or len(self._refusals) >= 100:
                return
            self._refusals.add(message)
        log.warning(
            "rate limiting: Redis refused a check (%s); %s for such requests",
            message,
            FALLBACKS[self.on_failure],
        )

    def recovered(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                log.info(
                    "rate limiting: Redis answers again after %.1f s; limiting through it",
                    time.monotonic() - self._down_since,
                )
                self._down_since = None

    def prepare(self, policy: Policy[R], request: R) -> Call:
        """What one request asks of one policy, worked out once for either path."""
        limits = policy.limits(request)
        algorithm = algorithm_name(policy.algorithm or self.algorithm)
        return Call(
            limits,
            policy.key_func(request),
            policy.weight(request),
            algorithm,
            policy.scope,
            reserve=policy.settle is not None,
        )

    def unlimited(self, policy: Policy[Any], call: Call) -> Verdict:
        """The verdict of the ``open`` and ``closed`` failure modes."""
        return Verdict(policy, call.limits, None, unavailable=self.on_failure == "closed")


class Enforcer(_Outage):
    """Evaluates policies against Redis through a ``RateLimiter``."""

    def __init__(self, limiter: RateLimiter, *, on_failure: str, retry_interval: float) -> None:
        super().__init__(limiter, on_failure=on_failure, retry_interval=retry_interval)
        self.limiter = limiter

    def evaluate(self, policy: Policy[R], request: R, reserve: bool = False) -> Verdict:
        """``reserve``: keep what is counted as a reservation, to settle or give back,
        as a policy with ``settle`` does."""
        call = self.prepare(policy, request)
        if reserve:
            call = replace(call, reserve=True)
        if self.redis_usable():
            try:
                if call.reserve:
                    reservation = self.limiter.reserve(*call.args, **call.options)
                    verdict = Verdict(
                        policy, call.limits, reservation.decisions, reservation=reservation
                    )
                else:
                    verdict = Verdict(
                        policy, call.limits, self.limiter.check_all(*call.args, **call.options)
                    )
            except REDIS_FAILURES as err:
                self.failed(err)
            else:
                self.recovered()
                return verdict
        return self.fallback(policy, call)

    def evaluate_all(self, policies: Sequence[Policy[R]], request: R) -> list[Verdict]:
        """The policies in turn, up to the first that refuses the request; a request
        refused by one counts against none: what the ones before counted is given back.
        (One policy's limits are one call, all or nothing already.)"""
        several = len(policies) > 1
        verdicts: list[Verdict] = []
        for policy in policies:
            verdicts.append(self.evaluate(policy, request, reserve=several))
            if not verdicts[-1].allowed:
                for earlier in verdicts[:-1]:
                    self.give_back(earlier)
                break
        return verdicts

    def give_back(self, verdict: Verdict) -> None:
        """Cancels a verdict's reservation; a failure to reach Redis is logged."""
        reservation = verdict.reservation
        if not isinstance(reservation, Reservation) or reservation.closed:
            return
        try:
            reservation.cancel()
        except REDIS_FAILURES as err:
            log.warning(
                "rate limiting: could not give back a count (%s: %s)", type(err).__name__, err
            )

    def fallback(self, policy: Policy[Any], call: Call) -> Verdict:
        if self.on_failure != "local":
            return self.unlimited(policy, call)
        if call.reserve:
            reservation = self.local.reserve(*call.args, **call.options)
            return Verdict(policy, call.limits, reservation.decisions, reservation=reservation)
        return Verdict(policy, call.limits, self.local.check_all(*call.args, **call.options))

    def settle(self, verdict: Verdict, used: Cost) -> None:
        """Settles a verdict's reservation; a failure to reach Redis is logged, never
        raised: the response is made already."""
        reservation = verdict.reservation
        if not isinstance(reservation, Reservation):
            return
        try:
            reservation.settle(*_costs(used))
        except REDIS_FAILURES as err:
            log.warning(
                "rate limiting: could not settle a reservation (%s: %s)", type(err).__name__, err
            )


class AsyncEnforcer(_Outage):
    """``Enforcer`` for ``redis.asyncio`` clients."""

    def __init__(
        self, limiter: AsyncRateLimiter, *, on_failure: str, retry_interval: float
    ) -> None:
        super().__init__(limiter, on_failure=on_failure, retry_interval=retry_interval)
        self.limiter = limiter
        # The same in-process state as `local`, answered as the async limiter answers.
        self.local_async = AsyncRateLimiter(
            self.local.client, prefix=limiter.prefix, algorithm=limiter.algorithm
        )

    async def evaluate(self, policy: Policy[R], request: R, reserve: bool = False) -> Verdict:
        """``reserve``: keep what is counted as a reservation to settle (a reserving
        dependency), as a policy with ``settle`` does."""
        call = self.prepare(policy, request)
        if reserve:
            call = replace(call, reserve=True)
        if self.redis_usable():
            try:
                if call.reserve:
                    reservation = await self.limiter.reserve(*call.args, **call.options)
                    verdict = Verdict(
                        policy, call.limits, reservation.decisions, reservation=reservation
                    )
                else:
                    decisions = await self.limiter.check_all(*call.args, **call.options)
                    verdict = Verdict(policy, call.limits, decisions)
            except REDIS_FAILURES as err:
                self.failed(err)
            else:
                self.recovered()
                return verdict
        return await self.fallback(policy, call)

    async def give_back(self, verdict: Verdict) -> None:
        """``Enforcer.give_back``, awaited."""
        reservation = verdict.reservation
        if not isinstance(reservation, AsyncReservation) or reservation.closed:
            return
        try:
            await reservation.cancel()
        except REDIS_FAILURES as err:
            log.warning(
                "rate limiting: could not give back a count (%s: %s)", type(err).__name__, err
            )

    async def fallback(self, policy: Policy[Any], call: Call) -> Verdict:
        if self.on_failure != "local":
            return self.unlimited(policy, call)
        if call.reserve:
            reservation = await self.local_async.reserve(*call.args, **call.options)
            return Verdict(policy, call.limits, reservation.decisions, reservation=reservation)
        decisions = await self.local_async.check_all(*call.args, **call.options)
        return Verdict(policy, call.limits, decisions)

    async def settle(self, verdict: Verdict, used: Cost) -> None:
        """``Enforcer.settle``, awaited."""
        reservation = verdict.reservation
        if not isinstance(reservation, AsyncReservation):
            return
        try:
            await reservation.settle(*_costs(used))
        except REDIS_FAILURES as err:
            log.warning(
                "rate limiting: could not settle a reservation (%s: %s)", type(err).__name__, err
            )

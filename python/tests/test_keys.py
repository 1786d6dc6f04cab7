"""One limit of one subject is one Redis key, whatever method counts it, and two limits
of one subject are two keys (the rule ``limit_key`` writes, shared with the axum crate).
"""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_ratelimit import LocalLimiter, RateLimiter
from redis_ratelimit.client import limit_key
from redis_ratelimit.limits import parse_limits

from .conftest import Server


def test_two_limits_of_one_subject_do_not_share_a_key(server: Server) -> None:
    limiter = RateLimiter(server.client())
    assert all(limiter.check("ip:1", "10/minute").allowed for _ in range(5))
    hourly = [limiter.check("ip:1", "3/hour").allowed for _ in range(3)]
    assert hourly == [True, True, True], "the other route's traffic spent nothing here"
    minute = [limiter.check("ip:1", "10/minute").allowed for _ in range(10)]
    assert sum(minute) == 5


def test_a_reservation_and_a_check_count_on_one_key(server: Server) -> None:
    limiter = RateLimiter(server.client())
    r = limiter.reserve("u", "1000/minute", cost=800)
    assert r.allowed
    r.settle(300)
    assert limiter.peek("u", "1000/minute").remaining == 700
    assert limiter.check_all("u", "1000/minute", cost=0).decisions[0].remaining == 700
    assert limiter.charge("u", "1000/minute", 100).remaining == 600
    assert limiter.check("u", "1000/minute").remaining == 599


def test_the_key_names_the_subject_in_a_hash_tag_and_the_limit(server: Server) -> None:
    limiter = RateLimiter(server.client(), prefix="rl:")
    limiter.check("user:42", "10/minute")
    limiter.check_all(b"\xff\x00", "5/second;1000/day")
    assert sorted(server.client().keys("*")) == [
        b"rl:{user:42}:10/60000ms",
        b"rl:{\xff\x00}:1000/86400000ms",
        b"rl:{\xff\x00}:5/1000ms",
    ]


def test_a_key_past_the_bound_is_refused_before_any_call(server: Server) -> None:
    limiter = RateLimiter(server.client())
    with pytest.raises(ValueError, match="the key is 513 bytes: at most 512"):
        limiter.check("x" * 513, "10/minute")
    with pytest.raises(ValueError, match="at most 512"):
        limiter.check_all("é" * 257, "10/minute")
    with pytest.raises(TypeError, match="the key must be str or bytes"):
        limiter.check(42, "10/minute")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the key prefix is 65 bytes: at most 64"):
        RateLimiter(server.client(), prefix="p" * 65)
    assert limiter.check("x" * 512, "10/minute").allowed
    assert server.client().dbsize() == 1


SUBJECTS = ("a", "b")
SPECS = ("5/minute", "3/hour", "5/hour", "5/minute;3/hour")
#: (method, subject, limits, amount)
calls = st.lists(
    st.tuples(
        st.sampled_from(["check", "peek", "check_all", "charge", "reserve"]),
        st.sampled_from(SUBJECTS),
        st.sampled_from(SPECS),
        st.integers(min_value=-2, max_value=3),
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=calls)
def test_every_method_holds_each_subject_and_limit_to_its_own_count(
    server: Server, calls: list[tuple[str, str, str, int]]
) -> None:
    """A model keeps one count per (subject, limit): every method's answer, on the
    server and in the in-process limiter alike, is that count's."""
    server.client().flushall()
    for limiter in (RateLimiter(server.client()), RateLimiter(LocalLimiter())):
        used: dict[tuple[str, int, int], int] = {}
        for method, subject, spec, amount in calls:
            limits = parse_limits(spec)
            keys = [(subject, lim.amount, lim.window_ms) for lim in limits]
            caps = [lim.amount for lim in limits]
            if method in ("charge", "peek") and len(limits) > 1:
                continue  # they name one limit
            if method == "charge":
                d = limiter.charge(subject, spec, amount)
                used[keys[0]] = max(used.get(keys[0], 0) + amount, 0)
                assert d.remaining == max(caps[0] - used[keys[0]], 0), (subject, spec)
                continue
            cost = max(amount, 0)
            fits = all(used.get(k, 0) + cost <= c for k, c in zip(keys, caps))
            before = [max(c - used.get(k, 0), 0) for k, c in zip(keys, caps)]
            if method == "reserve":
                r = limiter.reserve(subject, spec, cost=cost)
                assert r.allowed == fits, (method, subject, spec)
                if fits:
                    r.settle(cost + 1)  # one more than reserved, on every limit
                    for k in keys:
                        used[k] = used.get(k, 0) + cost + 1
                continue
            if method == "check_all" or len(limits) > 1:
                many = limiter.check_all(subject, spec, cost=cost)
                allowed, lefts = many.allowed, [x.remaining for x in many.decisions]
            else:
                one = getattr(limiter, method)(subject, spec, cost=cost)
                allowed, lefts = one.allowed, [one.remaining]
            assert allowed == fits, (method, subject, spec, before)
            if method == "peek":
                assert lefts == before, (subject, spec)
                continue
            if fits:
                for k in keys:
                    used[k] = used.get(k, 0) + cost
            assert lefts == [max(c - used.get(k, 0), 0) for k, c in zip(keys, caps)]
        if isinstance(limiter.client, redis.Redis):
            # One key for each (subject, limit) that holds a count, and no other.
            assert limiter.client.dbsize() == sum(1 for n in used.values() if n > 0)


def test_limit_key_is_the_rule() -> None:
    (lim,) = parse_limits("10/minute")
    assert limit_key("rl:", "user:42", lim) == "rl:{user:42}:10/60000ms"
    assert limit_key(b"", "k", lim) == b"{k}:10/60000ms"

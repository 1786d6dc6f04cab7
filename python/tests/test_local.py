"""The local fallback against the module as the oracle: from the same state, the
same request gets the same answer and leaves the same state, for every algorithm.

The module reads the server's clock, which a test cannot set, so time is made to
pass the other way: an ``age`` step moves every timestamp of the key's state (and its
expiry) back by the same amount, which the algorithms cannot tell from the clock
moving forward. Each call is bracketed by the clock read just before and just after
it; the local decision is computed at both ends, and the module's must match one of
them (and lie between them where the answer is a time).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_ratelimit import Decision, Limit, LocalLimiter
from redis_ratelimit.local import GONE, Step, charge, decide, peek

from . import module_state
from .conftest import Server

ALGORITHMS = ["fixed", "sliding", "gcra", "log"]
_keys = itertools.count()


@pytest.fixture(scope="module")
def oracle() -> Iterator[Any]:
    s = Server()
    try:
        yield s.client()
    finally:
        s.close()


def command(
    name: str, key: str, algorithm: str, limit: Limit, cost: int, burst: Optional[int]
) -> list[Any]:
    args = [name, key, limit.amount, limit.window_ms, "MS", "ALGORITHM", algorithm, "COST", cost]
    return args + (["BURST", burst] if burst is not None else [])


def _flat(state: Any) -> tuple[int, ...]:
    if state is None:
        return ()
    return tuple(state) if isinstance(state, tuple) else (state,)


def within(value: int, ends: list[int], slack: int = 1) -> bool:
    return min(ends) - slack <= value <= max(ends) + slack


ops = st.lists(
    st.one_of(
        st.tuples(st.just("check"), st.integers(0, 12)),
        st.tuples(st.just("peek"), st.integers(0, 12)),
        st.tuples(st.just("charge"), st.integers(-15, 15)),
        st.tuples(st.just("age"), st.integers(1, 25_000)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    amount=st.integers(1, 10),
    window_s=st.integers(2, 10),
    burst=st.one_of(st.none(), st.integers(1, 12)),
    steps=ops,
)
def test_local_decides_as_the_module_does(
    oracle: Any,
    algorithm: str,
    amount: int,
    window_s: int,
    burst: Optional[int],
    steps: list[tuple[str, int]],
) -> None:
    if algorithm != "gcra":
        burst = None
    limit = Limit(amount, window_s)
    key = f"oracle:{next(_keys)}"
    for op, n in steps:
        before = module_state.read(oracle, key)
        if op == "age":
            if before is not None:
                alg, state, expiry = before
                now_ms = time.time_ns() // 1_000_000
                if expiry - n <= now_ms:
                    oracle.delete(key)
                else:
                    raw = module_state.encode(alg, module_state.shifted(alg, state, n))
                    oracle.set(key, raw, pxat=expiry - n)
            continue
        state = before[1] if before else None
        if op == "charge":
            check_charge(oracle, key, algorithm, limit, n, burst, before)
            continue
        t0 = time.time_ns()
        reply = oracle.execute_command(
            *command(f"RATELIMIT.{op.upper()}", key, algorithm, limit, n, burst)
        )
        t1 = time.time_ns()
        got = Decision.from_reply(reply)
        if op == "peek":
            ends: list[Any] = [peek(algorithm, state, limit, n, t, burst) for t in (t0, t1)]
            decisions: list[Decision] = ends
        else:
            steps_at: list[Step] = [decide(algorithm, state, limit, n, t, burst) for t in (t0, t1)]
            decisions = [s.decision for s in steps_at]
        matching = [
            d
            for d in decisions
            if (d.allowed, d.limit, d.remaining) == (got.allowed, got.limit, got.remaining)
        ]
        assert matching, f"{op} {n} on {state}: module {got}, local {decisions}"
        assert within(got.retry_after_ms, [d.retry_after_ms for d in decisions]), (got, decisions)
        assert within(got.reset_after_ms, [d.reset_after_ms for d in decisions]), (got, decisions)
        after = module_state.read(oracle, key)
        if op == "peek" or not got.allowed or n == 0:
            assert after == before, "nothing written"
            continue
        assert after is not None
        written = [s for s in steps_at if s.decision.allowed]
        assert written, (got, steps_at)
        ends_flat = [_flat(s.state) for s in written]
        flat = _flat(after[1])
        assert all(len(e) == len(flat) for e in ends_flat), (after, written)
        for i, v in enumerate(flat):
            assert within(v, [e[i] for e in ends_flat], slack=0), (after, written)
        assert within(after[2], [s.expire_at_ms for s in written], slack=0), (after, written)


def check_charge(
    oracle: Any,
    key: str,
    algorithm: str,
    limit: Limit,
    amount: int,
    burst: Optional[int],
    before: Optional[tuple[str, Any, int]],
) -> None:
    """One CHARGE, module against local, from the same state, with the clock read
    before and after it."""
    state = before[1] if before else None
    args = ["RATELIMIT.CHARGE", key, limit.amount, limit.window_ms, amount, "MS"]
    args += ["ALGORITHM", algorithm] + (["BURST", burst] if burst is not None else [])
    t0 = time.time_ns()
    got = Decision.from_reply(oracle.execute_command(*args))
    t1 = time.time_ns()
    ends = [charge(algorithm, state, limit, amount, t, burst) for t in (t0, t1)]
    assert got.allowed and all(d.allowed for d, _ in ends)
    matching = [(d, c) for d, c in ends if (d.limit, d.remaining) == (got.limit, got.remaining)]
    assert matching, f"charge {amount} on {state}: module {got}, local {ends}"
    assert within(got.retry_after_ms, [d.retry_after_ms for d, _ in ends]), (got, ends)
    assert within(got.reset_after_ms, [d.reset_after_ms for d, _ in ends]), (got, ends)
    after = module_state.read(oracle, key)
    changes = [c for _, c in matching]
    same = [c for c in changes if c is not None and c is not GONE]
    if after == before and not any(
        after is not None and _flat(c.state) == _flat(after[1]) and c.expire_at_ms == after[2]
        for c in same
    ):
        # (A charge may write the very state that was there: LOG, full of entries of now.)
        assert None in changes, f"the module wrote nothing, local {changes}"
        return
    if after is None:
        assert GONE in changes, f"the module deleted the key, local {changes}"
        return
    written = [c for c in changes if c is not None and c is not GONE]
    assert written, (after, changes)
    ends_flat = [_flat(c.state) for c in written]
    flat = _flat(after[1])
    assert all(len(e) == len(flat) for e in ends_flat), (after, written)
    for i, v in enumerate(flat):
        assert within(v, [e[i] for e in ends_flat], slack=0), (after, written)
    assert within(after[2], [c.expire_at_ms for c in written], slack=0), (after, written)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ns = ms * 1_000_000

    def __call__(self) -> int:
        return self.ns

    def advance(self, ms: int) -> None:
        self.ns += ms * 1_000_000


def test_local_limiter_keeps_state_per_key_until_it_expires() -> None:
    clock = Clock(1_700_000_000_000)
    local = LocalLimiter(clock=clock)
    limit = Limit(2, 10)
    assert [local.check("a", limit).allowed for _ in range(3)] == [True, True, False]
    assert local.check("b", limit).allowed, "another key has its own limit"
    clock.advance(9_999)
    assert not local.check("a", limit).allowed
    clock.advance(1)
    assert local.check("a", limit).allowed, "a new window"
    clock.advance(30_000)
    local.check("c", limit)
    assert local.peek("a", limit).remaining == 2, "expired state is gone"


def test_local_check_all_counts_against_none_when_one_denies() -> None:
    clock = Clock(1_700_000_000_000)
    local = LocalLimiter(clock=clock)
    limits = [Limit(1, 1), Limit(5, 60)]
    assert local.check_all(["s", "m"], limits).allowed
    denied = local.check_all(["s", "m"], limits)
    assert not denied.allowed
    assert [d.allowed for d in denied.decisions] == [False, True]
    assert denied.decisions[1].remaining == 4
    clock.advance(1_000)
    assert local.check_all(["s", "m"], limits).decisions[1].remaining == 3


def test_local_limiter_is_bounded_and_refuses_what_the_module_refuses() -> None:
    clock = Clock(1_700_000_000_000)
    local = LocalLimiter(max_keys=100, clock=clock)
    for i in range(250):
        local.check(f"k{i}", Limit(1, 60))
    assert len(local) == 100
    assert not local.check("k249", Limit(1, 60)).allowed, "the newest keys are kept"
    with pytest.raises(ValueError, match="log algorithm takes limits up to 4096"):
        local.check("x", Limit(5000, 60), algorithm="log")
    with pytest.raises(ValueError, match="burst applies only to the gcra"):
        local.check("x", Limit(5, 60), burst=3)
    with pytest.raises(ValueError, match="holds FIXED state"):
        local.check("k249", Limit(1, 60), algorithm="gcra")

"""An in-process limiter that decides exactly as the module does, for when Redis
cannot be reached (``on_failure="local"``).

Each algorithm below is the module's (``src/algorithm/`` in the repository) written
again over Python integers: the same windows anchored at the first counted request,
the same rounding, the same retry and reset times, the same states. The test suite
holds the two against each other call for call. What differs is only where the state
lives: in this process, so each process limits on its own while Redis is away.

State is per key, dropped at its expiry as Redis would drop the key, and bounded by
``max_keys`` (the oldest keys go first when it is reached).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .bounds import MAX_LIMIT, MAX_LOG_LIMIT, MAX_WINDOW_MS
from .decision import Decision, Decisions
from .limits import Limit

if TYPE_CHECKING:
    from ._call import Call

NS_PER_MS = 1_000_000
U64_MAX = 2**64 - 1
U48_MAX = 2**48 - 1

# The state each algorithm keeps, as the module stores it.
Fixed = tuple[int, int]  # window start (ms), count
Sliding = tuple[int, int, int]  # current window start (ms), previous count, current count
Gcra = int  # theoretical arrival time (ns)
Log = tuple[int, ...]  # timestamps (ms) of the counted units, oldest first
State = Union[Fixed, Sliding, Gcra, Log]


def _sat(v: int) -> int:
    """u64 saturation, as the module's arithmetic saturates."""
    return min(v, U64_MAX)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Step:
    """One decision: the reply, and the state to keep (``None``: keep what was)."""

    decision: Decision
    state: Optional[State]
    expire_at_ms: int = 0


@dataclass(frozen=True)
class Change:
    """What a charge leaves: a new state and its expiry, or ``GONE`` (nothing left
    counted: the key goes)."""

    state: Optional[State]
    expire_at_ms: int = 0


#: A refund left nothing counted.
GONE = Change(None)


def fixed(state: Optional[Fixed], limit: int, window_ms: int, cost: int, now_ms: int) -> Step:
    start, count = now_ms, 0
    if state is not None:
        s, c = state
        s = min(s, now_ms)
        if now_ms < s + window_ms:
            start, count = s, c
    end = start + window_ms
    until_end = max(end - now_ms, 0)
    after = count + cost
    if after <= limit:
        return Step(
            Decision(True, limit, limit - after, 0, until_end if after > 0 else 0),
            (start, after) if cost > 0 else None,
            end,
        )
    retry = -1 if cost > limit else until_end
    return Step(
        Decision(False, limit, max(limit - count, 0), retry, until_end if count > 0 else 0),
        None,
    )


def _carried(prev: int, w: int, e: int) -> int:
    return _ceil_div(prev * max(w - e, 0), w)


def _first_fit(prev: int, w: int, allowance: int) -> int:
    if prev <= allowance:
        return 0
    slack = allowance * w // prev
    return w - min(slack, w)


def _sliding_current(state: Optional[Sliding], w: int, now: int) -> Sliding:
    if state is not None:
        s, p, c = state
        s = min(s, now)
        periods = (now - s) // w
        if periods == 0:
            return s, p, c
        if periods == 1:
            return s + w, c, 0
    return now, 0, 0


def sliding(state: Optional[Sliding], limit: int, w: int, cost: int, now: int) -> Step:
    start, prev, cur = _sliding_current(state, w, now)
    e = now - start
    used = _carried(prev, w, e) + cur

    def reset_at(current: int) -> int:
        if current > 0:
            return start + 2 * w
        if prev > 0:
            return start + w
        return now

    if cost <= limit and used + cost <= limit:
        new_cur = cur + cost
        reset = reset_at(new_cur)
        return Step(
            Decision(True, limit, limit - used - cost, 0, reset - now),
            (start, prev, new_cur) if cost > 0 else None,
            reset,
        )
    if cost > limit:
        retry = -1
    elif cur + cost <= limit:
        retry = start + _first_fit(prev, w, limit - cur - cost) - now
    else:
        retry = start + w + _first_fit(cur, w, limit - cost) - now
    return Step(
        Decision(False, limit, max(limit - used, 0), retry, reset_at(cur) - now),
        None,
    )


def _gcra_setup(
    state: Optional[Gcra], limit: int, window_ms: int, burst: int, now: int
) -> tuple[int, int, int, int, int]:
    """interval, capacity, horizon (an empty bucket), ceiling (one window of debt
    beyond it: later only a clock that stepped back puts it) and the arrival time
    clamped between now and the ceiling."""
    interval = max(_ceil_div(window_ms * NS_PER_MS, max(limit, 1)), 1)
    burst = max(burst, 1)
    horizon = _sat(now + _sat(burst * interval))
    ceiling = _sat(horizon + window_ms * NS_PER_MS)
    tat = min(max(now if state is None else state, now), ceiling)
    return interval, burst, horizon, ceiling, tat


def gcra(
    state: Optional[Gcra], limit: int, window_ms: int, burst: int, cost: int, now: int
) -> Step:
    interval, burst, horizon, _, tat = _gcra_setup(state, limit, window_ms, burst, now)
    # Past the end of the u64 clock no arrival time can be kept: such a request never
    # passes, as `remaining` (what fits under that end) says; the module's rule.
    new_tat = tat + cost * interval
    past = new_tat > U64_MAX
    if cost <= burst and not past and new_tat <= horizon:
        return Step(
            Decision(
                True,
                burst,
                min((horizon - new_tat) // interval, burst),
                0,
                _ceil_div(new_tat - now, NS_PER_MS),
            ),
            new_tat if cost > 0 else None,
            _ceil_div(new_tat, NS_PER_MS),
        )
    retry = -1 if cost > burst or past else _ceil_div(new_tat - horizon, NS_PER_MS)
    return Step(
        Decision(
            False,
            burst,
            min(max(horizon - tat, 0) // interval, burst),
            retry,
            _ceil_div(tat - now, NS_PER_MS),
        ),
        None,
    )


def _live(state: Optional[Log], w: int, now: int) -> list[int]:
    """The entries inside (now - W, now], oldest first; any after now taken as now."""
    return [t for t in (min(ts, now) for ts in (state or ())) if t + w > now]


def log(state: Optional[Log], limit: int, w: int, cost: int, now: int) -> Step:
    live = _live(state, w, now)
    n = len(live)
    reset = live[-1] + w - now if live else 0
    if cost <= limit and n + cost <= limit:
        return Step(
            Decision(True, limit, limit - n - cost, 0, w if cost > 0 else reset),
            tuple(live) + (now,) * cost if cost > 0 else None,
            now + w,
        )
    retry = -1 if cost > limit else live[n + cost - limit - 1] + w - now
    return Step(Decision(False, limit, max(limit - n, 0), retry, reset), None)


def decide(
    algorithm: str,
    state: Optional[State],
    limit: Limit,
    cost: int,
    now_ns: int,
    burst: Optional[int] = None,
) -> Step:
    """One request of weight ``cost`` against ``limit``, from ``state`` (``None``: the
    key does not exist), at ``now_ns`` (ns since the Unix epoch)."""
    now_ms = now_ns // NS_PER_MS
    amount, window = limit.amount, limit.window_ms
    if algorithm == "fixed":
        return fixed(state, amount, window, cost, now_ms)  # type: ignore[arg-type]
    if algorithm == "sliding":
        return sliding(state, amount, window, cost, now_ms)  # type: ignore[arg-type]
    if algorithm == "gcra":
        cap = amount if burst is None else burst
        return gcra(state, amount, window, cap, cost, now_ns)  # type: ignore[arg-type]
    if algorithm == "log":
        return log(state, amount, window, cost, now_ms)  # type: ignore[arg-type]
    raise ValueError(f"unknown algorithm {algorithm!r}")


def peek(
    algorithm: str,
    state: Optional[State],
    limit: Limit,
    cost: int,
    now_ns: int,
    burst: Optional[int] = None,
) -> Decision:
    """What ``RATELIMIT.PEEK`` answers: the request's verdict, with ``remaining`` and
    ``reset_after_ms`` of the state as it is."""
    request = decide(algorithm, state, limit, cost, now_ns, burst).decision
    as_is = decide(algorithm, state, limit, 0, now_ns, burst).decision
    return Decision(
        request.allowed,
        request.limit,
        as_is.remaining,
        request.retry_after_ms,
        as_is.reset_after_ms,
    )


def fixed_charge(
    state: Optional[Fixed], window_ms: int, amount: int, now_ms: int
) -> Optional[Change]:
    current = None
    if state is not None:
        s, c = state
        s = min(s, now_ms)
        if now_ms < s + window_ms:
            current = (s, c)
    if amount > 0:
        start, count = current or (now_ms, 0)
        after = (start, min(count + amount, U48_MAX))
    elif amount < 0 and current is not None:
        start, count = current
        after = (start, count - min(-amount, count))
    else:
        return None
    if after == current:
        return None
    if after[1] == 0:
        return GONE
    return Change(after, after[0] + window_ms)


def sliding_charge(state: Optional[Sliding], w: int, amount: int, now_ms: int) -> Optional[Change]:
    start, prev, cur = _sliding_current(state, w, now_ms)
    after = min(cur + amount, U48_MAX) if amount > 0 else cur - min(-amount, cur)
    if after == cur:
        return None
    if after == 0 and prev == 0:
        return GONE
    return Change((start, prev, after), start + (2 * w if after > 0 else w))


def gcra_charge(
    state: Optional[Gcra], limit: int, window_ms: int, burst: int, amount: int, now: int
) -> Optional[Change]:
    interval, _, _, ceiling, tat = _gcra_setup(state, limit, window_ms, burst, now)
    if amount > 0:
        moved = min(_sat(tat + _sat(amount * interval)), ceiling)
    else:
        moved = max(tat - _sat(-amount * interval), now)
    if moved == tat:
        return None
    if moved == now:
        return GONE
    return Change(moved, _ceil_div(moved, NS_PER_MS))


def log_charge(
    state: Optional[Log], limit: int, w: int, amount: int, now_ms: int
) -> Optional[Change]:
    live = _live(state, w, now_ms)
    if amount > 0:
        # Only the newest `limit` entries decide any request up to the limit.
        added = min(amount, limit)
        kept = live[len(live) - min(len(live), limit - added) :]
        after = (*kept, *(now_ms,) * added)
    elif amount < 0 and live:
        after = tuple(live[: len(live) - min(-amount, len(live))])
    else:
        return None
    if not after:
        return GONE
    return Change(after, after[-1] + w)


def charge(
    algorithm: str,
    state: Optional[State],
    limit: Limit,
    amount: int,
    now_ns: int,
    burst: Optional[int] = None,
) -> tuple[Decision, Optional[Change]]:
    """What ``RATELIMIT.CHARGE`` answers and leaves: ``amount`` counted whatever the
    state (positive) or given back from what it holds (negative); the reply describes
    the state after it, with the wait until a request of cost 1 passes."""
    now_ms = now_ns // NS_PER_MS
    amount_of, window = limit.amount, limit.window_ms
    change: Optional[Change]
    if amount == 0:
        change = None
    elif algorithm == "fixed":
        change = fixed_charge(state, window, amount, now_ms)  # type: ignore[arg-type]
    elif algorithm == "sliding":
        change = sliding_charge(state, window, amount, now_ms)  # type: ignore[arg-type]
    elif algorithm == "gcra":
        cap = amount_of if burst is None else burst
        change = gcra_charge(state, amount_of, window, cap, amount, now_ns)  # type: ignore[arg-type]
    else:
        change = log_charge(state, amount_of, window, amount, now_ms)  # type: ignore[arg-type]
    after = state if change is None else change.state
    nxt = peek(algorithm, after, limit, 1, now_ns, burst)
    return (
        Decision(
            True,
            nxt.limit,
            nxt.remaining,
            0 if nxt.allowed else nxt.retry_after_ms,
            nxt.reset_after_ms,
        ),
        change,
    )


def validate(algorithm: str, limit: Limit, cost: int, burst: Optional[int]) -> None:
    """The module's argument bounds, so that the fallback refuses what Redis would."""
    if algorithm == "log" and limit.amount > MAX_LOG_LIMIT:
        raise ValueError(f"the log algorithm takes limits up to {MAX_LOG_LIMIT}")
    if not 0 <= cost <= MAX_LIMIT:
        raise ValueError(f"cost must be from 0 to {MAX_LIMIT}")
    if burst is not None and (algorithm != "gcra" or not 1 <= burst <= MAX_LIMIT):
        raise ValueError("burst applies only to the gcra algorithm, from 1 to 10^12")
    if not 1 <= limit.window_ms <= MAX_WINDOW_MS:
        raise ValueError("the window must be from 1 ms to 10 years")


def _wall_clock_ns() -> int:
    return time.time_ns()


class LocalLimiter:
    """The module's commands over state kept in this process.

    Thread-safe. ``clock`` gives the time in ns since the Unix epoch (the wall
    clock, as the module uses, unless a test gives another).
    """

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], int] = _wall_clock_ns
    ) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        # key -> (algorithm, state, expire_at_ms)
        self._keys: dict[Union[str, bytes], tuple[str, State, int]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def _state(self, key: Union[str, bytes], algorithm: str, now_ms: int) -> Optional[State]:
        entry = self._keys.get(key)
        if entry is None:
            return None
        if now_ms > entry[2]:  # Redis drops a key once its expiry has passed
            del self._keys[key]
            return None
        if entry[0] != algorithm:
            raise ValueError(
                f"the key holds {entry[0].upper()} state: use the same algorithm or another key"
            )
        return entry[1]

    def _store(self, key: Union[str, bytes], algorithm: str, step: Step) -> None:
        if step.state is None:
            return
        self._keys.pop(key, None)  # re-inserted last: the dict's order is the age
        self._keys[key] = (algorithm, step.state, step.expire_at_ms)
        if len(self._keys) > self.max_keys:
            self._evict()

    def _evict(self) -> None:
        now_ms = self.clock() // NS_PER_MS
        for key in [k for k, (_, _, exp) in self._keys.items() if now_ms > exp]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:
            del self._keys[next(iter(self._keys))]

    def check(
        self,
        key: Union[str, bytes],
        limit: Limit,
        *,
        cost: int = 1,
        algorithm: str = "fixed",
        burst: Optional[int] = None,
    ) -> Decision:
        validate(algorithm, limit, cost, burst)
        with self._lock:
            now = self.clock()
            state = self._state(key, algorithm, now // NS_PER_MS)
            step = decide(algorithm, state, limit, cost, now, burst)
            if step.decision.allowed:
                self._store(key, algorithm, step)
            return step.decision

    def peek(
        self,
        key: Union[str, bytes],
        limit: Limit,
        *,
        cost: int = 1,
        algorithm: str = "fixed",
        burst: Optional[int] = None,
    ) -> Decision:
        validate(algorithm, limit, cost, burst)
        with self._lock:
            now = self.clock()
            return peek(
                algorithm, self._state(key, algorithm, now // NS_PER_MS), limit, cost, now, burst
            )

    def check_all(
        self,
        keys: Sequence[Union[str, bytes]],
        limits: Sequence[Limit],
        *,
        cost: int = 1,
        algorithm: str = "fixed",
        burst: Optional[int] = None,
        costs: Optional[Sequence[int]] = None,
    ) -> Decisions:
        """All or nothing, as ``RATELIMIT.MCHECK``: ``limits[i]`` is kept under
        ``keys[i]``, and counts ``costs[i]`` when given (else ``cost``)."""
        each = list(costs) if costs is not None else [cost] * len(limits)
        for lim, c in zip(limits, each):
            validate(algorithm, lim, c, burst)
        with self._lock:
            now = self.clock()
            states = [self._state(k, algorithm, now // NS_PER_MS) for k in keys]
            steps = [
                decide(algorithm, s, lim, c, now, burst) for s, lim, c in zip(states, limits, each)
            ]
            if all(step.decision.allowed for step in steps):
                for k, step in zip(keys, steps):
                    self._store(k, algorithm, step)
                return Decisions(True, tuple(limits), tuple(s.decision for s in steps))
            return Decisions(
                False,
                tuple(limits),
                tuple(
                    peek(algorithm, s, lim, c, now, burst)
                    for s, lim, c in zip(states, limits, each)
                ),
            )

    def charge(
        self,
        key: Union[str, bytes],
        limit: Limit,
        amount: int,
        *,
        algorithm: str = "fixed",
        burst: Optional[int] = None,
    ) -> Decision:
        """As ``RATELIMIT.CHARGE``: ``amount`` counted whatever the state, or given
        back (negative)."""
        validate(algorithm, limit, abs(amount), burst)
        with self._lock:
            now = self.clock()
            state = self._state(key, algorithm, now // NS_PER_MS)
            decision, change = charge(algorithm, state, limit, amount, now, burst)
            if change is GONE:
                self._keys.pop(key, None)
            elif change is not None:
                self._store(key, algorithm, Step(decision, change.state, change.expire_at_ms))
            return decision

    def answer(self, call: Call) -> list[Any]:
        """A request as the Redis forms take it, answered in the module's reply shape:
        the five integers, or MCHECK's ``allowed`` followed by five per limit."""
        options: dict[str, Any] = {"algorithm": call.algorithm, "burst": call.burst}
        if call.command == "mcheck":
            both = self.check_all(
                call.keys, call.limits, cost=call.cost, costs=call.costs, **options
            )
            return [int(both.allowed), *(_five(d) for d in both.decisions)]
        if call.command == "charge":
            return _five(self.charge(call.keys[0], call.limits[0], call.amount, **options))
        one = self.peek if call.command == "peek" else self.check
        return _five(one(call.keys[0], call.limits[0], cost=call.cost, **options))


def _five(d: Decision) -> list[int]:
    return [int(d.allowed), d.limit, d.remaining, d.retry_after_ms, d.reset_after_ms]

"""The package's bounds (``redis_ratelimit.bounds``) are the module's: each is the last
value the module accepts, and one past it is refused, by the module and by the script
library alike; the algorithm names are the ones both take."""

from __future__ import annotations

import pytest
import redis

from redis_ratelimit import bounds, script

from .conftest import Server


def prefix_of(form: str) -> list[object]:
    """The start of a CHECK call: the module's command, or the script through EVAL."""
    return ["RATELIMIT.CHECK"] if form == "module" else ["EVAL", script.eval_source(), 1]


def answers(client: redis.Redis, prefix: list[object], *args: object) -> bool:
    """True when the call is accepted, False when it is refused with ERR."""
    try:
        if prefix[0] == "EVAL":
            key, *rest = args
            client.execute_command(*prefix, key, "check", *rest)
        else:
            client.execute_command(*prefix, *args)
    except redis.ResponseError:
        return False
    return True


@pytest.mark.parametrize("form", ["module", "script"])
def test_each_bound_is_the_last_value_accepted(server: Server, form: str) -> None:
    client = server.client()
    prefix = prefix_of(form)
    top, window = bounds.MAX_LIMIT, bounds.MAX_WINDOW_MS
    cases = [
        ("limit", ("k1", top, 60), ("k1", top + 1, 60)),
        ("window", ("k2", 10, window, "MS"), ("k2", 10, window + 1, "MS")),
        ("cost", ("k3", 10, 60, "COST", top), ("k3", 10, 60, "COST", top + 1)),
        (
            "burst",
            ("k4", 10, 60, "ALGORITHM", "GCRA", "BURST", top),
            ("k4", 10, 60, "ALGORITHM", "GCRA", "BURST", top + 1),
        ),
        (
            "log limit",
            ("k5", bounds.MAX_LOG_LIMIT, 60, "ALGORITHM", "LOG"),
            ("k5", bounds.MAX_LOG_LIMIT + 1, 60, "ALGORITHM", "LOG"),
        ),
    ]
    for what, at_bound, past_bound in cases:
        assert answers(client, prefix, *at_bound), f"{form} refused the {what} bound"
        assert not answers(client, prefix, *past_bound), f"{form} accepted past the {what} bound"


def test_mcheck_takes_max_limits(server: Server) -> None:
    client = server.client()

    def mcheck(n: int) -> bool:
        triples = [x for i in range(n) for x in (f"{{t}}:{i}", 10, 60)]
        try:
            client.execute_command("RATELIMIT.MCHECK", n, *triples)
        except redis.ResponseError:
            return False
        return True

    assert mcheck(bounds.MAX_LIMITS)
    assert not mcheck(bounds.MAX_LIMITS + 1)


@pytest.mark.parametrize("form", ["module", "script"])
def test_the_algorithm_names_are_the_ones_taken(server: Server, form: str) -> None:
    client = server.client()
    prefix = prefix_of(form)
    for i, name in enumerate(bounds.ALGORITHMS):
        assert answers(client, prefix, f"a{i}", 10, 60, "ALGORITHM", name), name
    assert not answers(client, prefix, "a", 10, 60, "ALGORITHM", "leaky")
    with pytest.raises(ValueError, match="unknown algorithm 'leaky'"):
        bounds.algorithm_name("leaky")

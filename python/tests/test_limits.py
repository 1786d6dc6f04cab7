"""Limit strings as Flask-Limiter writes them, and the errors for bad ones."""

from __future__ import annotations

import pytest

from redis_ratelimit import Limit, parse_limit, parse_limits


@pytest.mark.parametrize(
    "text,amount,window_s",
    [
        ("10/minute", 10, 60),
        ("10 per minute", 10, 60),
        ("100/hour", 100, 3600),
        ("5 per 30 seconds", 5, 30),
        ("5/30 seconds", 5, 30),
        ("1/second", 1, 1),
        ("2 PER 2 Minutes", 2, 120),
        ("1000/day", 1000, 86_400),
        ("3/month", 3, 30 * 86_400),
        ("1/year", 1, 360 * 86_400),
        ("50 per 250 milliseconds", 50, 0.25),
        ("  7 / minute ", 7, 60),
    ],
)
def test_one_limit(text: str, amount: int, window_s: float) -> None:
    limit = parse_limit(text)
    assert limit == Limit(amount, window_s)
    assert limit.window_ms == round(window_s * 1000)


def test_several_limits() -> None:
    assert parse_limits("5/second;1000/day") == (Limit(5, 1), Limit(1000, 86_400))
    assert parse_limits("5/second, 1000/day") == (Limit(5, 1), Limit(1000, 86_400))
    # Flask-Limiter's own separator for several limits in one string.
    assert parse_limits("10/minute|100/hour") == (Limit(10, 60), Limit(100, 3600))
    assert parse_limits("1/second | 2/minute; 3/hour") == (
        Limit(1, 1),
        Limit(2, 60),
        Limit(3, 3600),
    )
    assert parse_limits(["5/second", Limit(3, 10)]) == (Limit(5, 1), Limit(3, 10))
    assert parse_limits(Limit(1, 1)) == (Limit(1, 1),)


@pytest.mark.parametrize(
    "text,names",
    [
        ("10/fortnight", "unknown unit 'fortnight'"),
        ("ten/minute", "expected '<amount>/<unit>'"),
        ("10 minute", "expected '<amount>/<unit>'"),
        ("10/0 seconds", "the window must not be 0"),
        ("0/minute", "the amount must be from 1"),
        ("10/11 years", "longer than 10 years"),
        ("", "no limit in it"),
        ("5/second;;x", "invalid rate limit 'x'"),
    ],
)
def test_bad_strings_name_the_wrong_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace("(", r"\(")) as err:
        parse_limits(text)
    assert names in str(err.value)


def test_limit_bounds() -> None:
    with pytest.raises(ValueError):
        Limit(0, 60)
    with pytest.raises(ValueError):
        Limit(1, 0)
    with pytest.raises(TypeError):
        Limit(1.5, 60)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Limit(True, 60)


def test_str_round_trips() -> None:
    for text in ["10/minute", "5/30 seconds", "3/2 hours", "1000/day", "50/250 milliseconds"]:
        limit = parse_limit(text)
        assert parse_limit(str(limit)) == limit, str(limit)

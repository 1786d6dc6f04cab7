"""Eleven requests against a limit of 10 per 60 seconds, with redis-py's defaults.

redis-py 8 speaks RESP3 unless told otherwise and redis-py 5 speaks RESP2; the
module replies with the same five integers in both, so the unpacking below works
with either. Run it against a redis-server that has the module loaded:

    pip install redis
    REDIS_URL=redis://127.0.0.1:6379 python check.py [key]
"""

import os
import sys

import redis


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    key = sys.argv[1] if len(sys.argv) > 1 else "user:42"
    print(f"redis-py {redis.__version__}, RESP{r.client_info()['resp']}")
    for call in range(1, 12):
        allowed, limit, remaining, retry_after_ms, reset_after_ms = r.execute_command(
            "RATELIMIT.CHECK", key, 10, 60
        )
        verdict = "allowed" if allowed else "denied"
        print(
            f"{call}: {verdict} limit={limit} remaining={remaining} "
            f"retry_after_ms={retry_after_ms} reset_after_ms={reset_after_ms}"
        )


if __name__ == "__main__":
    main()

"""A real redis-server with the module loaded, for the examples' tests, from the
package's own helper (``redis_ratelimit.testing``).

REDIS_SERVER and RATELIMIT_MODULE name the server binary and the module (`make test`
sets both; the server defaults to redis-server on the PATH, the module to the one
inside the installed package).
"""

import os
from collections.abc import Iterator

import pytest

from redis_ratelimit.testing import LocalServer


@pytest.fixture
def redis_url() -> Iterator[str]:
    module = os.environ.get("RATELIMIT_MODULE") or True
    with LocalServer(module=module) as server:
        yield server.url

#!/usr/bin/env python3
"""limits' own storage and strategy tests against this package's ``ratelimit+`` storages.

Fetches the sdist of the installed ``limits`` from the package index (cached under
target/), takes its ``tests/``, and points the lists its tests are parametrized over
(``tests/utils.py``: ``ALL_STORAGES``, ``ALL_STORAGES_ASYNC``; ``test_storage.py``:
the concrete storages) at two real servers: one with the module, one without (the
function library). limits' own conftest starts its backends in Docker; it is replaced
by one that starts these two servers. Everything else runs as limits ships it,
warnings as errors included.

Not run here, with the reason:
  - the entries for limits' other backends (memory, memcached, MongoDB, its own Redis,
    cluster, sentinel and Valkey storages, TLS and auth variants): they test those
    backends, not this storage, and need their Docker services;
  - tests/benchmarks (speed; make bench measures it), tests/integration (Flask-style
    apps on limits' backends), the parser and granularity tests (no storage);
  - two tests that expect what this storage refuses by design (DESELECTED):
    test_moving_window_huge_cost (a moving window of 1,000,000: the exact log keeps one
    entry per request and takes at most 4096, refused with a ConfigurationError that
    names the bound), and test_sliding_window_counter_previous_window (it expects a
    hit freed the moment the window shifts, as limits' script rounds the previous
    window's share down; this storage's sliding window rounds it up, so that the
    weighted count never passes the limit, and frees that hit a fraction of a window
    later).

Usage: scripts/limits_suite.py  (run by the package's Python, with pytest installed)
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "target" / "limits-suite"
DESELECTED = ["test_moving_window_huge_cost", "test_sliding_window_counter_previous_window"]
SUITE = [
    "tests/test_strategy.py",
    "tests/test_storage.py",
    "tests/aio/test_strategy.py",
    "tests/aio/test_storage.py",
]

STORAGES = '''{
    "ratelimit-module": pytest.param(
        f"ratelimit+redis://127.0.0.1:{MODULE_PORT}", {}, lf("ratelimit_module"),
        id="ratelimit-module",
    ),
    "ratelimit-functions": pytest.param(
        f"ratelimit+redis://127.0.0.1:{BARE_PORT}", {}, lf("ratelimit_bare"),
        id="ratelimit-functions",
    ),
}
'''

CONCRETE = '''[
        pytest.param(
            f"{PREFIX}ratelimit+redis://127.0.0.1:{MODULE_PORT}", {}, {CLASS},
            lf("ratelimit_module"), id="ratelimit-module",
        ),
        pytest.param(
            f"{PREFIX}ratelimit+redis://127.0.0.1:{BARE_PORT}", {}, {CLASS},
            lf("ratelimit_bare"), id="ratelimit-functions",
        ),
    ]'''

CONFTEST = '''"""Replaces limits' conftest (Docker services): two servers of this package's own,
one with the module and one without, for the suite's whole session."""

import os

import pytest
import redis

import redis_ratelimit.limits_storage  # noqa: F401  (registers the ratelimit+ schemes)
from redis_ratelimit.testing import LocalServer

_module = LocalServer()
_bare = LocalServer(module=False)
os.environ["RATELIMIT_SUITE_MODULE_PORT"] = str(_module.port)
os.environ["RATELIMIT_SUITE_BARE_PORT"] = str(_bare.port)


def pytest_sessionfinish(session, exitstatus):
    _module.close()
    _bare.close()


def _flushed(server):
    client = redis.Redis(port=server.port)
    client.flushall()
    client.close()
    return server


@pytest.fixture
def ratelimit_module():
    return _flushed(_module)


@pytest.fixture
def ratelimit_bare():
    return _flushed(_bare)
'''

PORTS = '''import os as _os

MODULE_PORT = _os.environ["RATELIMIT_SUITE_MODULE_PORT"]
BARE_PORT = _os.environ["RATELIMIT_SUITE_BARE_PORT"]
'''


def sdist(version: str) -> Path:
    """limits' sdist of ``version``, from the package index once, then from the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"limits-{version}.tar.gz"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", f"limits=={version}", "-d", str(CACHE)],
            check=True,
        )
        found = sorted(CACHE.glob(f"limits-{version}.tar.gz"))
    if not found:
        raise SystemExit(f"no sdist of limits {version} in {CACHE}")
    return found[0]


def replace_block(text: str, start: str, end: str, new: str, what: str) -> str:
    """``text`` with the block from ``start`` to the next ``end`` (both included) made
    ``new``; it must be there, once."""
    if text.count(start) != 1:
        raise SystemExit(f"limits' tests changed shape: {what} ({start!r}) not found once")
    i = text.index(start)
    j = text.index(end, i) + len(end)
    return text[:i] + new + text[j:]


def patch(tests: Path) -> None:
    utils = tests / "utils.py"
    text = utils.read_text()
    text = replace_block(text, "ALL_STORAGES = {", "\n}\n", "ALL_STORAGES = " + STORAGES,
                         "ALL_STORAGES")
    text = replace_block(text, "ALL_STORAGES_ASYNC = {", "\n}\n",
                         "ALL_STORAGES_ASYNC = " + STORAGES.replace('f"ratelimit+',
                                                                    'f"async+ratelimit+'),
                         "ALL_STORAGES_ASYNC")
    text = text.replace("from limits.limits import RateLimitItem",
                        "from limits.limits import RateLimitItem\n" + PORTS, 1)
    utils.write_text(text)
    for path, prefix, cls in [
        (tests / "test_storage.py", "", "RatelimitStorage"),
        (tests / "aio" / "test_storage.py", "async+", "AsyncRatelimitStorage"),
    ]:
        text = path.read_text()
        start = '"uri, args, expected_instance, fixture",\n    ['
        new = '"uri, args, expected_instance, fixture",\n    ' + CONCRETE.replace(
            "{PREFIX}", prefix).replace("{CLASS}", cls)
        text = replace_block(text, start, "\n    ],", new, f"{path.name}'s storages")
        text = (
            f"from redis_ratelimit.limits_storage import {cls}\n"
            "from tests.utils import BARE_PORT, MODULE_PORT\n" + text
        )
        path.write_text(text.replace("from __future__ import annotations\n", "", 1)
                        if text.count("from __future__") else text)
    (tests / "conftest.py").write_text(CONFTEST)


def main() -> int:
    version = importlib.metadata.version("limits")
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(sdist(version)) as archive:
            archive.extractall(work, filter="data")
        root = Path(work) / f"limits-{version}"
        patch(root / "tests")
        # limits' pytest.ini, less its coverage and Docker options.
        left_out = __doc__.split("Not run here, with the reason:")[1].split("Usage:")[0]
        print(f"== limits {version}'s storage and strategy tests on the ratelimit+ storages;"
              f" not run here, and why:{left_out.rstrip()}", flush=True)
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-o", "addopts=-m 'not benchmark'",
             "-o", "asyncio_default_fixture_loop_scope=function",
             "-k", " and ".join(f"not {name}" for name in DESELECTED), *SUITE],
            cwd=root,
        ).returncode


if __name__ == "__main__":
    sys.exit(main())

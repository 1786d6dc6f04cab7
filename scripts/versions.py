#!/usr/bin/env python3
"""The release's one version, read from every place that states it.

`scripts/versions.py` prints the version when every place agrees, and otherwise lists
each place with what it says and exits 1: `make dist` refuses to build, and `make lint`
fails. The module's `MODULE LIST` version is not here: it is computed from the crate's
version at compile time (`src/version.rs`), and an integration test reads it back from
a running server.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (what, file, pattern): the first group of the pattern's first match is the version.
PLACES = [
    ("module crate", "Cargo.toml", r'(?m)^\[package\][^\[]*?^version = "([^"]+)"'),
    (
        "layer crate",
        "crates/axum-redis-ratelimit/Cargo.toml",
        r'(?m)^\[package\][^\[]*?^version = "([^"]+)"',
    ),
    (
        "layer crate's dependency on the module crate",
        "crates/axum-redis-ratelimit/Cargo.toml",
        r'(?m)^redis-ratelimit = \{[^}]*version = "=?([^"]+)"',
    ),
    ("Python package", "python/pyproject.toml", r'(?m)^version = "([^"]+)"'),
    (
        "Python __version__",
        "python/src/redis_ratelimit/__init__.py",
        r'(?m)^__version__ = "([^"]+)"',
    ),
    ("Lua library", "lua/ratelimit.lua", r"(?m)^local VERSION = '([^']+)'"),
    ("CHANGELOG's newest release", "CHANGELOG.md", r"(?m)^## \[([^\]]+)\]"),
]


def read(root: Path) -> list[tuple[str, str, str | None]]:
    """(what, file, version or None when the file does not state one) per place."""
    found = []
    for what, file, pattern in PLACES:
        path = root / file
        text = path.read_text() if path.is_file() else ""
        match = re.search(pattern, text)
        found.append((what, file, match.group(1) if match else None))
    return found


def check(root: Path) -> tuple[str | None, list[str]]:
    """The one version, or None and a line per place when they disagree."""
    found = read(root)
    versions = {version for _, _, version in found}
    if len(versions) == 1 and None not in versions:
        return versions.pop(), []
    return None, [f"  {what} ({file}): {version or 'no version found'}" for what, file, version in found]


def main() -> int:
    version, problems = check(ROOT)
    if version is None:
        print("the versions disagree; make them one:", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        return 1
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        print(f"the version {version} is not major.minor.patch", file=sys.stderr)
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())

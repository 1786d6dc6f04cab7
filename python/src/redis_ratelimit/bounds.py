"""The module's bounds and algorithm names, in one place for the whole package.

They are the module's own (``src/args.rs`` in the repository); the package's tests ask
the module itself and fail when the two disagree.
"""

from __future__ import annotations

#: The largest ``limit``, ``BURST`` and ``COST``.
MAX_LIMIT = 1_000_000_000_000
#: The longest window: ten Julian years, in milliseconds.
MAX_WINDOW_MS = 315_576_000_000
#: The largest ``limit`` of the LOG algorithm, whose state keeps one entry per unit.
MAX_LOG_LIMIT = 4096
#: The most limits one ``check_all`` takes (``RATELIMIT.MCHECK``'s ``numlimits``).
MAX_LIMITS = 64
#: The longest subject (the ``key`` a call names), in bytes (UTF-8 for a ``str``), and
#: the longest key prefix: with the limit, a key is at most about 600 bytes. Not the
#: module's bounds (Redis takes any key) but the key rule's, the same in every client.
MAX_SUBJECT_BYTES = 512
MAX_PREFIX_BYTES = 64
#: The algorithms, as the package names them (the commands take any case).
ALGORITHMS = ("fixed", "sliding", "gcra", "log")


def algorithm_name(algorithm: str) -> str:
    """``algorithm`` checked and in lower case; ``ValueError`` names the choices."""
    name = algorithm.lower()
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r} (use {', '.join(ALGORITHMS)})")
    return name

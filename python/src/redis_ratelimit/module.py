"""Where the module that ships in this package is. (A local server that loads it:
``redis_ratelimit.testing``.)"""

from __future__ import annotations

from pathlib import Path

MODULE_FILE = "libredis_ratelimit.so"


def module_path() -> Path:
    """The module built into this package, for ``redis-server --loadmodule``.

    Raises ``FileNotFoundError`` when the package was installed without it (from a
    source tree whose build skipped the Rust part).
    """
    path = Path(__file__).resolve().parent / MODULE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: install a built wheel (`make dist` in the repository)"
        )
    return path

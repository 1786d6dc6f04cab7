"""redis-ratelimit for Python: the ratelimit module's commands from redis-py, and
rate limits for Flask (``redis_ratelimit.flask``) and FastAPI/Starlette
(``redis_ratelimit.fastapi``) apps.

The module itself ships inside this package: ``python -m redis_ratelimit module-path``
prints where, for ``redis-server --loadmodule``.
"""

from .client import AsyncRateLimiter, RateLimiter
from .decision import Decision, Decisions
from .limits import Limit, parse_limit, parse_limits
from .local import LocalLimiter
from .module import module_path
from .reservation import AsyncReservation, Reservation, ReservationClosed

__all__ = [
    "AsyncRateLimiter",
    "AsyncReservation",
    "Decision",
    "Decisions",
    "Limit",
    "LocalLimiter",
    "RateLimiter",
    "Reservation",
    "ReservationClosed",
    "module_path",
    "parse_limit",
    "parse_limits",
]
__version__ = "0.3.0"

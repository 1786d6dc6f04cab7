"""A slowapi app as its users write it; the two lines that move it onto this package
are marked. $STORAGE_URI and $STRATEGY are the test's."""

import os
import time

from fastapi import FastAPI, Request, Response
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

import redis_ratelimit.limits_storage  # noqa: F401  (1: registers ratelimit+ schemes)

limiter = Limiter(
    key_func=get_remote_address,
    storage_uri=os.environ["STORAGE_URI"],  # 2: "ratelimit+redis://..." (was "redis://...")
    strategy=os.environ["STRATEGY"],
)
app = FastAPI()
app.state.limiter = limiter
app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]


@app.middleware("http")
async def worker(request: Request, call_next):  # type: ignore[no-untyped-def]
    # Which process answered, on every response (429s too), for the test.
    response: Response = await call_next(request)
    response.headers["X-Worker"] = str(os.getpid())
    return response


@app.get("/")
@limiter.limit("10/minute")
async def index(request: Request) -> dict[str, bool]:
    # Blocks this worker's event loop on purpose: the test's concurrent requests
    # spread over the processes.
    time.sleep(0.05)
    return {"ok": True}

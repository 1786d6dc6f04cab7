"""A FastAPI API with two tiers by API key, limited in Redis by the ratelimit module,
and limited in-process when Redis cannot be reached.

    pip install "redis-ratelimit[fastapi]" uvicorn
    redis-server --loadmodule "$(python -m redis_ratelimit module-path)" &
    REDIS_URL=redis://127.0.0.1:6379 uvicorn app:app

Requests without a known key get 401; "free" keys 10 per minute; "pro" keys 100 per
minute and 5 per second, all or nothing.
"""

import hashlib
import os

from fastapi import Depends, FastAPI, HTTPException, Request

from redis_ratelimit.fastapi import Limiter

# In a real service, a database lookup; the limiter stores the tier's name, never the key.
API_KEYS = {"free-demo-key": "free", "pro-demo-key": "pro"}
TIER_LIMITS = {"free": "10/minute", "pro": "5/second;100/minute"}


def tier(request: Request) -> str:
    found = API_KEYS.get(request.headers.get("X-API-Key", ""))
    if found is None:
        raise HTTPException(status_code=401, detail="unknown API key")
    return found


def subject(request: Request) -> str:
    """Who a request counts against: the key, hashed so Redis never holds it."""
    key = request.headers["X-API-Key"].encode()
    return f"{tier(request)}:{hashlib.sha256(key).hexdigest()[:16]}"


limiter = Limiter(redis=os.environ.get("REDIS_URL"), on_failure="local")
app = FastAPI()
limiter.init_app(app)
per_tier = limiter.limit(lambda request: TIER_LIMITS[tier(request)], key_func=subject, name="api")


@app.get("/items", dependencies=[Depends(tier), Depends(per_tier)])
async def items(request: Request) -> dict[str, object]:
    return {"tier": tier(request), "items": ["a", "b"]}

"""An API in front of a language model, limited per API key to 60 requests and
100,000 tokens a minute, all or nothing, where a request's tokens are known only once
the model has answered: the gateway reserves an estimate (the prompt's tokens plus
the most the answer may use), then settles with what the answer used, giving back
the rest or charging what went over.

    REDIS_URL=redis://127.0.0.1:6379 uvicorn app:app

The model here is a stand-in with deterministic token counts, so that the example
runs without a network: its answer is ten tokens per word of the prompt, up to
``max_tokens`` (4,096 when the request sets none).
"""

from __future__ import annotations

import os
from typing import Optional

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from redis_ratelimit.fastapi import Limiter, Reservation

LIMITS = "60/minute;100000/minute"
#: What the gateway reserves for an answer when the request sets no max_tokens.
DEFAULT_ESTIMATE = 256
#: The most the stand-in model answers when the request sets no max_tokens.
MODEL_MAX_TOKENS = 4096


class Chat(BaseModel):
    prompt: str
    max_tokens: Optional[int] = None


def prompt_tokens(prompt: str) -> int:
    """A stand-in tokenizer: one token per word."""
    return len(prompt.split())


def model(prompt: str, max_tokens: Optional[int]) -> tuple[str, int]:
    """A stand-in model: ten tokens of answer per word of prompt, up to the limit."""
    tokens = min(10 * prompt_tokens(prompt), max_tokens or MODEL_MAX_TOKENS)
    return " ".join(["token"] * tokens), tokens


def api_key(request: Request) -> str:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() or "anonymous"


async def estimate(request: Request) -> tuple[int, int]:
    """One request, and the most tokens it may use."""
    body = Chat(**(await request.json()))
    return 1, prompt_tokens(body.prompt) + (body.max_tokens or DEFAULT_ESTIMATE)


def create_app(redis_url: str, limits: str = LIMITS, settle: bool = True) -> FastAPI:
    """The gateway; ``settle=False`` keeps every estimate as it was reserved (to
    compare)."""
    app = FastAPI()
    limiter = Limiter(app, redis=redis_url, key_func=api_key)
    reserve = limiter.reserve(limits, cost=estimate, name="llm")

    @app.post("/v1/chat")
    async def chat(body: Chat, reservation: Reservation = Depends(reserve)) -> dict[str, object]:  # noqa: B008
        text, completion = model(body.prompt, body.max_tokens)
        used = prompt_tokens(body.prompt) + completion
        if settle:
            await reservation.settle(1, used)
        return {"text": text, "usage": {"total_tokens": used}}

    return app


app = create_app(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))

"""The machine's limit for the load drill: a minimal FastAPI endpoint that reads one Redis hash.

Run as ``uvicorn drill.baseline:app`` beside the API, with the same Redis, so that the API's status reads
and listing are compared with the least work an HTTP service on this machine can do per request.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException
from redis import Redis

app = FastAPI()
redis = Redis.from_url(os.environ["REDIS_URL"])


@app.get("/healthz")
def healthz() -> dict[str, bool]:
    return {"ok": True}


@app.get("/record/{generation_id}")
def record(generation_id: str) -> dict[str, str]:
    raw = redis.hgetall(f"{os.environ.get('REGIONAL_NAMESPACE', 'regional')}:gen:{generation_id}")
    if not raw:
        raise HTTPException(404)
    return {key.decode(): value.decode() for key, value in raw.items()}

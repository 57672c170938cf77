"""The FastAPI application: routers, problem handlers, body-size limit, and long-lived clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from redis import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi, problems
from api.metrics import build_registry
from api.routers import generations, ops, plans
from api.service import GenerationService
from api.settings import ApiSettings, get_settings
from planner.settings import PlannerSettings
from planner.settings import get_settings as get_planner_settings
from worker.queues import reap_if_due, sweep_period_s
from worker.results import ResultStore

logger = logging.getLogger(__name__)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with a 413 problem (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = declared is not None and declared.isdigit() and int(declared) > self.limit
        chunks: list[bytes] = []
        size = 0
        while not too_large:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            too_large = size > self.limit
            if not message.get("more_body", False):
                break
        if too_large:
            response = problems.problem(413, "body_too_large", f"the request body is over {self.limit} bytes")
            await response(scope, receive, send)
            return
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _reaper(redis: Redis, settings: ApiSettings) -> None:
    """Find jobs of dead workers (retried or failed ``worker_lost``) even when no worker is alive."""
    while True:
        try:
            await run_in_threadpool(reap_if_due, redis, settings)
        except Exception:
            logger.exception("reaper failed")
        await asyncio.sleep(sweep_period_s(settings))


def create_app(
    settings: ApiSettings | None = None, planner_settings: PlannerSettings | None = None
) -> FastAPI:
    settings = settings or get_settings()
    planner_settings = planner_settings or get_planner_settings()
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set; `regional serve` starts an embedded Redis when it is unset")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        app.state.settings = settings
        app.state.planner_settings = planner_settings
        app.state.redis = redis
        app.state.service = GenerationService(redis, settings)
        app.state.results = ResultStore(settings.results_url)
        app.state.metrics = build_registry(app.state.service.store)
        reaper = asyncio.create_task(_reaper(redis, settings))
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            redis.close()

    app = FastAPI(
        title="Regional FLUX generation service",
        version="1",
        description="Layout-to-image with training-free regional prompting on FLUX.1. Errors are RFC 9457 "
        "problem documents with a machine-readable `code`.",
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app, settings)
    for module in (generations, plans, ops):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app

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
from redis.asyncio import Redis as AsyncRedis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi, problems
from api.auth import OwnerSecret
from api.metrics import build_registry
from api.quotas import RateLimiter, RateLimitHeaders
from api.routers import events, generations, ops, plans, studio, uploads, webhooks
from api.routers.events import OpenStreams
from api.service import GenerationService
from api.settings import ApiSettings, get_settings
from api.webhooks import WebhookDeliverer, WebhookSecrets, WebhookSettings
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
    settings: ApiSettings | None = None,
    planner_settings: PlannerSettings | None = None,
    webhook_settings: WebhookSettings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    planner_settings = planner_settings or get_planner_settings()
    webhook_settings = webhook_settings or WebhookSettings()
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set; `regional serve` starts an embedded Redis when it is unset")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        app.state.settings = settings
        app.state.planner_settings = planner_settings
        app.state.redis = redis
        app.state.service = service = GenerationService(redis, settings, webhook_settings)
        app.state.results = ResultStore(settings.results_url)
        app.state.metrics = build_registry(service.store)
        # events streams block on XREAD: an asyncio client, so a waiting stream holds no thread
        app.state.events_redis = events_redis = AsyncRedis.from_url(settings.redis_url)
        app.state.event_streams = OpenStreams()
        app.state.webhook_secrets = WebhookSecrets(redis, service.keys, webhook_settings.secret_grace_s)
        # the owner secret is loaded once; a rate-limit check is one script call, on the asyncio client
        app.state.owner_secret = OwnerSecret(settings, events_redis)
        app.state.rate_limiter = RateLimiter(events_redis, service.keys)
        await app.state.owner_secret.preload()
        deliverer = WebhookDeliverer(service, webhook_settings, settings.public_url)
        background = [asyncio.create_task(_reaper(redis, settings)), asyncio.create_task(deliverer.run())]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await events_redis.aclose()
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
    for module in (generations, events, uploads, webhooks, plans, ops, studio):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RateLimitHeaders)
    return app

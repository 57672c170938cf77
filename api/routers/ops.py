"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import is_authenticated
from api.deps import RedisDep, ServiceDep, SettingsDep
from api.exceptions import ApiError
from worker import queues
from worker.keys import GENERATE, STAGES

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Redis is reachable and a generation worker has its model loaded")
def readyz(
    redis: RedisDep,
    service: ServiceDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict:
    """Needs no key. `workers_ready` counts live workers per queue; with a valid key (or with auth off) the
    reply also lists them in `workers` (names, hosts, pids, models), which is not for anonymous callers."""
    try:
        redis.ping()
    except Exception as exc:
        raise ApiError(503, "redis_unavailable", f"Redis is not reachable: {type(exc).__name__}") from exc
    workers = queues.live_workers(redis, service.keys)
    ready = {stage: sum(stage in w.get("queues", []) for w in workers) for stage in STAGES}
    details = {"workers": workers} if is_authenticated(authorization, settings) else {}
    if not ready[GENERATE]:
        raise ApiError(
            503,
            "no_worker",
            "no live generation worker with its model loaded",
            workers_ready=ready,
            **details,
        )
    return {"status": "ready", "workers_ready": ready, **details}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)

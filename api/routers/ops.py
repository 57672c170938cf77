"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RedisDep, ServiceDep
from api.exceptions import ApiError
from worker import queues
from worker.keys import GENERATE

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Redis is reachable and a generation worker has its model loaded")
def readyz(redis: RedisDep, service: ServiceDep) -> dict:
    try:
        redis.ping()
    except Exception as exc:
        raise ApiError(503, "redis_unavailable", f"Redis is not reachable: {type(exc).__name__}") from exc
    workers = queues.live_workers(redis, service.keys)
    if not any(GENERATE in w.get("queues", []) for w in workers):
        raise ApiError(503, "no_worker", "no live generation worker with its model loaded", workers=workers)
    return {"status": "ready", "workers": workers}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)

"""Mapping exceptions to RFC 9457 problem documents; the only place where errors become HTTP."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.exceptions import ApiError
from api.quotas import RateLimited
from worker.exceptions import IdempotencyConflict, InvalidTransition, TooManyActiveJobs

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 413: "body_too_large",
                415: "unsupported_media_type", 429: "too_many_requests"}  # fmt: skip
ACTIVE_JOBS_RETRY_AFTER_S = 5
"""Retry-After of a submit refused for the key's concurrency limit: no one knows when a job will end, and a
few seconds is short next to a generation."""


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": f"about:blank#{code}", "title": HTTPStatus(status).phrase, "status": status, "code": code,
            "detail": detail, **extra}  # fmt: skip
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "the request body is not valid JSON")
    items = [{"field": _field(tuple(e["loc"])), "message": e["msg"], "type": e["type"]} for e in errors]
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in items)
    return problem(422, "validation_error", detail, errors=items)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {**exc.headers, **({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {})}
    return problem(exc.status, exc.code, exc.detail, headers=headers, **exc.extra)


async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
    # the RateLimit headers are added by api.quotas.RateLimitHeaders, as on every rate-limited response
    return problem(429, exc.code, exc.detail, headers={"Retry-After": str(exc.retry_after_s)})


async def _too_many_active(request: Request, exc: TooManyActiveJobs) -> JSONResponse:
    headers = {"Retry-After": str(ACTIVE_JOBS_RETRY_AFTER_S)}
    return problem(429, exc.code, str(exc), headers=headers, active=exc.active, limit=exc.limit)


async def _idempotency(request: Request, exc: IdempotencyConflict) -> JSONResponse:
    return problem(422, exc.code, str(exc))


async def _transition(request: Request, exc: InvalidTransition) -> JSONResponse:
    return problem(409, exc.code, str(exc), job_status=exc.status)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = STATUS_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem(
        503, "redis_unavailable", "the job store is not reachable; try again", {"Retry-After": "1"}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "an unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RateLimited, _rate_limited)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyActiveJobs, _too_many_active)  # type: ignore[arg-type]
    app.add_exception_handler(IdempotencyConflict, _idempotency)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidTransition, _transition)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(Exception, _unexpected)

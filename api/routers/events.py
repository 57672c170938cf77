"""/v1/generations/{id}/events: a job's status changes and progress as server-sent events.

The events come from the job's Redis stream (``Keys.events``), written in the same atomic step as each
status change (``worker/store.py``), so any API replica serves any job, and a client that reconnects with
``Last-Event-ID`` gets exactly the events after that one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis as AsyncRedis
from starlette.background import BackgroundTask

from api.deps import OwnerDep, ServiceDep, SettingsDep, current_owner, public_base_url
from api.exceptions import ApiError
from api.service import GenerationService
from worker.exceptions import REDIS_UNREACHABLE
from worker.store import TERMINAL

router = APIRouter(prefix="/v1/generations", tags=["generations"], dependencies=[Depends(current_owner)])

RECONNECT_MS = 2000
"""The reconnection delay a client's EventSource is told to use (SSE ``retry:``)."""

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

EVENT_STREAM = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "`status` events (`{status, stage, attempts}`), `progress` events (`{stage, step, "
        "total_steps, fraction}`), then one `done` event carrying the finished job as `GET` returns it; "
        "`: heartbeat` comments in between. Each event has an `id` to resume from with `Last-Event-ID`.",
    }
}


class OpenStreams:
    """The events streams this process holds open, in all and per owner: each one holds a Redis connection
    blocked on XREAD, so their number is bounded like any other resource."""

    def __init__(self) -> None:
        self.total = 0
        self.by_owner: Counter[str] = Counter()

    def open(self, owner: str, most: int, most_per_owner: int) -> Callable[[], None]:
        """Count one more stream, or refuse it: 503 when the process is full, 429 when the key is. Returns
        its release, which counts only its first call (it is called wherever the stream may end)."""
        if self.total >= most:
            raise ApiError(503, "too_many_streams", "this server holds as many events streams as it may; "
                           "poll the job or try again", headers={"Retry-After": "5"})  # fmt: skip
        if self.by_owner[owner] >= most_per_owner:
            raise ApiError(429, "too_many_streams", f"this API key has {most_per_owner} events streams open "
                           "here already; close one or poll", headers={"Retry-After": "5"})  # fmt: skip
        self.total += 1
        self.by_owner[owner] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.total -= 1
                self.by_owner[owner] -= 1
                if not self.by_owner[owner]:
                    del self.by_owner[owner]

        return release


def _frame(event: str, event_id: str | None, data: str) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


@router.get(
    "/{generation_id}/events",
    response_class=StreamingResponse,
    responses=EVENT_STREAM,
    summary="Follow a job: status and progress as server-sent events",
)
async def generation_events(
    generation_id: str,
    request: Request,
    owner: OwnerDep,
    service: ServiceDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=41)] = None,
) -> StreamingResponse:
    """Events from the job's start (or after `Last-Event-ID`) until it ends; the stream closes after `done`.
    A stream cut by the network or a restart is resumed by reconnecting with the last `id` seen."""
    if last_event_id is not None and not _STREAM_ID.match(last_event_id):
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID must be an event id this API sent")
    await run_in_threadpool(service.get, owner, generation_id)  # 404 for unknown ids and other owners' jobs
    streams: OpenStreams = request.app.state.event_streams
    release = streams.open(owner, settings.max_event_streams, settings.max_event_streams_per_key)
    frames = _event_frames(
        request.app.state.events_redis,
        service,
        generation_id,
        after=last_event_id or "0-0",
        heartbeat_s=settings.sse_heartbeat_s,
        base_url=public_base_url(request),
        release=release,
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy buffering of the stream
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers=headers,
        background=BackgroundTask(release),  # a stream that never started has no `finally` to run
    )


async def _event_frames(
    redis: AsyncRedis,
    service: GenerationService,
    generation_id: str,
    after: str,
    heartbeat_s: float,
    base_url: str,
    release: Callable[[], None],
) -> AsyncIterator[str]:
    key = service.keys.events(generation_id)
    yield f"retry: {RECONNECT_MS}\n\n"
    try:
        while True:
            reply = await redis.xread({key: after}, count=100, block=int(heartbeat_s * 1000))
            if not reply:
                done = await _done_without_stream(redis, service, generation_id, key, base_url)
                if done is not None:
                    yield done
                    return
                yield ": heartbeat\n\n"
                continue
            for raw_id, fields in reply[0][1]:
                after = raw_id.decode()
                event, data = fields[b"event"].decode(), fields[b"data"].decode()
                if event == "status" and json.loads(data)["status"] in TERMINAL:
                    record = await run_in_threadpool(service.store.get, generation_id)
                    if record is not None:
                        view = await run_in_threadpool(service.view, record, base_url)
                        yield _frame("done", after, view.model_dump_json())
                    return
                yield _frame(event, after, data)
    except REDIS_UNREACHABLE:
        return  # the client reconnects with its Last-Event-ID once Redis is back
    finally:
        release()


async def _done_without_stream(
    redis: AsyncRedis, service: GenerationService, generation_id: str, key: str, base_url: str
) -> str | None:
    """After a quiet spell: the ``done`` frame of a finished job whose stream is gone (expired, or written
    before streams existed), an empty frame when the job itself is gone, None while it is still live."""
    if await redis.exists(key):
        return None
    record = await run_in_threadpool(service.store.get, generation_id)
    if record is None:
        return ""
    if record["status"] not in TERMINAL:
        return None
    view = await run_in_threadpool(service.view, record, base_url)
    return _frame("done", None, view.model_dump_json())

"""The client's logic, written once for the sync and the async client.

Every operation is a generator that does no I/O itself. It yields *effects* (an HTTP call to make, the next
line of an open stream, a stream to close, a pause) and is sent back their results; a connection error is
thrown in where the effect was yielded. It may also yield *items* for the caller (events, listed jobs), and
it returns its result. ``client.sync`` and ``client.aio`` perform the effects with httpx's sync and async
clients, so retries, stream resumption and the polling fallback exist in one copy.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from api.schemas import GenerationCreate, GenerationList, GenerationOut, PlanCreate, PlanOut, Status
from client.exceptions import (
    ClientError,
    ConnectionFailedError,
    EventsUnavailableError,
    ProblemError,
    WaitTimeoutError,
    raise_for_problem,
)
from client.retry import RetryPolicy
from client.sse import Message, SSEDecoder
from regional.layout import Layout

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "regional-client/0.1"
GENERATIONS = "/v1/generations"

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
"""Statuses a job never leaves (the service's ``worker.store.TERMINAL``; not imported: it needs Redis)."""

MAX_PAGE_SIZE = 100
"""The most jobs the listing returns per page (its ``limit`` query parameter)."""

PLAN_TIMEOUT_S = 130.0
"""Read timeout of ``POST /v1/plans``: the service's planning budget (120 s by default) plus its guard."""

STREAM_READ_TIMEOUT_S = 60.0
"""Longest silence on an event stream before it counts as broken: four missed heartbeats (every ~15 s)."""

RECONNECT_S = 2.0
"""Wait before resuming a broken stream until the server sends its own (``retry:``)."""

POLL_FIRST_S, POLL_MAX_S = 0.5, 5.0
"""Polling interval without events: from the first, growing by half each time up to the most."""

EVENTS_MISSING = frozenset({404, 405, 406, 501})
"""Answers of a server (or proxy) without the events endpoint; ``wait`` then polls. A 404 may also mean the
job does not exist: the first poll then raises the same ``NotFoundError``."""

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
Operation = Generator[Any, Any, R]
"""An operation: yields effects (``Effect``) and items, is sent the effects' results, returns ``R``."""
JobRef = str | GenerationOut
"""A job named by its id, or the job itself."""


class Effect:
    """Something an operation asks its transport to do."""


@dataclass(frozen=True)
class Call(Effect):
    """One HTTP request. Its result is the response: read whole, or with ``stream`` only its head (the body
    of an error answer is read all the same, so that its problem can be raised)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False
    timeout: httpx.Timeout | None = None


@dataclass(frozen=True)
class NextLine(Effect):
    """The next line of a streamed response, without its line ending; None at the end of the stream."""

    response: httpx.Response


@dataclass(frozen=True)
class Close(Effect):
    """Close a streamed response (the transports also close any an operation left open)."""

    response: httpx.Response


@dataclass(frozen=True)
class Sleep(Effect):
    seconds: float


@dataclass(frozen=True)
class Result:
    """What an operation returned: the last thing a transport's step loop yields."""

    value: Any


@dataclass(frozen=True)
class Event:
    """One event of a job: ``status`` (``{status, stage, attempts}``), ``progress`` (``{stage, step,
    total_steps, fraction}``) or ``done``, whose ``job`` is the finished job. ``id`` is what resumes the
    stream after this event; None for the events ``wait`` makes up from polls when it has no stream."""

    event: str
    data: Any
    id: str | None = None
    job: GenerationOut | None = None


@dataclass(frozen=True)
class Deadline:
    """When ``wait`` gives up: ``timeout`` seconds after it started (``at``, on ``time.monotonic()``)."""

    timeout: float
    at: float

    @classmethod
    def after(cls, timeout: float) -> Deadline:
        return cls(timeout, time.monotonic() + timeout)

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, generation_id: str) -> None:
        if self.left() <= 0:
            raise WaitTimeoutError(generation_id, self.timeout)


class ClientCore:
    """Configuration and operations shared by ``RegionalClient`` and ``AsyncRegionalClient``."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        max_retry_wait: float,
    ) -> None:
        self.base_url = (base_url or os.environ.get("REGIONAL_URL") or DEFAULT_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} is not an http(s) URL, e.g. {DEFAULT_URL}")
        self.api_key = api_key if api_key is not None else os.environ.get("REGIONAL_API_KEY")
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries=max_retries, max_wait_s=max_retry_wait)

    def request(self, call: Call) -> dict[str, Any]:
        """The keyword arguments of httpx's ``build_request`` for ``call``."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(call.headers)
        return {
            "method": call.method,
            "url": self.base_url + call.path,
            "params": call.params,
            "json": call.json,
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout) if call.timeout is None else call.timeout,
        }

    # -- sending -----------------------------------------------------------------------------------------
    def send(self, call: Call) -> Operation[httpx.Response]:
        """``call``'s answer, retried on connection errors and on 429/503 as ``RetryPolicy`` says.

        Every call this client makes may be repeated: reads; submit, whose every try carries the same
        ``Idempotency-Key``; cancel and plan, which end the same when repeated. (Rotating the webhook
        secret twice leaves the secret returned current, which is all a caller needs.)
        """
        attempt = 0
        while True:
            try:
                response = yield call
            except httpx.TransportError as exc:
                delay = self.retry.delay_after_error(attempt)
                if delay is None:
                    raise ConnectionFailedError(
                        f"{call.method} {self.base_url}{call.path}: {type(exc).__name__}: {exc} "
                        f"(tried {attempt + 1} time(s))"
                    ) from exc
            else:
                delay = self.retry.delay_after(response, attempt)
                if delay is None:
                    return response
                if call.stream:
                    yield Close(response)
            attempt += 1
            yield Sleep(delay)

    def fetch(self, call: Call, model: type[M]) -> Operation[M]:
        """``call``'s answer parsed as ``model``, or its problem raised."""
        response = yield from self.send(call)
        return parse(model, response)

    def fetch_bytes(self, call: Call) -> Operation[bytes]:
        response = yield from self.send(call)
        raise_for_problem(response)
        return response.content

    # -- jobs --------------------------------------------------------------------------------------------
    def submit(self, options: Mapping[str, Any], idempotency_key: str | None) -> Operation[GenerationOut]:
        body = request_body(GenerationCreate, options)
        key = idempotency_key or str(uuid.uuid4())
        # One Call for every try, so each retry sends the same body with the same key: a try whose answer
        # was lost has created the job, and the retry gets that job back instead of a second one.
        call = Call("POST", GENERATIONS, json=body, headers={"Idempotency-Key": key})
        return (yield from self.fetch(call, GenerationOut))

    def get(self, job: JobRef) -> Operation[GenerationOut]:
        return (yield from self.fetch(Call("GET", job_path(job)), GenerationOut))

    def listing(self, status: Status | None, limit: int | None, page_size: int) -> Operation[None]:
        """Yields the jobs, newest first, following ``next_cursor`` page after page."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit={limit}; give a positive number, or None for all jobs")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size={page_size}; give 1 to {MAX_PAGE_SIZE}")
        cursor, left = None, limit
        while left is None or left > 0:
            params: dict[str, Any] = {"limit": page_size if left is None else min(page_size, left)}
            if status is not None:
                params["status"] = status
            if cursor is not None:
                params["cursor"] = cursor
            page = yield from self.fetch(Call("GET", GENERATIONS, params=params), GenerationList)
            yield from page.data
            if left is not None:
                left -= len(page.data)
            if page.next_cursor is None or not page.data:
                return
            cursor = page.next_cursor

    def cancel(self, job: JobRef) -> Operation[GenerationOut]:
        return (yield from self.fetch(Call("POST", job_path(job, "/cancel")), GenerationOut))

    def images(self, job: JobRef) -> Operation[list[bytes]]:
        current = yield from self.get(job)
        if current.status != "succeeded":
            # The service's own answer (409 not_ready, naming the status) says it best.
            raise_for_problem((yield from self.send(Call("GET", job_path(current, "/images/0")))))
            current = yield from self.get(current)  # it succeeded in between
        pngs = []
        for output in current.outputs:
            pngs.append(
                (yield from self.fetch_bytes(Call("GET", job_path(current, f"/images/{output.index}"))))
            )
        return pngs

    def layout_png(self, job: JobRef) -> Operation[bytes]:
        return (yield from self.fetch_bytes(Call("GET", job_path(job, "/layout.png"))))

    def plan(
        self, prompt: str, width: int | None, height: int | None, planner: str | None
    ) -> Operation[Layout]:
        body = request_body(
            PlanCreate, {"prompt": prompt, "width": width, "height": height, "planner": planner}
        )
        call = Call(
            "POST",
            "/v1/plans",
            json=body,
            timeout=httpx.Timeout(self.timeout, read=max(self.timeout, PLAN_TIMEOUT_S)),
        )
        return (yield from self.fetch(call, PlanOut)).layout

    def webhook_secret(self, rotate: bool) -> Operation[str]:
        call = Call("POST" if rotate else "GET", "/v1/webhooks/secret")
        response = yield from self.send(call)
        raise_for_problem(response)
        secret = _json(response).get("secret")
        if not isinstance(secret, str):
            raise ClientError(f"unexpected answer from {call.method} {call.path}: no secret in it")
        return secret

    # -- events ------------------------------------------------------------------------------------------
    def stream(
        self, job: JobRef, last_event_id: str | None, deadline: Deadline | None = None
    ) -> Operation[GenerationOut]:
        """Yields the job's events until ``done`` and returns the finished job.

        A stream that breaks, or ends before ``done``, is resumed from the last event id (``Last-Event-ID``)
        after the server's reconnection time, doubling with each failure in a row; after ``max_retries``
        failures in a row ``ConnectionFailedError``. Past a ``deadline``, ``WaitTimeoutError``.
        """
        generation_id = job_id(job)
        failures, reconnect_s = 0, RECONNECT_S
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            call = Call(
                "GET",
                job_path(job, "/events"),
                headers=headers,
                stream=True,
                timeout=self._read_timeout(deadline),
            )
            response = yield from self.send(call)
            raise_for_problem(response)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                yield Close(response)
                raise EventsUnavailableError(
                    f"{call.path} answered {response.headers.get('content-type')!r}, not an event stream"
                )
            decoder = SSEDecoder(last_event_id)
            cause: httpx.TransportError | None = None
            try:
                while (line := (yield NextLine(response))) is not None:
                    message = decoder.feed(line)
                    reconnect_s = RECONNECT_S if decoder.retry_ms is None else decoder.retry_ms / 1000
                    if message is not None:
                        event = to_event(message)
                        last_event_id, failures = message.id, 0
                        yield event
                        if event.job is not None:
                            yield Close(response)
                            return event.job
                    if deadline is not None:
                        deadline.check(generation_id)
            except httpx.TransportError as exc:  # cut mid-stream, or silent past the read timeout
                cause = exc
            yield Close(response)
            if deadline is not None:
                deadline.check(generation_id)
            failures += 1
            if failures > self.retry.max_retries:
                raise ConnectionFailedError(
                    f"the event stream of {generation_id} broke {failures} times in a row"
                    + (f": {type(cause).__name__}: {cause}" if cause else " (ended before `done`)")
                ) from cause
            yield Sleep(min(reconnect_s * 2 ** (failures - 1), self.retry.max_wait_s))

    def wait(self, job: JobRef, timeout: float | None) -> Operation[GenerationOut]:
        """Yields events and returns the finished job: from the event stream, or by polling ``get`` when the
        server has no events endpoint or the stream cannot be kept up."""
        deadline = None if timeout is None else Deadline.after(timeout)
        try:
            return (yield from self.stream(job, None, deadline))
        except (ConnectionFailedError, EventsUnavailableError, ProblemError) as exc:
            if isinstance(exc, ProblemError) and exc.status not in EVENTS_MISSING and exc.status < 500:
                raise
        return (yield from self.poll(job, deadline))

    def poll(self, job: JobRef, deadline: Deadline | None) -> Operation[GenerationOut]:
        """Reads the job until it finishes, waiting longer between reads as it goes on; yields the events
        that the changes seen stand for (without ids), so a progress display keeps working."""
        interval, previous = POLL_FIRST_S, None
        while True:
            current = yield from self.get(job)
            yield from changes(previous, current)
            if current.status in TERMINAL:
                return current
            wait_s = interval
            if deadline is not None:
                deadline.check(current.id)
                wait_s = min(interval, deadline.left())
            yield Sleep(max(wait_s, 0.0))
            interval, previous = min(interval * 1.5, POLL_MAX_S), current

    def _read_timeout(self, deadline: Deadline | None) -> httpx.Timeout:
        read = STREAM_READ_TIMEOUT_S
        if deadline is not None:  # a silent stream must not hold wait() past its deadline
            read = min(read, max(deadline.left(), 0.0) + 0.5)
        return httpx.Timeout(self.timeout, read=read)


def job_id(job: JobRef) -> str:
    return job.id if isinstance(job, GenerationOut) else job


def job_path(job: JobRef, suffix: str = "") -> str:
    """The job's URL path; the id is quoted, so no id can reach another path."""
    return f"{GENERATIONS}/{quote(job_id(job), safe='')}{suffix}"


def request_body(model: type[BaseModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a request: checked by the API's own request model before it is sent (its errors
    name the field), holding only what the caller gave (None means not given), so the service fills in
    its own defaults."""
    given = model.model_validate({name: value for name, value in fields.items() if value is not None})
    return given.model_dump(mode="json", exclude_unset=True)


def parse(model: type[M], response: httpx.Response) -> M:
    raise_for_problem(response)
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        request = response.request
        raise ClientError(f"unexpected answer from {request.method} {request.url}: {exc}") from exc


def to_event(message: Message) -> Event:
    """A decoded message as an ``Event``: its data parsed as JSON; a ``done`` event's as the job."""
    try:
        data = json.loads(message.data)
    except ValueError:
        data = message.data
    job = None
    if message.event == "done":
        try:
            job = GenerationOut.model_validate(data)
        except ValidationError as exc:
            raise ClientError(f"the `done` event does not carry a job: {exc}") from exc
    return Event(event=message.event, data=data, id=message.id, job=job)


def changes(previous: GenerationOut | None, current: GenerationOut) -> list[Event]:
    """The events that a poll's change from ``previous`` to ``current`` stands for."""
    if current.status in TERMINAL:
        return [Event("done", current.model_dump(mode="json"), job=current)]
    events = []
    if previous is None or (previous.status, previous.attempts) != (current.status, current.attempts):
        events.append(Event("status", {"status": current.status, "attempts": current.attempts}))
    if current.progress is not None and (previous is None or previous.progress != current.progress):
        events.append(Event("progress", current.progress.model_dump()))
    return events


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

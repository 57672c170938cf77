"""``RegionalClient``: the service from blocking Python code, on ``httpx.Client``."""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from api.schemas import GenerationOut, Status, WebhookEvent
from client.core import (
    Call,
    ClientCore,
    Close,
    Effect,
    Event,
    JobRef,
    NextLine,
    Operation,
    Result,
    Sleep,
)
from regional.layout import Layout


class RegionalClient:
    """A client of the generation service.

    ``base_url`` defaults to ``$REGIONAL_URL``, else http://127.0.0.1:8000; ``api_key`` to
    ``$REGIONAL_API_KEY``. ``timeout`` bounds each request (event streams wait longer between heartbeats;
    planning waits for the service's planning budget). 429 and 503 answers and connection errors are
    retried up to ``max_retries`` times with exponential backoff and jitter, honouring ``Retry-After``;
    no single wait exceeds ``max_retry_wait`` (a server asking for longer gets its answer raised at once).
    Pass ``http_client`` to use your own ``httpx.Client`` (it is not closed here) or ``transport`` for
    the one made here. Error answers raise ``ProblemError`` subclasses; see ``client.exceptions``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("give http_client or transport, not both")
        self._core = ClientCore(base_url, api_key, timeout, max_retries, max_retry_wait)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(transport=transport)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RegionalClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- jobs --------------------------------------------------------------------------------------------
    def submit(
        self,
        prompt: str | None = None,
        *,
        layout: Layout | Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_events: Sequence[WebhookEvent] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> GenerationOut:
        """Submit a job: a ``prompt`` (planned into a layout first) or a ``layout``, plus sampling
        ``options`` (``width``, ``height``, ``steps``, ``guidance``, ``seed``, ``num_images``,
        ``base_ratio``, ``inject_steps``, ``double_inject_interval``, ``single_inject_interval``,
        ``planner``), checked by the API's own ``GenerationCreate`` before anything is sent (a
        ``pydantic.ValidationError``, which is a ``ValueError``, names the field).

        Every try carries the same ``Idempotency-Key`` (``idempotency_key``, or a fresh uuid4), so retries
        never create a second job; give your own key to make a resubmission after a crash safe too.
        ``webhook_url`` gets the job's ``webhook_events`` (default: succeeded, failed, canceled), signed
        with ``webhook_secret()``.
        """
        fields = {
            "prompt": prompt,
            "layout": layout,
            "webhook_url": webhook_url,
            "webhook_events": webhook_events,
        }
        return self._run(self._core.submit({**fields, **options}, idempotency_key))

    def get(self, job: JobRef) -> GenerationOut:
        """The job (by id, or a job whose fresh state you want)."""
        return self._run(self._core.get(job))

    def list(
        self, status: Status | None = None, limit: int | None = None, page_size: int = 100
    ) -> Iterator[GenerationOut]:
        """Your jobs, newest first, at most ``limit`` (None: all), fetched ``page_size`` at a time."""
        return self._iterate(self._core.listing(status, limit, page_size))

    def cancel(self, job: JobRef) -> GenerationOut:
        """Cancel: a queued job at once, a running one at its next denoising step (``cancel_requested``).
        ``ConflictError`` once it succeeded or failed."""
        return self._run(self._core.cancel(job))

    def stream(self, job: JobRef, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's events (``status``, ``progress``, then ``done`` with the finished job) as they happen,
        from the start or after ``last_event_id``. A broken stream is resumed where it broke."""
        return self._iterate(self._core.stream(job, last_event_id))

    def wait(
        self, job: JobRef, timeout: float | None = None, on_event: Callable[[Event], None] | None = None
    ) -> GenerationOut:
        """Block until the job finishes and return it (succeeded, failed or canceled: check ``status``).

        Follows the event stream, calling ``on_event`` for each event; falls back to polling ``get`` (with
        backoff, the events made up from the changes seen) when the server has no events endpoint or the
        stream keeps breaking. ``WaitTimeoutError`` after ``timeout`` seconds; the job goes on.
        """
        return self._run(self._core.wait(job, timeout), on_event)

    def images(self, job: JobRef) -> builtins.list[bytes]:
        """The PNGs of a succeeded job (``ConflictError`` ``not_ready`` before that)."""
        return self._run(self._core.images(job))

    def layout_png(self, job: JobRef) -> bytes:
        """The layout drawn over the first image (or a blank canvas before it exists), as PNG."""
        return self._run(self._core.layout_png(job))

    def plan(
        self,
        prompt: str,
        width: int | None = None,
        height: int | None = None,
        planner: str | None = None,
    ) -> Layout:
        """Plan a prompt into a layout without generating (to inspect or edit it before ``submit``)."""
        return self._run(self._core.plan(prompt, width, height, planner))

    def webhook_secret(self) -> str:
        """Your webhook signing secret (``whsec_...``), for ``verify_webhook``."""
        return self._run(self._core.webhook_secret(rotate=False))

    def rotate_webhook_secret(self) -> str:
        """A new signing secret; deliveries carry the old one's signature too for a grace period."""
        return self._run(self._core.webhook_secret(rotate=True))

    # -- the transport: performs the effects of ``client.core`` operations --------------------------------
    def _run(self, operation: Operation[Any], on_item: Callable[[Any], None] | None = None) -> Any:
        result = None
        with contextlib.closing(self._steps(operation)) as steps:
            for step in steps:
                if isinstance(step, Result):
                    result = step.value
                elif on_item is not None:
                    on_item(step)
        return result

    def _iterate(self, operation: Operation[Any]) -> Iterator[Any]:
        with contextlib.closing(self._steps(operation)) as steps:
            for step in steps:
                if not isinstance(step, Result):
                    yield step

    def _steps(self, operation: Operation[Any]) -> Iterator[Any]:
        """Drive ``operation``: perform its effects, yield its items, then ``Result`` with its value."""
        lines: dict[httpx.Response, Iterator[str]] = {}
        reply: Any = None
        error: httpx.TransportError | None = None
        try:
            while True:
                try:
                    step = operation.send(reply) if error is None else operation.throw(error)
                except StopIteration as stop:
                    yield Result(stop.value)
                    return
                reply, error = None, None
                if isinstance(step, Effect):
                    try:
                        reply = self._perform(step, lines)
                    except httpx.TransportError as exc:  # the operation decides: retry, resume or raise
                        error = exc
                else:
                    yield step
        finally:
            operation.close()
            for response in lines:
                response.close()

    def _perform(self, effect: Effect, lines: dict[httpx.Response, Iterator[str]]) -> Any:
        match effect:
            case Call():
                request = self._http.build_request(**self._core.request(effect))
                response = self._http.send(request, stream=effect.stream)
                if effect.stream and not response.is_success:
                    with contextlib.closing(response):
                        response.read()
                elif effect.stream:
                    lines[response] = response.iter_lines()
                return response
            case NextLine(response):
                return next(lines[response], None)
            case Close(response):
                lines.pop(response, None)
                response.close()
            case Sleep(seconds):
                time.sleep(seconds)
        return None

"""``AsyncRegionalClient``: the service from async code (asyncio or trio), on ``httpx.AsyncClient``.

The same operations as ``RegionalClient`` (``client.core``), with the effects awaited; the methods are
documented there.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import httpx

from api.schemas import GenerationOut, Status, WebhookEvent
from client.core import Call, ClientCore, Close, Effect, Event, JobRef, NextLine, Operation, Result, Sleep
from regional.layout import Layout

EventHandler = Callable[[Event], None] | Callable[[Event], Awaitable[None]]
"""``wait``'s ``on_event``: a plain function or a coroutine function."""


class AsyncRegionalClient:
    """The async twin of ``RegionalClient``: same arguments (``http_client`` an ``httpx.AsyncClient``,
    ``transport`` an ``httpx.AsyncBaseTransport``), same methods, awaited; ``stream`` and ``list`` are
    async iterators. Use it as ``async with AsyncRegionalClient() as client:``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("give http_client or transport, not both")
        self._core = ClientCore(base_url, api_key, timeout, max_retries, max_retry_wait)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(transport=transport)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncRegionalClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- jobs --------------------------------------------------------------------------------------------
    async def submit(
        self,
        prompt: str | None = None,
        *,
        layout: Layout | Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_events: Sequence[WebhookEvent] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> GenerationOut:
        fields = {
            "prompt": prompt,
            "layout": layout,
            "webhook_url": webhook_url,
            "webhook_events": webhook_events,
        }
        return await self._run(self._core.submit({**fields, **options}, idempotency_key))

    async def get(self, job: JobRef) -> GenerationOut:
        return await self._run(self._core.get(job))

    def list(
        self, status: Status | None = None, limit: int | None = None, page_size: int = 100
    ) -> AsyncIterator[GenerationOut]:
        return self._iterate(self._core.listing(status, limit, page_size))

    async def cancel(self, job: JobRef) -> GenerationOut:
        return await self._run(self._core.cancel(job))

    def stream(self, job: JobRef, last_event_id: str | None = None) -> AsyncIterator[Event]:
        return self._iterate(self._core.stream(job, last_event_id))

    async def wait(
        self, job: JobRef, timeout: float | None = None, on_event: EventHandler | None = None
    ) -> GenerationOut:
        return await self._run(self._core.wait(job, timeout), on_event)

    async def images(self, job: JobRef) -> builtins.list[bytes]:
        return await self._run(self._core.images(job))

    async def layout_png(self, job: JobRef) -> bytes:
        return await self._run(self._core.layout_png(job))

    async def plan(
        self,
        prompt: str,
        width: int | None = None,
        height: int | None = None,
        planner: str | None = None,
    ) -> Layout:
        return await self._run(self._core.plan(prompt, width, height, planner))

    async def webhook_secret(self) -> str:
        return await self._run(self._core.webhook_secret(rotate=False))

    async def rotate_webhook_secret(self) -> str:
        return await self._run(self._core.webhook_secret(rotate=True))

    # -- the transport: performs the effects of ``client.core`` operations --------------------------------
    async def _run(self, operation: Operation[Any], on_item: EventHandler | None = None) -> Any:
        result = None
        async with contextlib.aclosing(self._steps(operation)) as steps:
            async for step in steps:
                if isinstance(step, Result):
                    result = step.value
                elif on_item is not None and inspect.isawaitable(handled := on_item(step)):
                    await handled
        return result

    async def _iterate(self, operation: Operation[Any]) -> AsyncIterator[Any]:
        async with contextlib.aclosing(self._steps(operation)) as steps:
            async for step in steps:
                if not isinstance(step, Result):
                    yield step

    async def _steps(self, operation: Operation[Any]) -> AsyncIterator[Any]:
        """Drive ``operation``: perform its effects, yield its items, then ``Result`` with its value."""
        lines: dict[httpx.Response, AsyncIterator[str]] = {}
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
                        reply = await self._perform(step, lines)
                    except httpx.TransportError as exc:  # the operation decides: retry, resume or raise
                        error = exc
                else:
                    yield step
        finally:
            operation.close()
            for response in lines:
                await response.aclose()

    async def _perform(self, effect: Effect, lines: dict[httpx.Response, AsyncIterator[str]]) -> Any:
        match effect:
            case Call():
                request = self._http.build_request(**self._core.request(effect))
                response = await self._http.send(request, stream=effect.stream)
                if effect.stream and not response.is_success:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                elif effect.stream:
                    lines[response] = response.aiter_lines()
                return response
            case NextLine(response):
                return await anext(lines[response], None)
            case Close(response):
                lines.pop(response, None)
                await response.aclose()
            case Sleep(seconds):
                await anyio.sleep(seconds)
        return None

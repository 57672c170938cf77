"""Fixtures of the client tests.

``fake``: a real HTTP server on a free port (``http.server`` in a thread) that each test scripts, answering
in the exact shapes of the real API: problems made by ``api.problems.problem``, jobs by ``GenerationOut``,
events framed as the events endpoint frames them. It serves what the real service cannot be made to do on
demand: a 503 or a lost answer on a given try, a 429 with a chosen ``Retry-After``, a stream cut mid-way.

``connect``: the sync client, or the async one behind the same blocking calls, so one test covers both.

The real service (API, Redis, workers on the tiny model) comes from ``tests/service/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from service.conftest import namespace, redis_url, service, service_env  # noqa: F401 (fixtures)

from api.problems import problem
from api.schemas import GenerationOut
from client import AsyncRegionalClient, RegionalClient


class Exchange:
    """One request to the fake server, and the ways to answer it."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.handler = handler
        self.method, self.path = handler.command, handler.path
        self.headers = handler.headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", content_type)
        self.handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.handler.send_header(name, value)
        self.handler.end_headers()
        self.handler.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        body = (
            value.model_dump_json().encode()
            if isinstance(value, GenerationOut)
            else json.dumps(value).encode()
        )
        self.send(status, body, "application/json", headers)

    def send_problem(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        """The problem document the real API sends (``api.problems.problem``)."""
        response = problem(status, code, detail, headers, **extra)
        self.send(status, bytes(response.body), "application/problem+json", headers)

    def drop(self) -> None:
        """Close the connection without an answer: the request may have had its effect, the answer is lost."""
        self.handler.close_connection = True
        self.handler.connection.shutdown(socket.SHUT_RDWR)

    # -- event streams (chunked, as uvicorn sends a StreamingResponse) --------------------------------
    def start_events(self) -> None:
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()

    def send_chunk(self, text: str) -> None:
        data = text.encode()
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()

    def send_event(self, event: str, event_id: str | None, data: Any) -> None:
        payload = data.model_dump_json() if isinstance(data, GenerationOut) else json.dumps(data)
        head = f"id: {event_id}\n" if event_id else ""
        self.send_chunk(f"{head}event: {event}\ndata: {payload}\n\n")

    def end_events(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")

    def cut(self) -> None:
        """Break the stream mid-body (no final chunk): the client sees an incomplete chunked read."""
        self.handler.wfile.flush()
        self.drop()


Handler = Callable[[Exchange], None]


class FakeAPI:
    """Routes ``(method, path)`` to a test's handlers; every request is kept in ``requests``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Exchange] = []
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:  # noqa: D102 (http.server's hook)
                try:
                    super().handle_one_request()
                except OSError:  # the client went away mid-answer: part of what these tests do
                    self.close_connection = True

            def do_GET(self) -> None:
                fake.dispatch(self)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        exchange = Exchange(handler, handler.rfile.read(length))
        self.requests.append(exchange)
        route = self.routes.get((exchange.method, exchange.path.split("?")[0]))
        if route is None:  # what FastAPI answers for a path it has no route for, through api.problems
            exchange.send_problem(404, "not_found", "Not Found")
        else:
            route(exchange)

    def calls(self, method: str, path: str) -> list[Exchange]:
        return [r for r in self.requests if r.method == method and r.path.split("?")[0] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.close()


def make_job(generation_id: str = "gen_0123", status: str = "queued", **fields: Any) -> GenerationOut:
    """A job as the real API returns it (built with its own response model)."""
    base = f"http://testserver/v1/generations/{generation_id}"
    values: dict[str, Any] = {
        "id": generation_id,
        "status": status,
        "parameters": {"steps": 4, "seed": 1},
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "timings": {},
        "links": {"self": base, "cancel": f"{base}/cancel", "layout_png": f"{base}/layout.png"},
    }
    return GenerationOut.model_validate({**values, **fields})


@pytest.fixture
def job_factory() -> Callable[..., GenerationOut]:
    return make_job


class BlockingAsync:
    """An ``AsyncRegionalClient`` behind ``RegionalClient``'s blocking calls (each call in its own event
    loop, with its own client); async iterators come back as lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: asyncio.run(self._call(name, args, kwargs))

    async def _call(self, name: str, args: tuple, kwargs: dict) -> Any:
        async with AsyncRegionalClient(*self.args, **self.kwargs) as client:
            result = getattr(client, name)(*args, **kwargs)
            if hasattr(result, "__aiter__"):
                return [item async for item in result]
            return await result


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``connect(base_url, **options)``: a client of the kind this run of the test is for."""
    made: list[RegionalClient] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        if request.param == "async":
            return BlockingAsync(*args, **kwargs)
        made.append(RegionalClient(*args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()

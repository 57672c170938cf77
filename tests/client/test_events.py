"""``stream`` and ``wait`` against a real HTTP server that frames events as the events endpoint does:
parsing, resuming a cut stream with Last-Event-ID, and falling back to polling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from client import (
    AsyncRegionalClient,
    ConnectionFailedError,
    Event,
    NotFoundError,
    RegionalClient,
    WaitTimeoutError,
)

JOB = "/v1/generations/gen_1"
EVENTS = f"{JOB}/events"


def status(exchange, event_id: str, value: str = "running", attempts: int = 1) -> None:
    exchange.send_event("status", event_id, {"status": value, "stage": "generate", "attempts": attempts})


def progress(exchange, event_id: str, step: int, total: int = 4) -> None:
    data = {"stage": "sampling", "step": step, "total_steps": total, "fraction": step / total}
    exchange.send_event("progress", event_id, data)


def test_the_stream_gives_the_events_and_the_finished_job(fake, connect, job_factory) -> None:
    done = job_factory("gen_1", "succeeded", attempts=1)

    def events(exchange) -> None:
        exchange.start_events()
        exchange.send_chunk("retry: 2000\n\n")
        status(exchange, "1733112345678-0", "queued", 0)
        exchange.send_chunk(": heartbeat\n\n")
        status(exchange, "1733112345679-0")
        progress(exchange, "1733112345680-0", 2)
        exchange.send_event("done", "1733112345681-0", done)
        exchange.end_events()

    fake.on("GET", EVENTS, events)
    seen = list(connect(fake.url).stream("gen_1"))

    assert [(e.event, e.id) for e in seen] == [
        ("status", "1733112345678-0"),
        ("status", "1733112345679-0"),
        ("progress", "1733112345680-0"),
        ("done", "1733112345681-0"),
    ]
    assert seen[0].data == {"status": "queued", "stage": "generate", "attempts": 0}
    assert seen[2].data["step"] == 2 and seen[2].job is None
    assert seen[3].job == done and seen[3].data["status"] == "succeeded"
    [request] = fake.requests
    assert request.headers["Accept"] == "text/event-stream" and "Last-Event-ID" not in request.headers


def test_a_stream_cut_midway_resumes_after_the_last_event_seen(fake, connect, job_factory) -> None:
    def events(exchange) -> None:
        exchange.start_events()
        exchange.send_chunk("retry: 10\n\n")
        if "Last-Event-ID" not in exchange.headers:
            status(exchange, "100-0")
            progress(exchange, "101-0", 1)
            exchange.send_chunk('id: 102-0\nevent: progress\ndata: {"st')  # half a frame, then the cut
            exchange.cut()
            return
        assert exchange.headers["Last-Event-ID"] == "101-0"
        progress(exchange, "102-0", 2)
        exchange.send_event("done", "103-0", job_factory("gen_1", "succeeded"))
        exchange.end_events()

    fake.on("GET", EVENTS, events)
    seen = list(connect(fake.url).stream("gen_1"))

    assert [e.id for e in seen] == ["100-0", "101-0", "102-0", "103-0"]  # none lost, none twice
    assert [r.headers.get("Last-Event-ID") for r in fake.calls("GET", EVENTS)] == [None, "101-0"]


def test_a_stream_that_ends_before_done_is_resumed(fake, connect, job_factory) -> None:
    def events(exchange) -> None:  # e.g. an API replica restarted: the stream ends cleanly, early
        exchange.start_events()
        exchange.send_chunk("retry: 10\n\n")
        if exchange.headers.get("Last-Event-ID") == "7-0":
            exchange.send_event("done", "8-0", job_factory("gen_1", "failed"))
        else:
            status(exchange, "7-0")
        exchange.end_events()

    fake.on("GET", EVENTS, events)
    seen = list(connect(fake.url).stream("gen_1", last_event_id="6-0"))

    assert [e.id for e in seen] == ["7-0", "8-0"] and seen[-1].job.status == "failed"
    assert [r.headers["Last-Event-ID"] for r in fake.calls("GET", EVENTS)] == ["6-0", "7-0"]


def test_wait_follows_the_stream_and_calls_on_event(fake, connect, job_factory) -> None:
    def events(exchange) -> None:
        exchange.start_events()
        status(exchange, "1-0")
        for step in (1, 2, 3, 4):
            progress(exchange, f"{step + 1}-0", step)
        exchange.send_event("done", "6-0", job_factory("gen_1", "succeeded"))
        exchange.end_events()

    fake.on("GET", EVENTS, events)
    seen: list[Event] = []
    job = connect(fake.url).wait("gen_1", on_event=seen.append)

    assert job.status == "succeeded"
    assert [e.event for e in seen] == ["status"] + ["progress"] * 4 + ["done"]
    assert fake.calls("GET", JOB) == []  # no polling when the stream works


def polled_job(fake, job_factory, states):
    """``GET`` the job: each read gives the next of ``states`` (status, progress step), the last repeated."""
    reads = []

    def read(exchange) -> None:
        reads.append(time.monotonic())
        value, step = states[min(len(reads), len(states)) - 1]
        progress = (
            None
            if step is None
            else {"stage": "sampling", "step": step, "total_steps": 4, "fraction": step / 4}
        )
        exchange.send_json(200, job_factory("gen_1", value, progress=progress, attempts=1))

    fake.on("GET", JOB, read)
    return reads


def test_wait_polls_a_server_without_the_events_endpoint(fake, connect, job_factory) -> None:
    # No route for the events: the fake answers 404 as the real API does for an unknown path.
    reads = polled_job(
        fake, job_factory, [("queued", None), ("running", 1), ("running", 3), ("succeeded", 4)]
    )
    seen: list[Event] = []
    job = connect(fake.url).wait("gen_1", on_event=seen.append)

    assert job.status == "succeeded" and len(reads) == 4
    assert len(fake.calls("GET", EVENTS)) == 1  # a 404 is not retried
    assert [(e.event, e.id) for e in seen] == [
        ("status", None),
        ("status", None),
        ("progress", None),
        ("progress", None),
        ("done", None),
    ]
    assert seen[1].data == {"status": "running", "attempts": 1} and seen[3].data["step"] == 3
    assert seen[-1].job == job
    gaps = [b - a for a, b in zip(reads, reads[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[-1] > gaps[0]  # backing off


def test_wait_polls_when_the_stream_keeps_breaking(fake, connect, job_factory) -> None:
    def broken(exchange) -> None:
        exchange.start_events()
        exchange.send_chunk("retry: 10\n\n")
        exchange.cut()

    fake.on("GET", EVENTS, broken)
    polled_job(fake, job_factory, [("succeeded", 4)])
    job = connect(fake.url, max_retries=2).wait("gen_1")

    assert job.status == "succeeded"
    assert len(fake.calls("GET", EVENTS)) == 3  # the first stream and two resumptions, then polling


def test_wait_polls_when_the_events_answer_is_not_a_stream(fake, connect, job_factory) -> None:
    fake.on("GET", EVENTS, lambda exchange: exchange.send(200, b"<html>login</html>", "text/html"))
    polled_job(fake, job_factory, [("canceled", None)])
    assert connect(fake.url).wait("gen_1").status == "canceled"


def test_stream_raises_when_it_cannot_be_resumed(fake, connect) -> None:
    fake.on("GET", EVENTS, lambda exchange: (exchange.start_events(), exchange.cut()))
    with pytest.raises(ConnectionFailedError, match="broke 2 times in a row"):
        list(connect(fake.url, max_retries=1).stream("gen_1"))


def test_wait_on_an_unknown_job_raises_not_found(fake, connect) -> None:
    with pytest.raises(NotFoundError):
        connect(fake.url).wait("gen_nope")
    assert [r.path for r in fake.requests] == ["/v1/generations/gen_nope/events", "/v1/generations/gen_nope"]


def test_wait_times_out_on_a_quiet_stream(fake, connect) -> None:
    def heartbeats(exchange) -> None:
        exchange.start_events()
        status(exchange, "1-0")
        for _ in range(30):
            exchange.send_chunk(": heartbeat\n\n")
            time.sleep(0.1)
        exchange.end_events()

    fake.on("GET", EVENTS, heartbeats)
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        connect(fake.url).wait("gen_1", timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 2.5
    assert caught.value.generation_id == "gen_1" and isinstance(caught.value, TimeoutError)


def test_async_wait_awaits_a_coroutine_on_event(fake, job_factory) -> None:
    def events(exchange) -> None:
        exchange.start_events()
        progress(exchange, "1-0", 1)
        exchange.send_event("done", "2-0", job_factory("gen_1", "succeeded"))
        exchange.end_events()

    fake.on("GET", EVENTS, events)
    seen: list[str] = []

    async def on_event(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.event)

    async def main() -> str:
        async with AsyncRegionalClient(fake.url) as client:
            return (await client.wait("gen_1", on_event=on_event)).status

    assert asyncio.run(main()) == "succeeded" and seen == ["progress", "done"]


def test_leaving_a_stream_early_closes_its_connection(fake) -> None:
    closed = threading.Event()

    def events(exchange) -> None:
        exchange.start_events()
        try:
            for n in range(1, 500):
                status(exchange, f"{n}-0")
                time.sleep(0.01)
        except OSError:  # the client closed the connection: writing to it fails
            closed.set()
            raise

    fake.on("GET", EVENTS, events)
    with RegionalClient(fake.url) as client:
        stream = client.stream("gen_1")
        assert next(stream).id == "1-0"
        stream.close()  # what leaving a for loop early does
        assert closed.wait(5)

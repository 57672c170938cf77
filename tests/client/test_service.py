"""The client library and ``regional client`` against the real service: a uvicorn API, Redis and two
workers on the tiny model (``tests/service/conftest.py``), and a real HTTP receiver for the webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from service.conftest import layout_body
from servicekit import KEY_A, KEY_B, wait_until

from client import (
    AsyncRegionalClient,
    AuthenticationError,
    ConflictError,
    Event,
    GenerationOut,
    InvalidRequestError,
    Layout,
    NotFoundError,
    RegionalClient,
    verify_webhook,
)
from regional.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def service_env(service_env: dict[str, str]) -> dict[str, str]:
    """This deployment may post webhooks to loopback (the receiver here), and looks for them often."""
    return {
        **service_env,
        "REGIONAL_WEBHOOK_ALLOW_PRIVATE": "true",
        "REGIONAL_WEBHOOK_POLL_S": "0.1",
        "REGIONAL_WEBHOOK_RETRY_S": "0.5,1,2",
        "REGIONAL_SSE_HEARTBEAT_S": "1",
    }


@pytest.fixture
def client(service) -> Iterator[RegionalClient]:
    with RegionalClient(service.base_url, KEY_A, timeout=60) as made:
        yield made


def layout(size: int = 128) -> Layout:
    return Layout.model_validate(layout_body(size)["layout"])


class Receiver:
    """A webhook receiver: records each delivery's headers and raw body, answers 204."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                deliveries.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_submit_follow_the_events_verify_the_webhook_and_fetch_the_image(client, receiver) -> None:
    secret = client.webhook_secret()
    assert secret.startswith("whsec_")
    job = client.submit(layout=layout(), steps=4, seed=5, webhook_url=receiver.url)
    assert job.status in ("queued", "running") and job.id.startswith("gen_")

    events: list[Event] = []
    final = client.wait(job, timeout=120, on_event=events.append)

    assert final.status == "succeeded" and final.id == job.id, final
    assert all(e.id for e in events), events  # ids: these came from the event stream, not from polling
    assert events[-1].event == "done" and events[-1].job == final
    assert [e.data["status"] for e in events if e.event == "status"][-1] == "running"
    progress = [(e.data["stage"], e.data["step"]) for e in events if e.event == "progress"]
    assert progress[0][0] == "sampling" and progress[-1] == ("saving", 4)  # sampling steps are throttled

    headers, body = wait_until(
        lambda: receiver.deliveries and receiver.deliveries[-1], 60, what="the webhook"
    )
    payload = verify_webhook(secret, headers, body)
    assert payload["type"] == "generation.succeeded"
    delivered = GenerationOut.model_validate(payload["data"])
    assert (delivered.id, delivered.status) == (job.id, "succeeded")

    [png] = client.images(final)
    assert hashlib.sha256(png).hexdigest() == final.outputs[0].sha256
    assert Image.open(io.BytesIO(png)).size == (128, 128)
    assert client.layout_png(job).startswith(b"\x89PNG")


def test_a_stream_resumed_from_an_event_id_goes_on_after_it(client) -> None:
    job = client.submit(layout=layout(), steps=6, seed=9)
    stream = client.stream(job)
    first = next(stream)
    stream.close()  # leave after one event, as a client that lost its connection would

    rest = list(client.stream(job, last_event_id=first.id))
    assert first.id not in [e.id for e in rest]
    assert rest[-1].event == "done" and rest[-1].job.status == "succeeded"
    assert [e.id for e in rest] == sorted((e.id for e in rest), key=lambda i: tuple(map(int, i.split("-"))))


def test_the_same_idempotency_key_gives_the_same_job(client) -> None:
    key = f"test-{uuid.uuid4()}"
    first = client.submit(layout=layout(), steps=2, seed=1, idempotency_key=key)
    again = client.submit(layout=layout(), steps=2, seed=1, idempotency_key=key)
    assert again.id == first.id
    with pytest.raises(InvalidRequestError) as reused:
        client.submit(layout=layout(), steps=3, seed=1, idempotency_key=key)
    assert reused.value.status == 422 and reused.value.code == "idempotency_key_reused"
    client.wait(first, timeout=120)


def test_listing_follows_the_cursor_page_after_page(client) -> None:
    submitted = [client.submit(layout=layout(), steps=1, seed=n).id for n in range(3)]
    listed = list(client.list(limit=3, page_size=1))
    assert [job.id for job in listed] == submitted[::-1]  # newest first, one page per job
    for job_id in submitted:
        client.wait(job_id, timeout=120)
    assert all(job.status == "succeeded" for job in client.list(status="succeeded", limit=5))


def test_cancel_then_wait_ends_canceled(client) -> None:
    job = client.submit(layout=layout(1024), steps=80, seed=2)  # seconds of work on the tiny model
    canceled = client.cancel(job)
    assert canceled.status == "canceled" or canceled.cancel_requested
    final = client.wait(job, timeout=120)
    assert final.status == "canceled"
    assert client.cancel(job).status == "canceled"  # cancelling again changes nothing
    with pytest.raises(ConflictError) as not_ready:
        client.images(job)
    assert not_ready.value.code == "not_ready" and "canceled" in not_ready.value.detail


def test_the_services_errors_are_raised_with_their_problem(service, client) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get("gen_doesnotexist")
    assert missing.value.code == "not_found"

    job = client.submit(layout=layout(), steps=1)
    with RegionalClient(service.base_url, KEY_B) as other, pytest.raises(NotFoundError):
        other.get(job)  # another tenant's job does not exist for this key
    with (
        RegionalClient(service.base_url, "not-a-key") as stranger,
        pytest.raises(AuthenticationError) as denied,
    ):
        stranger.get(job)
    assert denied.value.status == 401 and denied.value.code == "unauthorized"

    with pytest.raises(InvalidRequestError) as invalid:
        client.submit(layout=layout(), steps=1000)  # over this deployment's REGIONAL_MAX_STEPS
    assert invalid.value.errors[0]["field"] == "steps"


def test_plan_returns_a_layout(client) -> None:
    planned = client.plan("a cat above a dog", width=256, height=256)
    assert isinstance(planned, Layout) and planned.width == 256
    assert {r.phrase for r in planned.regions} >= {"a cat", "a dog"}


def test_rotating_the_webhook_secret(client) -> None:
    before = client.webhook_secret()
    rotated = client.rotate_webhook_secret()
    assert rotated != before and rotated.startswith("whsec_")
    assert client.webhook_secret() == rotated


def test_the_async_client_end_to_end(service) -> None:
    async def run() -> tuple[GenerationOut, list[bytes], list[str]]:
        async with AsyncRegionalClient(service.base_url, KEY_A, timeout=60) as client:
            job = await client.submit(layout=layout(), steps=3, seed=4)
            seen: list[str] = []
            final = await client.wait(job, timeout=120, on_event=lambda e: seen.append(e.event))
            return final, await client.images(final), seen

    final, pngs, seen = asyncio.run(run())
    assert final.status == "succeeded" and seen[-1] == "done"
    assert hashlib.sha256(pngs[0]).hexdigest() == final.outputs[0].sha256


def test_the_cli(service, tmp_path: Path, capsys) -> None:
    common = ["--url", service.base_url, "--api-key", KEY_A]
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(layout().model_dump_json())

    def regional(*args: str) -> tuple[int, str, str]:
        code = main(["client", args[0], *common, *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = regional(
        "submit",
        "--layout",
        str(layout_file),
        "--steps",
        "4",
        "--seed",
        "3",
        "--wait",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "succeeded" and job["parameters"]["seed"] == 3
    assert (
        "running (attempt 1)" in err
        and "saving 4/4" in err
        and f"saved {tmp_path / 'out' / job['id']}-0.png" in err
    )  # progress lines
    assert (tmp_path / "out" / f"{job['id']}-0.png").read_bytes().startswith(b"\x89PNG")

    code, out, _ = regional("get", job["id"])
    assert code == 0 and json.loads(out)["id"] == job["id"]
    code, out, _ = regional("wait", job["id"])
    assert code == 0 and json.loads(out)["status"] == "succeeded"
    code, out, _ = regional("images", job["id"], "--out", str(tmp_path / "again"))
    assert code == 0 and json.loads(out) == [str(tmp_path / "again" / f"{job['id']}-0.png")]
    code, out, _ = regional("list", "--limit", "2")
    assert code == 0 and len(json.loads(out)) == 2 and json.loads(out)[0]["id"] == job["id"]
    code, out, _ = regional("plan", "a cat above a dog", "--width", "256", "--height", "256")
    assert code == 0 and json.loads(out)["width"] == 256

    code, out, err = regional("cancel", job["id"])  # a finished job: 409 printed as title and detail
    assert code == 1 and out == "" and "regional client: Conflict: the job has already succeeded" in err
    code, _, err = regional("get", "gen_nope")
    assert code == 1 and "Not Found" in err
    code, _, err = regional("submit", "--steps", "1000", "a cat")
    assert code == 1 and "steps:" in err
    code, _, err = regional("submit")
    assert code == 1 and "give a prompt or --layout FILE" in err

"""Server-sent events and signed webhooks, end to end: a real uvicorn server, Redis, two real workers, and a
real HTTP receiver for the webhooks (on loopback, which this module's deployment allows)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from redis import Redis
from servicekit import KEY_A, KEY_B, free_port, wait_until

from worker.store import JobStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def service_env(service_env: dict[str, str]) -> dict[str, str]:
    return {
        **service_env,
        "REGIONAL_WEBHOOK_ALLOW_PRIVATE": "true",
        "REGIONAL_WEBHOOK_RETRY_S": "0.5,0.5,1,1,2,2",
        "REGIONAL_WEBHOOK_POLL_S": "0.1",
        "REGIONAL_WEBHOOK_CLAIM_S": "3",
        "REGIONAL_WEBHOOK_TIMEOUT_S": "10",
        "REGIONAL_SSE_HEARTBEAT_S": "1",
        "REGIONAL_MAX_EVENT_STREAMS_PER_KEY": "2",
    }


# -- SSE ------------------------------------------------------------------------------------------------
def read_events(client: httpx.Client, generation_id: str, last_event_id: str | None = None) -> list[dict]:
    """The whole stream as a list of {event, id, data}; heartbeats as {event: 'heartbeat'}."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events, frame = [], {}
    with client.stream("GET", f"/v1/generations/{generation_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if frame:
                    events.append(frame)
                frame = {}
            elif line.startswith(": heartbeat"):
                events.append({"event": "heartbeat"})
            elif line.startswith("retry:"):
                assert int(line.split(":", 1)[1]) > 0
            else:
                name, _, value = line.partition(": ")
                frame[name] = json.loads(value) if name == "data" else value
    return events


def test_events_follow_a_job_from_queued_to_done(service, make_layout_body) -> None:
    with service.client() as client:
        job = client.post("/v1/generations", json=make_layout_body(steps=30)).json()
        events = read_events(client, job["id"])
        final = client.get(f"/v1/generations/{job['id']}").json()

    frames = [e for e in events if e["event"] != "heartbeat"]
    kinds = [e["event"] for e in frames]
    assert kinds[0] == "status" and frames[0]["data"]["status"] == "queued"
    assert frames[1]["event"] == "status" and frames[1]["data"] == {
        "status": "running",
        "stage": "generate",
        "attempts": 1,
    }
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert frames[-1]["data"] == final  # the finished job exactly as GET returns it
    assert final["status"] == "succeeded" and final["outputs"]
    steps = [
        e["data"]["step"] for e in frames if e["event"] == "progress" and e["data"]["stage"] == "sampling"
    ]
    assert len(steps) >= 2 and steps == sorted(steps)  # progress arrives in order while sampling
    ids = [e["id"] for e in frames]
    assert len(set(ids)) == len(ids)

    # resuming after any event gives exactly the events after it
    middle = len(frames) // 2
    with service.client() as client:
        resumed = [
            e for e in read_events(client, job["id"], frames[middle]["id"]) if e["event"] != "heartbeat"
        ]
    assert [e["id"] for e in resumed] == ids[middle + 1 :]
    assert resumed[-1]["data"] == final


def test_events_of_a_finished_job_end_at_once_and_heartbeats_keep_a_quiet_stream_open(
    service, make_layout_body
) -> None:
    with service.client() as client:
        done = client.post("/v1/generations", json=make_layout_body(), headers={"Prefer": "wait=60"}).json()
        assert done["status"] == "succeeded"
        started = time.monotonic()
        replay = read_events(client, done["id"])
    assert replay[-1]["event"] == "done" and time.monotonic() - started < 5

    # a job no worker takes (its record made here, never enqueued): heartbeats until it is canceled
    store = JobStore(Redis.from_url(service.env["REDIS_URL"]), service.env["REGIONAL_NAMESPACE"])
    owner = store.get(done["id"])["owner"]
    idle_id = "gen_" + uuid.uuid4().hex
    store.create(
        idle_id,
        owner,
        {
            **{k: store.get(done["id"])[k] for k in ("request", "parameters")},
            "stage_queue": "plan",
            "rq_job": "none",
        },
    )
    collected: list[dict] = []

    def follow() -> None:
        with service.client() as own:
            collected.extend(read_events(own, idle_id))

    reader = threading.Thread(target=follow)
    reader.start()
    time.sleep(3.5)
    with service.client() as client:
        assert client.post(f"/v1/generations/{idle_id}/cancel").json()["status"] == "canceled"
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert [e["event"] for e in collected[:2]] == ["status", "heartbeat"]
    assert sum(e["event"] == "heartbeat" for e in collected) >= 2
    assert collected[-1]["event"] == "done" and collected[-1]["data"]["status"] == "canceled"


def test_a_key_holds_a_bounded_number_of_streams(service, make_layout_body) -> None:
    store = JobStore(Redis.from_url(service.env["REDIS_URL"]), service.env["REGIONAL_NAMESPACE"])
    with service.client() as client:
        done = client.post("/v1/generations", json=make_layout_body(), headers={"Prefer": "wait=60"}).json()
    owner, stored = store.get(done["id"])["owner"], store.get(done["id"])
    idle_id = "gen_" + uuid.uuid4().hex  # queued, never enqueued: its stream stays open
    store.create(idle_id, owner, {**{k: stored[k] for k in ("request", "parameters")}, "stage_queue": "plan"})
    url = f"{service.base_url}/v1/generations/{idle_id}/events"
    headers = {"Authorization": f"Bearer {KEY_A}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        first = client.send(client.build_request("GET", url), stream=True)
        second = client.send(client.build_request("GET", url), stream=True)
        assert first.status_code == second.status_code == 200
        third = client.get(url)
        assert third.status_code == 429 and third.json()["code"] == "too_many_streams"
        assert int(third.headers["Retry-After"]) > 0
        with service.client(KEY_B) as other:  # another key cannot follow this job at all
            assert other.get(f"/v1/generations/{idle_id}/events").status_code == 404
        first.close()

        def reopened() -> bool:
            response = client.send(client.build_request("GET", url), stream=True)
            response.close()
            return response.status_code == 200

        wait_until(reopened, 10, 0.2, "a stream slot to be free again after one closed")
        second.close()
    with service.client() as client:
        client.post(f"/v1/generations/{idle_id}/cancel")


def test_events_are_private_and_a_bad_last_event_id_is_a_problem(service, make_layout_body) -> None:
    with service.client(KEY_A) as client:
        job = client.post("/v1/generations", json=make_layout_body()).json()
        bad = client.get(f"/v1/generations/{job['id']}/events", headers={"Last-Event-ID": "not-an-id"})
    with service.client(KEY_B) as other:
        foreign = other.get(f"/v1/generations/{job['id']}/events")
    assert foreign.status_code == 404 and foreign.headers["content-type"] == "application/problem+json"
    assert bad.status_code == 400 and bad.json()["code"] == "bad_last_event_id"


# -- webhooks -------------------------------------------------------------------------------------------
class Receiver:
    """A real HTTP server recording every POST; ``stall_s`` holds each answer that long first."""

    def __init__(self, port: int, stall_s: float = 0.0) -> None:
        self.received: list[dict] = []
        self.stall_s = stall_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                time.sleep(receiver.stall_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port())
    yield running
    running.close()


def verified(secret: str, delivery: dict) -> dict:
    """The payload, after checking the Standard Webhooks signature the way a receiver must."""
    headers, body = delivery["headers"], delivery["body"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 60
    assert any(hmac.compare_digest(s, f"v1,{expected}") for s in headers["webhook-signature"].split())
    return json.loads(body)


def test_webhooks_are_signed_and_carry_the_job(service, make_layout_body, receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server.server_port}/hooks?tenant=a"
    with service.client() as client:
        secret = client.get("/v1/webhooks/secret").json()["secret"]
        assert client.get("/v1/webhooks/secret").json()["secret"] == secret  # stable until rotated
        body = make_layout_body(webhook_url=url, webhook_events=["running", "succeeded"])
        job = client.post("/v1/generations", json=body, headers={"Prefer": "wait=60"}).json()
    assert job["status"] == "succeeded"
    wait_until(lambda: len(receiver.received) >= 2, 30, what="two webhook deliveries")
    payloads = [verified(secret, d) for d in receiver.received]
    assert sorted(p["type"] for p in payloads) == ["generation.running", "generation.succeeded"]
    succeeded = next(p for p in payloads if p["type"] == "generation.succeeded")
    assert succeeded["data"]["id"] == job["id"] and succeeded["data"]["outputs"] == job["outputs"]
    assert succeeded["data"]["links"]["self"] == f"{service.base_url}/v1/generations/{job['id']}"
    ids = {d["headers"]["webhook-id"] for d in receiver.received}
    assert len(ids) == 2 and all(i.startswith("msg_") for i in ids)

    recorded = service.wait_job(job["id"], lambda j: len(j["webhook"]["deliveries"]) == 2, 10, "attempts")
    assert {d["webhook_id"] for d in recorded["webhook"]["deliveries"]} == ids
    assert all(d["delivered"] and d["status_code"] == 204 for d in recorded["webhook"]["deliveries"])

    with service.client() as client:
        metrics = client.get("/metrics").text
    assert 'regional_webhook_deliveries_total{outcome="delivered"}' in metrics

    with service.client(KEY_B) as other:  # each tenant has its own secret
        assert other.get("/v1/webhooks/secret").json()["secret"] != secret


def test_a_receiver_down_at_first_gets_the_delivery_once_it_is_back(service, make_layout_body) -> None:
    port = free_port()  # nothing listens here yet
    with service.client() as client:
        body = make_layout_body(webhook_url=f"http://127.0.0.1:{port}/hook")
        job = client.post("/v1/generations", json=body, headers={"Prefer": "wait=60"}).json()
    assert job["status"] == "succeeded"
    failed = service.wait_job(
        job["id"], lambda j: len(j["webhook"]["deliveries"]) >= 2, 20, "failed attempts"
    )
    assert not any(d["delivered"] for d in failed["webhook"]["deliveries"])
    assert failed["webhook"]["deliveries"][0]["error"] == "ConnectError"

    late = Receiver(port)
    try:
        wait_until(lambda: late.received, 30, what="the delivery after the receiver came back")
        final = service.wait_job(
            job["id"], lambda j: j["webhook"]["deliveries"][-1]["delivered"], 10, "success"
        )
    finally:
        late.close()
    deliveries = final["webhook"]["deliveries"]
    assert len({d["webhook_id"] for d in deliveries}) == 1  # one message, retried under one webhook-id
    assert deliveries[-1]["attempt"] == len(deliveries) >= 3
    assert late.received[0]["headers"]["webhook-id"] == deliveries[0]["webhook_id"]


def test_unsafe_webhook_targets_are_refused(service, make_layout_body) -> None:
    with service.client() as client:
        for url, needle in [
            ("ftp://example.com/hook", "http(s)"),
            ("https://user:pw@example.com/hook", "credentials"),
            ("https://example.com/" + "a" * 2100, "2048"),
        ]:
            response = client.post("/v1/generations", json=make_layout_body(webhook_url=url))
            assert response.status_code == 422, (url, response.text)
            assert response.json()["errors"][0]["field"] == "webhook_url", response.text
            assert needle in response.text
        events_only = client.post("/v1/generations", json=make_layout_body(webhook_events=["succeeded"]))
        assert events_only.status_code == 422 and "webhook_url" in events_only.text


def test_a_delivery_in_flight_when_its_api_process_dies_is_sent_again_with_the_same_id(
    service, make_layout_body
) -> None:
    stalling = Receiver(free_port(), stall_s=4.0)  # holds the first answer while the API is killed
    try:
        url = f"http://127.0.0.1:{stalling.server.server_port}/hook"
        with service.client() as client:
            job = client.post("/v1/generations", json=make_layout_body(webhook_url=url)).json()
        wait_until(lambda: stalling.received, 60, what="the first delivery to arrive")
        service.api.kill()  # SIGKILL: the delivery in hand is neither finished nor recorded
        service.api.wait()
        stalling.stall_s = 0.0
        service.start_api()
        wait_until(lambda: len(stalling.received) >= 2, 30, what="the delivery sent again")
    finally:
        stalling.close()
    first, again = stalling.received[0]["headers"], stalling.received[1]["headers"]
    assert first["webhook-id"] == again["webhook-id"]
    final = service.wait_job(job["id"], lambda j: j["webhook"]["deliveries"], 10, "the recorded delivery")
    assert final["webhook"]["deliveries"][-1]["delivered"]

"""The drills. Each takes a running ``Cluster``, measures, and returns its figures and the promises it broke."""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from drill.bad_inputs import bad_requests
from drill.cluster import KEY_A, KEY_B, Cluster, free_port, wait_until

PROBLEM = "application/problem+json"
TERMINAL = {"succeeded", "failed", "canceled"}


@dataclass
class Outcome:
    """One drill's measured figures, and each broken promise as a sentence."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)


def layout_body(steps: int, seed: int) -> dict:
    """A two-region job on a 128 px canvas; the tiny model takes about 10 ms a step on this machine kind."""
    return {
        "layout": {
            "width": 128,
            "height": 128,
            "base_prompt": "a red circle and a blue square",
            "regions": [
                {"prompt": "a red circle", "box": [0.0, 0.0, 0.5, 1.0]},
                {"prompt": "a blue square", "box": [0.5, 0.0, 1.0, 1.0]},
            ],
        },
        "steps": steps,
        "seed": seed,
    }


def submit(client: httpx.Client, steps: int, seed: int) -> str:
    response = client.post("/v1/generations", json=layout_body(steps, seed))
    response.raise_for_status()
    return response.json()["id"]


def wait_terminal(cluster: Cluster, ids: list[str], timeout: float) -> dict[str, dict]:
    """The final records of ``ids`` (read straight from Redis); raises TimeoutError past ``timeout``."""
    from worker.store import JobStore

    store = JobStore(cluster.redis(), "drill")
    records: dict[str, dict] = {}

    def all_done() -> bool:
        for gid in ids:
            if gid not in records:
                record = store.get(gid)
                if record is not None and record["status"] in TERMINAL:
                    records[gid] = record
        return len(records) == len(ids)

    wait_until(all_done, timeout, f"{len(ids)} jobs to finish", 0.25)
    return records


# -- worker kills ---------------------------------------------------------------------------------------
ATTEMPT_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ worker\.tasks: generation (?P<gid>\S+): "
    r"attempt (?P<worker>[^/\s]+)/(?P<token>\S+) (?P<event>started|ended|lost the job|gave up)"
)


def attempts_from_log(text: str) -> dict[str, list[dict]]:
    """generation id -> its attempts as {worker, start, end, completed}, from the workers' log lines."""
    attempts: dict[tuple[str, str], dict] = {}
    for line in text.splitlines():
        match = ATTEMPT_LINE.match(line)
        if not match:
            continue
        when = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        entry = attempts.setdefault(
            (match["gid"], match["token"]),
            {"worker": match["worker"], "start": None, "end": None, "completed": False},
        )
        if match["event"] == "started":
            entry["start"] = when
        else:
            entry["end"] = when
            entry["completed"] = match["event"] == "ended"
    by_generation: dict[str, list[dict]] = {}
    for (gid, _), entry in attempts.items():
        by_generation.setdefault(gid, []).append(entry)
    return by_generation


def double_runs(attempts: dict[str, list[dict]], killed_at: dict[str, float]) -> list[str]:
    """Generations where two attempts both completed, or one started while another was still running
    (an attempt runs from its start until it ended, lost the job, or its worker was killed)."""
    found = []
    for gid, runs in attempts.items():
        if sum(r["completed"] for r in runs) > 1:
            found.append(gid)
            continue
        spans = []
        for run in runs:
            end = run["end"] if run["end"] is not None else killed_at.get(run["worker"], float("inf"))
            spans.append((run["start"] or 0.0, end))
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)):
            found.append(gid)
    return found


def worker_kills(cluster: Cluster, kills: int, workers: int = 3, steps: int = 250) -> Outcome:
    """Kill the worker of a running job ``kills`` times (SIGKILL, a new worker started at once)."""
    outcome = Outcome("worker_kills")
    cluster.ensure_workers(workers)
    bound = cluster.lease_s + cluster.reaper_interval_s
    out_of_running: list[float] = []
    killed_jobs: list[str] = []
    killed_at: dict[str, float] = {}
    watchers: list[threading.Thread] = []

    def watch(gid: str, since: float) -> None:
        """Time from the kill until the killed attempt no longer holds the job (read from Redis every 20 ms):
        the job left ``running``, or a new attempt already took it (a free worker can do so within ms)."""
        redis = cluster.redis()
        key = f"drill:gen:{gid}"
        killed_attempt = redis.hget(key, "attempt")
        deadline = since + 120
        while time.time() < deadline:
            status, attempt = redis.hmget(key, "status", "attempt")
            if status != b"running" or attempt != killed_attempt:
                out_of_running.append(time.time() - since)
                return
            time.sleep(0.02)
        out_of_running.append(float("inf"))

    with cluster.client() as client:
        for index in range(kills):
            gid = submit(client, steps, seed=index)
            name = wait_until(
                lambda gid=gid: _running_on_a_worker(cluster, gid), 120, f"job {gid} to start running", 0.02
            )
            if name not in cluster.workers:
                continue  # it ran on a worker killed earlier, whose job was retried: not this kill's
            cluster.kill_worker(name)
            killed_at[name] = time.time()
            killed_jobs.append(gid)
            watcher = threading.Thread(target=watch, args=(gid, killed_at[name]), daemon=True)
            watcher.start()
            watchers.append(watcher)
            cluster.start_worker()
            if len(cluster.ready_workers()) == 0:
                cluster.wait_workers_ready(1)
    for watcher in watchers:
        watcher.join(timeout=130)
    records = wait_terminal(cluster, killed_jobs, timeout=300)
    lost = [gid for gid, record in records.items() if record["status"] != "succeeded"]
    attempts = attempts_from_log((cluster.workdir / "logs" / "workers.log").read_text(errors="replace"))
    doubles = double_runs(attempts, killed_at)
    slow = [t for t in out_of_running if t > bound]
    outcome.figures.update(
        kills=len(killed_jobs),
        lost=len(lost),
        double_runs=len(doubles),
        out_of_running_s={
            "min": round(min(out_of_running), 2),
            "median": round(statistics.median(out_of_running), 2),
            "max": round(max(out_of_running), 2),
            "bound": bound,
        },
        attempts_refused=sum(
            1 for line in _lines(cluster, "workers.log") if "not claimed by this run" in line
        ),
    )
    outcome.check(len(killed_jobs) == kills, f"only {len(killed_jobs)} of {kills} kills hit a running job")
    outcome.check(not lost, f"{len(lost)} killed jobs did not succeed: {lost[:5]}")
    outcome.check(not doubles, f"{len(doubles)} jobs ran twice at once: {doubles[:5]}")
    outcome.check(not slow, f"{len(slow)} killed jobs stayed running past lease + reaper ({bound} s)")
    refused = outcome.figures["attempts_refused"]
    outcome.check(refused == 0, f"{refused} runs found their job held by another: RQ ran a job twice")
    return outcome


def _running_on_a_worker(cluster: Cluster, gid: str) -> str | None:
    """The name of the worker running the job (the API does not show it: read from Redis), else None."""
    status, worker = cluster.redis().hmget(f"drill:gen:{gid}", "status", "worker")
    return worker.decode() if status == b"running" and worker else None


def _lines(cluster: Cluster, log: str) -> list[str]:
    return (cluster.workdir / "logs" / log).read_text(errors="replace").splitlines()


# -- Redis outage ---------------------------------------------------------------------------------------
def redis_outage(cluster: Cluster, outage_s: float, jobs: int = 6, steps: int = 250) -> Outcome:
    """Jobs running and queued, Redis killed for ``outage_s``, then restarted: every job must finish,
    without restarting the API or a worker; meanwhile the API answers 503 problem+json, promptly."""
    outcome = Outcome("redis_outage")
    cluster.ensure_workers(2)
    with cluster.client(timeout=30) as client:
        ids = [submit(client, steps, seed=1000 + i) for i in range(jobs)]
        wait_until(lambda: _running_on_a_worker(cluster, ids[0]), 60, "the first job to run", 0.02)
        cluster.kill_redis()
        answers: list[tuple[int, str, float]] = []
        ended = time.monotonic() + outage_s
        while time.monotonic() < ended:
            for method, path in (("GET", f"/v1/generations/{ids[-1]}"), ("POST", "/v1/generations")):
                started = time.monotonic()
                try:
                    body = layout_body(steps, 1) if method == "POST" else None
                    response = client.request(method, path, json=body)
                    answers.append((response.status_code, response.headers.get("content-type", ""),
                                    time.monotonic() - started))  # fmt: skip
                except httpx.HTTPError as exc:
                    answers.append((0, type(exc).__name__, time.monotonic() - started))
            time.sleep(0.25)
        cluster.start_redis()
        recovered_at = time.monotonic()
        records = wait_terminal(cluster, ids, timeout=180)
        recovery_s = time.monotonic() - recovered_at
    statuses = sorted({code for code, _, _ in answers})
    not_503 = [a for a in answers if a[0] != 503 or not a[1].startswith(PROBLEM)]
    slowest = max(t for _, _, t in answers)
    unfinished = [gid for gid, record in records.items() if record["status"] != "succeeded"]
    alive = cluster.alive()
    outcome.figures.update(
        outage_s=outage_s,
        requests_during_outage=len(answers),
        statuses_during_outage=statuses,
        slowest_answer_s=round(slowest, 2),
        jobs=jobs,
        jobs_succeeded=jobs - len(unfinished),
        all_done_after_recovery_s=round(recovery_s, 1),
        processes_alive=all(alive.values()),
    )
    outcome.check(
        not not_503, f"{len(not_503)} answers during the outage were not 503 problem+json: {statuses}"
    )
    outcome.check(slowest <= 5.0, f"an answer during the outage took {slowest:.1f} s (over 5 s)")
    outcome.check(not unfinished, f"{len(unfinished)} jobs did not succeed after recovery: {unfinished}")
    outcome.check(
        all(alive.values()), f"processes died in the outage: {[n for n, a in alive.items() if not a]}"
    )
    return outcome


# -- load -----------------------------------------------------------------------------------------------
LOAD_ROUNDS = 4
"""The load drill measures each target in this many slices, taking turns (the order rotated each round), so
that a slow spell of the machine (2 shared cores) weighs on all three alike, not on whichever ran then."""


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: {"5xx": 0, "other": 0})

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "requests": len(latencies),
            "per_s": round(len(latencies) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
            **self.errors,
        }


async def _load(url: str, headers: dict[str, str], clients: int, seconds: float, tally: _Tally) -> None:
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:

        async def one_client() -> None:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    tally.errors["other"] += 1
                    continue
                tally.latencies.append(time.monotonic() - started)
                if response.status_code >= 500:
                    tally.errors["5xx"] += 1
                elif response.status_code != 200:
                    tally.errors["other"] += 1

        began = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        tally.elapsed += time.monotonic() - began


def load(cluster: Cluster, clients: int, seconds: float) -> Outcome:
    """Status reads and listing under ``clients`` concurrent clients, beside a minimal FastAPI endpoint
    that reads one Redis hash (the machine's limit), each measured the same way, taking turns
    (``LOAD_ROUNDS``)."""
    import sys

    outcome = Outcome("load")
    cluster.ensure_workers(1)
    with cluster.client() as client:
        ids = [submit(client, steps=2, seed=2000 + i) for i in range(20)]
    wait_terminal(cluster, ids, timeout=120)
    port = free_port()
    baseline = cluster.spawn(
        "baseline",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "drill.baseline:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
    )
    cluster.others.append(baseline)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the minimal endpoint", 0.2)
    auth = {"Authorization": f"Bearer {KEY_A}"}
    targets = {
        "minimal_endpoint": (f"http://127.0.0.1:{port}/record/{ids[0]}", {}),
        "status_read": (f"{cluster.base_url}/v1/generations/{ids[0]}", auth),
        "list": (f"{cluster.base_url}/v1/generations?limit=20", auth),
    }
    tallies = {name: _Tally() for name in targets}
    names = list(targets)
    for round_index in range(LOAD_ROUNDS):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            url, headers = targets[name]
            asyncio.run(_load(url, headers, clients, seconds / LOAD_ROUNDS, tallies[name]))
    results = {name: tally.summary() for name, tally in tallies.items()}
    base = results["minimal_endpoint"]
    outcome.figures.update(clients=clients, seconds=seconds, **results)
    for name in ("status_read", "list"):
        result = results[name]
        outcome.check(result["5xx"] == 0, f"{name}: {result['5xx']} answers were 5xx")
        outcome.check(result["other"] == 0, f"{name}: {result['other']} requests failed or were not 200")
        outcome.check(
            result["per_s"] >= 0.5 * base["per_s"],
            f"{name}: {result['per_s']}/s is under half the minimal endpoint's {base['per_s']}/s",
        )
        outcome.check(
            result["p99_ms"] <= 2 * base["p99_ms"],
            f"{name}: p99 {result['p99_ms']} ms is over twice the minimal endpoint's {base['p99_ms']} ms",
        )
    return outcome


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- bad inputs and tenants -----------------------------------------------------------------------------
def bad_inputs(cluster: Cluster) -> Outcome:
    """The corpus of malformed, oversized and hostile requests: each must be a 4xx problem+json; and no
    key may see, cancel or list another key's job."""
    outcome = Outcome("bad_inputs")
    cluster.ensure_workers(1)
    five_xx, not_problem, not_refused = [], [], []
    corpus = bad_requests(KEY_A)
    for case in corpus:
        try:  # a connection per case: one the server closed (an oversized body) must not fail the next
            with httpx.Client(base_url=cluster.base_url, timeout=30) as client:
                response = client.request(case.method, case.path, headers=case.headers, content=case.content)
        except httpx.TransportError as exc:
            if not case.may_close:
                not_refused.append(f"{case.name}: {type(exc).__name__}")
            continue
        if response.status_code >= 500:
            five_xx.append(f"{case.name}: {response.status_code}")
        elif not 400 <= response.status_code < 500:
            not_refused.append(f"{case.name}: {response.status_code}")
        elif not response.headers.get("content-type", "").startswith(PROBLEM):
            not_problem.append(case.name)
    leaks = _cross_tenant_leaks(cluster)
    outcome.figures.update(cases=len(corpus), five_xx=len(five_xx), accepted=len(not_refused),
                           cross_tenant_attempts=leaks[0], leaks=len(leaks[1]))  # fmt: skip
    outcome.check(not five_xx, f"5xx answers: {five_xx}")
    outcome.check(not not_refused, f"bad requests accepted: {not_refused}")
    outcome.check(not not_problem, f"4xx answers that are not problem+json: {not_problem}")
    outcome.check(not leaks[1], f"another tenant's job was reachable: {leaks[1]}")
    return outcome


def _cross_tenant_leaks(cluster: Cluster) -> tuple[int, list[str]]:
    """Key B tries every route on key A's jobs; returns (attempts, the ones that reached a job)."""
    with cluster.client(KEY_A) as owner:
        ids = [submit(owner, steps=2, seed=3000 + i) for i in range(5)]
    attempts, leaks = 0, []
    with cluster.client(KEY_B) as other:
        for gid in ids:
            for method, path in (("GET", f"/v1/generations/{gid}"), ("POST", f"/v1/generations/{gid}/cancel"),
                                 ("GET", f"/v1/generations/{gid}/images/0"),
                                 ("GET", f"/v1/generations/{gid}/layout.png")):  # fmt: skip
                attempts += 1
                if other.request(method, path).status_code != 404:
                    leaks.append(f"{method} {path}")
        attempts += 1
        listed = {item["id"] for item in other.get("/v1/generations?limit=100").json()["data"]}
        leaks += [f"listed {gid}" for gid in set(ids) & listed]
    return attempts, leaks

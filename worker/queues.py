"""Enqueueing stages by dotted function name (the API never imports the task code) and reading queues."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from redis import Redis
from redis.exceptions import LockError
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from worker.keys import GENERATE, PLAN, STAGES, Keys
from worker.settings import ServiceSettings
from worker.store import FAILED, QUEUED, RUNNING, JobStore

logger = logging.getLogger(__name__)

TASKS = {PLAN: "worker.tasks.plan_stage", GENERATE: "worker.tasks.generate_stage"}
"""Dotted names of the stage functions; each takes (generation_id, namespace)."""

STAGE_OF_TASK = {task: stage for stage, task in TASKS.items()}

ON_FAILURE = "worker.callbacks.on_stage_failure"
"""Runs where RQ notices a failure the task did not handle itself, e.g. a worker found dead."""

LIVE = frozenset(
    {JobStatus.CREATED, JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.STARTED}
)
"""RQ job statuses in which the job will still run (or is running): a record with one is not lost."""


def queue(redis: Redis, keys: Keys, stage: str) -> Queue:
    return Queue(keys.queue(stage), connection=redis, serializer=JSONSerializer)


def stage_timeout_s(settings: ServiceSettings, stage: str) -> int:
    """Longest a stage may run: planning's is the planner's one budget (plus its margin), so that the
    planner's own offline fallback always runs before the stage is cut off."""
    if stage == PLAN:
        from planner.settings import get_settings as get_planner_settings

        return math.ceil(get_planner_settings().deadline_s)
    return settings.job_timeout_s


def enqueue_stage(redis: Redis, settings: ServiceSettings, generation_id: str, stage: str) -> str:
    """Put one stage of a generation on its queue, unless its RQ job exists already. Returns the RQ job id.

    The RQ job id is deterministic and the check-and-push is one atomic script (RQ's ``unique``), so the
    API, a plan worker and the reaper's sweep may all try: the stage is queued once.
    """
    keys = Keys(settings.namespace)
    job_id = keys.rq_job_id(generation_id, stage)
    timeout = stage_timeout_s(settings, stage)
    try:
        queue(redis, keys, stage).enqueue(
            TASKS[stage],
            generation_id,
            settings.namespace,
            job_id=job_id,
            job_timeout=timeout,
            result_ttl=3600,
            failure_ttl=settings.job_ttl_s,
            retry=Retry(max=settings.max_retries) if settings.max_retries else None,
            on_failure=Callback(ON_FAILURE),
            unique=True,
        )
    except DuplicateJobError:
        logger.info("generation %s: stage %s is queued already", generation_id, stage)
    return job_id


def queue_positions(redis: Redis, keys: Keys, waiting: list[tuple[str, str]]) -> list[int | None]:
    """0-based positions of waiting jobs, given as (stage, RQ job id), in their queues (None: not there), in
    one round trip (LPOS: Redis 6.0.6 or newer)."""
    with redis.pipeline(transaction=False) as pipe:
        for stage, rq_job_id in waiting:
            pipe.lpos(queue(redis, keys, stage).key, rq_job_id)
        return pipe.execute()


def remove_waiting(redis: Redis, rq_job_id: str) -> None:
    """Take a waiting job off its queue and delete it (a canceled job must not occupy a worker)."""
    job = fetch_job(redis, rq_job_id)
    if job is not None:
        job.delete(remove_from_queue=True)


def queue_depths(redis: Redis, keys: Keys) -> dict[str, int]:
    return {stage: queue(redis, keys, stage).count for stage in STAGES}


def reap_lost_jobs(redis: Redis, keys: Keys) -> None:
    """Handle started jobs whose worker stopped heartbeating: retried, or failed with ``worker_lost``.

    RQ's registry cleanup calls ``worker.callbacks.on_stage_failure`` for each, which updates the record.
    It runs that callback under a death penalty; RQ's default one uses SIGALRM, which raises in any thread
    but the main one, and the reaper runs in threads (the API's threadpool, a worker's presence thread):
    the callback would never run and the record would stay ``running``. The timer-based one works anywhere.
    """
    for stage in STAGES:
        StartedJobRegistry(
            keys.queue(stage),
            connection=redis,
            serializer=JSONSerializer,
            death_penalty_class=TimerDeathPenalty,
        ).cleanup()


def fetch_job(redis: Redis, rq_job_id: str) -> Job | None:
    return Job.fetch_many([rq_job_id], connection=redis, serializer=JSONSerializer)[0]


REAPING_HOLD_S = 60
"""Longest one process may hold the reaper's mutex (a sweep takes milliseconds; a process killed while
holding it blocks the others this long at most)."""


@contextmanager
def reaping(redis: Redis, keys: Keys) -> Iterator[bool]:
    """Hold the reaper's mutex while handing lost jobs back; yields False when another process holds it.

    Both the service's reaper and RQ's own registry maintenance (in every worker) retry abandoned jobs; two
    of them cleaning at once would both retry the same job, and two workers would run it.
    """
    mutex = redis.lock(keys.reaper_mutex(), timeout=REAPING_HOLD_S, blocking=False)
    held = mutex.acquire()
    try:
        yield held
    finally:
        if held:
            with suppress(LockError):  # it expired: another process may hold it now, which is fine
                mutex.release()


def sweep_period_s(settings: ServiceSettings) -> float:
    """How often processes try to sweep: twice per reaper interval, so that a lost job is found within its
    lease plus one reaper interval even when a sweep runs late on a busy machine."""
    return settings.reaper_interval_s / 2


def reap_if_due(redis: Redis, settings: ServiceSettings) -> bool:
    """Look for lost jobs unless some process (API or worker) did so within the last sweep period, or is
    doing so now."""
    keys = Keys(settings.namespace)
    lock_ms = max(int(sweep_period_s(settings) * 1000) - 50, 100)
    if not redis.set(keys.reaper_lock(), "1", nx=True, px=lock_ms):
        return False
    with reaping(redis, keys) as held:
        if held:
            reap_lost_jobs(redis, keys)
            hand_back_orphaned_runs(redis, settings)
            requeue_lost_enqueues(redis, settings)
        return held


def hand_back_orphaned_runs(redis: Redis, settings: ServiceSettings) -> list[str]:
    """Put back to ``queued`` the jobs left ``running`` by an attempt that is gone (its lease expired) while
    RQ has no live run of their stage, so the sweep below enqueues them again.

    RQ hands a lost run back by itself (``reap_lost_jobs``), unless it believes the stage done: a second run
    of the same RQ job that found the job held by another attempt (or lost it) ends as RQ's "finished", and
    when the attempt that held it dies, RQ's cleanup skips a job that is not "started". Returns the ids.
    """
    store = JobStore(redis, settings.namespace, settings.job_ttl_s)
    handed_back = []
    for generation_id in store.running_ids():
        record = store.get(generation_id)
        if record is None or record["status"] != RUNNING:
            store.unindex_running(generation_id)  # expired while running (or a stale entry)
            continue
        stage = record.get("stage_queue")
        if store.lease_held(generation_id) or stage not in TASKS:
            continue
        job = fetch_job(redis, store.keys.rq_job_id(generation_id, stage))
        if job is not None and job.get_status(refresh=False) in LIVE:
            continue  # RQ runs it, or will find its run lost and retry it
        lost = {"code": "worker_lost", "message": "the worker running this job stopped responding"}
        if store.transition(
            generation_id, (RUNNING,), QUEUED, attempt=record.get("attempt", ""), last_error=lost, worker=""
        ):
            logger.warning(
                "generation %s: running with no live attempt; handed back to its queue", generation_id
            )
            store.recheck_queued_now(generation_id)
            handed_back.append(generation_id)
    return handed_back


def requeue_lost_enqueues(redis: Redis, settings: ServiceSettings) -> list[str]:
    """Enqueue again the jobs that are ``queued`` with no live RQ job for over ``requeue_grace_s``.

    That happens when a process dies between writing the record and enqueueing its stage: the API after
    creating a job, or a plan worker after handing the job to the generate stage (the retried plan stage
    sees the job has moved on). Each job gets at most ``max_retries`` such re-enqueues; past them, or when
    the record names no stage, it fails with ``queue_lost``. Returns the ids enqueued again.
    """
    store = JobStore(redis, settings.namespace, settings.job_ttl_s)
    requeued = []
    for generation_id in store.queued_before(time.time() - settings.requeue_grace_s):
        record = store.get(generation_id)
        if record is None or record["status"] != QUEUED:
            store.unindex_queued(generation_id)  # expired while queued (or a stale entry)
            continue
        stage = record.get("stage_queue")
        if stage not in TASKS:
            _fail_lost(store, generation_id, f"the job names no stage to queue ({stage!r})")
            continue
        job = fetch_job(redis, store.keys.rq_job_id(generation_id, stage))
        if job is not None and job.get_status(refresh=False) in LIVE:
            store.recheck_queued_later(generation_id)
            continue
        if record.get("requeues", 0) >= settings.max_retries:
            _fail_lost(store, generation_id, "the job was lost from its queue and has no retries left")
            continue
        logger.warning("generation %s: queued with no %s job; enqueueing it again", generation_id, stage)
        if job is not None:
            job.delete()  # a finished or failed run of this stage, which the record never saw
        store.incr_requeues(generation_id)
        store.recheck_queued_later(generation_id)
        enqueue_stage(redis, settings, generation_id, stage)
        requeued.append(generation_id)
    return requeued


def _fail_lost(store: JobStore, generation_id: str, message: str) -> None:
    logger.warning("generation %s: %s", generation_id, message)
    store.transition(
        generation_id,
        (QUEUED,),
        FAILED,
        error={"code": "queue_lost", "message": message},
        t_finished=time.time(),
    )


def live_workers(redis: Redis, keys: Keys) -> list[dict]:
    """Presence records of workers that are alive with their model loaded (see ``worker.runner.Presence``)."""
    found = []
    for key in redis.scan_iter(match=keys.worker_ready_pattern(), count=100):
        raw = redis.get(key)
        if raw:
            found.append(json.loads(raw))
    return found

"""Enqueueing stages by dotted function name (the API never imports the task code) and reading queues."""

from __future__ import annotations

import json

from redis import Redis
from rq import Callback, Queue, Retry
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from worker.keys import GENERATE, PLAN, STAGES, Keys
from worker.settings import ServiceSettings

TASKS = {PLAN: "worker.tasks.plan_stage", GENERATE: "worker.tasks.generate_stage"}
"""Dotted names of the stage functions; each takes (generation_id, namespace)."""

STAGE_OF_TASK = {task: stage for stage, task in TASKS.items()}

ON_FAILURE = "worker.callbacks.on_stage_failure"
"""Runs where RQ notices a failure the task did not handle itself, e.g. a worker found dead."""


def queue(redis: Redis, keys: Keys, stage: str) -> Queue:
    return Queue(keys.queue(stage), connection=redis, serializer=JSONSerializer)


def enqueue_stage(redis: Redis, settings: ServiceSettings, generation_id: str, stage: str) -> str:
    """Put one stage of a generation on its queue. Returns the RQ job id."""
    keys = Keys(settings.namespace)
    timeout = settings.plan_timeout_s if stage == PLAN else settings.job_timeout_s
    job = queue(redis, keys, stage).enqueue(
        TASKS[stage],
        generation_id,
        settings.namespace,
        job_id=keys.rq_job_id(generation_id, stage),
        job_timeout=timeout,
        result_ttl=3600,
        failure_ttl=settings.job_ttl_s,
        retry=Retry(max=settings.max_retries) if settings.max_retries else None,
        on_failure=Callback(ON_FAILURE),
    )
    return job.id


def queue_position(redis: Redis, keys: Keys, stage: str, rq_job_id: str) -> int | None:
    """0-based position of a waiting job in its queue, None when it is not waiting there."""
    return queue(redis, keys, stage).get_job_position(rq_job_id)


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


def reap_if_due(redis: Redis, settings: ServiceSettings) -> bool:
    """Look for lost jobs unless some process (API or worker) did so within the last reaper interval."""
    keys = Keys(settings.namespace)
    lock_ms = max(int(settings.reaper_interval_s * 1000) - 50, 100)
    if not redis.set(keys.reaper_lock(), "1", nx=True, px=lock_ms):
        return False
    reap_lost_jobs(redis, keys)
    return True


def live_workers(redis: Redis, keys: Keys) -> list[dict]:
    """Presence records of workers that are alive with their model loaded (see ``worker.runner.Presence``)."""
    found = []
    for key in redis.scan_iter(match=keys.worker_ready_pattern(), count=100):
        raw = redis.get(key)
        if raw:
            found.append(json.loads(raw))
    return found

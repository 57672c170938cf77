"""The worker process: a non-forking RQ worker with a short heartbeat lease and a presence record.

RQ's SimpleWorker keeps the model warm (no fork per job, so CUDA stays initialised) but leases a started
job for its whole timeout + 60 s. Here the lease is ``REGIONAL_LEASE_S`` and a thread renews it (and the
job's attempt lease, see ``JobStore.claim``) while the job runs, so a worker killed mid-job is found within
about one lease plus one reaper interval.

A worker rides out a Redis outage: its connection retries each command with backoff for about
``REGIONAL_REDIS_RETRY_S``, and past that, where RQ's loop would quit ("unhandled exception"), it waits for
Redis and goes on. A job whose record could not be written meanwhile is retried after its lease.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq.job import Job
from rq.queue import Queue
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from worker.exceptions import REDIS_UNREACHABLE
from worker.keys import Keys
from worker.queues import reap_if_due, reaping, sweep_period_s
from worker.settings import ServiceSettings
from worker.store import JobStore

logger = logging.getLogger(__name__)
RETRY_BACKOFF_CAP_S = 2.0


def worker_redis(settings: ServiceSettings) -> Redis:
    """The worker's connection: each command retried with exponential backoff (0.2 s doubling, at most
    ``RETRY_BACKOFF_CAP_S``) for about ``settings.redis_retry_s`` before it raises. Only connection errors
    and timeouts are retried (not redis-py's default ``socket.timeout`` as well, which would retry the
    connect inside each retry of the command: minutes instead of seconds against an unreachable host)."""
    backoff = ExponentialBackoff(cap=RETRY_BACKOFF_CAP_S, base=0.1)
    retries, waited = 0, 0.0
    while waited < settings.redis_retry_s:
        retries += 1
        waited += backoff.compute(retries)
    return Redis.from_url(
        settings.redis_url,
        retry=Retry(backoff, retries, supported_errors=REDIS_UNREACHABLE),
        retry_on_error=list(REDIS_UNREACHABLE),
        socket_connect_timeout=5,
    )


class LeasedSimpleWorker(SimpleWorker):
    """SimpleWorker whose started jobs carry a short lease, renewed by a thread while they run, and whose
    loop outlives Redis outages."""

    def __init__(self, *args: Any, namespace: str = "regional", lease_s: int = 30, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.namespace, self.lease_s = namespace, lease_s

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.lease_s

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = None
        try:
            execution = self.prepare_execution(job)
            stop = threading.Event()
            renewer = threading.Thread(
                target=self._renew_lease, args=(job, execution, stop), name="lease", daemon=True
            )
            renewer.start()
            try:
                self.perform_job(job, queue, execution)
            finally:
                stop.set()
                renewer.join()
            self.set_state(WorkerStatus.IDLE)
        except REDIS_UNREACHABLE:
            logger.error(
                "job %s: Redis unreachable while recording it; it is retried after its lease", job.id
            )
            if execution is not None:
                self.executions.pop(execution.id, None)
            self.wait_for_redis()

    def _renew_lease(self, job: Job, execution: Any, stop: threading.Event) -> None:
        store = JobStore(self.connection, self.namespace)
        while not stop.wait(max(self.lease_s / 3, 0.5)):
            try:
                self.maintain_heartbeats(job, execution)
                store.renew_lease(job.args[0], self.name, self.lease_s)
            except Exception:
                logger.exception("could not renew the lease of job %s", job.id)

    def clean_registries(self) -> None:
        """RQ's own maintenance, under the reaper's mutex (see ``worker.queues.reaping``)."""
        with reaping(self.connection, Keys(self.namespace)) as held:
            if held:
                super().clean_registries()
            else:
                self.last_cleaned_at = now()

    # -- the parts of RQ's loop outside its dequeue (which retries by itself) quit on a Redis error --------
    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().heartbeat(*args, **kwargs)
        except REDIS_UNREACHABLE:
            self.wait_for_redis()

    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline)
        except REDIS_UNREACHABLE:
            self.wait_for_redis()

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except REDIS_UNREACHABLE:
            self.wait_for_redis()

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except REDIS_UNREACHABLE:
            self.wait_for_redis()

    def wait_for_redis(self) -> None:
        """Block until Redis answers (each ping retries with backoff) or a stop is requested."""
        while not self._stop_requested:
            try:
                self.connection.ping()
                logger.warning("worker %s: Redis answers again; going on", self.name)
                return
            except REDIS_UNREACHABLE as exc:
                logger.error("worker %s: Redis unreachable (%s); still waiting", self.name, exc)


class Presence(threading.Thread):
    """Publishes 'alive, model loaded' under an expiring key and looks for lost jobs now and then."""

    def __init__(self, redis: Redis, settings: ServiceSettings, name: str, info: dict[str, Any]) -> None:
        super().__init__(name="presence", daemon=True)
        self.redis, self.settings, self.keys = redis, settings, Keys(settings.namespace)
        self.key = self.keys.worker_ready(name)
        self.info = {**info, "name": name, "pid": os.getpid(), "host": socket.gethostname()}
        self.ttl = max(settings.lease_s, 6)
        self.stopped = threading.Event()

    def run(self) -> None:
        next_reap = 0.0
        while True:
            try:
                self.redis.set(self.key, json.dumps({**self.info, "seen": time.time()}), ex=self.ttl)
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + sweep_period_s(self.settings)
                    reap_if_due(self.redis, self.settings)
            except Exception:
                logger.exception("presence update failed")
            if self.stopped.wait(min(self.ttl / 3, sweep_period_s(self.settings))):
                break
        self.redis.delete(self.key)

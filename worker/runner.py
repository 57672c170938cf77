"""The worker process: a non-forking RQ worker with a short heartbeat lease and a presence record.

RQ's SimpleWorker keeps the model warm (no fork per job, so CUDA stays initialised) but leases a started
job for its whole timeout + 60 s. Here the lease is ``REGIONAL_LEASE_S`` and a thread renews it while the
job runs, so a worker killed mid-job is found within about one lease plus one reaper interval.
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
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker, WorkerStatus

from worker.keys import Keys
from worker.queues import reap_if_due
from worker.settings import ServiceSettings

logger = logging.getLogger(__name__)


class LeasedSimpleWorker(SimpleWorker):
    """SimpleWorker whose started jobs carry a short lease, renewed by a thread while they run."""

    lease_s: int = 30

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.lease_s

    def execute_job(self, job: Job, queue: Queue) -> None:
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

    def _renew_lease(self, job: Job, execution: Any, stop: threading.Event) -> None:
        while not stop.wait(max(self.lease_s / 3, 0.5)):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:
                logger.exception("could not renew the lease of job %s", job.id)


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
                    next_reap = time.monotonic() + self.settings.reaper_interval_s
                    reap_if_due(self.redis, self.settings)
            except Exception:
                logger.exception("presence update failed")
            if self.stopped.wait(min(self.ttl / 3, self.settings.reaper_interval_s)):
                break
        self.redis.delete(self.key)

"""RQ failure callback: the one place where failures the task itself could not record reach the record."""

from __future__ import annotations

import logging
import time
from types import TracebackType

from redis import Redis
from rq.exceptions import AbandonedJobError
from rq.job import Job

from worker.exceptions import INTERNAL_ERROR_MESSAGE, REDIS_UNREACHABLE
from worker.queues import STAGE_OF_TASK
from worker.store import ACTIVE, CANCELED, QUEUED, JobStore

logger = logging.getLogger(__name__)


def on_stage_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException],
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """A worker died mid-job (AbandonedJobError), lost Redis past its retries, or the task raised. Called
    before RQ retries the job."""
    generation_id, namespace = job.args[0], job.args[1]
    store = JobStore(connection, namespace)
    record = store.get(generation_id)
    if record is None or record.get("stage_queue") != STAGE_OF_TASK.get(job.func_name):
        return  # the job has moved on to its next stage (or expired): this stage's failure is stale
    if issubclass(exc_type, (AbandonedJobError, *REDIS_UNREACHABLE)):
        if issubclass(exc_type, AbandonedJobError):
            lost = {"code": "worker_lost", "message": "the worker running this job stopped responding"}
        else:
            lost = {"code": "redis_unreachable", "message": "the worker running this job lost Redis"}
        if store.cancels_requested([generation_id])[0]:  # canceled before its worker was lost: done
            store.transition(generation_id, ACTIVE, CANCELED, t_finished=time.time())
        elif job.retries_left:
            logger.warning(
                "generation %s: %s, retrying (%s retries left)", generation_id, lost["code"], job.retries_left
            )
            store.transition(generation_id, ACTIVE, QUEUED, last_error=lost, worker="")
        else:
            logger.warning("generation %s: %s, no retries left", generation_id, lost["code"])
            store.fail(generation_id, lost["code"], lost["message"] + " (no retries left)")
        return
    exc_info = (exc_type, exc_value, traceback) if exc_value is not None else None
    logger.error("generation %s: stage failed: %s", generation_id, exc_type.__name__, exc_info=exc_info)
    store.fail(generation_id, "internal_error", INTERNAL_ERROR_MESSAGE)

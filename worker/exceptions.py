"""Exceptions of the queue side. Only the API maps them to HTTP problems."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
"""What redis-py raises when Redis cannot be reached (after the connection's own retries)."""


class WorkerError(Exception):
    """Base class; ``code`` is the machine-readable error code stored on a failed job."""

    code = "internal_error"


INTERNAL_ERROR_MESSAGE = "an internal error stopped the job; the details are in the service log"
"""What a failed job's record says for an unexpected error: exception text can hold paths, URLs or data,
so it is logged (with the generation id) and never stored."""


class JobCanceled(WorkerError):
    """Raised from the step callback when cancel was requested; the job ends ``canceled``."""

    code = "canceled"


class AttemptLost(Exception):
    """Raised inside a stage when another attempt (or a cancel, or the reaper) took the job over: the run
    stops and writes nothing, so exactly one attempt's results reach the record."""


class GenerationNotFound(WorkerError):
    code = "not_found"


class IdempotencyConflict(WorkerError):
    """The Idempotency-Key was used before with a different request body."""

    code = "idempotency_key_reused"


class TooManyActiveJobs(WorkerError):
    """The owner already has as many jobs queued or running as its concurrency quota allows."""

    code = "too_many_active_jobs"

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} of your jobs are queued or running; the limit is {limit}")
        self.active, self.limit = active, limit


class InvalidTransition(WorkerError):
    """The job is not in a state that allows the operation (e.g. cancel after it succeeded)."""

    code = "invalid_state"

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status

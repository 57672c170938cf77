"""Job records: one Redis hash per generation, written by the API and the stage tasks.

A record's ``status`` changes only through ``transition`` (a Lua script: compare-and-set on the status,
plus the per-status counters that ``/metrics`` reads), so a cancel and a worker picking the job up can
never both win. RQ only carries the work; the record is what clients see.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import Any

from redis import Redis

from worker.exceptions import IdempotencyConflict
from worker.keys import Keys

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
ACTIVE = (QUEUED, RUNNING)

JSON_FIELDS = frozenset({"request", "parameters", "layout", "progress", "outputs", "error", "last_error"})
"""Record fields stored as JSON; fields named ``t_*`` are Unix times; ``INT_FIELDS`` are integers."""

INT_FIELDS = frozenset({"attempts", "requeues"})
"""``attempts``: stage runs started (the field ``attempt`` names the latest); ``requeues``: times the reaper
re-enqueued a job its queue had lost."""

STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Upper bounds (seconds) of the stage-duration histograms; +Inf is implied."""

_TRANSITION = f"""
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5] then return 'lost' end
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if status == current then allowed = true end
end
if not allowed then return current end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 6))
if current ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[2], current, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
if ARGV[2] == '{QUEUED}' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
else
  redis.call('ZREM', KEYS[3], ARGV[3])
end
if ARGV[2] == '{RUNNING}' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
else
  redis.call('ZREM', KEYS[4], ARGV[3])
end
return 'OK'
"""
"""KEYS: record, status counts, queued index, running index. ARGV: allowed statuses (comma-separated), new status,
generation id, now (Unix time), the attempt that must hold the record ('' for any), then field, value pairs."""

_CLAIM = f"""
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if redis.call('HGET', KEYS[1], 'stage_queue') ~= ARGV[4] then return 'other stage' end
if current == '{RUNNING}' and redis.call('HGET', KEYS[1], 'attempt') == ARGV[1] then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
  return 'OK'
end
if current ~= '{QUEUED}' and not (current == '{RUNNING}' and redis.call('EXISTS', KEYS[4]) == 0) then
  return current
end
redis.call('HSET', KEYS[1], 'status', '{RUNNING}', 'attempt', ARGV[1], unpack(ARGV, 6))
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if current ~= '{RUNNING}' then
  redis.call('HINCRBY', KEYS[2], current, -1)
  redis.call('HINCRBY', KEYS[2], '{RUNNING}', 1)
end
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3])
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
return 'OK'
"""
"""KEYS: record, status counts, queued index, attempt lease, running index. ARGV: attempt, lease (ms),
generation id, stage, now (Unix time), then field, value pairs. A job is claimed from ``queued``, or from ``running`` once the attempt running it has lost
its lease (it died and nothing handed the job back), never from a live attempt; a job the reaper handed back
to ``queued`` may still have its old attempt running, which finds it lost at its next step and stops. The
same attempt claiming again (redis-py retrying a call whose reply was lost) only renews its lease."""

_ATTEMPT_STATE = f"""
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 'lost' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'canceled' end
if redis.call('HGET', KEYS[1], 'status') ~= '{RUNNING}' then return 'lost' end
return 'ok'
"""
"""KEYS: record, cancel flag. ARGV: attempt."""

_RENEW_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""KEYS: attempt lease. ARGV: holder prefix ('<worker name>/'), lease (ms)."""

_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' and (redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1]
                      or redis.call('HGET', KEYS[1], 'status') ~= 'running') then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""
"""KEYS: record. ARGV: the attempt that must hold the record, running ('' for any), then field, value pairs."""


def _encode(name: str, value: Any) -> str:
    if name in JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _decode(name: str, raw: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(raw)
    if name.startswith("t_"):
        return float(raw)
    if name in INT_FIELDS:
        return int(raw)
    return raw


def _flatten(fields: dict[str, Any]) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, _encode(name, value)]
    return flat


def encode_cursor(score: float, generation_id: str) -> str:
    return base64.urlsafe_b64encode(f"{score:.0f}:{generation_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError on a malformed cursor."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    score, _, generation_id = raw.partition(":")
    return int(score), generation_id


class JobStore:
    """Reads and writes job records. ``redis`` may use raw bytes (as RQ needs) or decoded strings."""

    def __init__(self, redis: Redis, namespace: str, ttl_s: int = 7 * 24 * 3600) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.ttl_s = ttl_s
        self._transition = redis.register_script(_TRANSITION)
        self._update = redis.register_script(_UPDATE_IF_EXISTS)
        self._claim = redis.register_script(_CLAIM)
        self._attempt_state = redis.register_script(_ATTEMPT_STATE)
        self._renew_lease = redis.register_script(_RENEW_LEASE)
        self._release_lease = redis.register_script(_RELEASE_LEASE)

    # -- creation and reading ---------------------------------------------------------------------------
    def create(
        self,
        generation_id: str,
        owner: str,
        fields: dict[str, Any],
        idempotency: tuple[str, str] | None = None,
    ) -> tuple[str, bool]:
        """Store a new ``queued`` record. Returns (id, created).

        ``idempotency`` is (key, body sha256): a key seen before with the same body returns the earlier id
        and ``created=False``; with a different body it raises ``IdempotencyConflict``.
        """
        if idempotency is not None:
            key, body_hash = idempotency
            idem_key = self.keys.idempotency(owner, key)
            if not self.redis.set(idem_key, f"{body_hash} {generation_id}", nx=True, ex=self.ttl_s):
                stored_hash, _, earlier_id = _text(self.redis.get(idem_key) or b"").partition(" ")
                if stored_hash != body_hash:
                    raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
                return earlier_id, False
        now = time.time()
        record = {
            "id": generation_id,
            "owner": owner,
            "status": QUEUED,
            "t_created": now,
            "attempts": 0,
            **fields,
        }
        key = self.keys.generation(generation_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping={name: _encode(name, value) for name, value in record.items()})
            pipe.expire(key, self.ttl_s)
            pipe.zadd(self.keys.owner_index(owner), {generation_id: int(now * 1000)})
            pipe.expire(self.keys.owner_index(owner), self.ttl_s)
            pipe.hincrby(self.keys.status_counts(), QUEUED, 1)
            pipe.zadd(self.keys.queued_index(), {generation_id: now})
            pipe.execute()
        return generation_id, True

    def forget_idempotency(self, owner: str, key: str) -> None:
        """Drop an Idempotency-Key, so that the next request with it creates a new job."""
        self.redis.delete(self.keys.idempotency(owner, key))

    def get(self, generation_id: str) -> dict[str, Any] | None:
        return _record(self.redis.hgetall(self.keys.generation(generation_id)))

    def get_many(self, generation_ids: list[str]) -> list[dict[str, Any] | None]:
        """Records of ``generation_ids`` in one round trip (None for those gone)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for generation_id in generation_ids:
                pipe.hgetall(self.keys.generation(generation_id))
            return [_record(raw) for raw in pipe.execute()]

    def list(
        self, owner: str, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> tuple[list[dict[str, Any]], str | None]:
        """An owner's records, newest first; ``cursor`` is the ``next_cursor`` of the previous page."""
        index = self.keys.owner_index(owner)
        last: tuple[int, str] | None = decode_cursor(cursor) if cursor else None
        max_score: str | int = "+inf" if last is None else last[0]
        found: list[dict[str, Any]] = []
        offset, batch = 0, limit if status is None else max(limit * 2, 50)
        while True:
            entries = self.redis.zrevrangebyscore(
                index, max_score, "-inf", start=offset, num=batch, withscores=True
            )
            if not entries:
                return found, None
            offset += len(entries)
            # equal scores come in reverse id order: skip the cursor's item and those before it
            page = [
                (_text(member), score)
                for member, score in entries
                if last is None or int(score) != last[0] or _text(member) < last[1]
            ]
            for (generation_id, score), record in zip(page, self.get_many([g for g, _ in page]), strict=True):
                if record is None or (status is not None and record["status"] != status):
                    continue
                found.append(record)
                if len(found) == limit:
                    return found, encode_cursor(score, generation_id)

    # -- changes ---------------------------------------------------------------------------------------
    def transition(
        self, generation_id: str, allowed: Iterable[str], status: str, attempt: str = "", **fields: Any
    ) -> bool:
        """Set ``status`` (and ``fields``) if the current status is in ``allowed`` and, when ``attempt`` is
        given, that attempt still holds the record. Returns whether it did."""
        result = self._transition(
            keys=[
                self.keys.generation(generation_id),
                self.keys.status_counts(),
                self.keys.queued_index(),
                self.keys.running_index(),
            ],
            args=[",".join(allowed), status, generation_id, time.time(), attempt, *_flatten(fields)],
        )
        return _text(result) == "OK" if result is not None else False

    def update(self, generation_id: str, attempt: str = "", **fields: Any) -> bool:
        """Set fields of an existing record (never ``status``); False when the record is gone or, when
        ``attempt`` is given, that attempt no longer holds it."""
        if not fields:
            return True
        return bool(
            self._update(keys=[self.keys.generation(generation_id)], args=[attempt, *_flatten(fields)])
        )

    def incr_requeues(self, generation_id: str) -> int:
        return int(self.redis.hincrby(self.keys.generation(generation_id), "requeues", 1))

    # -- attempts: exactly one stage run holds a job at a time --------------------------------------------
    def claim(self, generation_id: str, stage: str, attempt: str, lease_s: float, **fields: Any) -> bool:
        """Start ``attempt`` (``'<worker name>/<token>'``) on the job's ``stage``: status ``running``,
        ``attempts`` + 1, and a lease the worker renews while it runs. False when the job is not there to
        run (gone, canceled, finished, in another stage, or held by another live attempt): that run must
        then do nothing."""
        result = self._claim(
            keys=[
                self.keys.generation(generation_id),
                self.keys.status_counts(),
                self.keys.queued_index(),
                self.keys.attempt_lease(generation_id),
                self.keys.running_index(),
            ],
            args=[attempt, int(lease_s * 1000), generation_id, stage, time.time(), *_flatten(fields)],
        )
        return result is not None and _text(result) == "OK"

    def attempt_state(self, generation_id: str, attempt: str) -> str:
        """'ok' (go on), 'canceled' (a cancel was requested) or 'lost' (another attempt or a terminal
        status took the job over: stop without writing)."""
        keys = [self.keys.generation(generation_id), self.keys.cancel(generation_id)]
        return _text(self._attempt_state(keys=keys, args=[attempt]))

    def renew_lease(self, generation_id: str, worker_name: str, lease_s: float) -> bool:
        """Extend the lease of the attempt this worker runs on the job; False when it has none (any more)."""
        args = [f"{worker_name}/", int(lease_s * 1000)]
        return bool(self._renew_lease(keys=[self.keys.attempt_lease(generation_id)], args=args))

    def lease_held(self, generation_id: str) -> bool:
        return bool(self.redis.exists(self.keys.attempt_lease(generation_id)))

    def running_ids(self, limit: int = 500) -> list[str]:
        """Ids of ``running`` jobs (what the reaper's sweep for orphaned runs reads)."""
        return [_text(i) for i in self.redis.zrange(self.keys.running_index(), 0, limit - 1)]

    def unindex_running(self, generation_id: str) -> None:
        self.redis.zrem(self.keys.running_index(), generation_id)

    def release_lease(self, generation_id: str, attempt: str) -> None:
        self._release_lease(keys=[self.keys.attempt_lease(generation_id)], args=[attempt])

    # -- the queued index (what the reaper's sweep for lost enqueues reads) -----------------------------
    def queued_before(self, cutoff: float, limit: int = 500) -> list[str]:
        """Ids that have been ``queued`` since before ``cutoff`` (Unix time), longest first."""
        ids = self.redis.zrangebyscore(self.keys.queued_index(), "-inf", cutoff, start=0, num=limit)
        return [_text(i) for i in ids]

    def recheck_queued_later(self, generation_id: str) -> None:
        """Move a queued id to the back of the sweep (only while it is still indexed)."""
        self.redis.zadd(self.keys.queued_index(), {generation_id: time.time()}, xx=True)

    def recheck_queued_now(self, generation_id: str) -> None:
        """Make a queued id due for the sweep at once (only while it is still indexed)."""
        self.redis.zadd(self.keys.queued_index(), {generation_id: 0}, xx=True)

    def unindex_queued(self, generation_id: str) -> None:
        """Drop an id whose record expired while it was queued."""
        self.redis.zrem(self.keys.queued_index(), generation_id)

    def fail(self, generation_id: str, code: str, message: str, attempt: str = "") -> bool:
        """End an active job as ``failed`` with an error code (only while ``attempt``, if given, holds it)."""
        return self.transition(
            generation_id,
            ACTIVE,
            FAILED,
            attempt=attempt,
            error={"code": code, "message": message},
            t_finished=time.time(),
        )

    def request_cancel(self, generation_id: str) -> None:
        self.redis.set(self.keys.cancel(generation_id), "1", ex=self.ttl_s)

    def cancels_requested(self, generation_ids: list[str]) -> list[bool]:
        with self.redis.pipeline(transaction=False) as pipe:
            for generation_id in generation_ids:
                pipe.exists(self.keys.cancel(generation_id))
            return [bool(found) for found in pipe.execute()]

    # -- statistics ------------------------------------------------------------------------------------
    def status_counts(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.keys.status_counts())
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({_text(k): int(v) for k, v in raw.items()})
        return counts

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Add one duration to the stage's histogram (cumulative buckets, as Prometheus wants them)."""
        key = self.keys.stage_histogram(stage)
        with self.redis.pipeline() as pipe:
            for bound in STAGE_BUCKETS:
                if seconds <= bound:
                    pipe.hincrby(key, str(bound), 1)
            pipe.hincrby(key, "+Inf", 1)
            pipe.hincrby(key, "count", 1)
            pipe.hincrbyfloat(key, "sum", seconds)
            pipe.execute()

    def count_plan(self, backend: str, outcome: str, rejections: Iterable[str]) -> None:
        """Count one plan's outcome and the reason of each attempt the planner rejected."""
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self.keys.plan_outcomes(), f"{backend}|{outcome}", 1)
            for reason in rejections:
                pipe.hincrby(self.keys.plan_rejections(), f"{backend}|{reason}", 1)
            pipe.execute()

    def plan_counts(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """((backend, outcome) -> plans, (backend, reason) -> rejected attempts)."""
        return tuple(  # type: ignore[return-value]
            {tuple(_text(k).split("|", 1)): int(v) for k, v in self.redis.hgetall(key).items()}
            for key in (self.keys.plan_outcomes(), self.keys.plan_rejections())
        )

    def stage_histogram(self, stage: str) -> tuple[list[tuple[str, int]], float, int]:
        """(cumulative buckets as (upper bound, count), sum, count) of a stage."""
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(self.keys.stage_histogram(stage)).items()}
        buckets = [(str(b), int(raw.get(str(b), 0))) for b in STAGE_BUCKETS]
        buckets.append(("+Inf", int(raw.get("+Inf", 0))))
        return buckets, float(raw.get("sum", 0.0)), int(raw.get("count", 0))


def _record(raw: dict) -> dict[str, Any] | None:
    if not raw:
        return None
    return {_text(name): _decode(_text(name), _text(value)) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

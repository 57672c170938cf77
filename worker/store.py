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

from worker.exceptions import IdempotencyConflict, TooManyActiveJobs
from worker.keys import Keys

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
ACTIVE = (QUEUED, RUNNING)

JSON_FIELDS = frozenset(
    {"request", "parameters", "layout", "progress", "outputs", "error", "last_error", "webhook"}
)
"""Record fields stored as JSON; fields named ``t_*`` are Unix times; ``INT_FIELDS`` are integers."""

INT_FIELDS = frozenset({"attempts", "requeues"})
"""``attempts``: stage runs started (the field ``attempt`` names the latest); ``requeues``: times the reaper
re-enqueued a job its queue had lost."""

STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Upper bounds (seconds) of the stage-duration histograms; +Inf is implied."""

EVENTS_MAXLEN = 1000
"""Entries kept (about) in a generation's event stream: progress is throttled, so this spans a long job."""

_STATUS_CHANGED = f"""
local function status_changed(record, events, due, pending, gid, status, now, ttl, ns)
  local stage = redis.call('HGET', record, 'stage_queue') or ''
  local data = cjson.encode({{status = status, stage = stage, attempts = tonumber(redis.call('HGET', record, 'attempts')) or 0}})
  local id = redis.call('XADD', events, 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'event', 'status', 'data', data)
  redis.call('EXPIRE', events, ttl)
  local owner = redis.call('HGET', record, 'owner')
  if owner and status ~= '{QUEUED}' and status ~= '{RUNNING}' then
    redis.call('ZREM', ns .. ':owner:' .. owner .. ':active', gid)
  end
  local hook = redis.call('HGET', record, 'webhook')
  if hook then
    for _, wanted in ipairs(cjson.decode(hook)['events']) do
      if wanted == status then
        local message = 'msg_' .. string.sub(gid, 5) .. '_' .. (string.gsub(id, '-', '_'))
        redis.call('HSET', pending, message, cjson.encode({{generation_id = gid, status = status, attempts = 0}}))
        redis.call('ZADD', due, now, message)
      end
    end
  end
end
"""
"""Lua run by every status change: the ``status`` event on the job's stream, the owner's active set (named
as ``Keys.owner_active`` names it) and, when the job asked for this status, a webhook message due now."""

_TRANSITION = _STATUS_CHANGED + f"""
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5] then return 'lost' end
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if status == current then allowed = true end
end
if not allowed then return current end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 8))
if current ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[2], current, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  status_changed(KEYS[1], KEYS[5], KEYS[6], KEYS[7], ARGV[3], ARGV[2], ARGV[4], ARGV[6], ARGV[7])
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
"""KEYS: record, status counts, queued index, running index, events, webhooks due, webhooks pending. ARGV:
allowed statuses (comma-separated), new status, generation id, now (Unix time), the attempt that must hold
the record ('' for any), TTL (s), namespace, then field, value pairs."""

_CLAIM = _STATUS_CHANGED + f"""
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
redis.call('HSET', KEYS[1], 'status', '{RUNNING}', 'attempt', ARGV[1], unpack(ARGV, 8))
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if current ~= '{RUNNING}' then
  redis.call('HINCRBY', KEYS[2], current, -1)
  redis.call('HINCRBY', KEYS[2], '{RUNNING}', 1)
end
status_changed(KEYS[1], KEYS[6], KEYS[7], KEYS[8], ARGV[3], '{RUNNING}', ARGV[5], ARGV[6], ARGV[7])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3])
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
return 'OK'
"""
"""KEYS: record, status counts, queued index, attempt lease, running index, events, webhooks due, webhooks
pending. ARGV: attempt, lease (ms), generation id, stage, now (Unix time), TTL (s), namespace, then field,
value pairs. A job is claimed from ``queued``, or from ``running`` once the attempt running it has lost
its lease (it died and nothing handed the job back), never from a live attempt; a job the reaper handed back
to ``queued`` may still have its old attempt running, which finds it lost at its next step and stops. The
same attempt claiming again (redis-py retrying a call whose reply was lost) only renews its lease. Every
claim is a ``running`` event: a retried job's clients see its new attempt start."""

_CREATE = _STATUS_CHANGED + f"""
if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[7]) == 1 then
  return {{'replay', redis.call('GET', KEYS[7])}}
end
local limit = tonumber(ARGV[5])
if limit > 0 then
  for _, gid in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
    if redis.call('EXISTS', ARGV[7] .. ':gen:' .. gid) == 0 then redis.call('ZREM', KEYS[6], gid) end
  end
  local active = redis.call('ZCARD', KEYS[6])
  if active >= limit then return {{'busy', tostring(active)}} end
end
if ARGV[6] ~= '' then redis.call('SET', KEYS[7], ARGV[6], 'EX', ARGV[2]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], '{QUEUED}', 1)
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[6], ARGV[2])
status_changed(KEYS[1], KEYS[5], KEYS[8], KEYS[9], ARGV[1], '{QUEUED}', ARGV[3], ARGV[2], ARGV[7])
return {{'created'}}
"""
"""KEYS: record, owner index, status counts, queued index, events, owner's active set, idempotency key (any
key when there is none), webhooks due, webhooks pending.
ARGV: generation id, TTL (s), now (Unix time), now (ms), most active jobs of the owner (0: no limit),
idempotency value ('' for none), namespace, then the record's field, value pairs. Returns ['created'],
['replay', '<body sha256> <earlier id>'] or ['busy', active jobs]. Admission and creation are one step, so
concurrent submits of one owner never pass its limit together (records gone from Redis are pruned first)."""

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

_UPDATE_IF_EXISTS = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' and (redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1]
                      or redis.call('HGET', KEYS[1], 'status') ~= 'running') then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
for i = 3, #ARGV, 2 do
  if ARGV[i] == 'progress' then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'event', 'progress', 'data', ARGV[i + 1])
    redis.call('EXPIRE', KEYS[2], ARGV[2])
  end
end
return 1
"""
"""KEYS: record, events. ARGV: the attempt that must hold the record, running ('' for any), TTL (s), then
field, value pairs; a ``progress`` field is also a ``progress`` event."""


def _encode(name: str, value: Any) -> str:
    if name in JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"))
    return str(value)


_DECODERS: dict[str, Any] = {**dict.fromkeys(JSON_FIELDS, json.loads), **dict.fromkeys(INT_FIELDS, int)}


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
        self._create = redis.register_script(_CREATE)
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
        max_active: int = 0,
    ) -> tuple[str, bool]:
        """Store a new ``queued`` record. Returns (id, created).

        ``idempotency`` is (key, body sha256): a key seen before with the same body returns the earlier id
        and ``created=False``; with a different body it raises ``IdempotencyConflict``. ``max_active`` > 0:
        raises ``TooManyActiveJobs`` when the owner already has that many jobs queued or running.
        """
        now = time.time()
        record = {"id": generation_id, "owner": owner, "status": QUEUED, "t_created": now, "attempts": 0, **fields}
        idem_key = self.keys.idempotency(owner, idempotency[0]) if idempotency else self.keys.owner_index(owner)
        idem_value = f"{idempotency[1]} {generation_id}" if idempotency else ""
        result = self._create(
            keys=[
                self.keys.generation(generation_id),
                self.keys.owner_index(owner),
                self.keys.status_counts(),
                self.keys.queued_index(),
                self.keys.events(generation_id),
                self.keys.owner_active(owner),
                idem_key,
                self.keys.webhooks_due(),
                self.keys.webhooks_pending(),
            ],
            args=[
                generation_id, self.ttl_s, now, int(now * 1000), max_active, idem_value, self.keys.ns,
                *_flatten(record),
            ],
        )
        outcome = [as_text(part) for part in result]
        if outcome[0] == "replay":
            stored_hash, _, earlier_id = outcome[1].partition(" ")
            if idempotency is None or stored_hash != idempotency[1]:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return earlier_id, False
        if outcome[0] == "busy":
            raise TooManyActiveJobs(int(outcome[1]), max_active)
        return generation_id, True

    def active_count(self, owner: str) -> int:
        """Jobs of an owner now queued or running (as the concurrency quota counts them)."""
        return int(self.redis.zcard(self.keys.owner_active(owner)))

    def forget_idempotency(self, owner: str, key: str) -> None:
        """Drop an Idempotency-Key, so that the next request with it creates a new job."""
        self.redis.delete(self.keys.idempotency(owner, key))

    def get(self, generation_id: str) -> dict[str, Any] | None:
        return _record(self.redis.hgetall(self.keys.generation(generation_id)))

    def get_many(
        self, generation_ids: list[str], fields: tuple[str, ...] | None = None
    ) -> list[dict[str, Any] | None]:
        """Records of ``generation_ids`` in one round trip (None for those gone). With ``fields`` (which
        must include ``id``): only those, as their stored text, absent ones left out."""
        with self.redis.pipeline(transaction=False) as pipe:
            for generation_id in generation_ids:
                if fields is None:
                    pipe.hgetall(self.keys.generation(generation_id))
                else:
                    pipe.hmget(self.keys.generation(generation_id), fields)
            if fields is None:
                return [_record(raw) for raw in pipe.execute()]
            return [_partial(fields, values) for values in pipe.execute()]

    def list(
        self,
        owner: str,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 20,
        fields: tuple[str, ...] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """An owner's records, newest first; ``cursor`` is the ``next_cursor`` of the previous page.
        ``fields``: only those (see ``get_many``; ``status`` must be among them)."""
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
                (as_text(member), score)
                for member, score in entries
                if last is None or int(score) != last[0] or as_text(member) < last[1]
            ]
            records = self.get_many([g for g, _ in page], fields)
            for (generation_id, score), record in zip(page, records, strict=True):
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
                self.keys.events(generation_id),
                self.keys.webhooks_due(),
                self.keys.webhooks_pending(),
            ],
            args=[
                ",".join(allowed), status, generation_id, time.time(), attempt, self.ttl_s, self.keys.ns,
                *_flatten(fields),
            ],
        )
        return as_text(result) == "OK" if result is not None else False

    def update(self, generation_id: str, attempt: str = "", **fields: Any) -> bool:
        """Set fields of an existing record (never ``status``); False when the record is gone or, when
        ``attempt`` is given, that attempt no longer holds it."""
        if not fields:
            return True
        return bool(
            self._update(
                keys=[self.keys.generation(generation_id), self.keys.events(generation_id)],
                args=[attempt, self.ttl_s, *_flatten(fields)],
            )
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
                self.keys.events(generation_id),
                self.keys.webhooks_due(),
                self.keys.webhooks_pending(),
            ],
            args=[
                attempt, int(lease_s * 1000), generation_id, stage, time.time(), self.ttl_s, self.keys.ns,
                *_flatten(fields),
            ],
        )
        return result is not None and as_text(result) == "OK"

    def attempt_state(self, generation_id: str, attempt: str) -> str:
        """'ok' (go on), 'canceled' (a cancel was requested) or 'lost' (another attempt or a terminal
        status took the job over: stop without writing)."""
        keys = [self.keys.generation(generation_id), self.keys.cancel(generation_id)]
        return as_text(self._attempt_state(keys=keys, args=[attempt]))

    def renew_lease(self, generation_id: str, worker_name: str, lease_s: float) -> bool:
        """Extend the lease of the attempt this worker runs on the job; False when it has none (any more)."""
        args = [f"{worker_name}/", int(lease_s * 1000)]
        return bool(self._renew_lease(keys=[self.keys.attempt_lease(generation_id)], args=args))

    def lease_held(self, generation_id: str) -> bool:
        return bool(self.redis.exists(self.keys.attempt_lease(generation_id)))

    def running_ids(self, limit: int = 500) -> list[str]:
        """Ids of ``running`` jobs (what the reaper's sweep for orphaned runs reads)."""
        return [as_text(i) for i in self.redis.zrange(self.keys.running_index(), 0, limit - 1)]

    def unindex_running(self, generation_id: str) -> None:
        self.redis.zrem(self.keys.running_index(), generation_id)

    def release_lease(self, generation_id: str, attempt: str) -> None:
        self._release_lease(keys=[self.keys.attempt_lease(generation_id)], args=[attempt])

    # -- the queued index (what the reaper's sweep for lost enqueues reads) -----------------------------
    def queued_before(self, cutoff: float, limit: int = 500) -> list[str]:
        """Ids that have been ``queued`` since before ``cutoff`` (Unix time), longest first."""
        ids = self.redis.zrangebyscore(self.keys.queued_index(), "-inf", cutoff, start=0, num=limit)
        return [as_text(i) for i in ids]

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

    def webhook_attempts(self, generation_ids: list[str]) -> list[list[dict[str, Any]]]:
        """The webhook delivery attempts recorded on each job, oldest first."""
        with self.redis.pipeline(transaction=False) as pipe:
            for generation_id in generation_ids:
                pipe.lrange(self.keys.webhook_attempts(generation_id), 0, -1)
            return [[json.loads(item) for item in items] for items in pipe.execute()]

    # -- statistics ------------------------------------------------------------------------------------
    def status_counts(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.keys.status_counts())
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({as_text(k): int(v) for k, v in raw.items()})
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
            {tuple(as_text(k).split("|", 1)): int(v) for k, v in self.redis.hgetall(key).items()}
            for key in (self.keys.plan_outcomes(), self.keys.plan_rejections())
        )

    def webhook_outcome_counts(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.keys.webhook_outcomes())
        return {as_text(k): int(v) for k, v in raw.items()}

    def stage_histogram(self, stage: str) -> tuple[list[tuple[str, int]], float, int]:
        """(cumulative buckets as (upper bound, count), sum, count) of a stage."""
        raw = {as_text(k): as_text(v) for k, v in self.redis.hgetall(self.keys.stage_histogram(stage)).items()}
        buckets = [(str(b), int(raw.get(str(b), 0))) for b in STAGE_BUCKETS]
        buckets.append(("+Inf", int(raw.get("+Inf", 0))))
        return buckets, float(raw.get("sum", 0.0)), int(raw.get("count", 0))


def _partial(fields: tuple[str, ...], values: list[bytes | str | None]) -> dict[str, str] | None:
    """HMGET's reply as {field: stored text}; None when the record is gone (it has no ``id``)."""
    found = {name: as_text(value) for name, value in zip(fields, values, strict=True) if value is not None}
    return found if "id" in found else None


def _record(raw: dict) -> dict[str, Any] | None:
    """A record from HGETALL's reply (bytes or str). One plain loop: listing decodes twenty records per request, and this was the largest cost of a listing."""
    if not raw:
        return None
    record: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(name, bytes):
            name, value = name.decode(), value.decode()  # json.loads on bytes first sniffs their encoding
        decode = _DECODERS.get(name)
        if decode is not None:
            value = decode(value)
        elif name[:2] == "t_":
            value = float(value)
        record[name] = value
    return record


def as_text(value: bytes | str) -> str:
    """A Redis reply item as text, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else value

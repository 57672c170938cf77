"""Generation jobs as the API sees them: submit, read, list, cancel, wait. Sync (called in a threadpool)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from api.exceptions import ApiError, FieldError, NotFound
from api.schemas import GenerationCreate, GenerationOut
from api.settings import ApiSettings
from worker import queues
from worker.exceptions import InvalidTransition
from worker.keys import GENERATE, PLAN, Keys
from worker.store import ACTIVE, CANCELED, QUEUED, TERMINAL, JobStore

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_CHARS = 255
"""Longest ``Idempotency-Key`` accepted (and the shortest is one character)."""


def _iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


class GenerationService:
    def __init__(self, redis: Redis, settings: ApiSettings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self.store = JobStore(redis, settings.namespace, settings.job_ttl_s)

    # -- submit ------------------------------------------------------------------------------------------
    def check_limits(self, body: GenerationCreate) -> None:
        """This deployment's limits on a parsed body (regions and masks: ``check_layout_payload``)."""
        s = self.settings
        if body.steps is not None and body.steps > s.max_steps:
            raise FieldError("steps", f"{body.steps} is more than the limit of {s.max_steps}")
        if body.num_images > s.max_images:
            raise FieldError("num_images", f"{body.num_images} is more than the limit of {s.max_images}")
        if body.inject_steps is not None and body.inject_steps > (body.steps or s.max_steps):
            limit = body.steps or s.max_steps
            raise FieldError("inject_steps", f"{body.inject_steps} is more than {limit} (steps)")
        for name in ("width", "height"):
            value = getattr(body.layout, name) if body.layout else getattr(body, name)
            if value is not None and value > s.max_side:
                field = f"layout.{name}" if body.layout else name
                raise FieldError(field, f"{value} px is more than the limit of {s.max_side}")

    def submit(
        self, owner: str, body: GenerationCreate, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Create and enqueue a job. Returns (record, created); created is False for an idempotent replay."""
        self.check_limits(body)
        body_hash = hashlib.sha256(body.model_dump_json(exclude_unset=True).encode()).hexdigest()
        generation_id = "gen_" + uuid.uuid4().hex
        stage = PLAN if body.layout is None else GENERATE
        seed = body.seed if body.seed is not None else secrets.randbelow(2**32)
        parameters = body.model_dump(exclude={"prompt", "layout", "planner", "width", "height"})
        parameters["seed"] = seed
        fields: dict[str, Any] = {
            "request": {
                "prompt": body.prompt,
                "planner": body.planner,
                "width": body.layout.width if body.layout else (body.width or self.settings.default_width),
                "height": body.layout.height
                if body.layout
                else (body.height or self.settings.default_height),
            },
            "parameters": parameters,
            "stage_queue": stage,
            "rq_job": self.keys.rq_job_id(generation_id, stage),
        }
        if body.layout is not None:
            fields["layout"] = body.layout.model_dump(mode="json", exclude_none=True)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
            raise ApiError(
                400,
                "bad_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            )
        idem = (idempotency_key, body_hash) if idempotency_key else None
        generation_id, created = self.store.create(generation_id, owner, fields, idem)
        if created:
            try:
                queues.enqueue_stage(self.redis, self.settings, generation_id, stage)
            except Exception as exc:
                logger.exception("generation %s: could not be queued", generation_id)
                # "try again" must work with the same Idempotency-Key: free it, or the retry replays this job
                with contextlib.suppress(Exception):
                    self.store.fail(generation_id, "enqueue_failed", "the job could not be queued")
                    if idempotency_key:
                        self.store.forget_idempotency(owner, idempotency_key)
                raise ApiError(503, "queue_unavailable", "the job could not be queued; try again") from exc
        record = self.store.get(generation_id)
        if record is None:  # an idempotency key outliving its job
            raise NotFound("the job of this Idempotency-Key has expired")
        return record, created

    # -- read --------------------------------------------------------------------------------------------
    def get(self, owner: str, generation_id: str) -> dict[str, Any]:
        """The record, or 404 when it does not exist or belongs to another key (indistinguishable)."""
        record = self.store.get(generation_id) if generation_id.startswith("gen_") else None
        if record is None or record.get("owner") != owner:
            raise NotFound()
        return record

    def list(
        self, owner: str, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        try:
            return self.store.list(owner, status, cursor, limit)
        except ValueError as exc:
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned") from exc

    # -- cancel ------------------------------------------------------------------------------------------
    def cancel(self, owner: str, generation_id: str) -> dict[str, Any]:
        record = self.get(owner, generation_id)
        if record["status"] == CANCELED:
            return record
        if record["status"] in TERMINAL:
            raise InvalidTransition(record["status"], f"the job has already {record['status']}")
        self.store.request_cancel(generation_id)
        if self.store.transition(generation_id, (QUEUED,), CANCELED, t_finished=time.time()):
            queues.remove_waiting(self.redis, record["rq_job"])
        return self.get(owner, generation_id)

    # -- view --------------------------------------------------------------------------------------------
    def view(self, record: dict[str, Any], base_url: str) -> GenerationOut:
        return self.views([record], base_url)[0]

    def views(self, records: list[dict[str, Any]], base_url: str) -> list[GenerationOut]:
        """What clients see of ``records``; the live parts (queue positions, cancel flags of active jobs)
        are read for all of them in two round trips."""
        queued = [r for r in records if r["status"] == QUEUED]
        positions = queues.queue_positions(
            self.redis, self.keys, [(r["stage_queue"], r["rq_job"]) for r in queued]
        )
        position_of = {r["id"]: p for r, p in zip(queued, positions, strict=True)}
        active = [r["id"] for r in records if r["status"] in ACTIVE]
        cancel_flags = dict(zip(active, self.store.cancels_requested(active), strict=True))
        return [
            self._view(r, base_url, position_of.get(r["id"]), cancel_flags.get(r["id"], False))
            for r in records
        ]

    def _view(
        self, record: dict[str, Any], base_url: str, queue_position: int | None, cancel_requested: bool
    ) -> GenerationOut:
        gid = record["id"]
        base = f"{base_url.rstrip('/')}/v1/generations/{gid}"
        started = record.get("t_plan_started") or record.get("t_sampling_started")
        timings = {
            "queue_s": _span(record["t_created"], started),
            "plan_s": _span(record.get("t_plan_started"), record.get("t_plan_finished")),
            "sampling_s": _span(record.get("t_sampling_started"), record.get("t_sampling_finished")),
            "total_s": _span(record["t_created"], record.get("t_finished")),
        }
        outputs = [{**o, "url": f"{base}/images/{o['index']}"} for o in record.get("outputs", [])]
        return GenerationOut(
            id=gid,
            status=record["status"],
            progress=record.get("progress"),
            queue_position=queue_position,
            cancel_requested=cancel_requested,
            prompt=record["request"].get("prompt"),
            layout=record.get("layout"),
            parameters=record["parameters"],
            outputs=outputs,
            error=record.get("error"),
            attempts=record.get("attempts", 0),
            created_at=_iso(record["t_created"]),
            started_at=_iso(started),
            finished_at=_iso(record.get("t_finished")),
            timings=timings,
            links={"self": base, "cancel": f"{base}/cancel", "layout_png": f"{base}/layout.png"},
        )

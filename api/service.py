"""Generation jobs as the API sees them: submit, read, list, cancel, wait. Sync (called in a threadpool)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from api import webhooks
from api.exceptions import ApiError, FieldError, NotFound
from api.images import MAX_SIDE
from api.schemas import GenerationCreate, GenerationOut
from api.settings import ApiSettings
from api.uploads import UploadStore, resolve_image
from regional.raster import TOKEN_PX
from worker import queues
from worker.exceptions import InvalidTransition
from worker.keys import GENERATE, PLAN, Keys
from worker.results import ResultStore
from worker.store import ACTIVE, CANCELED, QUEUED, TERMINAL, JobStore

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_CHARS = 255
"""Longest ``Idempotency-Key`` accepted (and the shortest is one character)."""


class RenderedJobs:
    """Finished jobs' JSON as clients see it, kept per process up to ``max_bytes`` (least recently used
    out first). A finished job's record never changes (every later write is fenced to a running attempt),
    except the delivery attempts of its webhook: jobs with one are not kept. Listing, the heaviest read of
    polling clients, then neither decodes nor renders the finished jobs of a page again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.size = max_bytes, 0
        self._items: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    FIELDS = ("id", "status", "t_finished", "webhook")
    """What ``key`` reads of a record."""

    @staticmethod
    def key(head: dict[str, str], base_url: str) -> tuple[str, str, str] | None:
        """The cache key of a record (its ``FIELDS`` as stored text), None while it may still change."""
        if head["status"] not in TERMINAL or "webhook" in head:
            return None
        return head["id"], head.get("t_finished", ""), base_url

    def get(self, key: tuple[str, str, str]) -> bytes | None:
        with self._lock:
            rendered = self._items.get(key)
            if rendered is not None:
                self._items.move_to_end(key)
            return rendered

    def put(self, key: tuple[str, str, str], rendered: bytes) -> None:
        if len(rendered) > self.max_bytes // 16:
            return  # a layout with large masks: not worth crowding the others out
        with self._lock:
            if key in self._items:
                return
            self._items[key] = rendered
            self.size += len(rendered)
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)


def _iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


class GenerationService:
    def __init__(
        self, redis: Redis, settings: ApiSettings, webhook_settings: webhooks.WebhookSettings | None = None
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.webhook_settings = webhook_settings or webhooks.WebhookSettings()
        self.keys = Keys(settings.namespace)
        self.uploads = UploadStore(redis, self.keys, ResultStore(settings.results_url), settings.upload_ttl_s)
        self.store = JobStore(redis, settings.namespace, settings.job_ttl_s)
        self.rendered = RenderedJobs(max_bytes=32 * 1024 * 1024)

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
        for index, control in enumerate(body.controls):
            if control.controlnet is not None and control.controlnet not in s.controlnets:
                raise FieldError(
                    f"controls[{index}].controlnet",
                    f"no ControlNet {control.controlnet!r} here; available: {sorted(s.controlnets) or 'none'}",
                )
        for index, lora in enumerate(body.loras):
            if lora.name not in s.loras:
                raise FieldError(
                    f"loras[{index}].name",
                    f"no LoRA {lora.name!r} here; available: {sorted(s.loras) or 'none'}",
                )
        if len(body.loras) > s.max_loaded_loras:
            raise FieldError("loras", f"{len(body.loras)} LoRAs; the limit is {s.max_loaded_loras}")
        if body.webhook_url is not None:
            try:
                webhooks.check_url(body.webhook_url, self.webhook_settings.allow_private)
            except webhooks.UnsafeTarget as exc:
                raise FieldError("webhook_url", str(exc)) from None

    def canvas(self, body: GenerationCreate, init_image: dict[str, Any] | None) -> tuple[int, int]:
        """The job's canvas: the layout's, the body's, or for a prompt job with an init image and no size, the
        image's shape scaled to the default canvas's longer side (sides multiples of 16 px)."""
        s = self.settings
        if body.layout is not None:
            return body.layout.width, body.layout.height
        if body.width or body.height or init_image is None:
            return body.width or s.default_width, body.height or s.default_height
        w, h = init_image["width"], init_image["height"]
        scale = max(s.default_width, s.default_height) / max(w, h)
        return max(TOKEN_PX, round(w * scale / TOKEN_PX) * TOKEN_PX), max(
            TOKEN_PX, round(h * scale / TOKEN_PX) * TOKEN_PX
        )

    def resolve_images(self, owner: str, body: GenerationCreate) -> tuple[dict[str, Any], tuple[int, int]]:
        """The body's images, checked and stored (``api.uploads.resolve_image``), as the job's parameters
        ``init_image``, ``mask_image`` and ``controls`` (each image by sha256 and size), and the job's canvas
        (``canvas``): every image must have its shape within 2%, and a mask its init image's size."""
        s = self.settings

        def resolve(ref, field: str) -> dict[str, Any]:
            ref = ref.model_dump(exclude_none=True)
            return resolve_image(self.uploads, owner, ref, field, s.max_image_pixels, MAX_SIDE).to_json()

        def check_shape(image: dict[str, Any], field: str) -> None:
            w, h = image["width"], image["height"]
            if abs(w * canvas[1] - h * canvas[0]) > 0.02 * h * canvas[0]:
                raise FieldError(
                    field,
                    f"the image is {w}x{h} and the canvas {canvas[0]}x{canvas[1]}: their aspect ratios differ by "
                    "more than 2%; crop the image or set the canvas to its shape",
                )

        images: dict[str, Any] = {}
        if body.init_image is not None:
            images["init_image"] = resolve(body.init_image, "init_image")
        canvas = self.canvas(body, images.get("init_image"))
        if body.init_image is not None:
            check_shape(images["init_image"], "init_image")
        if body.mask_image is not None:
            images["mask_image"] = mask = resolve(body.mask_image, "mask_image")
            init = images["init_image"]
            if (mask["width"], mask["height"]) != (init["width"], init["height"]):
                raise FieldError(
                    "mask_image",
                    f"the mask is {mask['width']}x{mask['height']}, the init image {init['width']}x{init['height']}:"
                    " they must match",
                )
        controls = []
        for index, control in enumerate(body.controls):
            field = f"controls[{index}].image"
            image = resolve(control.image, field)
            check_shape(image, field)
            controls.append({**control.model_dump(exclude={"image"}), "image": image})
        if controls:
            images["controls"] = controls
        return images, canvas

    def submit(
        self,
        owner: str,
        body: GenerationCreate,
        idempotency_key: str | None,
        max_active: int = 0,
        base_url: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Create and enqueue a job. Returns (record, created); created is False for an idempotent replay.
        ``max_active`` > 0: ``TooManyActiveJobs`` when the owner has that many jobs queued or running.
        ``base_url``: where the client reached the API, for the links in the job's webhooks."""
        self.check_limits(body)
        body_hash = hashlib.sha256(body.model_dump_json(exclude_unset=True).encode()).hexdigest()
        generation_id = "gen_" + uuid.uuid4().hex
        stage = PLAN if body.layout is None else GENERATE
        seed = body.seed if body.seed is not None else secrets.randbelow(2**32)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
            raise ApiError(
                400,
                "bad_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            )
        images, (width, height) = self.resolve_images(owner, body)
        parameters = body.model_dump(
            exclude={
                "prompt",
                "layout",
                "planner",
                "width",
                "height",
                "webhook_url",
                "webhook_events",
                *images,
            }
        )
        parameters.update(images, seed=seed)
        fields: dict[str, Any] = {
            "request": {
                "prompt": body.prompt,
                "planner": body.planner,
                "width": width,
                "height": height,
            },
            "parameters": parameters,
            "stage_queue": stage,
            "rq_job": self.keys.rq_job_id(generation_id, stage),
        }
        if body.layout is not None:
            fields["layout"] = body.layout.model_dump(mode="json", exclude_none=True)
        if body.webhook_url is not None:
            events = body.webhook_events or list(webhooks.DEFAULT_EVENTS)
            fields["webhook"] = {"url": body.webhook_url, "events": sorted(set(events), key=events.index)}
            fields["base_url"] = base_url
        idem = (idempotency_key, body_hash) if idempotency_key else None
        generation_id, created = self.store.create(generation_id, owner, fields, idem, max_active)
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

    def list_rendered(
        self, owner: str, status: str | None, cursor: str | None, limit: int, base_url: str
    ) -> tuple[list[bytes], str | None]:
        """A page of the owner's jobs as JSON (each as ``view`` renders it), and the next cursor. The page's
        heads come first (a few fields); only the jobs not already rendered are read whole."""
        try:
            heads, next_cursor = self.store.list(owner, status, cursor, limit, fields=RenderedJobs.FIELDS)
        except ValueError as exc:
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned") from exc
        keys = [RenderedJobs.key(head, base_url) for head in heads]
        page: list[bytes | None] = [None if key is None else self.rendered.get(key) for key in keys]
        missing = [i for i, rendered in enumerate(page) if rendered is None]
        records = self.store.get_many([heads[i]["id"] for i in missing])
        found = [(i, r) for i, r in zip(missing, records, strict=True) if r is not None]  # gone meanwhile
        for (i, _), view in zip(found, self.views([r for _, r in found], base_url), strict=True):
            page[i] = view.model_dump_json().encode()
            if keys[i] is not None:
                self.rendered.put(keys[i], page[i])
        return [rendered for rendered in page if rendered is not None], next_cursor

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
        hooked = [r["id"] for r in records if r.get("webhook")]
        deliveries = dict(zip(hooked, self.store.webhook_attempts(hooked), strict=True))
        return [
            self._view(r, base_url, position_of.get(r["id"]), cancel_flags.get(r["id"], False), deliveries)
            for r in records
        ]

    def _view(
        self,
        record: dict[str, Any],
        base_url: str,
        queue_position: int | None,
        cancel_requested: bool,
        deliveries: dict[str, list[dict[str, Any]]],
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
            webhook={**record["webhook"], "deliveries": deliveries[gid]} if record.get("webhook") else None,
            created_at=_iso(record["t_created"]),
            started_at=_iso(started),
            finished_at=_iso(record.get("t_finished")),
            timings=timings,
            links={"self": base, "cancel": f"{base}/cancel", "layout_png": f"{base}/layout.png"},
        )

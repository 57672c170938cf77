"""Uploaded input images: an expiring id per upload, the bytes content-addressed in the result store.

An upload is a Redis hash (``Keys.upload``) naming its owner, the sha256 of its bytes and what
``api.images.check_image`` read from them; it expires after ``REGIONAL_UPLOAD_TTL_S``. The bytes go to the
result store (``ResultStore.put_input``) and are kept like results. Another owner's upload reads as missing.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from api.exceptions import FieldError
from api.images import CheckedImage, check_image, decode_base64_image
from worker.keys import Keys
from worker.results import ResultStore
from worker.store import as_text

UPLOAD_ID_PREFIX = "upl_"
UPLOAD_ID_BYTES = 18
"""Random bytes of an upload id: 24 urlsafe base64 characters after the prefix."""


@dataclass(frozen=True)
class UploadRecord:
    """An upload as stored: the checked image's sha256, type, size in pixels and in bytes."""

    id: str
    sha256: str
    content_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class InputImage:
    """An image a job reads, checked and in the result store (``ResultStore.get_input(sha256)``)."""

    sha256: str
    content_type: str
    width: int
    height: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputImage:
        return cls(**{name: data[name] for name in ("sha256", "content_type", "width", "height")})


def new_upload_id() -> str:
    return UPLOAD_ID_PREFIX + secrets.token_urlsafe(UPLOAD_ID_BYTES)


def _time(value: bytes | str) -> datetime:
    return datetime.fromtimestamp(float(as_text(value)), tz=UTC)


class UploadStore:
    """Upload records in Redis, their bytes in the result store."""

    def __init__(self, redis: Redis, keys: Keys, results: ResultStore, ttl_s: int) -> None:
        self.redis, self.keys, self.results, self.ttl_s = redis, keys, results, ttl_s

    def put(self, owner: str, image: CheckedImage) -> UploadRecord:
        """Store the bytes (first: a record always has its bytes), then the record, expiring."""
        self.results.put_input(image.data, image.content_type)
        now = time.time()
        upload_id = new_upload_id()
        fields = {
            "owner": owner,
            "sha256": image.sha256,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
            "bytes": len(image.data),
            "created_at": repr(now),
            "expires_at": repr(now + self.ttl_s),
        }
        key = self.keys.upload(upload_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.ttl_s)
        pipe.execute()
        return self._record(upload_id, fields)

    def get(self, owner: str, upload_id: str) -> UploadRecord | None:
        """The owner's upload, or None: missing, expired and another owner's alike."""
        if not upload_id.startswith(UPLOAD_ID_PREFIX):
            return None
        fields = {as_text(k): v for k, v in self.redis.hgetall(self.keys.upload(upload_id)).items()}
        if not fields or as_text(fields["owner"]) != owner:
            return None
        return self._record(upload_id, fields)

    @staticmethod
    def _record(upload_id: str, fields: dict[str, Any]) -> UploadRecord:
        return UploadRecord(
            id=upload_id,
            sha256=as_text(fields["sha256"]),
            content_type=as_text(fields["content_type"]),
            width=int(fields["width"]),
            height=int(fields["height"]),
            bytes=int(fields["bytes"]),
            created_at=_time(fields["created_at"]),
            expires_at=_time(fields["expires_at"]),
        )


def resolve_image(
    store: UploadStore, owner: str, ref: dict, field: str, max_pixels: int, max_side: int
) -> InputImage:
    """The input image a job names at ``field``: ``{"upload": "<id>"}`` (the owner's upload, within these
    limits) or ``{"data": "<base64 or data URL>"}`` (checked and stored, with no upload id made).
    Sync and CPU-bound (decodes the data): call it off the event loop."""
    if not isinstance(ref, dict) or len(ref) != 1 or not isinstance(next(iter(ref.values())), str):
        raise FieldError(field, 'give one of {"upload": "<upload id>"} or {"data": "<base64 or data URL>"}')
    [(kind, value)] = ref.items()
    if kind == "data":
        image = check_image(decode_base64_image(value, field), field, max_pixels, max_side)
        store.results.put_input(image.data, image.content_type)
        return InputImage(image.sha256, image.content_type, image.width, image.height)
    if kind != "upload":
        raise FieldError(field, f'unknown key "{kind}"; give "upload" (an upload id) or "data" (base64)')
    record = store.get(owner, value)
    if record is None:
        raise FieldError(field, f"no upload {value} (unknown, expired, or not yours)")
    if record.width * record.height > max_pixels or max(record.width, record.height) > max_side:
        raise FieldError(
            field,
            f"upload {value} is {record.width}x{record.height}; the limit is {max_pixels} pixels "
            f"and {max_side} px a side",
        )
    return InputImage(record.sha256, record.content_type, record.width, record.height)

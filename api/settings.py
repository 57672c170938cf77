"""API settings: the shared service settings plus API keys and request limits (environment variables)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import NoDecode

from worker.settings import ServiceSettings

MIN_OWNER_SECRET_CHARS = 32
"""Shortest ``REGIONAL_OWNER_SECRET`` accepted (``openssl rand -hex 32`` gives 64 characters)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_digest(item: str, where: str) -> str:
    """The sha256 hex digest a configured key is kept as: of a plain key, or given as 'sha256:<hex>'.
    ``where`` names the setting in the error; the value itself is never echoed."""
    if not item.startswith("sha256:"):
        return hash_key(item)
    digest = item.removeprefix("sha256:").lower()
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        # a typo here would turn auth on with no usable key
        raise ValueError(f"{where}: an entry 'sha256:...' is not 64 hex digits")
    return digest


@dataclass(frozen=True)
class Quota:
    """The limits one caller is held to; 0 means unlimited."""

    rate_per_minute: int
    max_active_jobs: int


UNLIMITED = Quota(rate_per_minute=0, max_active_jobs=0)
"""The quota of the anonymous caller (no keys configured: a loopback-only, single-user deployment)."""


class KeyLimits(BaseModel):
    """The limits of a ``REGIONAL_KEY_POLICIES`` entry, without its key; a limit left out keeps the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_minute: StrictInt | None = Field(default=None, ge=0)
    max_active_jobs: StrictInt | None = Field(default=None, ge=0)


POLICY_FIELDS = ("key", *KeyLimits.model_fields)


def _policy_entries(value: object) -> list[object]:
    """``REGIONAL_KEY_POLICIES`` as a list: JSON text, the path of a JSON file, or a list already."""
    if not value:  # unset (the default, an empty mapping), empty text or an empty list
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith(("[", "{")):  # JSON text, else a file
            try:
                text = Path(text).read_text()
            except OSError:  # the value is not echoed: it could be a key pasted into the wrong variable
                raise ValueError(
                    "REGIONAL_KEY_POLICIES is neither a JSON list nor the path of a readable JSON file"
                ) from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"REGIONAL_KEY_POLICIES is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
    if not isinstance(value, list):
        fields = ", ".join(POLICY_FIELDS)
        raise ValueError(f"REGIONAL_KEY_POLICIES must be a JSON list of objects with {fields}")
    return value


def _key_limits(entry: dict[str, object], where: str) -> KeyLimits:
    try:
        return KeyLimits.model_validate({name: value for name, value in entry.items() if name != "key"})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"])
        message = f"{where}.{field}: {error['msg']}"
        if error["type"] == "extra_forbidden":  # the unknown name is not echoed: it could be a key
            message = f"{where}: an unknown field; the fields are {', '.join(POLICY_FIELDS)}"
        raise ValueError(message) from None


class ApiSettings(ServiceSettings):
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="REGIONAL_API_KEYS: comma-separated bearer keys, or their hashes as 'sha256:<hex>'. "
        "Kept hashed in memory. Empty: no auth, and the API listens on loopback only.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="REGIONAL_RATE_LIMIT_PER_MINUTE: /v1 requests per minute per API key (a burst of as many, "
        "refilled evenly over the minute); 0: unlimited. Polling clients make many reads.",
    )
    max_active_jobs: int = Field(
        default=16,
        ge=0,
        description="REGIONAL_MAX_ACTIVE_JOBS: jobs queued or running per API key; 0: unlimited.",
    )
    key_policies: Annotated[dict[str, KeyLimits], NoDecode] = Field(
        default_factory=dict,
        description="REGIONAL_KEY_POLICIES: per-key limits instead of the defaults, as a JSON list (or the path "
        "of a JSON file) of {key, rate_per_minute, max_active_jobs}; key is a key of REGIONAL_API_KEYS or "
        "'sha256:<hex>'. Kept by hash.",
    )
    owner_secret: SecretStr | None = Field(
        default=None,
        description="REGIONAL_OWNER_SECRET: the server secret owner ids are derived with (HMAC-SHA256 of the key's "
        f"hash), at least {MIN_OWNER_SECRET_CHARS} characters. Unset: one generated once and kept in Redis, "
        "shared by every replica. Changing it gives every key a new owner id (their jobs are no longer theirs).",
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_mask_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest decoded mask PNG.")
    max_regions: int = Field(default=16, ge=1, le=32, description="Most regions per layout.")
    max_side: int = Field(default=2048, ge=64, le=4096, description="Largest canvas side in pixels.")
    max_image_pixels: int = Field(
        default=4096 * 4096,
        ge=256,
        le=89_478_485,  # Pillow's own bomb limit, which stays in force beneath this one
        description="REGIONAL_MAX_IMAGE_PIXELS: most pixels (width x height) of an input image (an upload or an "
        "image in a job), read from its header before any pixel is decoded. Its size in bytes is bounded by "
        "REGIONAL_MAX_BODY_BYTES.",
    )
    upload_ttl_s: int = Field(
        default=24 * 3600,
        ge=60,
        description="REGIONAL_UPLOAD_TTL_S: how long an upload id can be used in jobs; its bytes stay in the result "
        "store (under inputs/) like results.",
    )
    max_steps: int = Field(default=100, ge=1, description="Most denoising steps.")
    max_images: int = Field(default=4, ge=1, description="Most images per generation.")
    max_wait_s: int = Field(default=60, ge=0, le=60, description="Longest `Prefer: wait=N` honoured.")
    max_event_streams: int = Field(
        default=1000, ge=1, description="Most events streams one API process holds open (503 beyond)."
    )
    max_event_streams_per_key: int = Field(
        default=20,
        ge=1,
        description="Most events streams one API key holds open on one API process (429 beyond).",
    )
    sse_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Longest silence on an events stream before a heartbeat comment.",
    )
    default_width: int = Field(default=1024, description="Canvas width of prompt jobs that give none.")
    default_height: int = Field(default=1024, description="Canvas height of prompt jobs that give none.")
    public_url: str | None = Field(
        default=None,
        description="REGIONAL_PUBLIC_URL: the base URL clients reach the API at (e.g. https://api.example.com "
        "or https://example.com/regional); `Location` and job links start with it. Unset: built from the "
        "request's Host header (behind a proxy, uvicorn trusts X-Forwarded-* only from --forwarded-allow-ips).",
    )

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                "REGIONAL_PUBLIC_URL must be an absolute http(s) URL, e.g. https://api.example.com"
            )
        return value.rstrip("/")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_and_hash(cls, value: object) -> list[str]:
        """Keep only sha256 hashes of the keys: plain keys are hashed here and dropped."""
        items = value.split(",") if isinstance(value, str) else list(value or [])  # type: ignore[arg-type]
        return [key_digest(item, "REGIONAL_API_KEYS") for item in (str(i).strip() for i in items) if item]

    @field_validator("key_policies", mode="before")
    @classmethod
    def _parse_policies(cls, value: object, info: ValidationInfo) -> dict[str, KeyLimits]:
        """Per-key limits by key hash; every entry must name a key of ``REGIONAL_API_KEYS``, once."""
        policies: dict[str, KeyLimits] = {}
        for index, entry in enumerate(_policy_entries(value)):
            where = f"REGIONAL_KEY_POLICIES[{index}]"
            key = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"{where}: an entry is an object with a 'key' (a key or 'sha256:<hex>')")
            digest = key_digest(key.strip(), f"{where}.key")
            if "api_keys" in info.data and digest not in info.data["api_keys"]:  # else api_keys is the error
                raise ValueError(f"{where}.key: not one of REGIONAL_API_KEYS")
            if digest in policies:
                raise ValueError(f"{where}.key: the same key as an earlier entry")
            policies[digest] = _key_limits(entry, where)  # type: ignore[arg-type]
        return policies

    @field_validator("owner_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # docker compose passes unset variables as ""

    @field_validator("owner_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_OWNER_SECRET_CHARS:
            raise ValueError(
                f"REGIONAL_OWNER_SECRET must be at least {MIN_OWNER_SECRET_CHARS} characters "
                "(e.g. `openssl rand -hex 32`)"
            )
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def quota_for(self, digest: str | None) -> Quota:
        """The limits of the key with this hash: its ``REGIONAL_KEY_POLICIES`` entry, else the defaults.
        ``None`` (auth off: one loopback user) has none."""
        if digest is None:
            return UNLIMITED
        limits = self.key_policies.get(digest, KeyLimits())
        rate, active = limits.rate_per_minute, limits.max_active_jobs
        return Quota(
            rate_per_minute=self.rate_limit_per_minute if rate is None else rate,
            max_active_jobs=self.max_active_jobs if active is None else active,
        )


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()

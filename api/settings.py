"""API settings: the shared service settings plus API keys and request limits (environment variables)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from worker.settings import ServiceSettings


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiSettings(ServiceSettings):
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="REGIONAL_API_KEYS: comma-separated bearer keys, or their hashes as 'sha256:<hex>'. "
        "Kept hashed in memory. Empty: no auth, and the API listens on loopback only.",
    )
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_mask_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest decoded mask PNG.")
    max_regions: int = Field(default=16, ge=1, le=32, description="Most regions per layout.")
    max_side: int = Field(default=2048, ge=64, le=4096, description="Largest canvas side in pixels.")
    max_steps: int = Field(default=100, ge=1, description="Most denoising steps.")
    max_images: int = Field(default=4, ge=1, description="Most images per generation.")
    max_wait_s: int = Field(default=60, ge=0, le=60, description="Longest `Prefer: wait=N` honoured.")
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
        hashes = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            if item.startswith("sha256:"):
                digest = item.removeprefix("sha256:").lower()
                if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
                    # a typo here would turn auth on with no usable key; the value is not echoed
                    raise ValueError("an entry 'sha256:...' is not 64 hex digits")
                hashes.append(digest)
            else:
                hashes.append(hash_key(item))
        return hashes

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()

"""Bearer API keys: compared by sha256 hash; a key's owner id is a prefix of its hash."""

from __future__ import annotations

import hmac

from api.exceptions import ApiError
from api.settings import ApiSettings, hash_key

ANONYMOUS = "anonymous"
"""Owner of every job when no keys are configured (loopback-only deployments)."""


def owner_for(authorization: str | None, settings: ApiSettings) -> str:
    """The owner id for an ``Authorization`` header; raises a 401 problem when keys are on and it fails."""
    if not settings.auth_enabled:
        return ANONYMOUS
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send an API key as `Authorization: Bearer <key>`")
    digest = hash_key(token.strip())
    matched = False
    for known in settings.api_keys:
        matched |= hmac.compare_digest(digest, known)
    if not matched:
        raise ApiError(401, "unauthorized", "unknown API key")
    return "key_" + digest[:16]


def is_authenticated(authorization: str | None, settings: ApiSettings) -> bool:
    """Whether the header carries a known key (always true with auth off: loopback-only deployments)."""
    try:
        owner_for(authorization, settings)
    except ApiError:
        return False
    return True

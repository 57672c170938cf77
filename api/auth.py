"""Bearer API keys, compared by sha256 hash, and owner ids: a keyed hash (HMAC-SHA256 with a server secret)
of a key's sha256, so that a key's hash, from a config file or a log, does not name its owner's records in
Redis, and a weak key cannot be guessed from its owner id."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from redis.asyncio import Redis as AsyncRedis

from api.exceptions import ApiError
from api.settings import ApiSettings, hash_key
from worker.exceptions import REDIS_UNREACHABLE
from worker.keys import Keys

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""Owner of every job when no keys are configured (loopback-only deployments)."""

_STORE_ONCE = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""
"""KEYS: the owner secret. ARGV: a new secret, stored only when there is none yet. Returns the stored one, so
that every replica starting at once ends up with the first one's."""


def authenticate(authorization: str | None, settings: ApiSettings) -> str | None:
    """The sha256 hex digest of the caller's key, or ``None`` when no keys are configured; raises a 401
    problem when keys are on and the header carries no known key."""
    if not settings.auth_enabled:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send an API key as `Authorization: Bearer <key>`")
    digest = hash_key(token.strip())
    matched = False
    for known in settings.api_keys:  # every key compared, in constant time
        matched |= hmac.compare_digest(digest, known)
    if not matched:
        raise ApiError(401, "unauthorized", "unknown API key")
    return digest


def owner_id(digest: str | None, secret: bytes) -> str:
    """The owner id of the key with this sha256 hex digest; ``None`` (auth off) is ``ANONYMOUS``."""
    if digest is None:
        return ANONYMOUS
    return "key_" + hmac.new(secret, digest.encode(), hashlib.sha256).hexdigest()[:16]


def is_authenticated(authorization: str | None, settings: ApiSettings) -> bool:
    """Whether the header carries a known key (always true with auth off: loopback-only deployments)."""
    try:
        authenticate(authorization, settings)
    except ApiError:
        return False
    return True


class OwnerSecret:
    """The server secret owner ids are keyed with: ``REGIONAL_OWNER_SECRET``, else one generated once and kept
    in Redis (``Keys.owner_secret``), shared by every replica. Loaded in the app's lifespan; when Redis is
    down then, by the first request that needs it (until then such requests get Redis's 503)."""

    def __init__(self, settings: ApiSettings, redis: AsyncRedis) -> None:
        configured = settings.owner_secret
        self._value = configured.get_secret_value().encode() if configured is not None else None
        self._needed = settings.auth_enabled  # with auth off no owner id is keyed
        self._key = Keys(settings.namespace).owner_secret()
        self._store_once = redis.register_script(_STORE_ONCE)

    def __repr__(self) -> str:  # never the value, in a traceback's locals or a debug print
        return f"OwnerSecret(loaded={self._value is not None})"

    async def preload(self) -> None:
        """Load the secret now; with Redis unreachable, leave it to the first request (logged, not raised)."""
        if not self._needed:
            return
        try:
            await self.get()
        except REDIS_UNREACHABLE as exc:
            logger.warning("owner secret not loaded yet, Redis is unreachable (%s)", type(exc).__name__)

    async def get(self) -> bytes:
        if self._value is None:
            stored = await self._store_once(keys=[self._key], args=[secrets.token_hex(32)])
            self._value = bytes(stored)
        return self._value

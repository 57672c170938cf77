"""Webhooks: signed deliveries of a job's status changes, as the Standard Webhooks specification says.

A status change that a job asked to hear about puts a message on a Redis queue in the same atomic step
(``worker/store.py``); every API process runs a ``WebhookDeliverer`` that claims due messages, signs and
POSTs them, records each attempt on the job and retries failures with backoff. A claim is a lease: when the
process dies mid-delivery the message is due again after ``claim_s`` and any replica sends it, with the same
``webhook-id`` (at least once). Sampling never waits for a webhook.

Outbound safety: http(s) only, no redirects, bounded timeouts; the target's addresses are resolved and
checked at connect time (no loopback, private, link-local or reserved address unless the operator allows
them) and the request goes to the checked address, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis import Redis

from worker.exceptions import REDIS_UNREACHABLE
from worker.keys import Keys
from worker.store import as_text

if TYPE_CHECKING:
    from api.service import GenerationService

logger = logging.getLogger(__name__)

EVENTS = ("running", "succeeded", "failed", "canceled")
"""Statuses a job's webhook can be sent for (as ``generation.<status>``)."""

DEFAULT_EVENTS = ("succeeded", "failed", "canceled")

SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2048


class WebhookSettings(BaseSettings):
    """REGIONAL_WEBHOOK_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="REGIONAL_WEBHOOK_", extra="ignore")

    allow_private: bool = Field(
        default=False,
        description="Allow targets on loopback, private, link-local or reserved addresses (off: only public "
        "addresses, checked on the resolved address at connect time).",
    )
    retry_s: Annotated[list[float], NoDecode] = Field(
        default=[5, 30, 120, 600, 1800, 7200],
        description="Comma-separated waits (s) before each retry of a failed delivery; after the last, the "
        "delivery is given up (recorded on the job).",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="Connect + response timeout of one attempt."
    )
    claim_s: float = Field(
        default=60.0, gt=0, description="A delivery in hand is due again after this when its sender died."
    )
    concurrency: int = Field(default=8, ge=1, le=256, description="Deliveries in flight per API process.")
    poll_s: float = Field(
        default=0.5, gt=0, description="How often an idle deliverer looks for due messages."
    )
    secret_grace_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="After a rotation, deliveries are also signed with the old secret "
        "for this long, so receivers can switch over.",
    )

    @field_validator("retry_s", mode="before")
    @classmethod
    def _split(cls, value: object) -> list[float]:
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[arg-type]
        waits = [float(i) for i in items if str(i).strip()]
        if any(w < 0 for w in waits):
            raise ValueError("waits must be >= 0")
        return waits


# -- signing (https://www.standardwebhooks.com/) --------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``"{id}.{timestamp}.{body}"`` with the secret's decoded key."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookSecrets:
    """Per-owner signing secrets in Redis: issued on first use, rotated on request."""

    def __init__(self, redis: Redis, keys: Keys, grace_s: int) -> None:
        self.redis, self.keys, self.grace_s = redis, keys, grace_s

    def current(self, owner: str) -> str:
        key = self.keys.webhook_secret(owner)
        self.redis.set(key, new_secret(), nx=True)
        return as_text(self.redis.get(key))

    def rotate(self, owner: str) -> str:
        key, fresh = self.keys.webhook_secret(owner), new_secret()
        old = self.redis.set(key, fresh, get=True)
        if old is not None and self.grace_s > 0:
            self.redis.set(key + ":previous", old, ex=self.grace_s)
        return fresh

    def signing(self, owner: str) -> list[str]:
        """The secrets a delivery is signed with: the current one, and the previous during its grace."""
        previous = self.redis.get(self.keys.webhook_secret(owner) + ":previous")
        return [self.current(owner)] + ([as_text(previous)] if previous else [])


# -- target checks ----------------------------------------------------------------------------------------
class UnsafeTarget(ValueError):
    """The webhook URL is not one this service may call."""


def check_url(url: str, allow_private: bool) -> None:
    """What can be checked without DNS, at submission: the URL's form and a literal address."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeTarget(f"the URL is longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("must not carry credentials (the delivery is signed instead)")
    if parts.fragment:
        raise UnsafeTarget("must not have a #fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UnsafeTarget("has an invalid port") from exc
    if allow_private:
        return
    if parts.hostname.lower() in ("localhost", "localhost.localdomain") or parts.hostname.endswith(
        ".localhost"
    ):
        raise UnsafeTarget("must not point at this host")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: its addresses are checked when the delivery connects
    if not _public(address):
        raise UnsafeTarget("must not point at a loopback, private, link-local or reserved address")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve_target(url: str, allow_private: bool) -> tuple[str, str, str]:
    """(URL with the host replaced by a checked address, Host header, TLS server name)."""
    check_url(url, allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"{host} has no address")
    if not allow_private and not all(_public(a) for a in addresses):
        raise UnsafeTarget(f"{host} resolves to a loopback, private, link-local or reserved address")
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port is not None:
        netloc += f":{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header, host


# -- the delivery queue -----------------------------------------------------------------------------------
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, message in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], message) end
return due
"""
"""KEYS: webhooks due. ARGV: now, claim (s), most messages. Due messages, each pushed ``claim`` into the
future so no other deliverer takes it while this one sends it."""


class WebhookDeliverer:
    """Sends due webhook messages; one per API process, any number of processes."""

    def __init__(self, service: GenerationService, settings: WebhookSettings, public_url: str | None) -> None:
        self.service, self.settings = service, settings
        self.redis, self.keys = service.redis, service.keys
        # links in payloads start with REGIONAL_PUBLIC_URL, else with where the job's client reached the API
        self.base_url = public_url or ""
        self.secrets = WebhookSecrets(self.redis, self.keys, settings.secret_grace_s)
        self._claim = self.redis.register_script(_CLAIM)

    async def run(self) -> None:
        """Deliver forever (until cancelled)."""
        limits = httpx.Limits(max_connections=self.settings.concurrency)
        timeout = httpx.Timeout(self.settings.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as client:
            while True:
                try:
                    delivered = await self.deliver_due(client)
                except REDIS_UNREACHABLE:
                    delivered = 0  # the messages wait in Redis; nothing is lost while it is away
                except Exception:
                    logger.exception("webhook delivery loop failed; trying again")
                    delivered = 0
                if not delivered:
                    await asyncio.sleep(self.settings.poll_s)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Claim the messages due now and send them concurrently. Returns how many were claimed."""
        claimed = await asyncio.to_thread(
            self._claim,
            keys=[self.keys.webhooks_due()],
            args=[time.time(), self.settings.claim_s, self.settings.concurrency],
        )
        messages = [as_text(m) for m in claimed]
        await asyncio.gather(*(self.deliver(client, m) for m in messages))
        return len(messages)

    async def deliver(self, client: httpx.AsyncClient, message_id: str) -> None:
        raw = await asyncio.to_thread(self.redis.hget, self.keys.webhooks_pending(), message_id)
        record = None
        if raw is not None:
            pending = json.loads(raw)
            record = await asyncio.to_thread(self.service.store.get, pending["generation_id"])
        if record is None or not record.get("webhook"):
            await asyncio.to_thread(self._forget, message_id)  # the job (or the message) is gone
            return
        attempt = pending["attempts"] + 1
        event_type = f"generation.{pending['status']}"
        outcome: dict[str, Any] = {"webhook_id": message_id, "type": event_type, "attempt": attempt}
        try:
            body, signatures, timestamp = await asyncio.to_thread(
                self._signed_body, record, event_type, message_id
            )
            url, host, server_name = await resolve_target(
                record["webhook"]["url"], self.settings.allow_private
            )
            headers = {
                "Host": host,
                "Content-Type": "application/json",
                "User-Agent": "regional-webhooks/1",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": " ".join(signatures),
            }
            extensions = {"sni_hostname": server_name} if url.startswith("https") else {}
            async with client.stream(
                "POST", url, content=body, headers=headers, extensions=extensions
            ) as reply:
                outcome["status_code"] = reply.status_code
                outcome["delivered"] = 200 <= reply.status_code < 300
        except UnsafeTarget as exc:
            outcome.update(delivered=False, error=f"unsafe target: {exc}", final=True)
        except (httpx.HTTPError, OSError) as exc:
            outcome.update(delivered=False, error=type(exc).__name__)
        except Exception as exc:  # recorded and retried like any failure, never a message stuck in a loop
            logger.exception("generation %s: webhook %s failed unexpectedly", record["id"], message_id)
            outcome.update(delivered=False, error=type(exc).__name__)
        await asyncio.to_thread(self._record, record, pending, message_id, outcome)

    def _signed_body(
        self, record: dict[str, Any], event_type: str, message_id: str
    ) -> tuple[bytes, list[str], int]:
        view = self.service.view(record, self.base_url or record.get("base_url", ""))
        now = time.time()
        payload = {
            "type": event_type,
            "timestamp": datetime.fromtimestamp(now, tz=UTC).isoformat(),
            "data": view.model_dump(mode="json"),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = int(now)
        signatures = [
            signature(s, message_id, timestamp, body) for s in self.secrets.signing(record["owner"])
        ]
        return body, signatures, timestamp

    def _record(
        self, record: dict[str, Any], pending: dict[str, Any], message_id: str, outcome: dict[str, Any]
    ) -> None:
        """Write the attempt on the job; then forget the message, or make it due again after its backoff."""
        generation_id = record["id"]
        retries = self.settings.retry_s
        attempt = outcome["attempt"]
        final = outcome.pop("final", False) or outcome["delivered"] or attempt > len(retries)
        outcome["at"] = datetime.now(tz=UTC).isoformat()
        if not outcome["delivered"] and not final:
            outcome["next_attempt_in_s"] = retries[attempt - 1]
        attempts_key = self.keys.webhook_attempts(generation_id)
        with self.redis.pipeline() as pipe:
            pipe.rpush(attempts_key, json.dumps(outcome, separators=(",", ":")))
            pipe.ltrim(attempts_key, -50, -1)
            pipe.expire(attempts_key, self.service.store.ttl_s)
            outcome_name = "delivered" if outcome["delivered"] else ("given_up" if final else "failed")
            pipe.hincrby(self.keys.webhook_outcomes(), outcome_name, 1)
            if final:
                pipe.zrem(self.keys.webhooks_due(), message_id)
                pipe.hdel(self.keys.webhooks_pending(), message_id)
            else:
                pipe.hset(
                    self.keys.webhooks_pending(), message_id, json.dumps({**pending, "attempts": attempt})
                )
                pipe.zadd(self.keys.webhooks_due(), {message_id: time.time() + retries[attempt - 1]})
            pipe.execute()
        if not outcome["delivered"]:
            level = logging.WARNING if final else logging.INFO
            logger.log(
                level,
                "generation %s: webhook %s attempt %d failed (%s)%s",
                generation_id,
                message_id,
                attempt,
                outcome.get("error") or outcome.get("status_code"),
                ", given up" if final else "",
            )

    def _forget(self, message_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.zrem(self.keys.webhooks_due(), message_id)
            pipe.hdel(self.keys.webhooks_pending(), message_id)
            pipe.execute()

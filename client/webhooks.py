"""Checking webhook deliveries in a receiver, as the Standard Webhooks specification says
(https://www.standardwebhooks.com/): ``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>``
entries over ``f"{webhook-id}.{webhook-timestamp}.{body}"``, keyed with the base64 part of the secret
(``whsec_<base64>``, from ``RegionalClient.webhook_secret()``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from client.exceptions import WebhookVerificationError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300
"""How far a delivery's timestamp may be from the receiver's clock (both ways): the spec's 5 minutes.
Older deliveries are refused so that a captured one cannot be replayed later."""


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional); raw bytes are the key itself."""
    if isinstance(secret, bytes):
        key = secret
    else:
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("the webhook secret is not 'whsec_' followed by base64") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign_webhook(secret: str | bytes, webhook_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``v1,<base64>`` signature of one delivery (what the service puts in ``webhook-signature``)."""
    content = f"{webhook_id}.{timestamp}.".encode() + _raw(body)
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """The delivery's JSON payload once its signature and timestamp check out; else
    ``WebhookVerificationError``.

    ``body`` must be the raw request body exactly as received (re-serialised JSON would not match the
    signature). ``headers`` is any mapping (a dict, Starlette's or httpx's headers); names are compared
    without case. The payload is ``{"type": "generation.<status>", "timestamp": ..., "data": <job>}``.
    """
    webhook_id, timestamp, signatures = _required_headers(headers)
    _check_timestamp(timestamp, tolerance_s, time.time() if now is None else now)
    expected = sign_webhook(secret, webhook_id, timestamp, body).removeprefix("v1,")
    expected_digest = base64.b64decode(expected)
    # Several signatures are sent while a secret is being rotated (old and new); one match is enough.
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(digest, expected_digest):  # constant time: no timing oracle on the secret
            return _payload(body)
    raise WebhookVerificationError("no webhook-signature matches the body and the secret")


def _required_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    missing = [name for name in names if not lowered.get(name)]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    webhook_id, timestamp, signatures = (lowered[name] for name in names)
    return webhook_id, timestamp, signatures


def _check_timestamp(timestamp: str, tolerance_s: float, now: float) -> None:
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise WebhookVerificationError(f"webhook-timestamp {timestamp[:20]!r} is not Unix seconds")
    offset = int(timestamp) - now
    if offset < -tolerance_s:
        raise WebhookVerificationError(
            f"the delivery is {-offset:.0f} s old; over {tolerance_s:g} s is refused"
        )
    if offset > tolerance_s:
        raise WebhookVerificationError(f"the delivery is {offset:.0f} s in the future; check the clocks")


def _raw(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _payload(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("the signed body is not JSON") from exc

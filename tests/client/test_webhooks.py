"""``verify_webhook`` against the Standard Webhooks specification's published example and our own signing."""

from __future__ import annotations

import base64
import json
import secrets
import time

import httpx
import pytest
from starlette.datastructures import Headers as StarletteHeaders

from client import WebhookVerificationError, sign_webhook, verify_webhook

# The example of the specification's reference libraries (standard-webhooks/standard-webhooks, e.g.
# libraries/python/tests/test_webhooks.py test_sign_function, and the same vector in svix's libraries).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(signature: str = SPEC_SIGNATURE, **changes: str) -> dict[str, str]:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": signature,
    }
    return {**headers, **changes}


def test_the_published_example_signs_and_verifies() -> None:
    assert sign_webhook(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert (
        sign_webhook(SPEC_SECRET.removeprefix("whsec_"), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.encode())
        == SPEC_SIGNATURE
    )
    payload = verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY.encode(), now=SPEC_TIMESTAMP + 10)
    assert payload == {"test": 2432232314}


def test_one_matching_signature_among_several_is_enough() -> None:
    signatures = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,{SPEC_SIGNATURE[3:]} v1,not-base64! {SPEC_SIGNATURE}"
    assert verify_webhook(SPEC_SECRET, spec_headers(signatures), SPEC_BODY, now=SPEC_TIMESTAMP) == {
        "test": 2432232314
    }


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (
            spec_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            SPEC_BODY,
            "no webhook-signature matches",
        ),
        (spec_headers(f"v2,{SPEC_SIGNATURE[3:]}"), SPEC_BODY, "no webhook-signature matches"),  # v1 only
        (spec_headers(), '{"test": 2432232315}', "no webhook-signature matches"),  # body tampered with
        (spec_headers(**{"webhook-id": "msg_other"}), SPEC_BODY, "no webhook-signature matches"),
        (spec_headers(**{"webhook-timestamp": str(SPEC_TIMESTAMP + 1)}), SPEC_BODY, "no webhook-signature"),
        (spec_headers(**{"webhook-timestamp": "1614265330.5"}), SPEC_BODY, "not Unix seconds"),
        (
            {"webhook-id": SPEC_ID, "webhook-signature": SPEC_SIGNATURE},
            SPEC_BODY,
            "missing header.*timestamp",
        ),
        (spec_headers(**{"webhook-id": ""}), SPEC_BODY, "missing header.*webhook-id"),
    ],
)
def test_what_does_not_check_out_is_refused(headers: dict, body: str, message: str) -> None:
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(SPEC_SECRET, headers, body, now=SPEC_TIMESTAMP)


def test_another_secret_is_refused() -> None:
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(other, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    assert verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + 300)
    assert verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP - 300)
    with pytest.raises(WebhookVerificationError, match="301 s old"):
        verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + 301)
    with pytest.raises(WebhookVerificationError, match="in the future"):
        verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP - 301)
    assert verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, tolerance_s=10**9)  # today's clock


def test_a_delivery_signed_now_verifies_with_any_header_mapping() -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    body = json.dumps(
        {"type": "generation.succeeded", "timestamp": "2025-01-01T00:00:00Z", "data": {"id": "gen_1"}}
    )
    timestamp = str(int(time.time()))
    signature = sign_webhook(secret, "msg_1", timestamp, body)
    headers = httpx.Headers(
        {"Webhook-Id": "msg_1", "Webhook-Timestamp": timestamp, "Webhook-Signature": signature}
    )
    assert verify_webhook(secret, headers, body.encode())["data"] == {"id": "gen_1"}
    assert verify_webhook(secret, dict(headers), body)["type"] == "generation.succeeded"
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    assert verify_webhook(secret, StarletteHeaders(raw=raw), body)["data"] == {"id": "gen_1"}  # FastAPI's


def test_a_secret_that_is_not_base64_is_named() -> None:
    with pytest.raises(ValueError, match="not 'whsec_' followed by base64"):
        sign_webhook("whsec_not base64!", "msg_1", 1, "{}")
    with pytest.raises(ValueError, match="empty"):
        sign_webhook("whsec_", "msg_1", 1, "{}")

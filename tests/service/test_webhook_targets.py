"""Which webhook targets the service may call: checked on the URL at submission, and on the resolved
addresses at connect time (spellings of loopback that only the resolver turns into 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import pytest

from api.webhooks import SECRET_PREFIX, UnsafeTarget, check_url, new_secret, resolve_target, signature


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8080/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fc00::1]/hook",
        "http://0.0.0.0/hook",
        "http://localhost/hook",
        "http://LocalHost:9000/hook",
        "http://app.localhost/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_private_literal_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http(s)"),
        ("file:///etc/passwd", "http(s)"),
        ("https://user:secret@example.com/hook", "credentials"),
        ("https://example.com/hook#part", "fragment"),
        ("https://example.com:99999/hook", "port"),
        ("https://example.com/" + "x" * 2100, "2048"),
    ],
)
def test_malformed_targets_are_refused_even_when_private_ones_are_allowed(url: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, allow_private=True)


def test_public_targets_pass_the_submission_check() -> None:
    for url in (
        "https://hooks.example.com/regional?tenant=7",
        "http://8.8.8.8:8080/x",
        "https://[2001:4860::8888]/",
    ):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_loopback_spelled_so_only_the_resolver_sees_it_is_refused_at_connect_time(host: str) -> None:
    url = f"http://{host}:8123/hook"
    check_url(url, allow_private=False)  # not an address literal Python recognises: passes the first check
    with pytest.raises(UnsafeTarget, match="resolves to"):
        asyncio.run(resolve_target(url, allow_private=False))


def test_the_request_goes_to_the_checked_address_with_the_original_host() -> None:
    url, host_header, server_name = asyncio.run(
        resolve_target("http://127.1:8123/a/b?c=d", allow_private=True)
    )
    assert url == "http://127.0.0.1:8123/a/b?c=d"
    assert host_header == "127.1:8123" and server_name == "127.1"


def test_signature_is_standard_webhooks_hmac_of_id_timestamp_and_body() -> None:
    secret = new_secret()
    assert (
        secret.startswith(SECRET_PREFIX) and len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 32
    )
    body = b'{"type":"generation.succeeded"}'
    signed = signature(secret, "msg_1", 1700000000, body)
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert signed == "v1," + base64.b64encode(digest).decode()
    assert signature(secret, "msg_1", 1700000001, body) != signed

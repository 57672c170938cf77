"""Helpers of the tests that run real servers (tests/service, tests/client): importable from every test."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

KEY_A, KEY_B = "test-key-alpha", "test-key-bravo"
"""The two API keys (tenants) of the test deployments."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)

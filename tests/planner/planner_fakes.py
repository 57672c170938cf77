"""A scripted backend for planner tests (no model)."""

from __future__ import annotations

import time

from planner.backends import Backend, Messages
from planner.exceptions import BackendError


class ScriptedBackend(Backend):
    """Returns the scripted replies in order; an exception instance in the script is raised instead."""

    name = "openai"

    def __init__(self, *replies: str | Exception, delay: float = 0.0) -> None:
        self.replies = list(replies)
        self.calls: list[Messages] = []
        self.timeouts: list[float] = []
        self.delay = delay
        self.unusable = 0

    def complete(self, messages: Messages, *, timeout: float) -> str:
        self.calls.append(messages)
        self.timeouts.append(timeout)
        if self.delay:
            time.sleep(min(self.delay, timeout))
            if self.delay > timeout:
                raise BackendError(f"no answer within {timeout:.0f} s")
        reply = self.replies.pop(0) if self.replies else "no JSON here"
        if isinstance(reply, Exception):
            raise reply
        return reply

    def reply_unusable(self) -> None:
        self.unusable += 1

"""Planner test fakes: a scripted backend (no model) and chat completions in OpenAI's exact shape."""

from __future__ import annotations

import time

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.completion_usage import CompletionUsage

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


def completion(content: str | None, refusal: str | None = None) -> dict:
    """A chat completion exactly as api.openai.com serialises it, built from the client's own types."""
    return ChatCompletion(
        id="chatcmpl-test",
        object="chat.completion",
        created=1_700_000_000,
        model="gpt-4o-2024-08-06",
        system_fingerprint="fp_test",
        choices=[
            Choice(
                index=0,
                finish_reason="stop",
                logprobs=None,
                message=ChatCompletionMessage(role="assistant", content=content, refusal=refusal),
            )
        ],
        usage=CompletionUsage(prompt_tokens=500, completion_tokens=80, total_tokens=580),
    ).model_dump(mode="json")

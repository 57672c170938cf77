"""The ``openai`` backend: GPT-4o or any OpenAI-compatible server, through the official client.

Response formats, tried in order and remembered per backend: strict structured outputs (JSON schema), JSON
mode, plain prompted JSON. A server that rejects a format moves to the next at once; one that ignores it
(its reply holds no JSON) moves on after that reply.
"""

from __future__ import annotations

from typing import Any

from planner.backends import Backend, Messages
from planner.exceptions import BackendError, BackendUnavailableError
from planner.schema import layout_json_schema
from planner.settings import PlannerSettings

RESPONSE_FORMATS = ("json_schema", "json_object", "text")


def response_format(kind: str) -> dict[str, Any] | None:
    if kind == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "layout", "strict": True, "schema": layout_json_schema()},
        }
    if kind == "json_object":
        return {"type": "json_object"}
    return None


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, settings: PlannerSettings, client: Any = None) -> None:
        import openai

        if client is None:
            if not settings.openai_api_key and not settings.openai_base_url:
                raise BackendUnavailableError("the openai planner needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
            client = openai.OpenAI(
                api_key=settings.openai_api_key or "not-needed",
                base_url=settings.openai_base_url,
                timeout=settings.timeout,
                max_retries=0,
            )
        self.client = client
        self.model = settings.model
        self.max_tokens = settings.max_tokens
        self.format_index = 0

    def reply_unusable(self) -> None:
        super().reply_unusable()
        self.format_index = min(self.format_index + 1, len(RESPONSE_FORMATS) - 1)

    def complete(self, messages: Messages, *, timeout: float) -> str:
        import openai

        while True:
            kind = RESPONSE_FORMATS[self.format_index]
            extra = {"response_format": response_format(kind)} if kind != "text" else {}
            try:
                completion = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    max_tokens=self.max_tokens,
                    temperature=0,
                    timeout=timeout,
                    **extra,
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if kind == "text":
                    raise BackendError(f"the server rejected the request: {exc}") from exc
                self.format_index += 1  # this server does not take that response_format
                continue
            except openai.APITimeoutError as exc:
                raise BackendError(f"no answer within {timeout:.0f} s") from exc
            except openai.APIConnectionError as exc:
                raise BackendUnavailableError(f"cannot reach the server: {exc}") from exc
            except openai.APIError as exc:
                raise BackendError(f"the server failed: {exc}") from exc
            if not completion.choices:
                raise BackendError("the server returned no choices")
            message = completion.choices[0].message
            if getattr(message, "refusal", None):
                raise BackendError(f"the model refused: {message.refusal}")
            if not message.content:
                raise BackendError("the model returned an empty message")
            return message.content

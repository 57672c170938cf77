"""The backend interface: a chat completion that returns the model's reply text. Registered by name."""

from __future__ import annotations

import json
import threading

from planner.exceptions import PlannerConfigError
from planner.settings import PlannerSettings

Messages = list[dict[str, str]]


class Backend:
    """An LLM that answers chat messages. Implementations must honour ``timeout`` (seconds)."""

    name: str
    unusable_replies: int = 0

    def complete(self, messages: Messages, *, timeout: float) -> str:
        """The assistant's reply text; raises ``BackendError`` or ``BackendUnavailableError``."""
        raise NotImplementedError

    def reply_unusable(self) -> None:
        """Told when the last reply held no usable JSON, so that the backend may change strategy."""
        self.unusable_replies += 1


_cache: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(name: str, settings: PlannerSettings) -> Backend:
    """The backend called ``name`` for these settings, built once and then reused (models load once)."""
    key = json.dumps([name, settings.model_dump(mode="json", exclude={"backend", "retries", "fallback"})])
    with _lock:
        if key not in _cache:
            if name == "openai":
                from planner.openai_backend import OpenAIBackend

                _cache[key] = OpenAIBackend(settings)
            elif name == "local":
                from planner.local_backend import LocalBackend

                _cache[key] = LocalBackend(settings)
            else:
                raise PlannerConfigError(f"unknown LLM backend {name!r}; use 'openai' or 'local'")
        return _cache[key]

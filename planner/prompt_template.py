"""Chat messages for LLM backends, built from ``prompt_template.md`` (one readable file)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

TEMPLATE_PATH = Path(__file__).with_name("prompt_template.md")


@lru_cache
def _sections() -> tuple[str, list[tuple[str, str]]]:
    """(system text, [(user prompt, assistant JSON), ...]) read from the template file."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    parts = re.split(r"^## (System|Example)\s*$", text, flags=re.MULTILINE)
    system, examples = "", []
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name == "System":
            system = body.strip()
        else:
            user = re.search(r"^User:\s*(.+)$", body, flags=re.MULTILINE)
            answer = re.search(r"```json\s*(.*?)```", body, flags=re.DOTALL)
            if user and answer:
                examples.append((user.group(1).strip(), " ".join(answer.group(1).split())))
    return system, examples


def orientation(width: int, height: int) -> str:
    ratio = width / height
    shape = "square" if abs(ratio - 1) < 0.05 else "landscape" if ratio > 1 else "portrait"
    return f"{shape}, aspect ratio {ratio:.2f}"


def build_messages(
    prompt: str, width: int, height: int, feedback: list[str] | None = None
) -> list[dict[str, str]]:
    """System prompt, the in-context examples, the user's prompt and, on retry, what was wrong last time."""
    system, examples = _sections()
    messages = [
        {
            "role": "system",
            "content": system.format(width=width, height=height, orientation=orientation(width, height)),
        }
    ]
    for user, answer in examples:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": prompt})
    if feedback:
        messages.append(
            {
                "role": "user",
                "content": "Your previous layout was rejected: "
                + "; ".join(feedback)
                + ". Answer again with the corrected JSON object only.",
            }
        )
    return messages

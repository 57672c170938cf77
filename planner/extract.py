"""Recover one JSON object from a model's reply: code fences, prose around it, truncation, loose syntax."""

from __future__ import annotations

import json
import re
from typing import Any

from planner.exceptions import LayoutExtractionError

_FENCE = re.compile(r"```(?:json|JSON|javascript)?\s*(.*?)(?:```|$)", re.DOTALL)
_CLOSER = {"{": "}", "[": "]"}
MAX_CUTS = 400
"""Most cut points tried when closing a truncated reply."""


def _loosen(text: str) -> str:
    """Fix common non-JSON habits: trailing commas, Python literals, comments, smart quotes."""
    text = text.replace("“", '"').replace("”", '"').replace("’", "'")
    text = re.sub(r"//[^\n\"]*$", "", text, flags=re.MULTILINE)
    text = re.sub(r",\s*([}\]])", r"\1", text)
    text = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", text)))
    if '"' not in text and "'" in text:
        text = text.replace("'", '"')
    return text


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_loosen(text))


def _scan(text: str) -> tuple[int | None, list[tuple[int, str]]]:
    """End index of the first balanced value starting at text[0], and (cut point, open brackets) pairs."""
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
            cuts.append((i + 1, "".join(stack)))
        elif char in "}]":
            if stack:
                stack.pop()
            if not stack:
                return i + 1, cuts
            cuts.append((i + 1, "".join(stack)))
        elif char == ",":
            cuts.append((i, "".join(stack)))
    if in_string:  # cut inside a string: closing the string is the latest cut point
        cuts.append((len(text), '"' + "".join(stack)))
    return None, cuts


def _close_truncated(text: str, cuts: list[tuple[int, str]]) -> Any:
    """Parse a reply cut off mid-way: drop the unfinished tail at the latest cut point that parses."""
    for position, stack in reversed(cuts[-MAX_CUTS:]):
        quote = stack.startswith('"')
        closers = "".join(_CLOSER[c] for c in reversed(stack.lstrip('"')))
        head = text[:position] if quote else text[:position].rstrip().rstrip(",")
        candidate = head.rstrip("\\") + ('"' if quote else "") + closers
        try:
            return _loads(candidate)
        except json.JSONDecodeError:
            continue
    raise LayoutExtractionError("the reply is truncated JSON that cannot be closed")


def extract_json(reply: str | dict[str, Any]) -> dict[str, Any]:
    """The first JSON object in ``reply``; a top-level list is read as the regions."""
    if isinstance(reply, dict):
        return reply
    text = reply.strip()
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1).strip()] if fenced else []
    candidates.append(text)
    for candidate in candidates:
        starts = [i for i in (candidate.find("{"), candidate.find("[")) if i >= 0]
        if not starts:
            continue
        body = candidate[min(starts) :]
        end, cuts = _scan(body)
        try:
            value = _loads(body[:end]) if end is not None else _close_truncated(body, cuts)
        except (json.JSONDecodeError, LayoutExtractionError):
            continue
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            value = {"regions": value}
        if isinstance(value, dict) and value:
            return value
    raise LayoutExtractionError(f"no JSON object found in the reply: {text[:120]!r}")

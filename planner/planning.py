"""``plan``: prompt -> Layout through the configured backend, with repair, bounded retry and fallback.

Stages for an LLM backend:
1. ask the model (messages from ``prompt_template.md``; on retry, the last problems fed back);
2. extract the JSON object from its reply;
3. repair it into a valid ``Layout``;
4. check it against what the prompt surely asks (numbers stated as numbers, exclusions, spatial relations and
   sides of objects the parse is sure of); what the parse only believes is advice, never a reason to reject;
then retry up to ``retries`` times, and fall back to the offline planner when every attempt failed.
The parse can misread a caption; a capable LLM usually does not, so only the parse's sure facts overrule it.

One budget bounds a planning (``PlannerSettings.budget_s``): the LLM attempts share all of it but a reserve
(each call also capped by ``timeout``), and the offline fallback runs in the reserve. ``aplan_report`` keeps
the budget even when a backend ignores its timeout. Callers put their outer timeouts at
``PlannerSettings.deadline_s``, past the budget, so that the fallback always comes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from planner.backends import get_backend
from planner.checks import check, expectations_from_scene
from planner.exceptions import BackendUnavailableError, InvalidRequestError, PlannerConfigError, PlannerError
from planner.extract import extract_json
from planner.offline import plan_offline
from planner.parse import parse_prompt
from planner.prompt_template import build_messages
from planner.repair import repair
from planner.settings import BackendName, PlannerSettings, get_settings
from regional import Layout
from regional.layout import MAX_PROMPT_CHARS, MAX_SIDE, MIN_SIDE
from regional.raster import TOKEN_PX

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("offline", "openai", "local")

RETRY_CATEGORIES = {"count", "negation", "relation", "position", "empty"}
"""Check failures that reject an LLM's layout (heavy overlap alone does not)."""


@dataclass
class PlanReport:
    """A layout and how it was obtained; ``errors`` holds one line per failed attempt."""

    layout: Layout
    backend: str
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    """The reason of each rejected attempt: a check category ("count", "relation", ...) or "unusable"
    (no JSON, an invalid layout) or "unavailable" (the backend could not be reached)."""
    advice: list[str] = field(default_factory=list)
    """What the accepted layout misses of the parse's likely reading (not a reason to reject it)."""

    @property
    def fell_back(self) -> bool:
        return self.backend != "offline" and self.layout.planner == "offline"

    @property
    def outcome(self) -> str:
        """ "offline" (asked of the offline planner), "accepted" (the LLM's layout) or "fallback"."""
        return "offline" if self.backend == "offline" else "fallback" if self.fell_back else "accepted"


def check_request(prompt: str, width: int, height: int) -> None:
    """Raise ``InvalidRequestError`` for an empty prompt or a canvas FLUX cannot use."""
    if not prompt or not prompt.strip():
        raise InvalidRequestError("the prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(f"the prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE or side % TOKEN_PX:
            raise InvalidRequestError(
                f"{name}={side} must be a multiple of {TOKEN_PX} in [{MIN_SIDE}, {MAX_SIDE}], e.g. 1024"
            )


def _plan_with_llm(
    prompt: str, width: int, height: int, name: str, settings: PlannerSettings, report: PlanReport
) -> Layout | None:
    deadline = time.monotonic() + settings.llm_budget_s
    scene = parse_prompt(prompt)
    sure, likely = expectations_from_scene(scene)
    feedback: list[str] = []
    try:
        backend = get_backend(name, settings)
    except PlannerError as exc:
        _reject(report, name, "unavailable", str(exc))
        return None
    for _ in range(settings.retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 1:
            _reject(report, name, "timeout", "out of time")
            break
        report.attempts += 1
        try:
            reply = backend.complete(
                build_messages(prompt, width, height, feedback), timeout=min(settings.timeout, remaining)
            )
            try:
                data = extract_json(reply)
            except PlannerError:
                backend.reply_unusable()
                raise
            layout = repair(data, prompt, width, height, planner=name, excluded=scene.negative_heads)
        except BackendUnavailableError as exc:
            _reject(report, name, "unavailable", str(exc))
            break
        except PlannerError as exc:
            _reject(report, name, "unusable", str(exc))
            feedback = [str(exc)]
            continue
        problems = [p for p in check(layout, sure) if p.category in RETRY_CATEGORIES]
        advice = [p.message for p in check(layout, likely) if p.category in RETRY_CATEGORIES]
        if not problems:
            report.advice = advice
            return layout
        feedback = [p.message for p in problems] + [f"(advice) {a}" for a in advice]
        _reject(report, name, problems[0].category, "; ".join(p.message for p in problems))
    return None


def _reject(report: PlanReport, name: str, reason: str, message: str) -> None:
    report.rejections.append(reason)
    report.errors.append(f"{name}: {message}")
    logger.info("planner %s: attempt rejected (%s): %s", name, reason, message)


def _backend_name(backend: BackendName | None, settings: PlannerSettings) -> str:
    name = backend or settings.backend
    if name not in BACKENDS:
        raise PlannerConfigError(f"unknown planner backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def _fall_back(
    report: PlanReport, prompt: str, width: int, height: int, settings: PlannerSettings
) -> PlanReport:
    """The report with the offline planner's layout when it has none (the LLM gave none, or was not asked)."""
    if report.layout is not None:
        return report
    if report.backend != "offline":
        if not settings.fallback:
            raise PlannerError(f"the {report.backend} planner failed: " + " | ".join(report.errors))
        logger.warning(
            "planner %s failed, using the offline planner: %s", report.backend, " | ".join(report.errors)
        )
    report.layout = plan_offline(prompt, width, height)
    return report


def plan_report(
    prompt: str,
    width: int = 1024,
    height: int = 1024,
    backend: BackendName | None = None,
    settings: PlannerSettings | None = None,
) -> PlanReport:
    """Plan ``prompt`` and say how: which backend, how many attempts, what went wrong.

    Within ``settings.budget_s`` as long as the backend honours its timeouts (``aplan_report`` does not need
    them to)."""
    check_request(prompt, width, height)
    settings = settings or get_settings()
    report = PlanReport(layout=None, backend=_backend_name(backend, settings))  # type: ignore[arg-type]
    if report.backend != "offline":
        report.layout = _plan_with_llm(prompt, width, height, report.backend, settings, report)
    return _fall_back(report, prompt, width, height, settings)


def plan(
    prompt: str,
    width: int = 1024,
    height: int = 1024,
    backend: BackendName | None = None,
    settings: PlannerSettings | None = None,
) -> Layout:
    """A layout for ``prompt`` on a ``width`` x ``height`` canvas; ``backend`` overrides the configuration."""
    return plan_report(prompt, width, height, backend, settings).layout


async def aplan_report(
    prompt: str,
    width: int = 1024,
    height: int = 1024,
    backend: BackendName | None = None,
    settings: PlannerSettings | None = None,
) -> PlanReport:
    """``plan_report`` for async callers, in worker threads, within ``settings.budget_s`` whatever the backend
    does: the LLM attempts are abandoned at ``settings.llm_budget_s`` and the offline fallback runs in the
    reserve."""
    check_request(prompt, width, height)
    settings = settings or get_settings()
    name = _backend_name(backend, settings)
    report = PlanReport(layout=None, backend=name)  # type: ignore[arg-type]
    if name != "offline":
        attempts = PlanReport(layout=None, backend=name)  # type: ignore[arg-type]
        try:
            attempts.layout = await asyncio.wait_for(
                asyncio.to_thread(_plan_with_llm, prompt, width, height, name, settings, attempts),
                settings.llm_budget_s,
            )
            report = attempts
        except TimeoutError:  # the thread runs on and writes to ``attempts``, which is dropped
            report.attempts = attempts.attempts
            _reject(report, name, "timeout", f"no layout within the {settings.llm_budget_s:.0f} s of the LLM")
    return await asyncio.to_thread(_fall_back, report, prompt, width, height, settings)


async def aplan(
    prompt: str,
    width: int = 1024,
    height: int = 1024,
    backend: BackendName | None = None,
    settings: PlannerSettings | None = None,
) -> Layout:
    """``plan`` for async callers."""
    return (await aplan_report(prompt, width, height, backend, settings)).layout

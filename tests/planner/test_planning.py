"""plan / aplan: validation, bounded retry with the error fed back, fallback, timeouts, configuration."""

import asyncio
import json
import threading
import time

import pytest
from planner_fakes import ScriptedBackend

import planner
from planner import planning
from planner.checks import expectations_from_scene
from planner.exceptions import BackendUnavailableError, InvalidRequestError, PlannerConfigError, PlannerError
from planner.parse import parse_prompt
from planner.settings import OFFLINE_RESERVE_S, PlannerSettings

GOOD = json.dumps(
    {
        "base_prompt": "two cats",
        "background_prompt": None,
        "negative_prompt": None,
        "regions": [
            {"phrase": "a cat", "prompt": "a cat", "box": [0.05, 0.5, 0.45, 0.95]},
            {"phrase": "a cat", "prompt": "a cat", "box": [0.55, 0.5, 0.95, 0.95]},
        ],
    }
)
ONE_CAT = json.dumps(
    {"base_prompt": "two cats", "regions": [{"phrase": "a cat", "box": [0.1, 0.1, 0.5, 0.5]}]}
)


@pytest.fixture
def use_backend(monkeypatch: pytest.MonkeyPatch):
    def install(backend: ScriptedBackend | Exception) -> None:
        def get_backend(name: str, settings: PlannerSettings):
            if isinstance(backend, Exception):
                raise backend
            return backend

        monkeypatch.setattr(planning, "get_backend", get_backend)

    return install


SETTINGS = PlannerSettings(backend="openai", retries=1, timeout=5)


def test_llm_layout_is_used_when_it_passes_the_checks(use_backend) -> None:
    backend = ScriptedBackend(GOOD)
    use_backend(backend)
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS)
    assert report.layout.planner == "openai" and report.attempts == 1 and not report.fell_back
    assert len(report.layout.regions) == 2
    system = backend.calls[0][0]["content"]
    assert "512x512" in system and "square" in system


def test_wrong_count_is_fed_back_and_the_retry_is_used(use_backend) -> None:
    backend = ScriptedBackend(ONE_CAT, GOOD)
    use_backend(backend)
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS)
    assert report.layout.planner == "openai" and report.attempts == 2
    feedback = backend.calls[1][-1]["content"]
    assert "2 cat region(s)" in feedback and "has 1" in feedback


def test_unparseable_replies_fall_back_to_offline_after_the_retries(use_backend) -> None:
    backend = ScriptedBackend("Sorry, I can't help.", "Still no.")
    use_backend(backend)
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS)
    assert report.fell_back and report.layout.planner == "offline" and len(report.layout.regions) == 2
    assert report.attempts == 2 and backend.unusable == 2 and len(report.errors) == 2
    assert "no JSON object" in backend.calls[1][-1]["content"]


def test_excluded_object_from_the_llm_is_removed_not_rejected(use_backend) -> None:
    reply = json.dumps(
        {
            "base_prompt": "a tree",
            "regions": [
                {"phrase": "a tree", "box": [0.3, 0.1, 0.7, 0.9]},
                {"phrase": "a bird", "box": [0.0, 0.0, 0.2, 0.2]},
            ],
        }
    )
    use_backend(ScriptedBackend(reply))
    layout = planner.plan("a tree without birds", 512, 512, settings=SETTINGS)
    assert layout.planner == "openai" and [r.phrase for r in layout.regions] == ["a tree"]
    assert "bird" in layout.negative_prompt


def test_wrong_relation_is_rejected(use_backend) -> None:
    wrong = json.dumps(
        {
            "base_prompt": "x",
            "regions": [
                {"phrase": "a cat", "box": [0.6, 0.5, 0.9, 0.9]},
                {"phrase": "a dog", "box": [0.1, 0.5, 0.4, 0.9]},
            ],
        }
    )
    use_backend(ScriptedBackend(wrong, wrong))
    report = planner.plan_report("a cat to the left of a dog", 512, 512, settings=SETTINGS)
    assert report.fell_back and '"cat" must be left "dog"' in report.errors[0]


def test_an_object_outside_its_stated_corner_is_fed_back_and_the_retry_is_used(use_backend) -> None:
    def reply(cup_box: list[float]) -> str:
        regions = [
            {"phrase": "a cup", "box": cup_box},
            {"phrase": "a book", "box": [0.6, 0.6, 0.9, 0.9]},
        ]
        return json.dumps({"base_prompt": "x", "regions": regions})

    backend = ScriptedBackend(reply([0.1, 0.1, 0.3, 0.3]), reply([0.6, 0.1, 0.9, 0.3]))
    use_backend(backend)
    prompt = "a cup in the top right corner and a book at the bottom right"
    report = planner.plan_report(prompt, 512, 512, settings=SETTINGS)
    assert not report.fell_back and report.attempts == 2
    assert '"cup" must be at the right (box centres)' in report.errors[0]
    assert report.layout.regions[0].box == (0.6, 0.1, 0.9, 0.3)


def test_stated_sides_are_checked_only_where_every_object_of_a_kind_agrees() -> None:
    scene = parse_prompt("a cat on the left and a cat on the right, a dog at the top")
    sides = expectations_from_scene(scene)[0].sides
    assert sides == {"dog": {"top"}}  # the two cats state contradicting sides, so "cat" is not checked


def test_unavailable_backend_falls_back_without_retrying(use_backend) -> None:
    backend = ScriptedBackend(BackendUnavailableError("cannot reach the server"), GOOD)
    use_backend(backend)
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS)
    assert report.fell_back and report.attempts == 1 and len(backend.calls) == 1


def test_unbuildable_backend_falls_back(use_backend) -> None:
    use_backend(BackendUnavailableError("the openai planner needs OPENAI_API_KEY"))
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS)
    assert report.fell_back and "OPENAI_API_KEY" in report.errors[0]


def test_no_fallback_raises_a_planner_error(use_backend) -> None:
    use_backend(ScriptedBackend("nope", "nope"))
    with pytest.raises(PlannerError, match="the openai planner failed"):
        planner.plan("two cats", 512, 512, settings=SETTINGS.model_copy(update={"fallback": False}))


def test_slow_backend_is_bounded_by_the_timeout(use_backend) -> None:
    backend = ScriptedBackend(GOOD, GOOD, delay=10)
    use_backend(backend)
    started = time.monotonic()
    report = planner.plan_report("two cats", 512, 512, settings=SETTINGS.model_copy(update={"timeout": 1.5}))
    assert time.monotonic() - started < 5
    assert report.fell_back and all(t <= 1.5 for t in backend.timeouts)


@pytest.mark.timeout(60)
def test_llm_attempts_share_one_budget_and_leave_the_fallback_its_reserve(use_backend) -> None:
    backend = ScriptedBackend(GOOD, GOOD, GOOD, GOOD, delay=60)  # answers after 60 s: never, here
    use_backend(backend)
    settings = SETTINGS.model_copy(update={"timeout": 30, "retries": 3, "budget_s": OFFLINE_RESERVE_S + 2})
    started = time.monotonic()
    report = planner.plan_report("two cats", 512, 512, settings=settings)
    assert time.monotonic() - started < settings.budget_s
    assert sum(backend.timeouts) <= settings.llm_budget_s  # per call: min(timeout, what is left)
    assert report.fell_back and report.rejections[-1] == "timeout"


class IgnoresItsTimeout(ScriptedBackend):
    """A backend that breaks the contract: it answers nothing until released, whatever its timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def complete(self, messages, *, timeout: float) -> str:
        self.calls.append(messages)
        self.release.wait(60)
        return GOOD


@pytest.mark.timeout(60)
def test_aplan_keeps_the_budget_when_a_backend_ignores_its_timeout(use_backend) -> None:
    backend = IgnoresItsTimeout()
    use_backend(backend)
    settings = SETTINGS.model_copy(update={"timeout": 1, "budget_s": OFFLINE_RESERVE_S + 2})

    async def plan_then_release() -> tuple[planner.PlanReport, float]:
        started = time.monotonic()
        try:  # released before asyncio.run ends, which waits for the abandoned thread
            report = await planner.aplan_report("two cats", 512, 512, settings=settings)
            return report, time.monotonic() - started
        finally:
            backend.release.set()

    report, elapsed = asyncio.run(plan_then_release())
    assert elapsed < settings.budget_s
    assert report.outcome == "fallback" and report.rejections == ["timeout"] and report.attempts == 1


def test_aplan_runs_the_same_planner(use_backend) -> None:
    use_backend(ScriptedBackend(GOOD))
    layout = asyncio.run(planner.aplan("two cats", 512, 512, settings=SETTINGS))
    assert layout.planner == "openai" and len(layout.regions) == 2


def test_offline_is_the_default_backend() -> None:
    assert planner.plan("a cat", 512, 512, settings=PlannerSettings()).planner == "offline"


def test_backend_argument_overrides_the_configuration(use_backend) -> None:
    use_backend(ScriptedBackend(GOOD))
    assert planner.plan("two cats", 512, 512, backend="offline", settings=SETTINGS).planner == "offline"


@pytest.mark.parametrize(
    ("prompt", "width", "height"), [("", 512, 512), ("a cat", 500, 512), ("a cat", 512, 8192)]
)
def test_invalid_requests_raise_a_value_error_that_names_the_problem(
    prompt: str, width: int, height: int
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        planner.plan(prompt, width, height)
    assert isinstance(info.value, ValueError) and (
        "empty" in str(info.value) or "multiple of 16" in str(info.value)
    )


def test_unknown_backend_is_a_configuration_error() -> None:
    with pytest.raises(PlannerConfigError, match="unknown planner backend"):
        planner.plan("a cat", 512, 512, backend="gpt5")  # type: ignore[arg-type]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIONAL_PLANNER", "local")
    monkeypatch.setenv("REGIONAL_PLANNER_LOCAL_MODEL", "/models/smol")
    monkeypatch.setenv("REGIONAL_PLANNER_TIMEOUT", "7.5")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("REGIONAL_PLANNER_BUDGET_S", "30")
    settings = PlannerSettings()
    assert (settings.backend, settings.local_model, settings.timeout) == ("local", "/models/smol", 7.5)
    assert (settings.budget_s, settings.llm_budget_s) == (30, 30 - OFFLINE_RESERVE_S)
    assert settings.deadline_s > settings.budget_s  # callers' outer timeouts leave the planner its budget
    assert settings.openai_base_url == "http://localhost:8000/v1"
    monkeypatch.setenv("REGIONAL_PLANNER", "gpt5")
    with pytest.raises(ValueError):
        PlannerSettings()


def _layout(*regions: tuple[str, list[float]]) -> str:
    return json.dumps({"base_prompt": "x", "regions": [{"phrase": p, "box": b} for p, b in regions]})


@pytest.mark.parametrize(
    ("prompt", "reply"),
    [
        # Coordinated colours the parse may split: one object in the LLM's layout.
        (
            "A grey and white cat sleeping next to a brown dog",
            _layout(
                ("a grey and white cat", [0.05, 0.5, 0.45, 0.9]), ("a brown dog", [0.55, 0.5, 0.95, 0.9])
            ),
        ),
        (
            "a black and tan puppy beside an orange ball",
            _layout(
                ("a black and tan puppy", [0.05, 0.4, 0.5, 0.9]), ("an orange ball", [0.6, 0.7, 0.8, 0.9])
            ),
        ),
        # A framing word the parse may read as an object.
        ("a close up of a bowl of ramen with chopsticks", _layout(("a bowl of ramen", [0.1, 0.3, 0.9, 0.9]))),
        # Clauses the parse cannot split; the number belongs to the first noun.
        (
            "Two people ride matching cream-colored horses at a gas station.",
            _layout(
                ("a person", [0.1, 0.1, 0.4, 0.6]),
                ("a person", [0.6, 0.1, 0.9, 0.6]),
                ("a horse", [0.05, 0.4, 0.45, 0.95]),
                ("a horse", [0.55, 0.4, 0.95, 0.95]),
            ),
        ),
        # A number plus more mentions the parse missed: more regions than stated is no error.
        (
            "two zebras standing close to a little one",
            _layout(
                ("a zebra", [0.05, 0.3, 0.35, 0.9]),
                ("a zebra", [0.36, 0.3, 0.66, 0.9]),
                ("a baby zebra", [0.7, 0.5, 0.9, 0.9]),
            ),
        ),
        # Settings and pronouns the parse may take for objects or attach wrongly.
        (
            "a dog lying in the shade of a tree",
            _layout(("a dog", [0.3, 0.6, 0.7, 0.9]), ("a tree", [0.2, 0.0, 0.8, 0.7])),
        ),
        (
            "a bookshelf with three potted plants and a cat sleeping under it",
            _layout(
                ("a bookshelf", [0.2, 0.05, 0.8, 0.7]),
                ("a potted plant", [0.25, 0.06, 0.4, 0.2]),
                ("a potted plant", [0.42, 0.06, 0.58, 0.2]),
                ("a potted plant", [0.6, 0.06, 0.75, 0.2]),
                ("a cat", [0.35, 0.72, 0.65, 0.95]),
            ),
        ),
    ],
)
def test_an_llm_layout_is_never_overruled_by_what_the_parse_only_believes(use_backend, prompt, reply) -> None:
    backend = ScriptedBackend(reply)
    use_backend(backend)
    report = planner.plan_report(prompt, 1024, 1024, settings=SETTINGS)
    assert report.outcome == "accepted" and report.attempts == 1, report.errors
    assert json.loads(reply)["regions"][0]["phrase"] == report.layout.regions[0].phrase


@pytest.mark.parametrize(
    ("prompt", "reply", "reason"),
    [
        (
            "three red cups on a table",
            _layout(("a red cup", [0.1, 0.5, 0.3, 0.7]), ("a table", [0, 0.6, 1, 1])),
            "count",
        ),
        (
            "a cat to the left of a dog",
            _layout(("a cat", [0.6, 0.5, 0.9, 0.9]), ("a dog", [0.1, 0.5, 0.4, 0.9])),
            "relation",
        ),
        (
            "a lamp above a sofa",
            _layout(("a lamp", [0.4, 0.6, 0.6, 0.9]), ("a sofa", [0.2, 0.1, 0.8, 0.4])),
            "relation",
        ),
        ("a red car", json.dumps({"base_prompt": "a red car", "regions": []}), "empty"),
    ],
)
def test_what_the_prompt_surely_says_still_rejects(use_backend, prompt, reply, reason) -> None:
    use_backend(ScriptedBackend(reply, reply))
    report = planner.plan_report(prompt, 1024, 1024, settings=SETTINGS)
    assert report.outcome == "fallback" and report.rejections == [reason, reason]


def test_advice_rides_along_with_a_sure_rejection(use_backend) -> None:
    wrong = _layout(("a cat", [0.6, 0.5, 0.9, 0.9]), ("a dog", [0.1, 0.5, 0.4, 0.9]))
    backend = ScriptedBackend(wrong, wrong)
    use_backend(backend)
    planner.plan_report("a cat to the left of a dog, a bird", 1024, 1024, settings=SETTINGS)
    feedback = backend.calls[1][-1]["content"]
    assert '"cat" must be left "dog"' in feedback and "(advice) the prompt asks for 1 bird" in feedback

"""The openai backend against replies in the exact shape of the OpenAI API (openai's own types), no network."""

import json

import httpx
import openai
import pytest
from planner_fakes import completion

import planner
from planner import planning
from planner.openai_backend import OpenAIBackend
from planner.settings import PlannerSettings

LAYOUT = {
    "base_prompt": "a red car to the left of a tree",
    "background_prompt": "a street",
    "negative_prompt": None,
    "regions": [
        {"phrase": "a red car", "prompt": "a shiny red car", "box": [0.05, 0.55, 0.5, 0.9]},
        {"phrase": "a tree", "prompt": "a tall tree", "box": [0.6, 0.1, 0.9, 0.9]},
    ],
}


class FakeOpenAI:
    """An httpx transport that answers /chat/completions from a script and records each request body."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/chat/completions")
        assert request.headers["authorization"] == "Bearer sk-test"
        self.requests.append(json.loads(request.content))
        return self.responses.pop(0)

    def backend(self, settings: PlannerSettings | None = None) -> OpenAIBackend:
        client = openai.OpenAI(
            api_key="sk-test",
            base_url="https://api.openai.test/v1",
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(self)),
        )
        return OpenAIBackend(settings or PlannerSettings(backend="openai"), client=client)


def ok(content: str | None, refusal: str | None = None) -> httpx.Response:
    return httpx.Response(200, json=completion(content, refusal))


def bad_request(message: str) -> httpx.Response:
    return httpx.Response(
        400,
        json={
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            }
        },
    )


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch):
    def install(backend: OpenAIBackend) -> None:
        monkeypatch.setattr(planning, "get_backend", lambda name, settings: backend)

    return install


SETTINGS = PlannerSettings(backend="openai", retries=1, timeout=5)


def test_structured_output_request_and_layout(use) -> None:
    server = FakeOpenAI(ok(json.dumps(LAYOUT)))
    use(server.backend())
    layout = planner.plan("a red car to the left of a tree", 1024, 768, settings=SETTINGS)
    assert layout.planner == "openai" and [r.prompt for r in layout.regions] == [
        "a shiny red car",
        "a tall tree",
    ]
    body = server.requests[0]
    assert body["model"] == "gpt-4o" and body["temperature"] == 0
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"base_prompt", "background_prompt", "negative_prompt", "regions"}
    assert schema["$defs"]["PlannedRegion"]["required"] == ["phrase", "prompt", "box"]


def test_server_rejecting_json_schema_falls_back_to_json_mode_then_plain_prompt(use) -> None:
    server = FakeOpenAI(
        bad_request("response_format json_schema is not supported"),
        bad_request("response_format json_object is not supported"),
        ok("Here you go:\n```json\n" + json.dumps(LAYOUT) + "\n```"),
    )
    backend = server.backend()
    use(backend)
    layout = planner.plan("a red car to the left of a tree", 1024, 768, settings=SETTINGS)
    assert layout.planner == "openai"
    kinds = [body.get("response_format", {}).get("type") for body in server.requests]
    assert kinds == ["json_schema", "json_object", None]
    assert backend.format_index == 2  # remembered for the next call


def test_server_ignoring_response_format_moves_on_after_an_unusable_reply(use) -> None:
    server = FakeOpenAI(ok("A red car on the left and a tree on the right."), ok(json.dumps(LAYOUT)))
    use(server.backend())
    report = planner.plan_report("a red car to the left of a tree", 1024, 768, settings=SETTINGS)
    assert report.layout.planner == "openai" and report.attempts == 2
    assert server.requests[1]["response_format"]["type"] == "json_object"
    assert "no JSON object" in server.requests[1]["messages"][-1]["content"]


def test_refusal_falls_back_to_offline(use) -> None:
    server = FakeOpenAI(ok(None, refusal="I can't help with that."), ok(None, refusal="No."))
    use(server.backend())
    report = planner.plan_report("a red car to the left of a tree", 1024, 768, settings=SETTINGS)
    assert report.fell_back and "refused" in report.errors[0]


def test_server_error_and_rate_limit_fall_back(use) -> None:
    server = FakeOpenAI(
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(429, json={"error": {"message": "slow down"}}),
    )
    use(server.backend())
    report = planner.plan_report("a cat", 512, 512, settings=SETTINGS)
    assert report.fell_back and len(report.errors) == 2


def test_connection_failure_is_unavailable_and_not_retried(use) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    use(OpenAIBackend(SETTINGS, client=client))
    report = planner.plan_report("a cat", 512, 512, settings=SETTINGS)
    assert report.fell_back and report.attempts == 1 and "cannot reach" in report.errors[0]


def test_missing_key_without_base_url_is_unavailable() -> None:
    with pytest.raises(planner.exceptions.BackendUnavailableError, match="OPENAI_API_KEY"):
        OpenAIBackend(PlannerSettings(backend="openai"))


def test_the_template_examples_are_valid_layouts_with_shared_context_in_every_region() -> None:
    """The examples teach the LLM the answer's shape: each must be what the planner accepts, and a scene
    with a medium and light must carry them into every region prompt."""
    from planner.prompt_template import _sections
    from planner.schema import PlannedLayout

    _, examples = _sections()
    assert len(examples) >= 3
    for _user, answer in examples:
        layout = PlannedLayout.model_validate_json(answer)
        assert all(0 <= v <= 1 for region in layout.regions for v in region.box)
    shared = [PlannedLayout.model_validate_json(a) for u, a in examples if "watercolor" in u]
    assert shared and all("watercolor" in r.prompt for layout in shared for r in layout.regions)

"""The layout studio (`/studio/`) in a real browser: Playwright driving Debian's Chromium against a real
`regional serve` (embedded Redis, a local worker with the toy model, an API key). Each test is what a person
does: open it and generate the example, plan and edit a layout, paint a mask, wait in the queue and cancel,
re-open a past job, mistype a key or a field.

Screenshots for the README: `REGIONAL_SCREENSHOTS=docs python -m pytest tests/browser`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from processes import stop_processes
from servicekit import free_port, wait_until

from api.routers.studio import EXAMPLE_LAYOUT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("REGIONAL_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium (`apt-get install chromium`); Playwright's own browser downloads are not reachable here."""

KEY = "studio-browser-key"
STARTUP_S = 240
"""Bound on the service's start: the worker imports torch and loads the toy model, on a busy 2-core machine."""

if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does when apt is usable), "
        "or set REGIONAL_CHROMIUM",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402  (no browser: not needed)

from regional.toy.score import COLOUR_NAMES, colour_map  # noqa: E402

AUTH = {"Authorization": f"Bearer {KEY}"}
JOB_MS = 180_000
"""Longest a small toy job may take on a busy 2-core machine (a few seconds when idle)."""

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running `regional serve`, as `make run` starts it, with a key configured."""
    work = tmp_path_factory.mktemp("studio-serve")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGIONAL_") and k not in ("REDIS_URL", "RESULTS_URL")
    }
    env.update(
        REGIONAL_MODEL="toy",
        REGIONAL_API_KEYS=KEY,
        RESULTS_URL=str(work / "results"),
        REGIONAL_PROGRESS_INTERVAL_S="0",  # every step: the page shows each one
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",  # the other core is the browser's
    )
    port = free_port()
    log_path = work / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "regional.cli", "serve", "--port", str(port)],
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, log_path.read_text(errors="replace")[-4000:]
        try:
            response = httpx.get(f"{base}/readyz", headers={"Authorization": f"Bearer {KEY}"}, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    try:
        wait_until(ready, STARTUP_S, 0.5, "`regional serve` and its worker to be ready")
        yield base
    finally:
        stop_processes(process, timeout=40, sig=signal.SIGINT)  # as Ctrl-C: it stops its worker too


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page at 1280x800 in a fresh context (its own session storage: no key yet); uncaught errors fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: REGIONAL_SCREENSHOTS (the README's come from `REGIONAL_SCREENSHOTS=docs`)."""
    where = os.environ.get("REGIONAL_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        return Path(where)
    return tmp_path_factory.mktemp("screenshots")


def open_studio(page: Page, base: str, key: str | None = KEY) -> None:
    page.goto(f"{base}/studio/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    if key:
        use_key(page, key)
        expect(page.locator("#model-info")).to_contain_text("Model toy on cpu")


def use_key(page: Page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def field_error(page: Page, field: str):
    return page.locator(f'[data-field~="{field}"] > .field-error')


def canvas_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag on the canvas between two points in canvas pixels (the SVG's viewBox units)."""

    def screen(x: float, y: float) -> list[float]:
        return page.evaluate(
            """([x, y]) => {
                const svg = document.querySelector('#canvas');
                const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
                return [p.x, p.y];
            }""",
            [x, y],
        )

    page.mouse.move(*screen(*start))
    page.mouse.down()
    page.mouse.move(*screen(*end), steps=8)
    page.mouse.up()


def sent_body(page: Page, action) -> dict:
    """The JSON body of the `POST /v1/generations` that ``action`` makes the page send."""
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/generations")) as request:
        action()
    return request.value.post_data_json


def status(page: Page):
    return page.locator("#job-status")


def shown_job_id(page: Page) -> str:
    return page.locator("#job-status .job-id").inner_text()


def test_first_click_draws_the_example_with_live_progress(page: Page, studio: str, shots: Path) -> None:
    """A newcomer: the key is asked for, a wrong one is refused, and the example's first Generate gives a
    right picture (red circle left, blue square right), step by step."""
    open_studio(page, studio, key=None)
    expect(field_error(page, "authorization")).to_contain_text("Authorization: Bearer")
    expect(page.locator("#key-note")).to_have_text("This service needs an API key.")
    use_key(page, "not-the-key")
    expect(field_error(page, "authorization")).to_have_text("unknown API key")
    expect(page.locator("#problem")).to_contain_text("Unauthorized")
    use_key(page, KEY)
    expect(page.locator("#problem")).to_be_hidden()
    expect(field_error(page, "authorization")).to_have_count(0)
    expect(page.locator("#model-info")).to_contain_text("Model toy on cpu")
    expect(page.locator("#steps")).to_have_attribute("placeholder", "24 (default)")
    expect(page.locator("#guidance")).to_have_attribute("placeholder", "3.5 (default)")
    example = json.loads(EXAMPLE_LAYOUT.read_text())
    expect(page.locator("#base-prompt")).to_have_value(example["base_prompt"])
    expect(page.locator(".region-card")).to_have_count(len(example["regions"]))
    expect(page.locator("#width")).to_have_value("128")

    page.click("#generate")
    expect(status(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_MS)
    log = page.locator("#activity")
    assert int(log.get_attribute("data-progress-events")) >= 24  # every step, as it happened
    # the last step is reported as decoding begins (worker/tasks.py)
    expect(log.locator('li[data-stage="sampling"]')).to_have_text("sampling: step 23 of 24")
    expect(log.locator('li[data-stage="decoding"]')).to_have_text("decoding: step 24 of 24")
    expect(log.locator('li[data-stage="saving"]')).to_have_count(1)
    expect(page.locator("#job-parameters")).to_contain_text("steps 24")
    expect(page.locator("#job-progress")).to_have_attribute("value", "1")
    page.wait_for_function("() => document.querySelector('#images img')?.naturalWidth === 128")
    overlay = page.locator("#images .overlay")
    expect(overlay).to_be_visible()
    page.uncheck("#show-overlay")
    expect(overlay).to_be_hidden()
    page.check("#show-overlay")
    page.locator("#images figure").scroll_into_view_if_needed()
    page.screenshot(path=shots / "studio-job.png")

    with page.expect_download() as download:
        page.click("#images a[download]")
    assert download.value.suggested_filename == f"{shown_job_id(page)}-0.png"
    image = np.asarray(Image.open(download.value.path()).convert("RGB"))
    assert image.shape == (128, 128, 3)
    colours = colour_map(image)
    red, blue = COLOUR_NAMES.index("red"), COLOUR_NAMES.index("blue")
    left, right = colours[:, :64], colours[:, 64:]
    assert (left == red).sum() > 4 * (left == blue).sum() and (right == blue).sum() > 4 * (right == red).sum()
    expect(page.locator(f'#jobs li[data-id="{shown_job_id(page)}"]')).to_contain_text("succeeded")


def test_plan_edit_and_generate_sends_the_edited_layout(page: Page, studio: str, shots: Path) -> None:
    open_studio(page, studio)
    prompt = "a large green triangle on the left and a large yellow circle on the right on a gray background"
    page.fill("#prompt", prompt)
    page.click("#plan-button")
    expect(page.locator("#plan-note")).to_contain_text("Planned by offline")
    planned = page.locator(".region-card").count()
    assert planned >= 2

    page.click("#add-region")
    card = page.locator(".region-card").nth(planned)
    expect(card.locator(".prompt")).to_be_focused()
    card.locator(".phrase").fill("a small purple square")
    card.locator(".prompt").fill("a small purple square on a gray background")
    expect(page.locator("#canvas text.label").nth(planned)).to_have_text(
        f"{planned + 1} a small purple square"
    )
    # a new box is [0.25, 0.25, 0.75, 0.75], 32 to 96 px of 128: drag it one token right and down
    canvas_drag(page, (64, 64), (80, 80))
    expect(page.locator("#canvas")).to_be_focused()
    page.keyboard.press("ArrowLeft")  # one token back left
    page.keyboard.press("Shift+ArrowDown")  # one token taller
    expect(page.locator("#canvas-status")).to_have_text(f"Region {planned + 1}: x 32, y 48, 64 by 80 px")
    assert page.locator("#canvas .overlap").count() > 0  # the tokens it shares with the planned regions
    expect(card.locator(".overlap-note")).to_contain_text("shares tokens with")

    page.click("#copy-json")
    layout = json.loads(page.input_value("#export"))
    assert layout["regions"][planned] == {
        "phrase": "a small purple square",
        "prompt": "a small purple square on a gray background",
        "box": [0.25, 0.375, 0.75, 1.0],
    }
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "studio-editor.png")

    page.fill("#steps", "4")
    page.fill("#seed", "7")
    body = sent_body(page, lambda: page.click("#generate"))
    assert body == {"layout": layout, "steps": 4, "seed": 7}
    expect(status(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_MS)
    stored = httpx.get(f"{studio}/v1/generations/{shown_job_id(page)}", headers=AUTH).json()
    assert stored["layout"]["regions"][planned]["box"] == [0.25, 0.375, 0.75, 1.0]
    assert (stored["parameters"]["steps"], stored["parameters"]["seed"]) == (4, 7)

    page.click("#copy-curl")
    curl = page.input_value("#export")
    assert curl.startswith(f"curl -s -X POST {studio}/v1/generations")
    assert '"Authorization: Bearer $REGIONAL_API_KEY"' in curl and KEY not in curl
    assert json.loads(curl.split(" -d '", 1)[1].removesuffix("'")) == body


def test_a_painted_mask_is_sent_as_a_png(page: Page, studio: str) -> None:
    open_studio(page, studio)
    page.click("#add-region")
    card = page.locator(".region-card").nth(2)
    card.locator(".prompt").fill("a small green circle on a white background")
    card.locator('input[value="mask"]').check()  # the mask starts as the box was: 32 to 96 px
    page.check('input[name="tool"][value="eraser"]')
    canvas_drag(page, (20, 64), (108, 64))  # erase a band across it (the brush: 10% of the canvas)
    page.check('input[name="tool"][value="brush"]')
    canvas_drag(page, (8, 10), (40, 10))  # paint a stroke above it
    page.fill("#steps", "2")

    body = sent_body(page, lambda: page.click("#generate"))
    region = body["layout"]["regions"][2]
    assert "box" not in region and region["prompt"] == "a small green circle on a white background"
    mask = Image.open(io.BytesIO(base64.b64decode(region["mask"]))).convert("L")
    assert mask.size == (128, 128)
    assert mask.getpixel((64, 40)) == 255  # the square, above the band
    assert mask.getpixel((64, 64)) == 0  # erased
    assert mask.getpixel((24, 10)) == 255  # painted
    assert mask.getpixel((4, 120)) == 0  # never painted
    expect(status(page)).to_have_attribute("data-status", "succeeded", timeout=JOB_MS)


def test_regions_reorder_change_shape_and_delete(page: Page, studio: str) -> None:
    open_studio(page, studio)
    example = json.loads(EXAMPLE_LAYOUT.read_text())["regions"]
    page.click('button[aria-label="Move region 1 down"]')
    expect(page.locator(".region-card").first.locator(".phrase")).to_have_value(example[1]["phrase"])
    phrases = page.locator(".region-card .phrase").evaluate_all("inputs => inputs.map((i) => i.value)")
    assert phrases == [example[1]["phrase"], example[0]["phrase"]]
    expect(
        page.locator(".region-card").nth(1).locator(".phrase")
    ).to_be_focused()  # the moved card keeps focus
    second = page.locator(".region-card").nth(1)
    second.locator('input[value="mask"]').check()
    expect(second.locator(".clear-mask")).to_be_visible()
    second.locator('input[value="box"]').check()  # back to a box: the painted part's bounds
    page.click('button[aria-label="Delete region 1"]')
    expect(page.locator(".region-card")).to_have_count(1)
    page.click("#copy-json")
    assert json.loads(page.input_value("#export"))["regions"] == [example[0]]


def test_queue_position_and_cancel(page: Page, studio: str) -> None:
    """A slow job (1024 px: 4096 tokens, 100 steps) runs; a second one waits behind it and is canceled
    from the queue; the first, re-opened from the list, is canceled between two steps."""
    open_studio(page, studio)
    page.fill("#width", "1024")
    page.fill("#height", "1024")
    page.fill("#steps", "100")
    page.click("#generate")
    expect(status(page)).to_contain_text("sampling: step", timeout=JOB_MS)
    first = shown_job_id(page)

    page.click("#generate")
    expect(status(page)).to_contain_text("next in the queue")
    assert shown_job_id(page) != first
    page.click("#cancel")
    expect(status(page)).to_have_attribute("data-status", "canceled")

    page.click(f'#jobs li[data-id="{first}"] .open-job')
    expect(status(page)).to_contain_text(first)
    expect(status(page)).to_have_attribute("data-status", "running")
    page.click("#cancel")
    expect(status(page)).to_have_attribute("data-status", "canceled", timeout=JOB_MS)
    expect(page.locator(f'#jobs li[data-id="{first}"]')).to_contain_text("canceled")


def test_a_past_job_opens_back_into_the_editor(page: Page, studio: str) -> None:
    layout = {
        "width": 128,
        "height": 128,
        "base_prompt": "a small green triangle on a black background",
        "negative_prompt": "blur",
        "regions": [
            {
                "phrase": "a small green triangle",
                "prompt": "a small green triangle on a black background",
                "box": [0.5, 0.5, 1.0, 1.0],
            },  # fmt: skip
        ],
    }
    job = httpx.post(
        f"{studio}/v1/generations",
        json={"layout": layout, "steps": 2, "seed": 42},
        headers={**AUTH, "Prefer": "wait=60"},
        timeout=90,
    ).json()
    assert job["status"] == "succeeded", job
    open_studio(page, studio)
    page.click(f'#jobs li[data-id="{job["id"]}"] .open-job')
    expect(status(page)).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#base-prompt")).to_have_value(layout["base_prompt"])
    expect(page.locator("#negative-prompt")).to_have_value("blur")
    expect(page.locator(".region-card")).to_have_count(1)
    expect(page.locator(".region-card .phrase")).to_have_value("a small green triangle")
    expect(page.locator("#seed")).to_have_value("42")
    expect(page.locator("#steps")).to_have_value("2")
    page.wait_for_function("() => document.querySelector('#images img')?.naturalWidth === 128")
    page.click("#copy-json")
    assert json.loads(page.input_value("#export")) == layout  # what it was made from, ready to edit


def test_errors_are_shown_beside_their_fields(page: Page, studio: str) -> None:
    open_studio(page, studio)
    page.fill("#steps", "1000")
    page.click("#generate")
    expect(field_error(page, "steps")).to_have_text("1000 is more than the limit of 100")
    expect(page.locator("#steps")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#problem")).to_contain_text("Unprocessable")
    expect(page.locator("#problem")).to_contain_text("steps: 1000 is more than the limit of 100")

    page.fill("#steps", "")
    page.locator(".region-card").first.locator(".prompt").fill("")
    page.click("#generate")
    expect(field_error(page, "layout.regions[0].prompt")).to_contain_text("must not be empty")
    expect(field_error(page, "steps")).to_have_count(0)

    page.fill("#width", "100")
    page.click("#plan-button")
    expect(field_error(page, "width")).to_contain_text("not a multiple of 16")


def test_a_narrow_window_and_labelled_controls(page: Page, studio: str) -> None:
    page.set_viewport_size({"width": 400, "height": 800})
    open_studio(page, studio)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # nothing sideways
    box = page.locator("#canvas").bounding_box()
    assert box is not None and 250 < box["width"] <= 400
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, select, textarea, button')]
            .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
            .map((e) => e.id || e.name || e.outerHTML)"""
    )
    assert unlabelled == []

"""/v1/generations: submit, read, list, cancel, images, layout overlay."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import (
    CallerDep,
    GenerationBody,
    OwnerDep,
    ResultsDep,
    ServiceDep,
    SettingsDep,
    current_owner,
    public_base_url,
)
from api.exceptions import ApiError
from api.schemas import GenerationList, GenerationOut, Status
from api.service import MAX_IDEMPOTENCY_KEY_CHARS
from worker.store import TERMINAL

router = APIRouter(prefix="/v1/generations", tags=["generations"], dependencies=[Depends(current_owner)])

WAIT_POLL_S = 0.2
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)
IDEMPOTENCY_KEY_SCHEMA = {"minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS}
"""The key's length, checked in ``GenerationService.submit`` (400 ``bad_idempotency_key``), in the schema."""


def _prefer_wait(prefer: str | None, limit: int) -> int | None:
    match = _PREFER_WAIT.search(prefer or "")
    return None if match is None else min(int(match.group(1)), limit)


@router.post("", status_code=202, response_model=GenerationOut, summary="Submit a generation job")
async def create_generation(
    body: GenerationBody,
    request: Request,
    response: Response,
    caller: CallerDep,
    service: ServiceDep,
    settings: SettingsDep,
    prefer: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(json_schema_extra=IDEMPOTENCY_KEY_SCHEMA)] = None,
) -> GenerationOut:
    """Returns 202 with the job and a `Location` header. `Prefer: wait=N` (N <= 60) holds the response
    until the job finishes or N seconds pass (200 when it finished). `Idempotency-Key`: the same key with
    the same body returns the same job; with a different body, 422. A key with as many jobs queued or
    running as its quota allows gets 429 `too_many_active_jobs` (an idempotent replay never does)."""
    owner = caller.owner
    record, created = await run_in_threadpool(
        service.submit,
        owner,
        body,
        idempotency_key,
        max_active=caller.quota.max_active_jobs,
        base_url=public_base_url(request),
    )
    wait = _prefer_wait(prefer, settings.max_wait_s)
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait}"
        deadline = time.monotonic() + wait
        while record["status"] not in TERMINAL and time.monotonic() < deadline:
            await asyncio.sleep(min(WAIT_POLL_S, max(deadline - time.monotonic(), 0)))
            record = await run_in_threadpool(service.get, owner, record["id"])
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    view = await run_in_threadpool(service.view, record, public_base_url(request))
    response.headers["Location"] = view.links.self
    if view.status in TERMINAL and wait is not None:
        response.status_code = 200
    return view


class ModelJSONResponse(Response):
    """A response model's JSON, serialised once by pydantic. For a returned model FastAPI dumps it,
    validates the dump against ``response_model`` and serialises that; status reads and listing, the hottest
    paths of polling clients, skip the two extra passes (the model was built and validated here)."""

    media_type = "application/json"

    def render(self, content: BaseModel) -> bytes:
        return content.model_dump_json().encode()


@router.get("", response_model=GenerationList, summary="List your generations, newest first")
def list_generations(
    request: Request,
    owner: OwnerDep,
    service: ServiceDep,
    status: Status | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """The page is put together from each job's JSON (finished jobs' are rendered once per process):
    the same document ``GenerationList`` serialises to."""
    items, next_cursor = service.list_rendered(owner, status, cursor, limit, public_base_url(request))
    cursor_json = json.dumps(next_cursor).encode()
    body = b'{"data":[' + b",".join(items) + b'],"next_cursor":' + cursor_json + b"}"
    return Response(body, media_type="application/json")


@router.get("/{generation_id}", response_model=GenerationOut, summary="Read a generation job")
def get_generation(
    generation_id: str, request: Request, owner: OwnerDep, service: ServiceDep
) -> ModelJSONResponse:
    return ModelJSONResponse(service.view(service.get(owner, generation_id), public_base_url(request)))


@router.post("/{generation_id}/cancel", status_code=202, response_model=GenerationOut, summary="Cancel a job")
def cancel_generation(
    generation_id: str, request: Request, owner: OwnerDep, service: ServiceDep
) -> GenerationOut:
    """A queued job is canceled at once; a running one stops at its next denoising step (`cancel_requested`)."""
    return service.view(service.cancel(owner, generation_id), public_base_url(request))


PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}}


@router.get(
    "/{generation_id}/images/{index}", response_class=Response, responses=PNG, summary="An output image"
)
def get_image(
    generation_id: str, index: int, owner: OwnerDep, service: ServiceDep, results: ResultsDep
) -> Response:
    """The PNG, with the generation parameters as PNG text (`parameters`, A1111 style, and `regional`, JSON)."""
    record = service.get(owner, generation_id)
    outputs = record.get("outputs", [])
    if record["status"] != "succeeded":
        raise ApiError(409, "not_ready", f"the job is {record['status']}; images exist once it has succeeded")
    if not 0 <= index < len(outputs):
        raise ApiError(404, "not_found", f"image {index} does not exist; the job has {len(outputs)}")
    sha256 = outputs[index]["sha256"]
    try:
        png = results.get_png(sha256)
    except FileNotFoundError as exc:
        raise ApiError(410, "image_gone", "the image is no longer in the result store") from exc
    headers = {"ETag": f'"{sha256}"', "Cache-Control": "private, max-age=31536000, immutable"}
    return Response(png, media_type="image/png", headers=headers)


@router.get("/{generation_id}/layout.png", response_class=Response, responses=PNG, summary="The layout drawn")
def get_layout_png(generation_id: str, owner: OwnerDep, service: ServiceDep, results: ResultsDep) -> Response:
    """The layout over the first image, or over a blank canvas before the image exists."""
    from PIL import Image

    from regional.layout import Layout
    from regional.overlay import draw_layout

    record = service.get(owner, generation_id)
    if record.get("layout") is None:
        raise ApiError(409, "layout_not_ready", "the prompt has not been planned into a layout yet")
    layout = Layout.model_validate(record["layout"])
    image = None
    outputs = record.get("outputs", [])
    if record["status"] == "succeeded" and outputs:
        try:
            image = Image.open(io.BytesIO(results.get_png(outputs[0]["sha256"])))
        except FileNotFoundError:
            image = None
    buffer = io.BytesIO()
    draw_layout(layout, image).save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})

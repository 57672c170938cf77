"""/v1/uploads: input images sent once as raw bytes, named in jobs by their upload id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import OwnerDep, ServiceDep, SettingsDep, current_owner, public_base_url
from api.exceptions import ApiError, FieldError, NotFound
from api.images import ACCEPTED, FORMATS, MAX_SIDE, check_image
from api.uploads import UploadRecord

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], dependencies=[Depends(current_owner)])

BODY_FIELD = "body"
"""The field errors name: the request body is the image."""
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": f"The image file's bytes, as they are; at most REGIONAL_MAX_BODY_BYTES. Types: {ACCEPTED}.",
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in FORMATS},
    }
}


class UploadOut(BaseModel):
    id: str = Field(description="'upl_' + 24 random characters; name it in a job as {\"upload\": id}.")
    object: Literal["upload"] = "upload"
    sha256: str = Field(description="sha256 hex digest of the bytes as sent.")
    content_type: Literal["image/png", "image/jpeg", "image/webp"] = Field(description="Read from the bytes.")
    width: int = Field(description="Width in pixels, as displayed (after the EXIF orientation).")
    height: int = Field(description="Height in pixels, as displayed.")
    bytes: int = Field(description="Size of the file in bytes.")
    created_at: datetime
    expires_at: datetime = Field(description="After this the id is unknown (REGIONAL_UPLOAD_TTL_S).")

    @classmethod
    def of(cls, record: UploadRecord) -> UploadOut:
        return cls(
            id=record.id,
            sha256=record.sha256,
            content_type=record.content_type,  # type: ignore[arg-type]  (one of FORMATS, checked on upload)
            width=record.width,
            height=record.height,
            bytes=record.bytes,
            created_at=record.created_at,
            expires_at=record.expires_at,
        )


def _location(request: Request, upload_id: str) -> str:
    return f"{public_base_url(request).rstrip('/')}/v1/uploads/{upload_id}"


@router.post(
    "",
    status_code=201,
    response_model=UploadOut,
    summary="Upload an input image",
    openapi_extra=IMAGE_BODY,
    responses={415: {"description": "Content-Type is not image/png, image/jpeg or image/webp"}},
)
async def create_upload(
    request: Request,
    response: Response,
    owner: OwnerDep,
    settings: SettingsDep,
    service: ServiceDep,
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> UploadOut:
    """The body is the image itself (`curl --data-binary @sketch.png -H 'Content-Type: image/png'`), not a
    form. The declared type must be the one the bytes are. The image is checked (type, pixel mode, at most
    REGIONAL_MAX_IMAGE_PIXELS pixels, read before decoding, and fully decodable) and stored; the id can be
    used in jobs until `expires_at`. Returns 201 with a `Location` header."""
    declared = (content_type or "").partition(";")[0].strip().lower()
    if declared not in FORMATS:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type is {declared or 'missing'}; send the image's bytes as one of {ACCEPTED}",
        )
    body = await request.body()
    image = await run_in_threadpool(check_image, body, BODY_FIELD, settings.max_image_pixels, MAX_SIDE)
    if image.content_type != declared:
        raise FieldError(BODY_FIELD, f"Content-Type says {declared} but the bytes are {image.content_type}")
    record = await run_in_threadpool(service.uploads.put, owner, image)
    response.headers["Location"] = _location(request, record.id)
    return UploadOut.of(record)


@router.get("/{upload_id}", response_model=UploadOut, summary="Read an upload")
async def get_upload(upload_id: str, owner: OwnerDep, service: ServiceDep) -> UploadOut:
    """404 once it has expired (the same as for an id that never existed)."""
    record = await run_in_threadpool(service.uploads.get, owner, upload_id)
    if record is None:
        raise NotFound("no such upload (unknown, expired, or not yours)")
    return UploadOut.of(record)

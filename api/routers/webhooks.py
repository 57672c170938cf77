"""/v1/webhooks: the secret this tenant's webhook deliveries are signed with."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import OwnerDep, current_owner

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[Depends(current_owner)])


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="'whsec_' + base64 key, as Standard Webhooks libraries take it.")


@router.get("/secret", response_model=WebhookSecretOut, summary="Your webhook signing secret")
async def get_webhook_secret(request: Request, owner: OwnerDep) -> WebhookSecretOut:
    """Issued on first read; the same until rotated. Verify deliveries with it (`webhook-signature`)."""
    secret = await run_in_threadpool(request.app.state.webhook_secrets.current, owner)
    return WebhookSecretOut(secret=secret)


@router.post("/secret", response_model=WebhookSecretOut, summary="Rotate your webhook signing secret")
async def rotate_webhook_secret(request: Request, owner: OwnerDep) -> WebhookSecretOut:
    """A new secret at once; deliveries also carry a signature with the old one for
    `REGIONAL_WEBHOOK_SECRET_GRACE_S` (default a day), so receivers can switch over."""
    secret = await run_in_threadpool(request.app.state.webhook_secrets.rotate, owner)
    return WebhookSecretOut(secret=secret)

"""Request and response models, one pair per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, SkipValidation, model_validator

from planner.settings import BackendName
from regional.layout import CanvasSide, Layout, Prompt
from regional.raster import TOKEN_PX

Status = Literal["queued", "running", "succeeded", "failed", "canceled"]
WebhookEvent = Literal["running", "succeeded", "failed", "canceled"]
Stage = Literal["planning", "sampling", "decoding", "saving"]

StoredLayout = Annotated[SerializeAsAny[Layout], SkipValidation]
"""A layout read back from a job record: documented as ``Layout``, served as stored. It was validated when
it was submitted or planned; validating it again on every read would decode its masks each time, and a
later, stricter ``Layout`` would turn old records into server errors."""

PROMPT_OR_LAYOUT = {
    "oneOf": [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
        {"required": ["layout"], "properties": {"layout": {"type": "object"}}},
    ],
    "not": {
        "required": ["layout", "planner"],
        "properties": {"layout": {"type": "object"}, "planner": {"type": "string"}},
    },
}
"""``GenerationCreate._prompt_or_layout`` in JSON schema: exactly one of the two is given (not null), and no
``planner`` with a layout."""


class ImageRef(BaseModel):
    """An image of the request: uploaded before (`POST /v1/uploads`) or inline. PNG, JPEG or WebP."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["upload"]}, {"required": ["data"]}]},
    )

    upload: str | None = Field(default=None, max_length=100, description="An upload id (`upl_...`).")
    data: str | None = Field(default=None, description="The image as base64, or a `data:image/...` URL.")

    @model_validator(mode="after")
    def _one_source(self) -> ImageRef:
        if (self.upload is None) == (self.data is None):
            raise ValueError("give exactly one of `upload` or `data`")
        return self


class ControlSpec(BaseModel):
    """A control image and the ControlNet that follows it (the served model's family: FLUX.1 or SD3.5), or a
    Control model's own control image."""

    model_config = ConfigDict(extra="forbid")

    controlnet: str | None = Field(
        default=None,
        max_length=100,
        description="A ControlNet of this deployment's catalogue (`GET /v1/defaults`); omit it for a Control "
        "model's own control image (FLUX.1 Canny/Depth).",
    )
    image: ImageRef
    mode: int | None = Field(default=None, ge=0, lt=64, description="A union ControlNet's control mode.")
    scale: float = Field(default=1.0, ge=0, le=2, description="Weight of the ControlNet's residuals.")
    start: float = Field(default=0.0, ge=0, lt=1, description="Share of the steps before it acts.")
    end: float = Field(default=1.0, gt=0, le=1, description="Share of the steps after which it stops.")

    @model_validator(mode="after")
    def _span(self) -> ControlSpec:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class LoraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        max_length=100, description="A LoRA of this deployment's catalogue (`GET /v1/defaults`)."
    )
    weight: float = Field(default=1.0, ge=-4, le=4)


class GenerationCreate(BaseModel):
    """Either ``prompt`` (planned into a layout first) or ``layout``, plus sampling options.

    Unset sampling options take the model's defaults; the job resource shows the values used.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=PROMPT_OR_LAYOUT)

    prompt: Prompt | None = Field(default=None, description="Planned into a layout.")
    layout: Layout | None = Field(
        default=None, description="Regions to generate; its width/height set the canvas."
    )
    width: CanvasSide | None = Field(
        default=None, description=f"Canvas width (prompt jobs), a multiple of {TOKEN_PX}."
    )
    height: CanvasSide | None = Field(
        default=None, description=f"Canvas height (prompt jobs), a multiple of {TOKEN_PX}."
    )
    steps: int | None = Field(default=None, ge=1, description="Denoising steps.")
    guidance: float | None = Field(default=None, ge=0, le=30, description="Distilled guidance scale.")
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="Random seed; drawn when unset.")
    num_images: int = Field(default=1, ge=1, description="Images from one layout (one batch).")
    base_ratio: float | None = Field(default=None, ge=0, le=1, description="Base-prompt share (beta).")
    inject_steps: int | None = Field(default=None, ge=0, description="Steps with regional control.")
    double_inject_interval: int | None = Field(default=None, ge=1, description="Every k-th double block.")
    single_inject_interval: int | None = Field(default=None, ge=1, description="Every k-th single block.")
    planner: BackendName | None = Field(default=None, description="Planner backend for prompt jobs.")
    init_image: ImageRef | None = Field(
        default=None,
        description="Image-to-image: start from this image (resized to the canvas; same aspect ratio).",
    )
    strength: float | None = Field(
        default=None, gt=0, le=1, description="With `init_image`: share of the steps that run (default 0.6)."
    )
    mask_image: ImageRef | None = Field(
        default=None,
        description="With `init_image`: inpaint where this mask (the init image's size) is white.",
    )
    controls: list[ControlSpec] = Field(default_factory=list, max_length=4, description="Control images.")
    loras: list[LoraSpec] = Field(default_factory=list, max_length=4, description="LoRAs and their weights.")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="An http(s) URL to POST this job's status changes to, signed as Standard Webhooks says "
        "(secret: `GET /v1/webhooks/secret`). Public addresses only, unless the operator allows others.",
    )
    webhook_events: list[WebhookEvent] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="Statuses to send (as `generation.<status>`); default: succeeded, failed, canceled.",
    )

    @model_validator(mode="after")
    def _prompt_or_layout(self) -> GenerationCreate:
        if (self.prompt is None) == (self.layout is None):
            raise ValueError("give exactly one of `prompt` or `layout`")
        if self.layout is not None:
            for name in ("width", "height"):
                given = getattr(self, name)
                if given is not None and given != getattr(self.layout, name):
                    raise ValueError(
                        f"{name}={given} differs from layout.{name}={getattr(self.layout, name)}; omit it"
                    )
            if self.planner is not None:
                raise ValueError("`planner` applies to prompt jobs only")
        if self.init_image is None:
            for name in ("strength", "mask_image"):
                if getattr(self, name) is not None:
                    raise ValueError(f"`{name}` needs an `init_image`")
        names = [lora.name for lora in self.loras]
        if len(set(names)) != len(names):
            raise ValueError(f"a LoRA is named twice in `loras`: {names}")
        if self.webhook_events is not None and self.webhook_url is None:
            raise ValueError("`webhook_events` needs a `webhook_url`")
        return self


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Prompt
    width: CanvasSide | None = None
    height: CanvasSide | None = None
    planner: BackendName | None = None


class PlanOut(BaseModel):
    layout: Layout


class Progress(BaseModel):
    stage: Stage | None = None
    step: int | None = None
    total_steps: int | None = None
    fraction: float | None = None


class Output(BaseModel):
    index: int
    url: str
    width: int
    height: int
    sha256: str


class ErrorInfo(BaseModel):
    code: str
    message: str


class Timings(BaseModel):
    """Seconds spent: waiting for the first worker, planning, sampling (denoising loop), in all."""

    queue_s: float | None = None
    plan_s: float | None = None
    sampling_s: float | None = None
    total_s: float | None = None


class Links(BaseModel):
    self: str
    cancel: str
    layout_png: str


class WebhookDelivery(BaseModel):
    """One attempt to deliver a webhook message (the same ``webhook_id`` on every attempt of a message)."""

    webhook_id: str
    type: str
    attempt: int
    at: datetime
    delivered: bool
    status_code: int | None = None
    error: str | None = None
    next_attempt_in_s: float | None = None


class WebhookOut(BaseModel):
    url: str
    events: list[WebhookEvent]
    deliveries: list[WebhookDelivery] = Field(
        default_factory=list, description="Latest attempts, oldest first."
    )


class GenerationOut(BaseModel):
    id: str
    object: Literal["generation"] = "generation"
    status: Status
    progress: Progress | None = None
    queue_position: int | None = Field(default=None, description="0 = next; only while queued.")
    cancel_requested: bool = False
    prompt: str | None = None
    layout: StoredLayout | None = Field(default=None, description="The layout used: given, or planned.")
    parameters: dict[str, Any] = Field(
        description="Effective parameters, seed included (model defaults filled in once running)."
    )
    outputs: list[Output] = Field(default_factory=list)
    error: ErrorInfo | None = None
    attempts: int = 0
    webhook: WebhookOut | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: Timings
    links: Links


class GenerationList(BaseModel):
    data: list[GenerationOut]
    next_cursor: str | None = None


class SamplingDefaultsOut(BaseModel):
    """What a job gets for each sampling option it leaves unset, named as ``GenerationCreate`` names them
    (``inject_steps`` is clipped to ``steps`` when only ``steps`` is given)."""

    steps: int
    guidance: float
    base_ratio: float
    inject_steps: int
    double_inject_interval: int
    single_inject_interval: int


class ModelDefaults(BaseModel):
    model: str = Field(description="A model that a live generation worker has loaded.")
    device: str | None = None
    defaults: SamplingDefaultsOut | None = Field(
        description="Null when the model's kind cannot be told without loading it (its transformer's config "
        "is not on the API's machine)."
    )


class Example(BaseModel):
    """A request the loaded model draws well: a prompt and its canvas, and for the CPU models the layout."""

    prompt: str
    width: int
    height: int
    layout: StoredLayout | None = None


class DeploymentLimits(BaseModel):
    max_side: int
    max_steps: int
    max_images: int
    max_regions: int
    max_image_pixels: int


class DefaultsOut(BaseModel):
    models: list[ModelDefaults] = Field(
        description="The models of the live generation workers (empty while none is ready)."
    )
    example: Example
    limits: DeploymentLimits
    controlnets: list[str] = Field(description="ControlNets jobs may name in `controls`.")
    loras: list[str] = Field(description="LoRAs jobs may name in `loras`.")

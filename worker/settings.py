"""Settings shared by the API and the workers: environment variables read with pydantic-settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What both the API and the workers read. Names are the environment variables (case-insensitive)."""

    # hide_input_in_errors: a bad value must not print REGIONAL_API_KEYS or a REDIS_URL with its password
    model_config = SettingsConfigDict(env_prefix="REGIONAL_", extra="ignore", hide_input_in_errors=True)

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "REGIONAL_REDIS_URL"),
        description="Redis for queues and job records; unset: `regional serve` starts an embedded one.",
    )
    namespace: str = Field(
        default="regional",
        description="Prefix of every Redis key and queue name, so several deployments can share one Redis.",
    )
    results_url: str = Field(
        default="results",
        validation_alias=AliasChoices("RESULTS_URL", "REGIONAL_RESULTS_URL"),
        description="fsspec URL of the image store: a local directory or s3://bucket/prefix (needs s3fs).",
    )
    model: str | None = Field(
        default=None,
        description="'dev', 'schnell', 'toy', 'tiny', a Hub id or a local folder; unset: 'dev' on a GPU, "
        "else 'toy' when regional/toy/model exists, else 'tiny'.",
    )
    dtype: str = Field(default="auto", description="Weights dtype: auto, bfloat16, float16 or float32.")
    cpu_offload: bool = Field(default=False, description="Model CPU offload on CUDA (24 GB cards).")
    job_timeout_s: int = Field(default=900, ge=1, description="Longest sampling may run (a job's stage).")
    max_retries: int = Field(default=2, ge=0, description="Times a stage is retried after its worker died.")
    lease_s: int = Field(
        default=30,
        ge=2,
        description="A running job's heartbeat lease; a dead worker's job is found after it.",
    )
    redis_retry_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a worker retries a Redis command (with backoff) before it gives up the job in "
        "hand; it then waits for Redis and goes on, and the job is retried.",
    )
    reaper_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="A lost job is found within its lease plus this (swept twice as often).",
    )
    requeue_grace_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a queued job may have no RQ job before the reaper enqueues it again.",
    )
    progress_interval_s: float = Field(default=0.25, ge=0, description="Least time between progress writes.")
    job_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, description="How long job records are kept.")
    controlnets: dict[str, str] = Field(
        default_factory=dict,
        description="ControlNets jobs may name: a JSON object of names to Hub ids or local folders "
        '(ControlNets of the served model family, FLUX.1 or SD3.5), e.g. {"union": "Shakker-Labs/FLUX.1-dev-ControlNet-Union-Pro"}.',
    )
    loras: dict[str, str] = Field(
        default_factory=dict,
        description="LoRAs jobs may name: a JSON object of names to Hub ids, folders or .safetensors files.",
    )
    max_loaded_controlnets: int = Field(default=2, ge=1, description="ControlNets a worker keeps loaded.")
    max_loaded_loras: int = Field(
        default=4, ge=1, description="LoRAs a worker keeps loaded; also the most one job may use."
    )


@lru_cache
def get_service_settings() -> ServiceSettings:
    return ServiceSettings()

"""Planner configuration from environment variables, read once through ``get_settings()``.

| variable | meaning |
|---|---|
| ``REGIONAL_PLANNER`` | backend: ``offline`` (default), ``openai`` or ``local`` |
| ``OPENAI_BASE_URL`` | OpenAI-compatible server (unset: api.openai.com) |
| ``OPENAI_API_KEY`` | API key (local servers accept any value) |
| ``REGIONAL_PLANNER_MODEL`` | model name for the ``openai`` backend (default ``gpt-4o``) |
| ``REGIONAL_PLANNER_LOCAL_MODEL`` | HF id or local folder for the ``local`` backend |
| ``REGIONAL_PLANNER_LOCAL_GGUF_FILE`` | GGUF file name inside that folder or repo, when the weights are GGUF |
| ``REGIONAL_PLANNER_BUDGET_S`` | seconds one planning may take in all, fallback included (default 120) |
| ``REGIONAL_PLANNER_TIMEOUT`` | seconds allowed for one backend call, within the budget (default 60) |
| ``REGIONAL_PLANNER_RETRIES`` | extra attempts with the validation error fed back, within the budget (default 1) |
| ``REGIONAL_PLANNER_MAX_TOKENS`` | completion token limit (default 1024) |
| ``REGIONAL_PLANNER_FALLBACK`` | fall back to the offline planner when an LLM fails (default true) |
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BackendName = Literal["offline", "openai", "local"]

OFFLINE_RESERVE_S = 2.0
"""Seconds of the budget kept for the offline fallback (it takes well under one), so that it always runs."""

CALLER_MARGIN_S = 5.0
"""Seconds a caller adds to the budget for its own outer timeout (the API's guard, the plan stage's job
timeout): room to hand the work to a thread and back, so that the planner's fallback always comes first."""


class PlannerSettings(BaseSettings):
    """Typed planner settings; field names map to ``REGIONAL_PLANNER_*`` unless an alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix="REGIONAL_PLANNER_", extra="ignore", populate_by_name=True)

    backend: BackendName = Field(
        default="offline", validation_alias=AliasChoices("REGIONAL_PLANNER", "backend")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    model: str = "gpt-4o"
    local_model: str | None = None
    local_gguf_file: str | None = None
    budget_s: float = Field(
        default=120.0,
        gt=OFFLINE_RESERVE_S,
        validation_alias=AliasChoices("REGIONAL_PLANNER_BUDGET_S", "REGIONAL_PLAN_TIMEOUT_S", "budget_s"),
        description="Seconds one planning may take in all: the LLM attempts share all but "
        "OFFLINE_RESERVE_S of it, which the offline fallback keeps. REGIONAL_PLAN_TIMEOUT_S is its old name.",
    )
    timeout: float = Field(default=60.0, gt=0)
    retries: int = Field(default=1, ge=0, le=5)
    max_tokens: int = Field(default=1024, ge=16)
    fallback: bool = True

    @property
    def llm_budget_s(self) -> float:
        """Seconds the LLM attempts share: the budget less the offline fallback's reserve."""
        return self.budget_s - OFFLINE_RESERVE_S

    @property
    def deadline_s(self) -> float:
        """The outer timeout of a caller that runs a whole planning (API, plan stage): the budget plus
        ``CALLER_MARGIN_S``. It fires only when the planner itself failed to keep its budget."""
        return self.budget_s + CALLER_MARGIN_S


@lru_cache
def get_settings() -> PlannerSettings:
    """The process-wide settings, read from the environment on first call."""
    return PlannerSettings()

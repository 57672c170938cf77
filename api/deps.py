"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from redis import Redis

from api.auth import owner_for
from api.service import GenerationService
from api.settings import ApiSettings
from worker.results import ResultStore


def _settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def _redis(request: Request) -> Redis:
    return request.app.state.redis


def _service(request: Request) -> GenerationService:
    return request.app.state.service


def _results(request: Request) -> ResultStore:
    return request.app.state.results


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
ServiceDep = Annotated[GenerationService, Depends(_service)]
ResultsDep = Annotated[ResultStore, Depends(_results)]


def current_owner(
    settings: SettingsDep, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> str:
    return owner_for(authorization, settings)


OwnerDep = Annotated[str, Depends(current_owner)]
"""The caller's owner id (from its API key); used as a router-level dependency for auth."""

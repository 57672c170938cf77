"""/v1/plans: plan a prompt into a layout without generating."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends
from redis.exceptions import RedisError

from api.deps import PlannerSettingsDep, ServiceDep, SettingsDep, current_owner
from api.exceptions import ApiError, FieldError
from api.schemas import PlanCreate, PlanOut

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/plans", tags=["plans"], dependencies=[Depends(current_owner)])


@router.post("", response_model=PlanOut, summary="Plan a prompt into a layout")
async def create_plan(
    body: PlanCreate, settings: SettingsDep, planner_settings: PlannerSettingsDep, service: ServiceDep
) -> PlanOut:
    """Runs the planner in the API process (its offline and HTTP backends need no GPU), within the planner's
    budget (`REGIONAL_PLANNER_BUDGET_S`): an LLM that fails or runs out of time gives way to the offline
    planner."""
    from planner import aplan_report
    from planner.exceptions import BackendUnavailableError

    width, height = body.width or settings.default_width, body.height or settings.default_height
    for name, value in (("width", width), ("height", height)):
        if value > settings.max_side:
            raise FieldError(name, f"{value} px is more than the limit of {settings.max_side}")
    deadline = planner_settings.deadline_s  # only a planner that broke its own budget meets it
    try:
        report = await asyncio.wait_for(
            aplan_report(body.prompt, width, height, body.planner, planner_settings), timeout=deadline
        )
    except TimeoutError as exc:
        raise ApiError(504, "planning_timeout", f"planning took longer than {deadline:.0f} s") from exc
    except ValueError as exc:  # the prompt, the canvas or the backend name (planner errors are ValueErrors)
        raise ApiError(422, "planning_failed", str(exc)) from exc
    except BackendUnavailableError as exc:
        raise ApiError(503, "planner_unavailable", str(exc)) from exc
    except Exception as exc:  # a backend's own error (network, model): not the client's fault; logged
        logger.exception("planning failed in the planner backend")
        raise ApiError(
            502, "planner_error", "the planner backend failed; the details are in the log"
        ) from exc
    try:  # planning needs no Redis; a metrics counter must not cost the client its plan
        service.store.count_plan(report.backend, report.outcome, report.rejections)
    except RedisError:
        logger.warning("could not count the plan in Redis", exc_info=True)
    return PlanOut(layout=report.layout)

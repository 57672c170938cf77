"""The layout planner: free text -> ``regional.Layout``, through an LLM or the offline parser.

``plan(prompt, width=..., height=..., backend=...)`` and its async twin ``aplan`` (``plan_report`` and
``aplan_report`` also say how the layout was obtained); backends are
``offline`` (default, no model), ``openai`` (any OpenAI-compatible server) and ``local`` (transformers).
"""

from planner.planning import BACKENDS, PlanReport, aplan, aplan_report, plan, plan_report

__all__ = ["BACKENDS", "PlanReport", "aplan", "aplan_report", "plan", "plan_offline", "plan_report"]


def plan_offline(prompt: str, width: int, height: int):
    """The offline planner's layout: the ``regional.layout_planners`` entry point the quality bench scores."""
    return plan(prompt, width=width, height=height, backend="offline")

"""Exceptions raised by the planner. Only the CLI maps them to exit messages, only the API to HTTP problems."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class of every planner error."""


class PlannerConfigError(PlannerError, ValueError):
    """The planner configuration names an unknown backend or lacks a required setting."""


class BackendUnavailableError(PlannerError):
    """A backend cannot run here (missing package, missing weights, unreachable server)."""


class BackendError(PlannerError):
    """A backend call failed or timed out."""


class LayoutExtractionError(PlannerError, ValueError):
    """No JSON object could be recovered from a model's reply."""


class LayoutRepairError(PlannerError, ValueError):
    """A model's layout is invalid and cannot be repaired; the message is fed back to the model on retry."""


class InvalidRequestError(PlannerError, ValueError):
    """The prompt or canvas size cannot be planned (empty prompt, side not a multiple of 16...)."""

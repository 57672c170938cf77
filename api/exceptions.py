"""API exceptions. Each becomes an RFC 9457 problem (application/problem+json) in ``api.problems``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP problem: ``status``, a machine-readable ``code``, a human ``detail``, optional extras."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, detail: str = "no such generation") -> None:
        super().__init__(404, "not_found", detail)


class FieldError(ApiError):
    """A request field breaks a limit of this service; ``field`` names it as validation errors do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            422, "validation_error", f"{field}: {message}", errors=[{"field": field, "message": message}]
        )

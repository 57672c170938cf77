"""What the client raises. Every error is a ``ClientError``; an HTTP error answer is a ``ProblemError``
carrying the service's RFC 9457 problem document (``application/problem+json``)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import httpx

from client.retry import parse_retry_after

MAX_DETAIL_CHARS = 500
"""How much of a non-problem error body (an HTML page from a proxy) goes into the exception's detail."""


class ClientError(Exception):
    """Base class of everything this client raises on purpose."""


class ConnectionFailedError(ClientError):
    """The service could not be reached, or the connection broke, and the retries ran out."""


class EventsUnavailableError(ClientError):
    """The events endpoint answered, but not with an event stream (a proxy, or a server without it)."""


class WaitTimeoutError(ClientError, TimeoutError):
    """``wait`` ran out of time before the job finished; the job goes on."""

    def __init__(self, generation_id: str, timeout: float) -> None:
        super().__init__(f"generation {generation_id} did not finish within {timeout:g} s")
        self.generation_id, self.timeout = generation_id, timeout


class WebhookVerificationError(ClientError):
    """A webhook delivery's headers or signature do not check out: do not trust its body."""


class ProblemError(ClientError):
    """An error answer from the service.

    ``status``, ``code`` (machine-readable, e.g. ``not_found``), ``title``, ``detail`` and ``errors`` (the
    field errors of a 422) come from the problem document; ``problem`` is the whole document (empty when the
    body was not JSON), ``body`` the raw text and ``headers`` the response headers.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        problem: dict[str, Any] | None = None,
        body: str = "",
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" + (f" ({code})" if code else ""))
        self.status, self.title, self.detail, self.code = status, title, detail, code
        self.errors = errors or []
        self.problem = problem or {}
        self.body = body
        self.headers = headers or httpx.Headers()

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        """The exception for an error response, of the subclass its status calls for."""
        text = response.text
        problem = _json_object(text)
        status = response.status_code
        title = str(problem.get("title") or _phrase(status))
        detail = str(problem.get("detail") or text[:MAX_DETAIL_CHARS] or title)
        code = problem.get("code")
        errors = problem.get("errors") if isinstance(problem.get("errors"), list) else None
        error_class = _CLASSES.get(status, ServerError if status >= 500 else ProblemError)
        return error_class(status, title, detail, code, errors, problem, text, response.headers)


class InvalidRequestError(ProblemError):
    """400 or 422: the request is wrong (``errors`` names the fields of a 422)."""


class AuthenticationError(ProblemError):
    """401 or 403: no valid API key."""


class NotFoundError(ProblemError):
    """404: no such generation (or it belongs to another key), or no such endpoint on this server."""


class ConflictError(ProblemError):
    """409: the job is not in a state that allows it (cancel a finished job, images before success)."""


class RateLimitedError(ProblemError):
    """429: over this key's quota (``rate_limited``, ``too_many_active_jobs``), after the client's retries.

    ``retry_after`` is the wait in seconds the server asked for; ``rate_limit`` and ``rate_limit_policy``
    are the IETF ``RateLimit`` and ``RateLimit-Policy`` headers as sent.
    """

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))

    @property
    def rate_limit(self) -> str | None:
        return self.headers.get("RateLimit")

    @property
    def rate_limit_policy(self) -> str | None:
        return self.headers.get("RateLimit-Policy")


class ServerError(ProblemError):
    """5xx: the service failed or is unavailable (503 answers were retried first)."""


_CLASSES: dict[int, type[ProblemError]] = {
    400: InvalidRequestError,
    422: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the ``ProblemError`` of an error response; do nothing for a 2xx."""
    if not response.is_success:
        raise ProblemError.from_response(response)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"

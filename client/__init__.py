"""A typed Python client of the generation service, sync (``RegionalClient``) and async
(``AsyncRegionalClient``), on httpx; plus ``verify_webhook`` for the receivers of its webhooks.

Requests and responses are the API's own models (``api.schemas``, ``regional.layout``). Importing this
package never imports torch or diffusers.
"""

from api.schemas import GenerationCreate, GenerationList, GenerationOut, PlanOut
from client.aio import AsyncRegionalClient
from client.core import Event
from client.exceptions import (
    AuthenticationError,
    ClientError,
    ConflictError,
    ConnectionFailedError,
    EventsUnavailableError,
    InvalidRequestError,
    NotFoundError,
    ProblemError,
    RateLimitedError,
    ServerError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from client.sync import RegionalClient
from client.webhooks import sign_webhook, verify_webhook
from regional.layout import Layout, Region

__all__ = [
    "AsyncRegionalClient",
    "AuthenticationError",
    "ClientError",
    "ConflictError",
    "ConnectionFailedError",
    "Event",
    "EventsUnavailableError",
    "GenerationCreate",
    "GenerationList",
    "GenerationOut",
    "InvalidRequestError",
    "Layout",
    "NotFoundError",
    "PlanOut",
    "ProblemError",
    "RateLimitedError",
    "Region",
    "RegionalClient",
    "ServerError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]

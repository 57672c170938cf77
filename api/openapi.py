"""The OpenAPI document: the models' constraints, narrowed to this deployment's limits.

The models state what any deployment accepts (``regional.layout``'s types, ``api.schemas``); the limits of
``ApiSettings`` (checked in ``GenerationService.check_limits``, ``api.limits`` and the plans router) narrow
them here, so that ``/openapi.json`` says what this service accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.limits import max_mask_chars
from api.settings import ApiSettings

Limits = dict[str, dict[str, dict[str, int]]]
"""Schema keywords by component, then property: ``{"Layout": {"regions": {"maxItems": 16}}}``."""


def deployment_limits(settings: ApiSettings) -> Limits:
    side = {"maximum": settings.max_side}
    steps = {"maximum": settings.max_steps}
    return {
        "GenerationCreate": {
            "width": side,
            "height": side,
            "steps": steps,
            "inject_steps": steps,
            "num_images": {"maximum": settings.max_images},
        },
        "PlanCreate": {"width": side, "height": side},
        "Layout": {"width": side, "height": side, "regions": {"maxItems": settings.max_regions}},
        "Region": {"mask": {"maxLength": max_mask_chars(settings.max_mask_bytes)}},
    }


def narrow(schemas: dict[str, Any], limits: Limits) -> None:
    """Lower each upper bound in ``limits`` on the component's property (on the non-null branch of ``X | None``)."""
    for component, properties in limits.items():
        for name, keywords in properties.items():
            prop = schemas[component]["properties"][name]
            for branch in (s for s in prop.get("anyOf", [prop]) if s.get("type") != "null"):
                for keyword, bound in keywords.items():
                    branch[keyword] = min(branch.get(keyword, bound), bound)


def name_request_body(schema: dict[str, Any], path: str, method: str, component: str) -> None:
    """Move an inline request body schema to ``components`` as ``component`` and refer to it there.

    ``POST /v1/generations`` declares its body unvalidated (``api.deps``, which parses it off the event loop),
    and FastAPI inlines the schema of such a body; this names it as FastAPI names any other model.
    """
    content = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    schema["components"]["schemas"][component] = {**content["schema"], "title": component}
    content["schema"] = {"$ref": f"#/components/schemas/{component}"}


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Serve the document built by FastAPI (once, on first use), with its body named and limits narrowed."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            name_request_body(schema, "/v1/generations", "post", "GenerationCreate")
            narrow(schema["components"]["schemas"], deployment_limits(settings))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  (FastAPI's documented way to extend the schema)

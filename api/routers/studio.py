"""The layout studio, a web page served by the API itself (``api/studio/``: plain HTML, CSS and ES modules, no
build step), and ``GET /v1/defaults``: what the page, or any client, needs to know before its first request.

The page talks only to the public API (``/v1/plans``, ``/v1/generations`` and its events); it holds no state
on the server. Its files are read from the package, so a wheel must ship them (``pyproject.toml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, RedirectResponse

from api.cli import SHAPES_MODELS, example_prompt
from api.deps import RedisDep, ServiceDep, SettingsDep, current_owner
from api.exceptions import NotFound
from api.schemas import DefaultsOut, DeploymentLimits, Example, ModelDefaults, SamplingDefaultsOut
from regional import toy
from regional.layout import Layout
from regional.loading import sampling_defaults_of
from worker import queues
from worker.keys import GENERATE
from worker.runtime import DEFAULTED_PARAMETERS

router = APIRouter(tags=["defaults"])

STUDIO_DIR = Path(__file__).resolve().parent.parent / "studio"
"""The page's files: ``index.html``, ``studio.css`` and the ES modules it imports."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

EXAMPLE_LAYOUT = Path(toy.__file__).parent / "example_layout.json"
"""The shapes-world layout that the toy model draws right (``tests/toy/test_model.py``): the CPU example."""


def _assets() -> dict[str, Path]:
    """The files the page may fetch, by name: only these are served (no path from the request is opened)."""
    return {p.name: p for p in STUDIO_DIR.iterdir() if p.suffix in MEDIA_TYPES}


def _security_headers(settings_public_url: str | None) -> dict[str, str]:
    """The page loads only its own files; it talks to this API (and to its public URL, which job links use)."""
    connect = "'self'"
    if settings_public_url:
        parts = urlsplit(settings_public_url)
        connect += f" {parts.scheme}://{parts.netloc}"
    policy = (
        f"default-src 'self'; img-src 'self' blob: data:; connect-src {connect}; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",  # revalidate: an upgraded service serves its new page at once
    }


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("studio/", status_code=307)  # relative: right behind a proxy's path prefix too


@router.get("/studio", include_in_schema=False)
def studio_redirect() -> RedirectResponse:
    return RedirectResponse("studio/", status_code=307)  # the page's relative links need the trailing slash


@router.get("/studio/", include_in_schema=False)
def studio_page(settings: SettingsDep) -> FileResponse:
    return _asset("index.html", settings.public_url)


@router.get("/studio/{name}", include_in_schema=False)
def studio_asset(name: str, settings: SettingsDep) -> FileResponse:
    return _asset(name, settings.public_url)


def _asset(name: str, public_url: str | None) -> FileResponse:
    path = _assets().get(name)
    if path is None:
        raise NotFound(f"the studio has no file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=_security_headers(public_url))


def _defaults(model: str) -> SamplingDefaultsOut | None:
    found = sampling_defaults_of(model)
    if found is None:
        return None
    return SamplingDefaultsOut(**{name: getattr(found, attr) for name, attr in DEFAULTED_PARAMETERS.items()})


def example(model: str | None) -> Example:
    """The studio's first picture: for the CPU models, the shapes-world layout the toy model draws right."""
    prompt, side = example_prompt(model)
    if model in SHAPES_MODELS:
        stored = json.loads(EXAMPLE_LAYOUT.read_text())
        layout = Layout.model_validate(stored)
        return Example(prompt=layout.base_prompt, width=layout.width, height=layout.height, layout=stored)
    return Example(prompt=prompt, width=side, height=side)


@router.get(
    "/v1/defaults",
    response_model=DefaultsOut,
    dependencies=[Depends(current_owner)],
    summary="Sampling defaults of the loaded models, an example request and this deployment's limits",
)
def get_defaults(redis: RedisDep, service: ServiceDep, settings: SettingsDep) -> DefaultsOut:
    """The models come from the live generation workers' presence records (what they have loaded, not what
    is configured); each model's defaults are read from its transformer's config (`guidance_embeds`: FLUX.1-dev
    defaults, else FLUX.1-schnell's), without loading it. A job shows the values it used in `parameters`."""
    workers = [w for w in queues.live_workers(redis, service.keys) if GENERATE in w.get("queues", [])]
    loaded = sorted({(w["model"], w.get("device") or "") for w in workers if w.get("model")})
    models = [
        ModelDefaults(model=model, device=device or None, defaults=_defaults(model))
        for model, device in loaded
    ]
    return DefaultsOut(
        models=models,
        example=example(loaded[0][0] if loaded else settings.model),
        limits=DeploymentLimits(
            max_side=settings.max_side,
            max_steps=settings.max_steps,
            max_images=settings.max_images,
            max_regions=settings.max_regions,
            max_image_pixels=settings.max_image_pixels,
        ),
        controlnets=sorted(settings.controlnets),
        loras=sorted(settings.loras),
    )

"""Training-free regional prompting for joint-attention diffusion transformers (FLUX.1, Chroma) on stock
diffusers.

``Layout`` and ``Region`` need no torch; the pipelines are imported on first use so that processes that
only validate layouts (the API) never load torch or diffusers.
"""

from regional.layout import Layout, Region

__all__ = [
    "Layout",
    "Region",
    "RegionalChromaImg2ImgPipeline",
    "RegionalChromaPipeline",
    "RegionalFluxControlImg2ImgPipeline",
    "RegionalFluxControlNetImg2ImgPipeline",
    "RegionalFluxControlNetInpaintPipeline",
    "RegionalFluxControlNetPipeline",
    "RegionalFluxControlPipeline",
    "RegionalFluxImg2ImgPipeline",
    "RegionalFluxInpaintPipeline",
    "RegionalFluxPipeline",
]


def __getattr__(name: str):
    if name in ("RegionalFluxPipeline", "RegionalChromaPipeline"):
        from regional.families import regional_pipeline_class

        return regional_pipeline_class(name)
    if name in __all__ and name.startswith(("RegionalFlux", "RegionalChroma")):
        from regional.families import chroma, flux

        return getattr(flux if name.startswith("RegionalFlux") else chroma, name)
    raise AttributeError(f"module 'regional' has no attribute {name!r}")

"""Training-free regional prompting for FLUX.1 on stock diffusers.

``Layout`` and ``Region`` need no torch; ``RegionalFluxPipeline`` is imported on first use so that
processes that only validate layouts (the API) never load torch or diffusers.
"""

from regional.layout import Layout, Region

__all__ = ["Layout", "Region", "RegionalFluxPipeline"]


def __getattr__(name: str):
    if name == "RegionalFluxPipeline":
        from regional.pipeline import RegionalFluxPipeline

        return RegionalFluxPipeline
    raise AttributeError(f"module 'regional' has no attribute {name!r}")

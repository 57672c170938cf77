"""Training-free regional prompting for joint-attention diffusion transformers (FLUX.1, Chroma, SD3.5) on
stock diffusers.

``Layout`` and ``Region`` need no torch; the pipelines (every family's exports, ``regional.families``) are
imported on first use, so that processes that only validate layouts (the API) never load torch or diffusers.
"""

from regional import families  # the package (its registry function is families.families)
from regional.layout import Layout, Region

__all__ = ["Layout", "Region", *sorted(name for f in families.families().values() for name in f.exports)]


def __getattr__(name: str):
    found = families.exported_class(name)
    if found is None:
        raise AttributeError(f"module 'regional' has no attribute {name!r}")
    return found

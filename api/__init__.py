"""The HTTP API of the generation service (FastAPI). It imports neither torch nor diffusers."""

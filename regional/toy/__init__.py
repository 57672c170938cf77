"""The toy shapes world and the small FLUX-architecture model trained on it (``regional/toy/model``).

- ``world``: deterministic scenes (1-4 coloured shapes, captions, ground-truth boxes);
- ``components``: the FLUX.1 component classes at toy sizes; ``train``: ``python -m regional.toy.train``;
- ``score``: image-analysis scoring against a scene; ``evaluate`` / ``figures``: ``regional bench quality``.
"""

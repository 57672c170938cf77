"""The model card (README.md) written next to the trained toy model."""

from __future__ import annotations

from pathlib import Path

from regional.raster import TOKEN_PX
from regional.toy.world import SIZE, SIZES

CARD = """\
# Toy FLUX: a small FLUX.1-architecture model of the shapes world

A text-to-image model with the exact component classes of FLUX.1 (FluxTransformer2DModel, AutoencoderKL,
CLIPTextModel, T5EncoderModel, local tokenizers, FlowMatchEulerDiscreteScheduler), at toy sizes, trained
here (on CPU, continued on one GPU where `training.json` says so) on the synthetic world of
`regional/toy/world.py`: 1-4 coloured shapes (circle, square, triangle; red,
green, blue, yellow, purple; small {small} px or large {large} px) on a white, gray or black background,
{size} x {size} px ({tokens} x {tokens} FLUX tokens of 16 px).

It exists so that regional prompting can be *measured* without FLUX weights or a GPU: it draws what the
caption says, well enough to score colour and shape inside each box. It is not a general image model.

## Use

```python
from regional.pipeline import RegionalFluxPipeline

pipe = RegionalFluxPipeline.from_pretrained("regional/toy/model")
```

or `--model toy` on the CLI. Prompts must use the world's words, e.g. "a large red circle on the left and a
large blue square on the right on a white background"; canvas {size} x {size}. The pipeline uses 48 T5 tokens by
itself (the tokenizer's `model_max_length`, the training length; every caption of the world fits).

## Training

`make toy-model` (`python -m regional.toy.train`), seeded. Objective: FLUX's rectified flow (predict
`noise - x0`), logit-normal times with the scheduler's dynamic shift, text encoders trained jointly, 10% of
captions emptied (so the model also knows the unconditional image), EMA weights saved. A scene with several
objects is captioned as the world writes it, with its objects named in another order, or without positions
(`caption_mix`): the world names an arrangement's slots in one fixed order, and a model that only saw that
order binds objects by order instead of by position words. Then guidance
distillation, as FLUX.1-dev was made: given guidance g, the transformer learns to produce in one pass what
classifier-free guidance with scale 1 + 0.5 (g - 1) gives from two passes of the frozen flow model, so
`guidance_scale` (default 3.5) works as on FLUX.1-dev and costs nothing extra.

Last run: `{command}`

| | |
|---|---|
{rows}

{history}Loss curves of the last run: `loss.png`; every run's arguments and losses: `training.json`.
"""


def command(args: dict) -> str:
    """The command line that ``args`` (a run's recorded arguments) came from."""
    flags = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in args.items() if value != "None")
    return f"python -m regional.toy.train {flags}"


def write_model_card(folder: Path, stats: dict) -> None:
    """Write ``folder/README.md`` from ``stats`` (training.json: the last run, ``history`` the earlier ones)."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in stats.items() if k not in ("args", "history"))
    history = stats.get("history", [])
    lines = [
        f"{i}. `{command(run['args'])}`" if "args" in run else f"{i}. {run.get('commands', 'unrecorded')}"
        for i, run in enumerate(history, 1)
    ]
    earlier = (
        f"Continued from {len(history)} earlier run(s), {stats.get('minutes_total')} minutes in all:\n\n"
        + "\n".join(lines)
        + "\n\n"
        if history
        else ""
    )
    text = CARD.format(
        command=command(stats.get("args", {})),
        rows=rows,
        history=earlier,
        size=SIZE,
        tokens=SIZE // TOKEN_PX,
        small=SIZES["small"],
        large=SIZES["large"],
    )
    (folder / "README.md").write_text(text)

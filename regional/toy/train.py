"""Train the toy FLUX model on the shapes world and save it as a FLUX.1 pipeline folder.

``python -m regional.toy.train`` (``make toy-model``): seeded; three stages, on CPU or on a GPU (``--device``):

1. the AutoencoderKL (L1 reconstruction + a small KL term) on rendered scenes, then its latent statistics
   become ``shift_factor`` / ``scaling_factor`` as in FLUX.1;
2. the FluxTransformer2DModel with both text encoders, by rectified flow (FLUX's objective: the model
   predicts ``noise - x0`` at ``x_t = (1 - t) x0 + t noise``), with an EMA of the weights;
3. the VAE decoder alone, encoder frozen (sharper objects; the latent space stays the one of stage 2).

Output: ``build/toy-model/`` by default (transformer/, vae/, text_encoder/, text_encoder_2/, tokenizer/,
tokenizer_2/, scheduler/, model_index.json, README.md) plus ``loss.png``, not the committed
``regional/toy/model/``: a weaker run must not replace it unseen; bench it, then copy it over. The folder is
rewritten at every checkpoint, so a stopped run leaves a usable model.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import FluxPipeline
from diffusers.pipelines.flux.pipeline_flux import calculate_shift
from tqdm.auto import tqdm

from regional.toy.components import MAX_SEQUENCE_LENGTH, build_components
from regional.toy.model_card import write_model_card
from regional.toy.world import SIZE, make_scene, reorder_caption, unplace_caption

logger = logging.getLogger(__name__)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1] (the VAE's input range)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class SceneImages(torch.utils.data.Dataset):
    """Scenes ``first`` .. ``first + count - 1``, rendered as VAE inputs: (3, SIZE, SIZE) in [-1, 1]."""

    def __init__(self, first: int, count: int):
        self.first, self.count = first, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(make_scene(self.first + index).render()[None])[0]


def scene_batches(first: int, count: int, batch: int, workers: int) -> torch.utils.data.DataLoader:
    """Batches of rendered scenes in seed order; ``workers`` processes render them (the VAE stages on a GPU
    wait on rendering otherwise)."""
    return torch.utils.data.DataLoader(SceneImages(first, count), batch_size=batch, num_workers=workers)


CAPTION_KINDS = ("world", "reordered", "unplaced")


def caption_variants(seed: int) -> tuple[str, str, str]:
    """Scene ``seed``'s caption as the world writes it, with its objects named in another order, and without
    positions. The world names the slots of an arrangement in one fixed order, so a model trained on its
    captions alone binds objects by order, not by position words; the other two teach it to read positions
    and to draw named objects that only a layout places. One-object scenes have one caption."""
    scene = make_scene(seed)
    if len(scene.objects) < 2:
        return (scene.caption,) * 3
    return scene.caption, reorder_caption(scene, seed).caption, unplace_caption(scene, seed).caption


def cosine_lr(step: int, total: int, base: float, time_used: float = 0.0, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay over the steps or the stage's time, whichever runs out first
    (``time_used``: share of the stage's time spent), so a stage stopped by the clock still ends annealed."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = max((step - warmup) / max(1, total - warmup), time_used)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def time_used(started: float, deadline: float) -> float:
    return (time.monotonic() - started) / max(deadline - started, 1e-9)


def _fit(params, steps: int, lr: float, deadline: float, seed: int, desc: str, loss_at) -> list[float]:
    """AdamW with a cosine schedule on ``loss_at(step)`` for ``steps`` steps or until ``deadline``."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    losses: list[float] = []
    torch.manual_seed(seed)
    started = time.monotonic()
    for step in (bar := tqdm(range(steps), desc=desc)):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, time_used(started, deadline))
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if time.monotonic() > deadline:
            logger.warning("%s stage stopped at step %d by the time limit", desc, step + 1)
            break
    return losses


def train_vae(
    vae, steps: int, batch: int, lr: float, deadline: float, seed: int, workers: int = 0
) -> list[float]:
    """Fit the autoencoder on freshly rendered scenes (seeds from 10**9 up, apart from the transformer's)."""
    latent_elements = vae.config.latent_channels * (SIZE // 8) ** 2
    batches = iter(scene_batches(10**9, steps * batch, batch, workers))

    def loss_at(step: int) -> torch.Tensor:
        x = next(batches).to(vae.device)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        return (recon - x).abs().mean() + 1e-4 * posterior.kl().mean() / latent_elements

    vae.train()
    losses = _fit(vae.parameters(), steps, lr, deadline, seed, "vae", loss_at)
    vae.eval()
    return losses


def finetune_decoder(
    vae, steps: int, batch: int, lr: float, deadline: float, seed: int, workers: int = 0
) -> list[float]:
    """Sharpen the decoder with the encoder frozen, so the latent space the transformer learned stays valid.

    Loss: L1 weighted 5x on object pixels (saturated ones), which the background otherwise outweighs.
    """
    batches = iter(scene_batches(2 * 10**9, steps * batch, batch, workers))

    def loss_at(step: int) -> torch.Tensor:
        x = next(batches).to(vae.device)
        with torch.no_grad():
            latents = vae.encode(x).latent_dist.mode()
        weight = 1 + 4 * ((x.amax(1, keepdim=True) - x.amin(1, keepdim=True)) > 0.4).float()
        return ((vae.decode(latents).sample - x).abs() * weight).mean() / weight.mean()

    vae.eval()
    vae.decoder.train()
    losses = _fit(vae.decoder.parameters(), steps, lr, deadline, seed, "decoder", loss_at)
    vae.eval()
    return losses


@torch.no_grad()
def encode_latents(vae, num_scenes: int, batch: int = 256, workers: int = 0) -> torch.Tensor:
    """Posterior means of scenes 0..num_scenes-1, raw (before shift/scale). Shape: (N, C, SIZE/8, SIZE/8)."""
    chunks = [vae.encode(x.to(vae.device)).latent_dist.mode()
              for x in tqdm(scene_batches(0, num_scenes, batch, workers), desc="encode")]  # fmt: skip
    return torch.cat(chunks)


def tokenize(pipe: FluxPipeline, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(CLIP ids (N, 77), T5 ids (N, MAX_SEQUENCE_LENGTH), T5 real lengths (N,)), padded as FluxPipeline does."""
    clip = pipe.tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    t5 = pipe.tokenizer_2(
        captions, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True, return_tensors="pt"
    )
    return clip.input_ids, t5.input_ids, t5.attention_mask.sum(1)


def sample_sigmas(batch: int, image_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """Logit-normal times, shifted as the scheduler shifts them at this image size (FLUX's dynamic shift)."""
    mu = calculate_shift(image_tokens, 256, 4096, 0.5, 1.15)
    t = torch.sigmoid(torch.randn(batch, generator=generator))
    return math.exp(mu) * t / (1 + (math.exp(mu) - 1) * t)


CFG_PER_GUIDANCE = 0.5
"""The distilled guidance input g stands for the teacher's CFG scale ``1 + 0.5 (g - 1)``, so FLUX.1-dev's default
g = 3.5 lands at 2.25, where the teacher drew best (measured before distilling: CFG 2-3 beat 1 and 5)."""


def cfg_scale(guidance: torch.Tensor) -> torch.Tensor:
    return 1 + CFG_PER_GUIDANCE * (guidance - 1)


class FlowTrainer:
    """Rectified-flow training of transformer + text encoders on pre-encoded latents, then (optionally)
    guidance distillation of the transformer, as FLUX.1-dev was made from a CFG teacher."""

    def __init__(
        self, pipe: FluxPipeline, latents: torch.Tensor, captions: list[tuple[str, ...]], lr: float,
        seed: int, caption_dropout: float = 0.0, caption_mix: tuple[float, ...] = (1.0,),
    ):  # fmt: skip
        """``captions[i]``: the captions of scene i (latents[i]), one per kind; a training example takes
        kind k with probability ``caption_mix[k]``."""
        self.pipe = pipe
        self.device = pipe.transformer.device
        self.latents = (latents - pipe.vae.config.shift_factor) * pipe.vae.config.scaling_factor
        self.kinds = len(caption_mix)
        flat = [scene_captions[kind] for scene_captions in captions for kind in range(self.kinds)]
        self.clip_ids, self.t5_ids, self.t5_lengths = tokenize(pipe, flat)  # row = scene * kinds + kind
        self.caption_mix = torch.tensor(caption_mix, dtype=torch.float64)
        # The empty caption, as classifier-free guidance encodes its unconditional branch.
        self.empty_ids = tokenize(pipe, [""])
        self.caption_dropout = caption_dropout
        self.modules = torch.nn.ModuleList([pipe.transformer, pipe.text_encoder, pipe.text_encoder_2])
        self.ema = copy.deepcopy(self.modules).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.modules.parameters(), lr=lr, weight_decay=0.01)
        self.generator = torch.Generator().manual_seed(seed)
        _, channels, height, width = latents.shape
        self.shape = (channels, height, width)
        self.img_ids = FluxPipeline._prepare_latent_image_ids(
            1, height // 2, width // 2, self.device, torch.float32
        )

    def _noisy_batch(self, batch: int, caption_dropout: float):
        """Random scenes and caption kinds (some captions emptied), their latents x0, noise, times and x_t.
        Random numbers come from one CPU generator, so a seed gives the same batches on any device."""
        g = self.generator
        index = torch.randint(len(self.latents), (batch,), generator=g)
        kind = torch.multinomial(self.caption_mix, batch, replacement=True, generator=g)
        row = index * self.kinds + kind
        clip_ids, t5_ids, t5_lengths = self.clip_ids[row], self.t5_ids[row], self.t5_lengths[row]
        dropped = torch.rand(batch, generator=g) < caption_dropout
        clip_ids[dropped], t5_ids[dropped], t5_lengths[dropped] = (ids[0] for ids in self.empty_ids)
        # Pad T5 to a random length between the longest caption and MAX_SEQUENCE_LENGTH, so the model
        # does not depend on the number of padding tokens (regional prompts carry few, the base many).
        text_len = int(torch.randint(int(t5_lengths.max()), MAX_SEQUENCE_LENGTH + 1, (1,), generator=g))
        x0 = self.latents[index.to(self.latents.device)]
        noise = torch.randn(x0.shape, generator=g).to(self.device)
        sigma = sample_sigmas(batch, self.img_ids.shape[0], g).to(self.device)
        xt = (1 - sigma.view(-1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1) * noise
        return clip_ids.to(self.device), t5_ids[:, :text_len].to(self.device), x0, noise, sigma, xt

    def _encode(self, clip_ids: torch.Tensor, t5_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # CLIP is causal: cutting the trailing padding leaves the pooled (EOS) output unchanged.
        clip_len = int((clip_ids != self.pipe.tokenizer.pad_token_id).sum(1).max())
        _, clip, t5 = self.modules
        return clip(clip_ids[:, :clip_len]).pooler_output, t5(t5_ids)[0]

    def _predict(self, transformer, xt, sigma, guidance, pooled, text) -> torch.Tensor:
        """Velocity (noise - x0) predicted for unpacked latents xt, packed as FluxPipeline packs them."""
        c, h, w = self.shape
        return transformer(
            hidden_states=FluxPipeline._pack_latents(xt, xt.shape[0], c, h, w),
            timestep=sigma,
            guidance=guidance,
            pooled_projections=pooled,
            encoder_hidden_states=text,
            txt_ids=torch.zeros(text.shape[1], 3, device=self.device),
            img_ids=self.img_ids,
            return_dict=False,
        )[0]

    def _update(self, loss: torch.Tensor, lr: float) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.modules.parameters(), 1.0)
        self.opt.step()
        return loss.item()

    def step(self, batch: int, lr: float) -> float:
        """One rectified-flow step: MSE between the predicted and the true velocity noise - x0."""
        self.modules.train()
        clip_ids, t5_ids, x0, noise, sigma, xt = self._noisy_batch(batch, self.caption_dropout)
        pooled, text = self._encode(clip_ids, t5_ids)
        guidance = torch.rand(batch, generator=self.generator).to(self.device) * 10  # inert until distilled
        pred = self._predict(self.modules[0], xt, sigma, guidance, pooled, text)
        c, h, w = self.shape
        return self._update(
            torch.nn.functional.mse_loss(pred, FluxPipeline._pack_latents(noise - x0, batch, c, h, w)), lr
        )

    def distill_step(self, teacher, batch: int, lr: float, max_guidance: float) -> float:
        """One guidance-distillation step: with guidance g the transformer learns, in one pass, the teacher's
        classifier-free guidance ``v(empty) + w * (v(caption) - v(empty))``, w = ``cfg_scale(g)``. Text
        encoders stay frozen."""
        transformer, clip, t5 = self.modules
        transformer.train()
        clip.eval()
        t5.eval()
        clip_ids, t5_ids, _, _, sigma, xt = self._noisy_batch(batch, 0.0)
        guidance = 1 + torch.rand(batch, generator=self.generator).to(self.device) * (max_guidance - 1)
        with torch.no_grad():
            empty_clip, empty_t5 = (ids.to(self.device).expand(batch, -1) for ids in self.empty_ids[:2])
            pooled, text = self._encode(
                torch.cat([clip_ids, empty_clip]), torch.cat([t5_ids, empty_t5[:, : t5_ids.shape[1]]])
            )
            both = self._predict(
                teacher, xt.repeat(2, 1, 1, 1), sigma.repeat(2), guidance.repeat(2), pooled, text
            )
            conditional, unconditional = both.chunk(2)
            target = unconditional + cfg_scale(guidance).view(-1, 1, 1) * (conditional - unconditional)
        pred = self._predict(transformer, xt, sigma, guidance, pooled[:batch], text[:batch])
        return self._update(torch.nn.functional.mse_loss(pred, target), lr)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for ema, live in zip(self.ema.parameters(), self.modules.parameters(), strict=True):
            ema.lerp_(live, 1 - decay)

    def export(self) -> FluxPipeline:
        """A pipeline with the EMA weights, every module in eval mode."""
        transformer, clip, t5 = (copy.deepcopy(m).eval() for m in self.ema)
        # A hint for loaders: the T5 length this model was trained with (FLUX.1's tokenizer says 512).
        self.pipe.tokenizer_2.model_max_length = MAX_SEQUENCE_LENGTH
        return FluxPipeline(transformer=transformer, text_encoder=clip, text_encoder_2=t5, vae=self.pipe.vae,
                            tokenizer=self.pipe.tokenizer, tokenizer_2=self.pipe.tokenizer_2,
                            scheduler=self.pipe.scheduler)  # fmt: skip


def plot_losses(curves: dict[str, list[float]], path: Path) -> None:
    """One log-scale panel per named loss curve (raw and smoothed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (title, losses) in zip(axes[0], curves.items(), strict=True):
        if losses:
            window = max(1, len(losses) // 50)
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            ax.plot(losses, alpha=0.25, color="tab:blue")
            ax.plot(np.arange(len(smooth)) + window - 1, smooth, color="tab:blue")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save(trainer: FlowTrainer, out: Path, stats: dict, curves: dict[str, list[float]]) -> None:
    """Write the pipeline folder (EMA weights), training.json, the model card and loss.png."""
    out.mkdir(parents=True, exist_ok=True)
    trainer.export().save_pretrained(out, safe_serialization=True)
    (out / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    write_model_card(out, stats)
    plot_losses(curves, out / "loss.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/toy-model"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="continue from this saved model (skips the VAE stage)")
    parser.add_argument("--vae-steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=6000, help="transformer steps")
    parser.add_argument(
        "--decoder-steps", type=int, default=1200, help="decoder fine-tune steps (encoder frozen)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--scenes", type=int, default=30000, help="distinct training scenes (seeds 0..N-1)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--distill-steps", type=int, default=1500,
                        help="guidance-distillation steps after the flow stage (0: the guidance input stays inert)")  # fmt: skip
    parser.add_argument("--distill-lr", type=float, default=2e-4)
    parser.add_argument("--max-guidance", type=float, default=7.0, help="distilled guidance range: 1 to this")
    parser.add_argument("--caption-dropout", type=float, default=0.1,
                        help="share of empty captions, so true classifier-free guidance has its unconditional branch")  # fmt: skip
    parser.add_argument("--caption-mix", type=float, nargs=3, default=(0.5, 0.25, 0.25),
                        metavar=("WORLD", "REORDERED", "UNPLACED"),
                        help="how often a multi-object scene is captioned as the world writes it, with its objects "
                             "in another order, and without positions")  # fmt: skip
    parser.add_argument("--ema", type=float, default=0.998)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--max-minutes", type=float, default=60.0, help="hard stop for the whole run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is much faster than 2 when another process shares the 2 cores")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes rendering scenes for the VAE stages"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    device_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True  # float32 weights, TF32 matrix products on a GPU
    start = time.monotonic()
    # At most 25 % for the VAE; flow until 75 % (55 % when distilling, which then runs until 75 %); the
    # decoder the rest.
    budget = 60 * args.max_minutes

    history: list[dict] = []  # the runs this one continues, oldest first
    if args.init is None:
        pipe = FluxPipeline(**build_components(args.seed)).to(device)
        vae_losses = train_vae(
            pipe.vae, args.vae_steps, args.batch, 2e-3, start + 0.25 * budget, args.seed, args.workers
        )
        raw = encode_latents(pipe.vae, args.scenes, workers=args.workers)
        pipe.vae.register_to_config(shift_factor=float(raw.mean()), scaling_factor=float(1 / raw.std()))
    else:  # continue training a saved model: its VAE and latent statistics stay as they are
        pipe = FluxPipeline.from_pretrained(args.init, torch_dtype=torch.float32).to(device)
        vae_losses = []
        raw = encode_latents(pipe.vae, args.scenes, workers=args.workers)
        record = args.init / "training.json"
        previous = json.loads(record.read_text()) if record.exists() else {"minutes": 0, "note": "unrecorded"}
        history = previous.pop("history", []) + [previous]
    captions = [caption_variants(seed) for seed in tqdm(range(args.scenes), desc="captions")]
    trainer = FlowTrainer(
        pipe, raw, captions, args.lr, args.seed, args.caption_dropout, tuple(args.caption_mix)
    )
    curves: dict[str, list[float]] = {"VAE (L1 + KL)": vae_losses}
    stats: dict = {
        "seed": args.seed, "scenes": args.scenes, "batch": args.batch, "threads": args.threads,
        "vae_steps": len(vae_losses), "vae_final_loss": float(np.mean(vae_losses[-50:])) if vae_losses else None,
        "caption_dropout": args.caption_dropout, "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "device": device_name, "torch": torch.__version__,
        "caption_mix": dict(zip(CAPTION_KINDS, args.caption_mix, strict=True)),
        "vae_shift_factor": pipe.vae.config.shift_factor, "vae_scaling_factor": pipe.vae.config.scaling_factor,
        "args": {key: " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
                 for key, value in vars(args).items()}, "history": history,
    }  # fmt: skip

    def elapsed() -> dict:
        minutes = round((time.monotonic() - start) / 60, 1)
        return {"minutes": minutes, "minutes_total": round(minutes + sum(r["minutes"] for r in history), 1)}

    def run_stage(name: str, key: str, steps: int, lr: float, deadline: float, step_at) -> None:
        """``steps`` of ``step_at(lr)`` (cosine schedule) with EMA, checkpointed, stopped at ``deadline``."""
        losses = curves.setdefault(name, [])
        started = time.monotonic()
        for step in (bar := tqdm(range(steps), desc=key)):
            losses.append(step_at(cosine_lr(step, steps, lr, time_used(started, deadline))))
            trainer.update_ema(min(args.ema, (1 + step) / (10 + step)))
            bar.set_postfix(loss=f"{np.mean(losses[-100:]):.4f}")
            done = step + 1 == steps or time.monotonic() > deadline
            if done or (step + 1) % args.checkpoint_every == 0:
                stats.update({f"{key}_steps": step + 1, f"{key}_steps_planned": steps,
                              f"{key}_final_loss": float(np.mean(losses[-200:])),
                              **elapsed()})  # fmt: skip
                save(trainer, args.out, stats, curves)
            if done:
                break

    flow_end = 0.55 if args.distill_steps else 0.75
    run_stage("flow matching (MSE)", "flow", args.steps, args.lr, start + flow_end * budget,
              lambda lr: trainer.step(args.batch, lr))  # fmt: skip
    if args.distill_steps:
        teacher = copy.deepcopy(trainer.ema[0]).requires_grad_(False)
        stats["max_guidance"] = args.max_guidance
        run_stage("guidance distillation (MSE)", "distill", args.distill_steps, args.distill_lr,
                  start + 0.75 * budget,
                  lambda lr: trainer.distill_step(teacher, args.batch, lr, args.max_guidance))  # fmt: skip
    if args.decoder_steps:
        decoder_losses = finetune_decoder(
            pipe.vae, args.decoder_steps, args.batch, 1e-3, start + budget, args.seed, args.workers
        )
        curves["decoder fine-tune (weighted L1)"] = decoder_losses
        stats.update(
            decoder_steps=len(decoder_losses), decoder_final_loss=float(np.mean(decoder_losses[-50:]))
        )
        stats.update(elapsed())
        save(trainer, args.out, stats, curves)
    logger.info("saved %s: %s", args.out, json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

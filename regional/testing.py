"""Tiny, offline, deterministic pipelines of each family, built from the real diffusers/transformers classes.

Nothing is downloaded: the weights are random (seeded) and the tokenizers are built here from a small
word list with a character fallback. The geometry matches FLUX.1 and Chroma: an 8x VAE and 2x2 packing, so
one token covers 16x16 pixels, and the same layouts work on them and on the real models. They draw noise,
not pictures.
"""

from __future__ import annotations

import string

import torch
from diffusers import (
    AutoencoderKL,
    ChromaTransformer2DModel,
    FlowMatchEulerDiscreteScheduler,
    FluxTransformer2DModel,
)
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
    T5Config,
    T5EncoderModel,
)

from regional.raster import TOKEN_PX

TINY_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "and",
    "with",
    "on",
    "in",
    "at",
    "to",
    "from",
    "by",
    "under",
    "over",
    "above",
    "below",
    "behind",
    "beside",
    "next",
    "near",
    "left",
    "right",
    "top",
    "bottom",
    "center",
    "centre",
    "middle",
    "corner",
    "background",
    "foreground",
    "front",
    "back",
    "upper",
    "lower",
    "side",
    "small",
    "large",
    "big",
    "tiny",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
    "grey",
    "gold",
    "silver",
    "dark",
    "light",
    "bright",
    "circle",
    "square",
    "triangle",
    "star",
    "heart",
    "cross",
    "ring",
    "disc",
    "box",
    "ball",
    "cube",
    "car",
    "truck",
    "bus",
    "bike",
    "boat",
    "plane",
    "train",
    "fox",
    "cat",
    "dog",
    "bird",
    "horse",
    "cow",
    "sheep",
    "fish",
    "tree",
    "flower",
    "house",
    "cabin",
    "castle",
    "mountain",
    "river",
    "lake",
    "sea",
    "sky",
    "sun",
    "moon",
    "cloud",
    "snow",
    "grass",
    "road",
    "city",
    "street",
    "person",
    "man",
    "woman",
    "child",
    "chair",
    "table",
    "cup",
    "bottle",
    "lamp",
    "book",
    "apple",
    "banana",
    "photo",
    "picture",
    "painting",
    "scene",
    "image",
    "landscape",
    "night",
    "day",
    "lights",
    "northern",
    "snowy",
    "sunny",
    "rainy",
    "wooden",
    "stone",
    "old",
    "new",
]


def _tokenizer(
    specials: list[str],
    template: str,
    max_length: int,
    roles: dict[str, str] | None = None,
    words: tuple[str, ...] = (),
    **options,
) -> PreTrainedTokenizerFast:
    """A Unigram tokenizer: known words (``TINY_WORDS`` and ``words``) are one token, anything else falls back
    to characters. ``roles`` maps special tokens to their role (default: T5's and CLIP's names); other specials
    are additional special tokens; ``options`` go to ``PreTrainedTokenizerFast`` (a chat template)."""
    chars = [c for c in string.printable if not c.isspace()]
    scores = {token: 0.0 for token in specials}
    for piece, score in (
        [("\u2581", -5.0)] + [(c, -10.0) for c in chars] + [("\u2581" + c, -9.0) for c in chars]
    ):
        scores[piece] = score
    scores.update({"\u2581" + word: -1.0 for word in (*TINY_WORDS, *words)})
    vocab = list(scores.items())
    unk = specials.index("<unk>")
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    ids = {name: specials.index(name) for name in specials}
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(name, ids[name]) for name in specials if name in template]
    )
    roles = roles or {"<pad>": "pad_token", "<unk>": "unk_token", "</s>": "eos_token", "<s>": "bos_token"}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=max_length,
        additional_special_tokens=[s for s in specials if s not in roles] or None,
        **{roles[s]: s for s in specials if s in roles},
        **options,
    )


def tiny_t5_tokenizer() -> PreTrainedTokenizerFast:
    """A T5-like tokenizer with max length 512."""
    return _tokenizer(["<pad>", "</s>", "<unk>"], "$A </s>", 512)


QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}"
    "{% else %}{% for part in message.content %}{{ part.text }}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
"""Qwen3's chat template, reduced to what the pipelines use (turns of text, given as a string or as a list of
text parts, the assistant's opening, thinking off)."""


def tiny_qwen_tokenizer(words: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """A Qwen-like tokenizer: ``<|endoftext|>`` pads, no EOS appended, the chat template above (its roles are
    words); ``words`` known besides ``TINY_WORDS``. Its limit of 128 tokens (the pipelines encode min(their
    default, the tokenizer's limit)) keeps the tiny FLUX.2 text encoders of 27 and 30 layers cheap; the real
    ones encode 512."""
    specials = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    roles = {"<|endoftext|>": "pad_token", "<unk>": "unk_token", "<|im_end|>": "eos_token"}
    roles_words = ("system", "user", "assistant")
    return _tokenizer(specials, "$A", 128, roles, (*roles_words, *words), chat_template=QWEN_CHAT_TEMPLATE)


def word_tokenizer(max_length: int = 512) -> PreTrainedTokenizerFast:
    """One token per word, punctuation mark or newline, known or not, T5's EOS appended, and the chat template
    above: for counting, a prompt costs its words in any family's template (``regional bench cost``; real
    tokenizers give about 1.3 tokens a word, and split templates as this one does)."""
    specials = ["<pad>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    tok = Tokenizer(models.WordLevel({token: i for i, token in enumerate(specials)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(" ", "removed"), pre_tokenizers.Split(Regex(r"\n|[[:punct:]]"), "isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=max_length,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=specials[3:],
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def tiny_tokenizers() -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
    """(CLIP-like tokenizer with max length 77, T5-like tokenizer with max length 512)."""
    clip = _tokenizer(["<pad>", "<unk>", "<s>", "</s>"], "<s> $A </s>", 77)
    return clip, tiny_t5_tokenizer()


def flux_vae(
    block_out_channels: tuple[int, ...], latent_channels: int, norm_num_groups: int, **config
) -> AutoencoderKL:
    """An AutoencoderKL with FLUX.1's geometry (4 blocks: 8x down, so one 2x2-packed token is 16 px), no
    quant convs, at the given widths (random weights)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=block_out_channels,
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=norm_num_groups,
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        **config,
    )


def tiny_t5_encoder(
    tokenizer, dim: int = 32, ff: int = 37, head_dim: int = 8, buckets: int = 8
) -> T5EncoderModel:
    """A 2-layer T5 encoder of width ``dim`` for ``tokenizer`` (random weights)."""
    return T5EncoderModel(
        T5Config(
            vocab_size=tokenizer.vocab_size,
            d_model=dim,
            d_kv=head_dim,
            d_ff=ff,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=buckets,
            dropout_rate=0.0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def tiny_text_encoders(
    clip_tokenizer, t5_tokenizer, dim: int = 32, ff: int = 37, t5_head_dim: int = 8, t5_buckets: int = 8,
    t5_dim: int | None = None,
) -> tuple[CLIPTextModel, T5EncoderModel]:  # fmt: skip
    """A 2-layer CLIP text model of width ``dim`` and T5 encoder of width ``t5_dim`` (default ``dim``) for
    the given tokenizers (random weights)."""
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=clip_tokenizer.vocab_size,
            hidden_size=dim,
            intermediate_size=ff,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=dim,
            max_position_embeddings=77,
            bos_token_id=clip_tokenizer.bos_token_id,
            eos_token_id=clip_tokenizer.eos_token_id,
            pad_token_id=clip_tokenizer.pad_token_id,
        )
    )
    t5 = tiny_t5_encoder(t5_tokenizer, t5_dim or dim, ff, t5_head_dim, t5_buckets)
    return clip, t5


def tiny_flux_components(seed: int = 0, guidance_embeds: bool = True, **transformer_config) -> dict:
    """Components of a FluxPipeline at toy sizes, weights drawn from ``seed``, all in eval mode.

    ``transformer_config`` overrides FluxTransformer2DModel arguments (e.g. a wider model for benchmarks).
    """

    clip_tokenizer, t5_tokenizer = tiny_tokenizers()
    torch.manual_seed(seed)
    config = {
        "patch_size": 1,
        "in_channels": 16,
        "num_layers": 2,
        "num_single_layers": 4,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 32,
        "pooled_projection_dim": 32,
        "axes_dims_rope": (4, 4, 8),
        "guidance_embeds": guidance_embeds,
    }
    transformer = FluxTransformer2DModel(**{**config, **transformer_config})
    text_encoder, text_encoder_2 = tiny_text_encoders(clip_tokenizer, t5_tokenizer)
    vae = flux_vae(
        (8, 8, 8, 8), latent_channels=4, norm_num_groups=4, scaling_factor=1.5035, shift_factor=0.0609
    )
    for module in (transformer, text_encoder, text_encoder_2, vae):
        module.eval()
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": clip_tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": t5_tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
    }


def tiny_flux_pipeline(seed: int = 0, guidance_embeds: bool = True):
    """A ``RegionalFluxPipeline`` on CPU in float32 with tiny random weights: offline and deterministic.

    ``guidance_embeds=False`` gives a schnell-like model (no guidance embedding).
    """
    from regional.families.flux import RegionalFluxPipeline

    pipe = RegionalFluxPipeline(**tiny_flux_components(seed, guidance_embeds))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux_controlnet(seed: int = 0, num_mode: int | None = None, guidance_embeds: bool = True):
    """A ``FluxControlNetModel`` for the tiny FLUX pipeline (1 double, 2 single blocks), weights drawn from
    ``seed``; ``num_mode`` makes it a union ControlNet. A ControlNet's output projections start at zero (it
    learns to add control); here they are drawn too, so that the tiny one acts."""
    from diffusers import FluxControlNetModel

    torch.manual_seed(seed)
    controlnet = FluxControlNetModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
        guidance_embeds=guidance_embeds,
        num_mode=num_mode,
    )
    for layer in (*controlnet.controlnet_blocks, *controlnet.controlnet_single_blocks):
        torch.nn.init.normal_(layer.weight, std=0.5)
    torch.nn.init.normal_(controlnet.controlnet_x_embedder.weight, std=0.5)
    return controlnet.eval()


def tiny_flux_control_pipeline(seed: int = 0):
    """A ``RegionalFluxControlPipeline`` (a Control model: the transformer takes the control image's latents
    concatenated to its input) at the tiny FLUX pipeline's sizes, CPU float32, weights drawn from ``seed``."""
    from regional.families.flux import RegionalFluxControlPipeline

    components = tiny_flux_components(seed, in_channels=32, out_channels=16)
    pipe = RegionalFluxControlPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_flux_lora(path, seed: int = 0, rank: int = 4) -> None:
    """Write a LoRA for the tiny FLUX pipeline's transformer (attention projections, weights drawn from
    ``seed``, B not zero so it acts) to ``path`` in diffusers' format, loadable with ``load_lora_weights``."""
    from diffusers import FluxPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = tiny_flux_components(seed)["transformer"]  # a throwaway copy: the LoRA's carrier
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False
    )
    transformer.add_adapter(config)
    FluxPipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(transformer))


def tiny_sd3_components(seed: int = 0) -> dict:
    """Components of a StableDiffusion3Pipeline at toy sizes (two CLIP text models with projection, T5, a
    3-block MMDiT whose second block has SD3.5 Medium's dual attention, QK RMS norms), weights drawn from
    ``seed``, all in eval mode. One token per 16 px and 16 latent channels, as SD3.5: an 8x VAE and 2 x 2
    patches."""
    from diffusers import SD3Transformer2DModel
    from transformers import CLIPTextModelWithProjection

    clip_tokenizer, t5_tokenizer = tiny_tokenizers()
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,
        num_layers=3,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=64,
        caption_projection_dim=32,
        pooled_projection_dim=64,
        out_channels=16,
        pos_embed_max_size=32,
        dual_attention_layers=(1,),
        qk_norm="rms_norm",
    )

    def clip() -> CLIPTextModelWithProjection:
        return CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=clip_tokenizer.vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, projection_dim=32, max_position_embeddings=77,
                bos_token_id=clip_tokenizer.bos_token_id, eos_token_id=clip_tokenizer.eos_token_id,
                pad_token_id=clip_tokenizer.pad_token_id,
            )
        )  # fmt: skip

    text_encoder, text_encoder_2 = clip(), clip()
    text_encoder_3 = tiny_t5_encoder(t5_tokenizer, dim=64)
    vae = flux_vae(
        (8, 8, 8, 8), latent_channels=16, norm_num_groups=4, scaling_factor=1.5305, shift_factor=0.0609
    )
    for module in (transformer, text_encoder, text_encoder_2, text_encoder_3, vae):
        module.eval()
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": clip_tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": clip_tokenizer,
        "text_encoder_3": text_encoder_3,
        "tokenizer_3": t5_tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
    }


def tiny_sd3_controlnet(seed: int = 0, with_text: bool = True):
    """An ``SD3ControlNetModel`` for the tiny SD3 pipeline (2 blocks), weights drawn from ``seed``:
    ``with_text`` an InstantX-style one (joint blocks reading the prompt, zero pooled projections), else an
    SD3.5-style one (image-only blocks, no text). Its zero-initialised output projections are drawn too, so
    that the tiny one acts."""
    from diffusers.models.controlnets.controlnet_sd3 import SD3ControlNetModel

    torch.manual_seed(seed)
    controlnet = SD3ControlNetModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=64 if with_text else None,
        caption_projection_dim=32,
        pooled_projection_dim=64,
        out_channels=16,
        pos_embed_max_size=32,
        qk_norm="rms_norm",
        force_zeros_for_pooled_projection=with_text,
    )
    for layer in controlnet.controlnet_blocks:
        torch.nn.init.normal_(layer.weight, std=0.5)
    torch.nn.init.normal_(controlnet.pos_embed_input.proj.weight, std=0.5)
    return controlnet.eval()


def tiny_sd3_pipeline(seed: int = 0):
    """A ``RegionalStableDiffusion3Pipeline`` on CPU in float32 with tiny random weights."""
    from regional.families.sd3 import RegionalStableDiffusion3Pipeline

    pipe = RegionalStableDiffusion3Pipeline(**tiny_sd3_components(seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def token_grid(latents: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Latents -> (batch, height / 16, width / 16, channels): one cell per 16x16-pixel token, for checks region
    by region. Packed latents (batch, tokens, channels) as FLUX.1's, or unpacked (batch, channels, height / 8,
    width / 8) as SD3's, whose transformer makes one token of each 2 x 2 patch."""
    rows, columns = height // TOKEN_PX, width // TOKEN_PX
    if latents.ndim == 4:
        patches = latents.reshape(latents.shape[0], latents.shape[1], rows, 2, columns, 2)
        return patches.permute(0, 2, 4, 1, 3, 5).reshape(latents.shape[0], rows, columns, -1)
    return latents.reshape(latents.shape[0], rows, columns, -1)


def tiny_chroma_components(seed: int = 0) -> dict:
    """Components of a ChromaPipeline at the tiny FLUX pipeline's sizes (T5 only), weights drawn from
    ``seed``, all in eval mode."""
    tokenizer = tiny_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=2,
        num_single_layers=4,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=(4, 4, 8),
        approximator_num_channels=16,
        approximator_hidden_dim=32,
        approximator_layers=1,
    )
    text_encoder = tiny_t5_encoder(tokenizer)
    vae = flux_vae(
        (8, 8, 8, 8), latent_channels=4, norm_num_groups=4, scaling_factor=1.5035, shift_factor=0.0609
    )
    for module in (transformer, text_encoder, vae):
        module.eval()
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        "image_encoder": None,
        "feature_extractor": None,
    }


def tiny_chroma_pipeline(seed: int = 0):
    """A ``RegionalChromaPipeline`` on CPU in float32 with tiny random weights: offline and deterministic."""
    from regional.families.chroma import RegionalChromaPipeline

    pipe = RegionalChromaPipeline(**tiny_chroma_components(seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux2_image_models(guidance_embeds: bool) -> dict:
    """A 2 + 4 block FLUX.2 transformer for a text width of 48 (three stacked hidden states of 16) and FLUX.2's
    VAE with its latent batch norm (random statistics), weights drawn from torch's current seed."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel  # diffusers >= 0.36

    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=2,
        num_single_layers=4,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=48,
        timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=guidance_embeds,
    )
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    vae.bn.running_mean.normal_(std=0.5)
    vae.bn.running_var.uniform_(0.5, 2.0)
    return {
        "transformer": transformer.eval(),
        "vae": vae.eval(),
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
    }


def tiny_flux2_klein_components(seed: int = 0, is_distilled: bool = True) -> dict:
    """Components of a Flux2KleinPipeline: the tiny FLUX.2 transformer and VAE, and a 27-layer Qwen3 text
    encoder of width 16 (the pipeline stacks layers 9, 18 and 27), weights drawn from ``seed``."""
    tokenizer = tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    image_models = tiny_flux2_image_models(guidance_embeds=False)
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=27,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=1024,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return {
        **image_models,
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "is_distilled": is_distilled,
    }


def tiny_flux2_dev_pipeline(seed: int = 0):
    """A ``RegionalFlux2Pipeline`` (FLUX.2 [dev]: guidance embedding) on CPU in float32: the tiny FLUX.2
    transformer and VAE, and a 30-layer Mistral 3 text encoder of width 16 (the pipeline stacks layers 10, 20
    and 30) with a one-layer Pixtral vision tower it never runs; its "processor" is the tiny chat tokenizer,
    which knows the words of FLUX.2's system message (about 30 tokens, as in Mistral's tokenizer)."""
    from diffusers.pipelines.flux2.system_messages import SYSTEM_MESSAGE
    from transformers import (
        Mistral3Config,
        Mistral3ForConditionalGeneration,
        MistralConfig,
        PixtralVisionConfig,
    )

    from regional.families.flux2 import RegionalFlux2Pipeline

    tokenizer = tiny_qwen_tokenizer(words=tuple(SYSTEM_MESSAGE.replace(",", " ").replace(".", " ").split()))
    torch.manual_seed(seed)
    image_models = tiny_flux2_image_models(guidance_embeds=True)
    vision = PixtralVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, head_dim=8,
        image_size=32, patch_size=16,
    )  # fmt: skip
    text = MistralConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=30,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    config = Mistral3Config(vision_config=vision, text_config=text, image_token_index=tokenizer.unk_token_id)
    text_encoder = Mistral3ForConditionalGeneration(config).eval()
    pipe = RegionalFlux2Pipeline(**image_models, text_encoder=text_encoder, tokenizer=tokenizer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux2_klein_pipeline(seed: int = 0, is_distilled: bool = True):
    """A ``RegionalFlux2KleinPipeline`` on CPU in float32 with tiny random weights: step-distilled like
    FLUX.2 [klein] (4 steps, no guidance), or the undistilled [klein] base (classifier-free guidance)."""
    from regional.families.flux2 import RegionalFlux2KleinPipeline

    pipe = RegionalFlux2KleinPipeline(**tiny_flux2_klein_components(seed, is_distilled))
    pipe.set_progress_bar_config(disable=True)
    return pipe


QWEN_IMAGE_TEMPLATE_WORDS = (
    "system Describe the image by detailing the color shape size texture quantity text spatial relationships of "
    "objects and background user assistant"
)
"""The words of QwenImagePipeline's prompt template (a system turn asking for a detailed description)."""


def tiny_qwen_image_tokenizer() -> PreTrainedTokenizerFast:
    """A tokenizer that splits as Qwen2's does (a word with its leading space, a punctuation mark, a newline),
    each piece one token when known (``TINY_WORDS`` and the words of QwenImagePipeline's prompt template), else
    its characters; no EOS appended. So the template's system prefix is 34 tokens, as with Qwen2's real
    tokenizer, and the stock pipeline drops exactly it (``prompt_template_encode_start_idx``)."""
    specials = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>"]
    words = {*TINY_WORDS, *QWEN_IMAGE_TEMPLATE_WORDS.split()}
    scores = {token: 0.0 for token in specials}
    for c in string.printable:
        if not c.isspace():
            scores[c], scores[" " + c] = -10.0, -9.0
    scores.update({"\n": -1.0, " ": -5.0})
    for word in words:
        scores[word] = scores[" " + word] = -1.0
    tok = Tokenizer(models.Unigram(list(scores.items()), unk_id=specials.index("<unk>"), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n| ?[^\s[:punct:]]+| ?[[:punct:]]| +"), "isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=1024,
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )


def tiny_qwen_image_pipeline(seed: int = 0):
    """A ``RegionalQwenImagePipeline`` on CPU in float32 with tiny random weights: a 2-block Qwen-Image
    transformer, its video VAE (8x, one frame) and a 2-layer Qwen2.5-VL text encoder of width 16 with a
    one-block vision tower it never runs."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from regional.families.qwenimage import RegionalQwenImagePipeline

    tokenizer = tiny_qwen_image_tokenizer()
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=16, axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=4, dim_mult=[1, 2, 4, 4], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    text = {
        "vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048,
        "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        "bos_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
    }  # fmt: skip
    vision = {"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16}
    text_encoder = Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(text_config=text, vision_config=vision)
    )
    pipe = RegionalQwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        transformer=transformer.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe

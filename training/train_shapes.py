"""Rebuild the built-in ``shapes`` text-to-image model from scratch on the CPU.

    .venv/bin/python training/train_shapes.py [--model shapes2] [--seed N] [--threads 2] [--out DIR]

Stages: (1) train a small AutoencoderKL on procedural pictures, (2) freeze it and cache the
latents of a class-balanced dataset, (3) train the UNet and a small CLIP text encoder
together on those latents with v-prediction on a zero-terminal-SNR schedule and caption
dropout, keeping an EMA of both. The result is written as a stock diffusers Stable
Diffusion folder, atomically, with ``training.json`` recording how it was made.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes_data import all_scenes, make_dataset

REPO = Path(__file__).resolve().parent.parent
BUILTIN = REPO / "src" / "dgenerate" / "models" / "builtin"
TOKENIZER = BUILTIN / "shapes" / "tokenizer"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter that shapes the weights; recorded in training.json."""

    image_size: int = 64
    vae_channels: tuple[int, ...] = (16, 16, 32, 64)
    vae_groups: int = 8
    latent_channels: int = 4
    vae_images: int = 6000
    vae_steps: int = 2000
    vae_batch: int = 32
    vae_lr: float = 3e-3
    vae_kl_weight: float = 1e-6
    vae_crop: int = 32
    vae_sample: bool = False
    latent_images: int = 5040
    unet_channels: tuple[int, ...] = (32, 64)
    unet_groups: int = 16
    unet_head_dim: int = 8
    cross_attention: bool = False
    text_hidden: int = 32
    text_layers: int = 2
    text_heads: int = 2
    unet_steps: int = 6000
    unet_batch: int = 64
    unet_lr: float = 2e-3
    text_lr: float = 1e-2
    caption_dropout: float = 0.1
    ema_decay: float = 0.995
    warmup_steps: int = 100
    shuffle_max: float = 0.0
    shuffle_from: int = 1000


# shapes: the first built-in model. shapes2: a VAE of scale factor 4 (16x16 latents, sharper edges and truer
# colours) and four times the latents, so that it follows its prompts without guidance and varies with the seed as
# its data does.
RECIPES = {
    "shapes": Recipe(),
    "shapes2": Recipe(vae_channels=(16, 32, 64), vae_steps=3000, unet_steps=10000, latent_images=20160),
}
SHIPPED_THREADS = {"shapes": 1, "shapes2": 2}


def set_determinism(seed: int, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def build_vae(recipe: Recipe) -> AutoencoderKL:
    levels = len(recipe.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=recipe.vae_channels,
        layers_per_block=1,
        latent_channels=recipe.latent_channels,
        norm_num_groups=recipe.vae_groups,
        sample_size=recipe.image_size,
    )


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1.0 + float(np.cos(np.pi * progress)))


def crop(batch: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """One random crop for the whole batch: the VAE is convolutional, so small crops train it cheaply."""
    if not recipe.vae_crop or recipe.vae_crop >= batch.shape[-1]:
        return batch
    cell = 2 ** (len(recipe.vae_channels) - 1)
    top, left = (
        int(v) * cell
        for v in torch.randint(0, (batch.shape[-1] - recipe.vae_crop) // cell + 1, (2,), generator=generator)
    )
    return batch[:, :, top : top + recipe.vae_crop, left : left + recipe.vae_crop]


def train_vae(recipe: Recipe, seed: int, log: list[str]) -> tuple[AutoencoderKL, float]:
    images = to_tensor(make_dataset(recipe.vae_images, seed + 1, recipe.image_size)[0])
    vae = build_vae(recipe)
    optimiser = torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed + 2)
    loss_value = float("nan")
    for step in range(recipe.vae_steps):
        for group in optimiser.param_groups:
            group["lr"] = recipe.vae_lr * lr_factor(step, recipe.vae_steps, recipe.warmup_steps)
        batch = crop(images[torch.randint(0, len(images), (recipe.vae_batch,), generator=generator)], recipe, generator)
        posterior = vae.encode(batch).latent_dist
        latents = posterior.mean
        if recipe.vae_sample:
            latents = latents + posterior.std * torch.randn(latents.shape, generator=generator)
        reconstruction = vae.decode(latents).sample
        rec_loss = F.mse_loss(reconstruction, batch)
        loss = rec_loss + recipe.vae_kl_weight * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        loss_value = 0.98 * loss_value + 0.02 * rec_loss.item() if step else rec_loss.item()
        if step % 100 == 0 or step == recipe.vae_steps - 1:
            log.append(f"vae step {step} mse {loss_value:.5f}")
            print(log[-1], flush=True)
    return vae.eval().requires_grad_(False), loss_value


@torch.no_grad()
def make_encoder_deterministic(vae: AutoencoderKL) -> None:
    """Pin the posterior's log-variance at its floor (-30), so ``latent_dist.sample()`` equals its mean.

    The VAE is trained as a plain autoencoder on the posterior mean; its untrained log-variance
    would otherwise add unit noise when img2img and inpainting pipelines sample the posterior.
    """
    channels = vae.config.latent_channels
    vae.quant_conv.weight[channels:] = 0.0
    vae.quant_conv.bias[channels:] = -30.0


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: np.ndarray) -> torch.Tensor:
    chunks = [vae.encode(to_tensor(images[i : i + 256])).latent_dist.mean for i in range(0, len(images), 256)]
    return torch.cat(chunks)


def build_text_encoder(recipe: Recipe) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=recipe.text_hidden,
        intermediate_size=recipe.text_hidden * 4,
        projection_dim=recipe.text_hidden,
        num_hidden_layers=recipe.text_layers,
        num_attention_heads=recipe.text_heads,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config)


def build_unet(recipe: Recipe, latent_size: int) -> UNet2DConditionModel:
    """The caption reaches every resnet through attention-pooled text added to the time embedding
    (scale-shift); cross-attention blocks are optional since every caption word is global here."""
    levels = len(recipe.unet_channels)
    blocks: dict[str, Any] = {
        "down_block_types": ("DownBlock2D",) * levels,
        "up_block_types": ("UpBlock2D",) * levels,
        "mid_block_type": "UNetMidBlock2D",
    }
    if recipe.cross_attention:
        blocks = {
            "down_block_types": ("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",),
            "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
        }
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=recipe.latent_channels,
        out_channels=recipe.latent_channels,
        **blocks,
        resnet_time_scale_shift="scale_shift",
        block_out_channels=recipe.unet_channels,
        layers_per_block=1,
        cross_attention_dim=recipe.text_hidden,
        attention_head_dim=recipe.unet_head_dim,
        norm_num_groups=recipe.unet_groups,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
    )


def build_scheduler() -> DDIMScheduler:
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
    )


def caption_ids(captions: list[str]) -> torch.Tensor:
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    tokens = tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    return tokens.input_ids


class Ema:
    """Exponential moving average of a module's parameters."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow: Any = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, live in zip(self.shadow.parameters(), module.parameters(), strict=True):
            average.lerp_(live, 1.0 - decay)


def diffusion_loss(
    unet: UNet2DConditionModel,
    noise_scheduler: DDPMScheduler,
    latents: torch.Tensor,
    context: torch.Tensor,
    noise: torch.Tensor,
    steps: torch.Tensor,
) -> torch.Tensor:
    noisy = noise_scheduler.add_noise(latents, noise, steps)
    target = noise_scheduler.get_velocity(latents, noise, steps)
    return F.mse_loss(unet(noisy, steps, context).sample, target)


def shuffle_captions(
    recipe: Recipe, which: torch.Tensor, steps: torch.Tensor, empty: int, generator: torch.Generator
) -> torch.Tensor:
    """Above timestep ``shuffle_from`` a caption is swapped for a random one with a chance rising linearly to
    ``shuffle_max`` at the noisiest step, so the conditional prediction there leans towards the unconditional one:
    guidance then acts weakly where a picture's layout is decided and fully where its colours and shape are."""
    span = max(1, 999 - recipe.shuffle_from)
    chance = recipe.shuffle_max * ((steps - recipe.shuffle_from).clamp(min=0) / span).clamp(max=1.0)
    swap = (torch.rand(len(which), generator=generator) < chance) & (which != empty)
    random = torch.randint(0, empty, (len(which),), generator=generator)
    return torch.where(swap, random, which)


def train_unet(
    recipe: Recipe, latents: torch.Tensor, scene_ids: torch.Tensor, seed: int, log: list[str]
) -> tuple[UNet2DConditionModel, CLIPTextModel, float]:
    captions = [scene.caption for scene in all_scenes()] + [""]
    ids = caption_ids(captions)
    empty = len(captions) - 1
    unet = build_unet(recipe, latents.shape[-1])
    text_encoder = build_text_encoder(recipe)
    noise_scheduler = DDPMScheduler.from_config(build_scheduler().config)
    optimiser = torch.optim.AdamW(
        [
            {"params": unet.parameters(), "lr": recipe.unet_lr, "base": recipe.unet_lr},
            {"params": text_encoder.parameters(), "lr": recipe.text_lr, "base": recipe.text_lr},
        ],
        weight_decay=0.0,
    )
    ema_unet, ema_text = Ema(unet, recipe.ema_decay), Ema(text_encoder, recipe.ema_decay)
    generator = torch.Generator().manual_seed(seed + 3)
    loss_value = float("nan")
    for step in range(recipe.unet_steps):
        factor = lr_factor(step, recipe.unet_steps, recipe.warmup_steps)
        for group in optimiser.param_groups:
            group["lr"] = group["base"] * factor
        pick = torch.randint(0, len(latents), (recipe.unet_batch,), generator=generator)
        drop = torch.rand(recipe.unet_batch, generator=generator) < recipe.caption_dropout
        which = torch.where(drop, torch.full_like(pick, empty), scene_ids[pick])
        noise = torch.randn(latents[pick].shape, generator=generator)
        steps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(pick),), generator=generator)
        if recipe.shuffle_max:
            which = shuffle_captions(recipe, which, steps, empty, generator)
        unique, inverse = torch.unique(which, return_inverse=True)
        states = text_encoder(ids[unique])[0][inverse]
        loss = diffusion_loss(unet, noise_scheduler, latents[pick], states, noise, steps)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*unet.parameters(), *text_encoder.parameters()], 1.0)
        optimiser.step()
        ema_unet.update(unet, step)
        ema_text.update(text_encoder, step)
        loss_value = 0.98 * loss_value + 0.02 * loss.item() if step else loss.item()
        if step % 100 == 0 or step == recipe.unet_steps - 1:
            log.append(f"unet step {step} loss {loss_value:.5f}")
            print(log[-1], flush=True)
    return ema_unet.shadow, ema_text.shadow, loss_value


def save_half(module: torch.nn.Module, folder: Path) -> None:
    """Store weights as float16 (measured: under one 8-bit level of difference in the pictures)
    while the configuration keeps saying float32, so a plain ``from_pretrained`` computes in float32."""
    half = copy.deepcopy(module)
    torch.nn.Module.to(half, torch.float16)
    half.save_pretrained(folder, safe_serialization=True)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("dtype", "torch_dtype"):
        if key in config:
            config[key] = "float32"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def save_folder(
    folder: Path, vae: AutoencoderKL, unet: UNet2DConditionModel, text_encoder: CLIPTextModel, scale: float
) -> None:
    vae.register_to_config(scaling_factor=scale)
    for name, module in (("vae", vae), ("unet", unet), ("text_encoder", text_encoder)):
        save_half(module, folder / name)
    build_scheduler().save_pretrained(folder / "scheduler")
    shutil.copytree(TOKENIZER, folder / "tokenizer")
    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": _version("diffusers"),
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2, sort_keys=True) + "\n")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def replace_atomically(staged: Path, target: Path) -> None:
    """Swap ``staged`` into ``target``; the old folder is removed only after the rename."""
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def build(recipe: Recipe, seed: int, out: Path, threads: int) -> dict[str, Any]:
    set_determinism(seed, threads)
    started, log = time.time(), list[str]()
    vae, vae_loss = train_vae(recipe, seed, log)
    make_encoder_deterministic(vae)
    vae_seconds = time.time() - started
    images, scene_ids, _ = make_dataset(recipe.latent_images, seed + 4, recipe.image_size)
    latents = encode_latents(vae, images)
    scale = float(1.0 / latents.std())
    unet, text_encoder, unet_loss = train_unet(recipe, latents * scale, torch.from_numpy(scene_ids), seed, log)
    record = {
        "seed": seed,
        "recipe": dataclasses.asdict(recipe),
        "vae_final_mse": vae_loss,
        "unet_final_loss": unet_loss,
        "latent_scaling_factor": scale,
        "vae_seconds": round(vae_seconds, 1),
        "wall_seconds": round(time.time() - started, 1),
        "torch_threads": threads,
        "versions": {name: _version(name) for name in ("torch", "diffusers", "transformers", "numpy")},
        "log": log,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".shapes-", dir=out.parent))
    staged.chmod(0o755)
    save_folder(staged, vae, unet, text_encoder, scale)
    (staged / "training.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    replace_atomically(staged, out)
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=tuple(RECIPES), default="shapes2",
                        help="which built-in model's recipe (shapes2; shapes is the first, kept for old configs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default: the shipped folder of --model")
    parser.add_argument("--threads", type=int, choices=(1, 2), help="torch threads; default: what the shipped "
                        "build used (shapes 1, shapes2 2), so that the same weights come out")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a Recipe field")
    return parser.parse_args(argv)


def recipe_from(overrides: list[str], model: str = "shapes2") -> Recipe:
    recipe = RECIPES[model]
    fields = {field.name: field for field in dataclasses.fields(Recipe)}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in fields:
            raise SystemExit(f"--set {item}: unknown recipe field {name!r}; known: {', '.join(fields)}")
        recipe = dataclasses.replace(recipe, **{name: json.loads(value)})
    return recipe


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out or BUILTIN / args.model
    threads = args.threads or SHIPPED_THREADS[args.model]
    record = build(recipe_from(args.set, args.model), args.seed, out.resolve(), threads)
    print(f"wrote {out} in {record['wall_seconds']} s", flush=True)


if __name__ == "__main__":
    main()

"""Full-size Flux, Stable Diffusion 3.5, FLUX.2 [klein], Qwen-Image and Z-Image on a GPU, through dgenerate, with and
without --offload.

Builds FLUX.1-dev's and SD 3.5 Large's architectures (transformer, T5-XXL, CLIP-L and for SD3.5 CLIP-G, their VAE),
FLUX.2 [klein] 4B's (5 double and 20 single blocks of width 3072, Qwen3-4B, its 32-channel VAE), Qwen-Image's (60
MMDiT blocks of width 3072, Qwen2.5-VL-7B with its vision tower, its causal VAE) and Z-Image's (30 single-stream
layers of width 3840, Qwen3-4B, Flux's VAE) with random bfloat16 weights, saves each as a diffusers folder, and
renders 1024x1024 with dgenerate's library API for each --offload mode (none, model, sequential), one model at a time.
It prints, per family and mode: the load and first image, an image once loaded, peak GPU memory over each, and how far
the image is from the one without offload (the same GPU and kernels: it should be 0 levels; dgenerate promises nothing
across offload modes beyond its one-level bound). The weights are random, so the images are noise: this measures time
and memory, not quality. The tokenizers are the tests' tiny ones (prompts are short; their ids are a prefix of the
real vocabularies).

Runs only where CUDA is present; elsewhere it says so and exits 0. `--tiny` builds the tests' tiny shapes instead,
which run on the CPU too (without offload there), to check the script itself here.

Usage, on a lent H100/H200 with the packages of scripts/device-wheels installed (README, Development):
    python3 benchmarks/gpu_families.py --folder /tmp/gpu-models [--families flux2 qwen-image z-image] [--steps 8]
        [--json out.json]
    .venv/bin/python benchmarks/gpu_families.py --tiny          # the script's own check, on this machine's CPU
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT

sys.path.insert(0, str(ROOT))

SIZE, TINY_SIZE = 1024, 64
MODES = ("none", "model", "sequential")


def _clip(hidden: int, layers: int, heads: int, intermediate: int, act: str) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=intermediate,
                          num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                          bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_act=act,
                          projection_dim=hidden)


def _t5_xxl(vocab_size: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=vocab_size, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
                                   num_heads=64, relative_attention_num_buckets=32, feed_forward_proj="gated-gelu",
                                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))


def _vae(shift_factor: float, scaling_factor: float) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
                         layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=1024,
                         use_quant_conv=False, use_post_quant_conv=False, shift_factor=shift_factor,
                         scaling_factor=scaling_factor)


def _flux() -> Any:
    """FLUX.1-dev: 19 double and 38 single blocks of width 3072 (12B), guidance-distilled; T5-XXL, CLIP-L."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from tests.tiny_flow_models import build_tiny_t5_tokenizer
    from transformers import CLIPTextModel

    tokenizer_2 = build_tiny_t5_tokenizer()
    return FluxPipeline(
        transformer=FluxTransformer2DModel(guidance_embeds=True), vae=_vae(0.1159, 0.3611),
        text_encoder=CLIPTextModel(_clip(768, 12, 12, 3072, "quick_gelu")), tokenizer=_clip_tokenizer(),
        text_encoder_2=_t5_xxl(32128), tokenizer_2=tokenizer_2,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                  base_image_seq_len=256, max_image_seq_len=4096))


def _sd35_large() -> Any:
    """Stable Diffusion 3.5 Large: 38 MMDiT blocks of width 2432 (8B) with RMS QK norm; CLIP-L, CLIP-G, T5-XXL."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from tests.tiny_flow_models import build_tiny_t5_tokenizer
    from transformers import CLIPTextModelWithProjection

    transformer = SD3Transformer2DModel(
        sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64, num_attention_heads=38,
        joint_attention_dim=4096, caption_projection_dim=2432, pooled_projection_dim=2048, out_channels=16,
        pos_embed_max_size=192, qk_norm="rms_norm")
    return StableDiffusion3Pipeline(
        transformer=transformer, vae=_vae(0.0609, 1.5305),
        text_encoder=CLIPTextModelWithProjection(_clip(768, 12, 12, 3072, "quick_gelu")), tokenizer=_clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(_clip(1280, 32, 20, 5120, "gelu")), tokenizer_2=_clip_tokenizer(),
        text_encoder_3=_t5_xxl(32128), tokenizer_3=build_tiny_t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))


def _qwen3_4b(vocab_size: int, causal_lm: bool) -> Any:
    """Qwen3-4B: 36 layers of width 2560, 32 query and 8 key-value heads of 128."""
    from transformers import Qwen3Config, Qwen3ForCausalLM, Qwen3Model

    config = Qwen3Config(vocab_size=vocab_size, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                         rope_theta=1_000_000.0, tie_word_embeddings=True)
    return Qwen3ForCausalLM(config) if causal_lm else Qwen3Model(config)


_QWEN_VOCAB = 151_936  # the Qwen tokenizers' vocabulary; the tiny one's ids are a prefix of it


def _flux2_klein() -> Any:
    """FLUX.2 [klein] 4B, not step-distilled: 5 double and 20 single blocks of 24 heads of 128; Qwen3-4B read at
    layers 9, 18 and 27 (7680 wide together)."""
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from tests.tiny_qwen_text import build_tiny_qwen_tokenizer

    transformer = Flux2Transformer2DModel(num_layers=5, num_single_layers=20, attention_head_dim=128,
                                          num_attention_heads=24, joint_attention_dim=7680, guidance_embeds=False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    return Flux2KleinPipeline(scheduler=scheduler, vae=AutoencoderKLFlux2(), text_encoder=_qwen3_4b(_QWEN_VOCAB, True),
                              tokenizer=build_tiny_qwen_tokenizer(), transformer=transformer, is_distilled=False)


def _qwen_image() -> Any:
    """Qwen-Image (20B): 60 MMDiT blocks of 24 heads of 128; Qwen2.5-VL-7B (28 layers of width 3584 and a 32-block
    vision tower); its causal VAE of base width 96."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from tests.tiny_qwen_text import SPECIAL, build_tiny_qwen_tokenizer
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = build_tiny_qwen_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL}
    text = {"vocab_size": _QWEN_VOCAB, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
            "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 128000,
            "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "rope_theta": 1_000_000.0}
    vision = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 3584,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
              "fullatt_block_indexes": [7, 15, 23, 31]}
    encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"]))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                                base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                                                time_shift_type="exponential")
    return QwenImagePipeline(scheduler=scheduler, vae=AutoencoderKLQwenImage(), text_encoder=encoder,
                             tokenizer=tokenizer, transformer=QwenImageTransformer2DModel())


def _z_image() -> Any:
    """Z-Image (6B): 30 single-stream layers of width 3840 (30 heads) and 2 refiner layers each side; Qwen3-4B read at
    its penultimate layer; Flux's VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from tests.tiny_qwen_text import build_tiny_qwen_tokenizer

    return ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=_vae(0.1159, 0.3611),
                          text_encoder=_qwen3_4b(_QWEN_VOCAB, False), tokenizer=build_tiny_qwen_tokenizer(),
                          transformer=ZImageTransformer2DModel())


FULL_SIZE: dict[str, Callable[[], Any]] = {"flux": lambda: _flux(), "sd3": lambda: _sd35_large(),
                                           "flux2": _flux2_klein, "qwen-image": _qwen_image, "z-image": _z_image}


def _tiny(family: str, folder: Path) -> None:
    from tests.tiny_flow_models import build_tiny_flux, build_tiny_sd3
    from tests.tiny_flux2 import build_tiny_flux2_klein
    from tests.tiny_qwen_image import build_tiny_qwen_image
    from tests.tiny_z_image import build_tiny_z_image

    builders: dict[str, Callable[[Path], Path]] = {
        "flux": build_tiny_flux, "sd3": build_tiny_sd3, "flux2": build_tiny_flux2_klein,
        "qwen-image": build_tiny_qwen_image, "z-image": build_tiny_z_image}
    builders[family](folder)


def _clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    from dgenerate.models.paths import builtin_tokenizer_path

    return CLIPTokenizer.from_pretrained(builtin_tokenizer_path())


def build(family: str, folder: Path, tiny: bool, device: str) -> tuple[Path, float]:
    """The family's pipeline saved in `folder`, built with random weights on `device` in bfloat16; and the seconds."""
    import torch

    start = time.perf_counter()
    if tiny:
        _tiny(family, folder)
        return folder, time.perf_counter() - start
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            pipeline = FULL_SIZE[family]()
    finally:
        torch.set_default_dtype(default)
    pipeline.to("cpu")  # safetensors writes from host memory
    pipeline.save_pretrained(folder)
    del pipeline
    return folder, time.perf_counter() - start


def _peak(device: str) -> Callable[[], float]:
    """Reset the device's peak memory count; the function returned reads it in GiB (0 on the CPU)."""
    import torch

    if not device.startswith("cuda"):
        return lambda: 0.0
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    return lambda: torch.cuda.max_memory_allocated() / 2**30


def _render(argv: list[str], out: Path, cache: Any, device: str) -> tuple[float, float, Path]:
    """Seconds, peak GiB, and the PNG of one dgenerate invocation making one image."""
    import torch

    from dgenerate.cli import parse_invocation
    from dgenerate.render.loop import render_with_jobs

    request = parse_invocation([*argv, "-o", str(out)])[0]
    peak = _peak(device)
    start = time.perf_counter()
    ((_, (png,)),) = render_with_jobs(request, cache, progress=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, peak(), png


def measure(family: str, model: Path, modes: list[str], steps: int, size: int, device: str,
            out: Path) -> list[dict[str, Any]]:
    """Per mode: a first image (load included), then another with the model loaded (seed 2), timed and measured."""
    import numpy as np
    from PIL import Image

    from dgenerate.models.cache import ModelCache

    cache, rows, reference = ModelCache(budget=1), [], None  # a budget of 1 byte: each mode's model replaces the last
    for mode in modes:
        argv = [str(model), "--device", device, "--dtype", "bfloat16", "--inference-steps", str(steps),
                "--output-size", str(size), "--prompts", "a red fox in the snow"]
        argv += [] if mode == "none" else ["--offload", mode]
        first, first_peak, _ = _render([*argv, "--seeds", "1"], out / f"{family}-{mode}-first", cache, device)
        then, then_peak, png = _render([*argv, "--seeds", "2"], out / f"{family}-{mode}", cache, device)
        pixels = np.asarray(Image.open(png), dtype=np.int16)
        reference = pixels if reference is None else reference
        rows.append({"family": family, "mode": mode, "steps": steps, "size": size,
                     "first_image_s": round(first, 2), "first_peak_gib": round(first_peak, 2),
                     "image_s": round(then, 2), "peak_gib": round(then_peak, 2),
                     "levels_from_first_mode": int(np.abs(pixels - reference).max()),
                     "blank": bool(pixels.min() == pixels.max())})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| family | offload | load + first image s | peak GiB | image s | peak GiB | levels from the first mode |"]
    lines.append("|---" * 7 + "|")
    for row in rows:
        lines.append(f"| {row['family']} | {row['mode']} | {row['first_image_s']} | {row['first_peak_gib']} | "
                     f"{row['image_s']} | {row['peak_gib']} | {row['levels_from_first_mode']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny shapes (runs on the CPU too)")
    parser.add_argument("--families", nargs="+", choices=tuple(FULL_SIZE), default=list(FULL_SIZE))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--folder", type=Path, help="where the models are saved (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.tiny:
        print("gpu_families: no CUDA device here; nothing measured (--tiny checks the script on the CPU)")
        return 0
    modes = args.modes if device == "cuda" else ["none"]
    if device == "cuda":
        print(f"gpu_families: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    work = args.folder or Path(tempfile.mkdtemp(prefix="dgenerate-gpu-families-"))
    rows = []
    for family in args.families:
        folder, seconds = build(family, work / family, args.tiny, device)
        print(f"gpu_families: built {family} in {seconds:.1f} s", flush=True)
        rows += measure(family, folder, modes, args.steps, TINY_SIZE if args.tiny else SIZE, device, work / "out")
        shutil.rmtree(folder)  # a full-size family takes 25-35 GB of disk
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""dgenerate's speed options on a GPU: images per second plain, compiled, cached and quantized, peak memory, and the
share of the GPU's peak bfloat16 FLOP/s the denoising achieves.

Models, with random bfloat16 weights built in memory from their published architectures (no download):
  SD 1.5 at 512x512, 30 steps (the configuration dgenerate bundles for SD 1.x files)
  SDXL at 1024x1024, 30 steps (the bundled SDXL base configuration)
  Flux-schnell's architecture at 1024x1024, 4 steps (19 double and 38 single blocks of width 3072, no guidance
  embedding)
Prompts reach the pipelines as random embeddings, so the text encoders are not built: the figures are the denoiser's
and the VAE's. Each option is applied by dgenerate's own code (dgenerate.caching, dgenerate.models.quantize, and
torch.compile of the denoiser as --compile does); methods: --compile max-autotune-no-cudagraphs, --cache deepcache
(interval 3) for the UNets and first-block (threshold 0.12) for Flux, --quantize int8-dynamic. FLOPs are counted by
torch's FlopCounterMode over one plain image; the peak is the card's dense bfloat16 figure (H100/H200 SXM: 989
TFLOP/s). The weights are random, so the images are noise: this measures time and memory, not quality.

Runs only where CUDA is present; elsewhere it says so and exits 0. `--tiny` runs the tests' tiny shapes on the CPU, to
check the script itself.

    python3 benchmarks/gpu.py [--models sd15 sdxl flux-schnell] [--images 4] [--json out.json]
    .venv/bin/python benchmarks/gpu.py --tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0}
CONFIGS = ROOT / "src" / "dgenerate" / "models" / "configs"


def _sd(folder: str, tiny: bool) -> Any:
    import diffusers

    if tiny:
        from tests.tiny_models import build_tiny_sd, build_tiny_sdxl

        path = Path(__import__("tempfile").mkdtemp()) / folder
        (build_tiny_sdxl if folder == "sdxl-base" else build_tiny_sd)(path)
        return diffusers.DiffusionPipeline.from_pretrained(path, safety_checker=None)
    unet = diffusers.UNet2DConditionModel.from_config(diffusers.UNet2DConditionModel.load_config(CONFIGS / folder /
                                                                                                 "unet"))
    vae = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(CONFIGS / folder / "vae"))
    scheduler = diffusers.EulerDiscreteScheduler.from_config(
        diffusers.EulerDiscreteScheduler.load_config(CONFIGS / folder / "scheduler"))
    if folder == "sdxl-base":
        return diffusers.StableDiffusionXLPipeline(vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None,
                                                   tokenizer_2=None, unet=unet, scheduler=scheduler)
    return diffusers.StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)


def _flux_schnell(tiny: bool) -> Any:
    import diffusers

    if tiny:
        from tests.tiny_flow_models import build_tiny_flux

        path = Path(__import__("tempfile").mkdtemp()) / "flux"
        build_tiny_flux(path)
        return diffusers.FluxPipeline.from_pretrained(path)
    from benchmarks.gpu_families import _vae

    return diffusers.FluxPipeline(transformer=diffusers.FluxTransformer2DModel(guidance_embeds=False),
                                  vae=_vae(0.1159, 0.3611), text_encoder=None, tokenizer=None, text_encoder_2=None,
                                  tokenizer_2=None, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=1.0))


def _embeddings(model: str, pipeline: Any, device: str) -> dict[str, Any]:
    """Random prompt embeddings of the shapes the pipeline's text encoders give."""
    import torch

    generator = torch.Generator().manual_seed(0)

    def random(*shape: int) -> Any:
        return torch.randn(*shape, generator=generator).to(device, torch.bfloat16)

    if model == "flux-schnell":
        config = pipeline.transformer.config
        return {"prompt_embeds": random(1, 256, config.joint_attention_dim),
                "pooled_prompt_embeds": random(1, config.pooled_projection_dim)}
    width = pipeline.unet.config.cross_attention_dim
    inputs = {"prompt_embeds": random(1, 77, width), "negative_prompt_embeds": random(1, 77, width)}
    if model == "sdxl":
        config = pipeline.unet.config
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        inputs |= {"pooled_prompt_embeds": random(1, pooled), "negative_pooled_prompt_embeds": random(1, pooled)}
    return inputs


MODELS: dict[str, tuple[Callable[[bool], Any], int, int, str, str]] = {
    # name: (builder, size, steps, denoiser, the cache tried)
    "sd15": (lambda tiny: _sd("sd1", tiny), 512, 30, "unet", "deepcache;interval=3;branch=0;warmup=0"),
    "sdxl": (lambda tiny: _sd("sdxl-base", tiny), 1024, 30, "unet", "deepcache;interval=3;branch=0;warmup=0"),
    "flux-schnell": (_flux_schnell, 1024, 4, "transformer", "first-block;threshold=0.12"),
}
METHODS = ("plain", "compiled", "cached", "quantized")


def _run(pipeline: Any, inputs: dict[str, Any], cache: str | None, images: int) -> float:
    """Seconds per image over `images` images, each in its own call, after one not timed."""
    import torch

    from dgenerate.caching import cached_steps

    def one(seed: int) -> None:
        with cached_steps(getattr(pipeline, DENOISER[0]), cache) as clock:
            def on_step_end(*_args: Any) -> dict[str, Any]:
                if clock is not None:
                    clock.step_ended()
                return {}
            pipeline(**inputs, generator=torch.Generator().manual_seed(seed), callback_on_step_end=on_step_end)

    one(0)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for seed in range(1, images + 1):
        one(seed)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / images


DENOISER = ["unet"]


def _flops(pipeline: Any, inputs: dict[str, Any]) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        pipeline(**inputs, generator=torch.Generator().manual_seed(0))
    return float(counter.get_total_flops())


def measure(model: str, method: str, tiny: bool, device: str, images: int) -> dict[str, Any]:
    import torch

    from dgenerate.models.quantize import parse_quantize, quantize

    build, size, steps, denoiser, cache = MODELS[model]
    DENOISER[0] = denoiser
    dtype = torch.float32 if tiny else torch.bfloat16
    pipeline = build(tiny).to(device, dtype)
    pipeline.set_progress_bar_config(disable=True)
    size = 64 if tiny else size
    inputs = {**_embeddings(model, pipeline, device), "height": size, "width": size, "num_inference_steps": steps}
    inputs = {key: value.to(dtype) if hasattr(value, "to") else value for key, value in inputs.items()}
    if model == "flux-schnell":
        inputs["guidance_scale"] = 0.0
    if method == "quantized":
        quantize(pipeline, parse_quantize("int8-dynamic;parts=denoiser"), denoiser)
    if method == "compiled":
        getattr(pipeline, denoiser).compile(mode="max-autotune-no-cudagraphs")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    seconds = _run(pipeline, inputs, cache if method == "cached" else None, images)
    result = {"model": model, "method": method, "images_per_second": 1 / seconds, "seconds_per_image": seconds,
              "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if torch.cuda.is_available() else None}
    if method == "plain":
        result["flops_per_image"] = _flops(pipeline, inputs)
    del pipeline
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def _peak_tflops() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny shapes on the CPU: checks the script")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available() and not args.tiny:
        print("gpu.py: no CUDA device here; nothing measured (--tiny checks the script on the CPU)")
        return 0
    device, peak = ("cuda" if torch.cuda.is_available() else "cpu"), _peak_tflops()
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; peak bf16: {peak} TFLOP/s")
    print("| model | method | images/s | s/image | ratio | peak GiB | share of peak FLOP/s |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for model in args.models:
        flops = plain = None
        for method in args.methods:
            result = measure(model, method, args.tiny, device, args.images)
            results.append(result)
            flops = result.get("flops_per_image", flops)
            plain = plain or result["seconds_per_image"]
            share = f"{flops / result['seconds_per_image'] / (peak * 1e12):.1%}" if flops and peak else "n/a"
            memory = f"{result['peak_gib']:.1f}" if result["peak_gib"] is not None else "n/a"
            print(f"| {model} | {method} | {result['images_per_second']:.3f} | {result['seconds_per_image']:.3f} | "
                  f"{plain / result['seconds_per_image']:.2f} | {memory} | {share} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

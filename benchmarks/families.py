"""Every family through dgenerate against plain diffusers loops doing the same work: 2 prompts x 4 seeds, 20 steps,
batch 1, one thread, tiny random models (SD3 at 64x64, Flux and the ControlNet at 32x32 and 64x64; Chroma, Z-Image and
Qwen-Image and FLUX.2 [dev] from text at 32x32; Flux Kontext, Flux.2 [klein], Qwen-Image-Edit, InstructPix2Pix and SDXL
InstructPix2Pix editing an image seed;
the x4 upscaler from 32x24 to 128x96). The model is loaded before the clock starts on both sides (a warm-up image), so
the figures are the steady state of a long grid: what dgenerate adds per image (fresh schedulers and generators,
writing PNGs with their configs) over the floor, which only generates. Each side runs three times, interleaved; the
best of each is shown (5 with --repeats 5). Run it with nothing else busy.

Usage: .venv/bin/python benchmarks/families.py [--repeats N] [case ...]   (cases by name prefix; all by default)
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT

from dgenerate import render
from dgenerate.cli import parse_invocation
from dgenerate.models.cache import ModelCache

PROMPTS = ["a red circle on a blue background", "a yellow square on a black background"]
SEEDS = [1, 2, 3, 4]
STEPS = 20


def _models(folder: Path) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT))
    from PIL import Image, ImageDraw
    from tests.tiny_adapters import build_tiny_controlnet
    from tests.tiny_flow_models import build_tiny_flux, build_tiny_sd3
    from tests.tiny_models import build_tiny_sd

    paths = {"sd3": build_tiny_sd3(folder / "sd3"), "flux": build_tiny_flux(folder / "flux"),
             "sd": build_tiny_sd(folder / "sd")}
    paths["controlnet"] = build_tiny_controlnet(paths["sd"] / "unet", folder / "controlnet", seed=1)
    control = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(control).ellipse((16, 16, 48, 48), outline="white")
    control.save(folder / "control.png")
    paths["control"] = folder / "control.png"
    return {**paths, **_newer_models(folder, paths)}


def _newer_models(folder: Path, paths: dict[str, Path]) -> dict[str, Path]:
    from PIL import Image, ImageDraw
    from tests.tiny_chroma import build_tiny_chroma
    from tests.tiny_edit_models import build_tiny_pix2pix, build_tiny_sdxl_pix2pix, build_tiny_upscaler
    from tests.tiny_flow_models import build_tiny_flux_kontext
    from tests.tiny_flux2 import build_tiny_flux2_dev, build_tiny_flux2_klein
    from tests.tiny_models import build_tiny_sdxl
    from tests.tiny_qwen_image import build_tiny_qwen_edit, build_tiny_qwen_image
    from tests.tiny_z_image import build_tiny_z_image

    made = {"chroma": build_tiny_chroma(folder / "chroma"), "kontext": build_tiny_flux_kontext(folder / "kontext"),
            "flux2": build_tiny_flux2_klein(folder / "flux2"), "z-image": build_tiny_z_image(folder / "z-image"),
            "qwen-image": build_tiny_qwen_image(folder / "qwen-image"),
            "qwen-edit": build_tiny_qwen_edit(folder / "qwen-edit"),
            "flux2-dev": build_tiny_flux2_dev(folder / "flux2-dev"),
            "pix2pix": build_tiny_pix2pix(folder / "pix2pix", paths["sd"]),
            "sdxl-pix2pix": build_tiny_sdxl_pix2pix(folder / "sdxl-pix2pix", build_tiny_sdxl(folder / "sdxl")),
            "upscaler": build_tiny_upscaler(folder / "upscaler", paths["sd"])}
    for name, size in (("photo", (64, 48)), ("photo96", (96, 64)), ("small", (32, 24))):
        photo = Image.new("RGB", size, "navy")
        ImageDraw.Draw(photo).ellipse((4, 4, size[0] // 2, size[1] - 4), fill="orange")
        photo.save(folder / f"{name}.png")
        made[name] = folder / f"{name}.png"
    return made


def _dgenerate(argv: list[str], out: Path, cache: ModelCache) -> Callable[[int], float]:
    """A run per attempt, each into a folder of its own (a folder holding the images would get numbered copies)."""

    def run(attempt: int) -> float:
        warm = parse_invocation([*argv, "--seeds", "99", "--prompts", PROMPTS[0], "-o", str(out / f"warm{attempt}")])
        render(warm[0], cache, progress=False)
        request = parse_invocation([*argv, "--seeds", *map(str, SEEDS), "--prompts", *PROMPTS, "-o",
                                    str(out / str(attempt))])[0]
        start = time.perf_counter()
        render(request, cache, progress=False)
        return time.perf_counter() - start

    return run


def _floor(pipeline: Any, **inputs: Any) -> Callable[[], float]:
    """dgenerate passes every pipeline that reads one the prompt's negative ("" when there is none): where a pipeline
    guides only when it is given one (Qwen-Image's true guidance), that is a second model pass, which the floor does
    too."""
    import inspect

    import torch

    if "negative_prompt" in inspect.signature(pipeline.__call__).parameters:
        inputs = {"negative_prompt": "", **inputs}

    def run() -> float:
        pipeline(prompt=PROMPTS[0], num_inference_steps=STEPS, generator=torch.Generator().manual_seed(99), **inputs)
        start = time.perf_counter()
        for prompt in PROMPTS:
            for seed in SEEDS:
                pipeline(prompt=prompt, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(seed),
                         **inputs).images[0]
        return time.perf_counter() - start

    return run


def _cases(paths: dict[str, Path], work: Path,
           cache: ModelCache) -> dict[str, tuple[Callable[[], float], Callable[[int], float]]]:
    import diffusers
    from PIL import Image

    common = ["--device", "cpu", "--cpu-threads", "1", "--inference-steps", str(STEPS), "--output-configs"]
    sd3 = diffusers.StableDiffusion3Pipeline.from_pretrained(paths["sd3"])
    flux = diffusers.FluxPipeline.from_pretrained(paths["flux"])
    sd = diffusers.StableDiffusionPipeline.from_pretrained(paths["sd"], safety_checker=None,
                                                           requires_safety_checker=False)
    controlled = diffusers.StableDiffusionControlNetPipeline.from_pipe(
        sd, controlnet=diffusers.ControlNetModel.from_pretrained(paths["controlnet"]))
    control = Image.open(paths["control"]).convert("RGB")
    for pipeline in (sd3, flux, controlled):
        pipeline.set_progress_bar_config(disable=True)
    return {**_newer_cases(paths, work, cache, common), **{
        "sd3 64x64": (_floor(sd3, height=64, width=64),
                      _dgenerate([str(paths["sd3"]), *common], work / "sd3", cache)),
        "flux 32x32": (_floor(flux, height=32, width=32),
                       _dgenerate([str(paths["flux"]), "-s", "32", *common], work / "flux", cache)),
        "flux 64x64": (_floor(flux, height=64, width=64),
                       _dgenerate([str(paths["flux"]), "-s", "64", *common], work / "flux64", cache)),
        "sd controlnet 64x64": (_floor(controlled, image=control, height=64, width=64),
                                _dgenerate([str(paths["sd"]), "--control-nets", str(paths["controlnet"]),
                                            "--image-seeds", str(paths["control"]), *common], work / "cn", cache)),
    }}


def _newer_cases(paths: dict[str, Path], work: Path, cache: ModelCache,
                 common: list[str]) -> dict[str, tuple[Callable[[], float], Callable[[int], float]]]:
    """The floor calls each pipeline as dgenerate resolves the job: the same size, the image already at that size,
    the same family arguments (Kontext's max_area, Qwen-Image's true guidance 4, the default image guidance and noise
    level)."""
    import diffusers
    from PIL import Image

    def load(class_name: str, name: str) -> Any:
        from dgenerate.models.paths import model_index
        from dgenerate.models.torchvision_free import loadable

        # the processors that need torchvision are loaded without it, as dgenerate does (a plain script must too)
        with loadable(paths[name], model_index(paths[name], name)) as (folder, parts):
            pipeline = getattr(diffusers, class_name).from_pretrained(folder, **parts)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    photo, photo96, small = (Image.open(paths[name]).convert("RGB") for name in ("photo", "photo96", "small"))
    seeded = [*common, "--image-seeds"]
    return {
        "chroma 32x32": (_floor(load("ChromaPipeline", "chroma"), height=32, width=32),
                         _dgenerate([str(paths["chroma"]), "-s", "32", *common], work / "chroma", cache)),
        "z-image 32x32": (_floor(load("ZImagePipeline", "z-image"), height=32, width=32),
                          _dgenerate([str(paths["z-image"]), "-s", "32", *common], work / "z-image", cache)),
        "qwen-image 32x32": (_floor(load("QwenImagePipeline", "qwen-image"), height=32, width=32, true_cfg_scale=4.0),
                             _dgenerate([str(paths["qwen-image"]), "-s", "32", *common], work / "qwen", cache)),
        "kontext edit 64x48": (_floor(load("FluxKontextPipeline", "kontext"), image=photo, height=48, width=64,
                                      max_area=64 * 48, _auto_resize=False),
                               _dgenerate([str(paths["kontext"]), *seeded, str(paths["photo"])], work / "kontext",
                                          cache)),
        "qwen edit 64x48": (_floor(load("QwenImageEditPipeline", "qwen-edit"), image=photo, height=48, width=64,
                                   true_cfg_scale=4.0),
                            _dgenerate([str(paths["qwen-edit"]), *seeded, str(paths["photo"])], work / "qwen-edit",
                                       cache)),
        "flux2-dev 32x32": (_floor(load("Flux2Pipeline", "flux2-dev"), height=32, width=32),
                            _dgenerate([str(paths["flux2-dev"]), "-s", "32", *common], work / "flux2-dev", cache)),
        "flux2 edit 96x64": (_floor(load("Flux2KleinPipeline", "flux2"), image=[photo96], height=64, width=96),
                             _dgenerate([str(paths["flux2"]), *seeded, str(paths["photo96"])], work / "flux2", cache)),
        "pix2pix edit 64x48": (_floor(load("StableDiffusionInstructPix2PixPipeline", "pix2pix"), image=photo),
                               _dgenerate([str(paths["pix2pix"]), *seeded, str(paths["photo"])], work / "pix2pix",
                                          cache)),
        "sdxl pix2pix 64x48": (_floor(load("StableDiffusionXLInstructPix2PixPipeline", "sdxl-pix2pix"), image=photo,
                                      height=48, width=64, original_size=(48, 64), target_size=(48, 64)),
                               _dgenerate([str(paths["sdxl-pix2pix"]), *seeded, str(paths["photo"])],
                                          work / "sdxl-pix2pix", cache)),
        "upscaler x4 32x24": (_floor(load("StableDiffusionUpscalePipeline", "upscaler"), image=small),
                              _dgenerate([str(paths["upscaler"]), *seeded, str(paths["small"])], work / "upscaler",
                                         cache)),
    }


def main() -> None:
    import argparse

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("cases", nargs="*", help="cases whose names start with these (all by default)")
    arguments = parser.parse_args()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="dgenerate-bench-families-") as folder:
        work = Path(folder)
        cases = {name: case for name, case in _cases(_models(work / "models"), work, ModelCache()).items()
                 if not arguments.cases or name.startswith(tuple(arguments.cases))}
        repeats = arguments.repeats
        print(f"{len(PROMPTS) * len(SEEDS)} images of {STEPS} steps each, one thread, best of {repeats} (interleaved)")
        print(f"{'case':<22}{'floor s':>9}{'dgenerate s':>13}{'ratio':>8}", flush=True)
        for name, (floor, ours) in cases.items():
            floors, mine = [], []
            for attempt in range(repeats):
                floors.append(floor())
                mine.append(ours(attempt))
            print(f"{name:<22}{min(floors):>9.2f}{min(mine):>13.2f}{min(mine) / min(floors):>8.3f}", flush=True)
    torch.set_num_threads(threads)



if __name__ == "__main__":
    main()

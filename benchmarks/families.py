"""Stable Diffusion 3, Flux and an SD ControlNet through dgenerate against plain diffusers loops doing the same work:
2 prompts x 4 seeds, 20 steps, batch 1, one thread, tiny random models (SD3 at 64x64, Flux and the ControlNet at
32x32 and 64x64). The model is loaded before the clock starts on both sides (a warm-up image), so the figures are the
steady state of a long grid: what dgenerate adds per image (fresh schedulers and generators, writing PNGs with their
configs) over the floor, which only generates. Each side runs three times, interleaved; the best of each is shown.
Run it with nothing else busy.

Usage: .venv/bin/python benchmarks/families.py
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
    return paths


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
    import torch

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
    return {
        "sd3 64x64": (_floor(sd3, height=64, width=64),
                      _dgenerate([str(paths["sd3"]), *common], work / "sd3", cache)),
        "flux 32x32": (_floor(flux, height=32, width=32),
                       _dgenerate([str(paths["flux"]), "-s", "32", *common], work / "flux", cache)),
        "flux 64x64": (_floor(flux, height=64, width=64),
                       _dgenerate([str(paths["flux"]), "-s", "64", *common], work / "flux64", cache)),
        "sd controlnet 64x64": (_floor(controlled, image=control, height=64, width=64),
                                _dgenerate([str(paths["sd"]), "--control-nets", str(paths["controlnet"]),
                                            "--image-seeds", str(paths["control"]), *common], work / "cn", cache)),
    }


def main() -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="dgenerate-bench-families-") as folder:
        work = Path(folder)
        cases = _cases(_models(work / "models"), work, ModelCache())
        print(f"{len(PROMPTS) * len(SEEDS)} images of {STEPS} steps each, one thread, best of 3 (interleaved)")
        print(f"{'case':<22}{'floor s':>9}{'dgenerate s':>13}{'ratio':>8}")
        for name, (floor, ours) in cases.items():
            floors, mine = [], []
            for attempt in range(3):
                floors.append(floor())
                mine.append(ours(attempt))
            print(f"{name:<22}{min(floors):>9.2f}{min(mine):>13.2f}{min(mine) / min(floors):>8.3f}")
    torch.set_num_threads(threads)



if __name__ == "__main__":
    main()

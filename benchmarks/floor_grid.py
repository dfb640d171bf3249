"""The floor: a minimal diffusers script doing the grid of benchmarks/grid.py, batch by batch, saving PNGs (with a
config text in each PNG and beside it when asked, as --output-configs --output-metadata write).

Usage: python benchmarks/floor_grid.py MODEL OUT_DIR BATCH_SIZE [SIZE STEPS METADATA]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from PIL.PngImagePlugin import PngInfo

PROMPTS = ["a red circle on a blue background", "a yellow square on a black background"]
SEEDS = [1, 2, 3, 4]
GUIDANCE = [5.0, 7.5]
STEPS = 20
SIZE = 64


def main() -> None:
    model, out, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    size, steps = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (SIZE, STEPS)
    metadata = len(sys.argv) > 6 and sys.argv[6] == "1"
    out.mkdir(parents=True, exist_ok=True)
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    for prompt, guidance in itertools.product(PROMPTS, GUIDANCE):
        for start in range(0, len(SEEDS), batch):
            seeds = SEEDS[start:start + batch]
            images = pipe(prompt=[prompt] * len(seeds), guidance_scale=guidance, num_inference_steps=steps,
                          width=size, height=size,
                          generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
            for seed, image in zip(seeds, images, strict=True):
                stem = out / f"{prompt[:12]}_{guidance}_{seed}"
                info = PngInfo()
                if metadata:
                    text = f"{model} --prompts '{prompt}' --seeds {seed} --guidance-scales {guidance}\n"
                    info.add_text("DgenerateConfig", text)
                    info.add_text("parameters", f"{prompt}\nSteps: {steps}, Seed: {seed}, CFG scale: {guidance}")
                    stem.with_suffix(".dgen").write_text(text)
                image.save(stem.with_suffix(".png"), pnginfo=info)


if __name__ == "__main__":
    main()

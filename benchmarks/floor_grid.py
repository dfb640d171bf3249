"""The floor: a minimal diffusers script doing the grid of benchmarks/grid.py, batch by batch, saving PNGs.

Usage: python benchmarks/floor_grid.py MODEL OUT_DIR BATCH_SIZE
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

PROMPTS = ["a red circle on a blue background", "a yellow square on a black background"]
SEEDS = [1, 2, 3, 4]
GUIDANCE = [5.0, 7.5]
STEPS = 20
SIZE = 64


def main() -> None:
    model, out, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    for prompt, guidance in itertools.product(PROMPTS, GUIDANCE):
        for start in range(0, len(SEEDS), batch):
            seeds = SEEDS[start:start + batch]
            images = pipe(prompt=[prompt] * len(seeds), guidance_scale=guidance, num_inference_steps=STEPS,
                          width=SIZE, height=SIZE,
                          generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
            for seed, image in zip(seeds, images, strict=True):
                image.save(out / f"{prompt[:12]}_{guidance}_{seed}.png")


if __name__ == "__main__":
    main()

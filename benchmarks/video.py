"""Video models: a grid of clips through dgenerate against a plain diffusers loop doing the same work, and peak memory
by clip length.

    .venv/bin/python benchmarks/video.py [--repeats 3] [--size 64] [--frames 9 33 81]

Time: the tests' tiny random Wan, 2 prompts x 2 seeds of 9-frame clips at 64x64, 10 steps, one thread, the model
loaded and warm on both sides; dgenerate also writes each clip as an MP4 and its frames as PNGs with its config, the
floor only generates. Sides interleaved, best of --repeats.

Memory: one clip of each --frames length at --size in a fresh process each, dgenerate and the plain pipeline, peak
resident memory (VmHWM). What a longer clip adds should be what the latents and the VAE's decode need on both sides:
the difference between the two columns should not grow with the frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

PROMPTS = ["a red circle on a blue background", "a yellow square on a black background"]
SEEDS = [1, 2]
STEPS = 10

_CHILD = r"""
import json, sys, torch
side, model, frames, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
if side == "dgenerate":
    from dgenerate import render
    from dgenerate.cli import parse_invocation
    request = parse_invocation([model, "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "4",
                                "--output-size", f"{size}x{size}", "--frames", str(frames), "--prompts", "a cat",
                                "--seeds", "1", "-o", sys.argv[5]])[0]
    render(request, progress=False)
else:
    from diffusers import WanPipeline
    pipeline = WanPipeline.from_pretrained(model)
    pipeline.set_progress_bar_config(disable=True)
    pipeline("a cat", negative_prompt="", height=size, width=size, num_frames=frames, num_inference_steps=4,
             generator=torch.Generator().manual_seed(1), output_type="pil")
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"peak_mib": peak / 1024}))
"""


def _model(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.tiny_wan import build_tiny_wan

    return build_tiny_wan(folder / "wan")


def _timings(model: Path, work: Path, repeats: int, size: int) -> tuple[float, float]:
    import torch
    from diffusers import WanPipeline

    from dgenerate import render
    from dgenerate.cli import parse_invocation
    from dgenerate.models.cache import ModelCache

    torch.set_num_threads(1)
    cache = ModelCache()
    argv = [str(model), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", str(STEPS), "--output-size",
            f"{size}x{size}", "--frames", "9", "--output-configs"]
    pipeline = WanPipeline.from_pretrained(model)
    pipeline.set_progress_bar_config(disable=True)

    def ours(attempt: int) -> float:
        render(parse_invocation([*argv, "--seeds", "99", "-o", str(work / f"warm{attempt}")])[0], cache,
               progress=False)
        request = parse_invocation([*argv, "--seeds", *map(str, SEEDS), "--prompts", *PROMPTS, "-o",
                                    str(work / str(attempt))])[0]
        start = time.perf_counter()
        render(request, cache, progress=False)
        return time.perf_counter() - start

    def floor() -> float:
        def clip(prompt: str, seed: int) -> list:
            return pipeline(prompt, negative_prompt="", height=size, width=size, num_frames=9,
                            num_inference_steps=STEPS, generator=torch.Generator().manual_seed(seed),
                            output_type="pil").frames[0]

        clip(PROMPTS[0], 99)
        start = time.perf_counter()
        for prompt in PROMPTS:
            for seed in SEEDS:
                clip(prompt, seed)
        return time.perf_counter() - start

    mine, plain = [], []
    for attempt in range(repeats):
        plain.append(floor())
        mine.append(ours(attempt))
    return min(mine), min(plain)


def _peak(side: str, model: Path, frames: int, size: int, out: Path) -> float:
    done = subprocess.run([sys.executable, "-c", _CHILD, side, str(model), str(frames), str(size), str(out)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, nargs="+", default=[9, 33, 81])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dgenerate-bench-video-") as folder:
        work = Path(folder)
        model = _model(work)
        mine, plain = _timings(model, work / "grid", args.repeats, 64)
        print(f"grid of {len(PROMPTS) * len(SEEDS)} clips, 9 frames at 64x64, {STEPS} steps, one thread, "
              f"best of {args.repeats}")
        print(f"dgenerate: {mine:.2f} s   plain diffusers: {plain:.2f} s   ratio: {mine / plain:.3f}")
        print(f"\npeak memory, one clip at {args.size}x{args.size}, 4 steps, a fresh process each")
        print("| frames | dgenerate MiB | plain diffusers MiB | difference |\n|---|---|---|---|")
        for frames in args.frames:
            ours = _peak("dgenerate", model, frames, args.size, work / f"peak{frames}")
            floor = _peak("plain", model, frames, args.size, work)
            print(f"| {frames} | {ours:.0f} | {floor:.0f} | {ours - floor:+.0f} |")


if __name__ == "__main__":
    main()

"""The Ray backend against the local one on the same grid: 2 prompts x 8 seeds, 64x64, 20 steps, tiny model, one
thread per image (--cpu-threads 1), batch 1. Models are loaded before the clock starts (a warm-up request), so the
figures are the steady state of a long batch; Ray's start-up (the cluster and its workers) is reported on its own.
A plain diffusers loop over the same 16 images at one thread is the floor. Run it with nothing else busy.

Usage: .venv/bin/python benchmarks/ray_scaling.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import tiny_model

from dgenerate.backends import LocalBackend
from dgenerate.cli import parse_invocation

PROMPTS = ["a red circle on a blue background", "a yellow square on a black background"]
SEEDS = [str(seed) for seed in range(1, 9)]


def request(model: Path, out: Path, seeds: list[str]):  # type: ignore[no-untyped-def]
    argv = [str(model), "--prompts", *PROMPTS, "--seeds", *seeds, "--inference-steps", "20", "--output-size", "64",
            "--device", "cpu", "--cpu-threads", "1", "-o", str(out)]
    return parse_invocation(argv)[0]


def timed(backend, model: Path, work: Path, name: str) -> float:  # type: ignore[no-untyped-def]
    backend.render(request(model, work / f"{name}-warm", ["100", "101"]))  # loads the model on every worker
    start = time.perf_counter()
    backend.render(request(model, work / name, SEEDS))
    return time.perf_counter() - start


def floor(model: Path) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(model), safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for prompt in PROMPTS:
        for seed in SEEDS:
            generator = torch.Generator("cpu").manual_seed(int(seed))
            pipe(prompt=prompt, num_inference_steps=20, height=64, width=64, generator=generator).images[0]
    torch.set_num_threads(threads)
    return time.perf_counter() - start


def main() -> None:
    import ray

    from dgenerate.backends.ray_cluster import RayBackend

    model = tiny_model()
    work = Path(tempfile.mkdtemp(prefix="dgenerate-bench-ray-"))
    images = len(PROMPTS) * len(SEEDS)
    seconds = {"floor (plain diffusers loop)": floor(model),
               "local backend": timed(LocalBackend(progress=False), model, work, "local")}
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_start = time.perf_counter() - start
    for workers in (1, 2):
        backend = RayBackend(workers=workers, progress=False)
        start = time.perf_counter()
        backend.render(request(model, work / f"ray{workers}-first", ["100"]))
        first = time.perf_counter() - start
        seconds[f"ray, {workers} worker{'s' if workers > 1 else ''}"] = timed(backend, model, work, f"ray{workers}")
        backend.close()
        print(f"ray, {workers} worker(s): first request (workers start, model loads) {first:.2f} s")
    ray.shutdown()
    print(f"ray.init (2 CPUs): {ray_start:.2f} s")
    print(f"{images} images, 64x64, 20 steps, tiny model, 1 thread each, models loaded")
    print(f"{'':32} {'seconds':>8} {'images/s':>9} {'vs floor':>9}")
    base = seconds["floor (plain diffusers loop)"]
    for name, value in seconds.items():
        print(f"{name:32} {value:8.2f} {images / value:9.2f} {value / base:9.3f}")
    local, one, two = seconds["local backend"], seconds["ray, 1 worker"], seconds["ray, 2 workers"]
    print(f"Ray per-job overhead against local (1 worker): {(one - local) / images * 1000:.0f} ms")
    print(f"2-worker speed-up over 1 worker: {one / two:.2f}x; over local: {local / two:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

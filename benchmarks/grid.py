"""The grid of 16 images (2 prompts x 4 seeds x 2 guidance scales, 64x64, 20 steps) on the tiny model:
dgenerate as a whole process at batch sizes 1, 4 and 8, against the plain diffusers floor doing the same work
one by one and batched, the runs interleaved. Run it with nothing else busy on the machine.

--size, --steps and --metadata change the grid: `--size 512 --steps 8 --metadata` makes images whose encoding (with
a config in the PNG and beside it, on both sides) is a real share of the work, which the output stage overlaps.

With --baseline SRC (the src/ folder of another checkout, e.g. an earlier commit unpacked with `git archive`), that
version is timed in the same run, interleaved with this one, so a change can be measured against what it replaces.
It also prints what encoding and writing one image costs, the work the output stage's writer thread takes off the
rendering thread.

Usage: .venv/bin/python benchmarks/grid.py [repeats] [--baseline SRC] [--size N --steps N --metadata]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import DGENERATE, PYTHON, run_timed, tiny_model
from floor_grid import GUIDANCE, PROMPTS, SEEDS, SIZE, STEPS

HERE = Path(__file__).resolve().parent
BATCHES = (1, 4, 8)


def dgenerate_command(model: Path, out: Path, batch: int, args: argparse.Namespace) -> list[str]:
    recorded = ["--output-configs", "--output-metadata"] if args.metadata else []
    return [*DGENERATE, str(model), "--prompts", *PROMPTS, "--seeds", *map(str, SEEDS), "--guidance-scales",
            *map(str, GUIDANCE), "--inference-steps", str(args.steps), "--output-size", str(args.size), "--device",
            "cpu", "--batch-size", str(batch), "-o", str(out), *recorded]


def encode_seconds(model: Path, out: Path, size: int) -> tuple[float, float]:
    """Median seconds to encode and write one of the grid's images, plain and with --output-configs
    --output-metadata."""
    from PIL import Image

    from dgenerate.jobs import Job, ModelSpec, OutputSpec
    from dgenerate.render.outputs import write_image

    image = Image.open(next(out.glob("*.png"))).convert("RGB")
    spec = ModelSpec(str(model), "torch", device="cpu", dtype="float32")
    times = []
    for configs in (False, True):
        job = Job(spec, PROMPTS[0], None, 1, GUIDANCE[0], STEPS, size, size, scheduler="PNDMScheduler", cpu_threads=2,
                  output=OutputSpec(str(out / "encode"), configs=configs, metadata=configs))
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            write_image(job, image, "made with the benchmark")
            samples.append(time.perf_counter() - start)
        times.append(statistics.median(samples))
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="the src/ folder of another version to time beside this one")
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--metadata", action="store_true", help="write configs and PNG metadata (both sides)")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    args = parser.parse_args()
    model = tiny_model()
    work = Path(tempfile.mkdtemp(prefix="dgenerate-bench-"))
    here = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(HERE.parent / "src")}
    floor = [str(args.size), str(args.steps), "1" if args.metadata else "0"]
    programs = {"floor": lambda b: [PYTHON, str(HERE / "floor_grid.py"), str(model), str(work / "f"), str(b), *floor],
                "dgenerate": lambda b: dgenerate_command(model, work / "d", b, args)}
    envs = {"floor": here, "dgenerate": here}
    if args.baseline:
        programs["baseline"] = lambda b: dgenerate_command(model, work / "d", b, args)
        envs["baseline"] = {**here, "PYTHONPATH": str(args.baseline.resolve())}
    best: dict[tuple[str, int], float] = {}
    for _ in range(args.repeats):
        for batch in args.batches:
            for name, command in programs.items():
                shutil.rmtree(work / "f", ignore_errors=True)
                shutil.rmtree(work / "d", ignore_errors=True)
                seconds = run_timed(command(batch), env=envs[name])
                best[name, batch] = min(best.get((name, batch), seconds), seconds)
    recorded = ", configs and metadata" if args.metadata else ""
    print(f"16 images, {args.size}x{args.size}, {args.steps} steps, tiny model{recorded}; whole processes, best of "
          f"{args.repeats}, interleaved")
    ours = [name for name in programs if name != "floor"]
    heads = "".join(f" {name + ' s':>12} {'/ same':>7} {'/ 1-by-1':>9}" for name in ours)
    print(f"{'batch':>5} {'floor s':>9}{heads}")
    for batch in args.batches:
        floor = best["floor", batch]
        row = f"{batch:>5} {floor:9.2f}"
        for name in ours:
            seconds = best[name, batch]
            row += f" {seconds:12.2f} {seconds / floor:7.3f} {seconds / best['floor', args.batches[0]]:9.3f}"
        print(row)
    plain, recorded = encode_seconds(model, work / "d", args.size)
    print(f"encoding and writing one image: {plain * 1000:.2f} ms, {recorded * 1000:.2f} ms with its config and "
          "metadata (the writer thread does this beside the next pipeline call)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

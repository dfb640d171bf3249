"""The speed options on the CPU: each one's time against the same grid without it, and what it does to the pictures
(PSNR against the pictures without it, the same jobs).

    python benchmarks/speed.py [--models builtin sdxl flux] [--repeats 3] [--threads 2]

Each measurement is a fresh process: it loads the model and renders one image (so loading, first-call costs and
compilation are not timed), then renders the grid, timed; the process's whole wall time is printed too. Models:
`builtin` is the built-in trained model (16 images: 4 prompts x 4 seeds, its defaults of 30 steps at guidance 5),
`sdxl` and `flux` the tests' tiny random pipelines (8 images of 20 steps at 64x64). Run it with nothing else on the
machine: a second busy process distorts the figures several times over.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a red circle on a blue background", "a green square on a yellow background",
           "a white triangle on a black background", "an orange circle on a purple background"]

_CHILD = r"""
import json, sys, time
import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.models.cache import ModelCache
argv, folder = json.loads(sys.argv[1]), sys.argv[2]
cache = ModelCache()
warm, _ = parse_invocation([*argv, "--seeds", "999", "-o", folder + "/warm"])
dgenerate.render(warm, cache)
request, _ = parse_invocation([*argv, "-o", folder + "/grid"])
start = time.perf_counter()
paths = dgenerate.render(request, cache)
print(json.dumps({"seconds": time.perf_counter() - start, "paths": [str(path) for path in paths]}))
"""

# what each model's grid compares: the options of each method, and the base options of the grid
METHODS = {
    "builtin": {"deepcache;interval=2": ["--cache", "deepcache;interval=2"],
                "deepcache;interval=3": ["--cache", "deepcache;interval=3"],
                "deepcache;interval=5": ["--cache", "deepcache;interval=5"],
                "quantize int8-weight-only": ["--quantize", "int8-weight-only"],
                "quantize int8-dynamic": ["--quantize", "int8-dynamic"],
                "compile": ["--compile"],
                "compile + deepcache;interval=3": ["--compile", "--cache", "deepcache;interval=3"]},
    "sdxl": {"deepcache;interval=3": ["--cache", "deepcache;interval=3"],
             "quantize int8-weight-only": ["--quantize", "int8-weight-only"], "compile": ["--compile"]},
    "flux": {"taylorseer (defaults)": ["--cache", "taylorseer"],
             "first-block;threshold=0.2": ["--cache", "first-block;threshold=0.2"],
             "quantize int8-weight-only": ["--quantize", "int8-weight-only"], "compile": ["--compile"]},
}


def _model(name: str, work: Path) -> list[str]:
    if name == "builtin":
        return ["builtin:shapes", "--prompts", *PROMPTS, "--seeds", "1", "2", "3", "4"]
    sys.path.insert(0, str(ROOT))
    folder = work / name
    if not (folder / "model_index.json").exists():
        from tests.tiny_flow_models import build_tiny_flux
        from tests.tiny_models import build_tiny_sdxl

        build_tiny_flux(folder, layers=2) if name == "flux" else build_tiny_sdxl(folder)
    return [str(folder), "--prompts", *PROMPTS[:2], "--seeds", "1", "2", "3", "4", "--inference-steps", "20",
            "--output-size", "64x64"]


def _run(argv: list[str], folder: Path) -> tuple[float, float, list[Path]]:
    """(render seconds, whole process seconds, pictures) of one fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), str(folder)], check=True,
                          capture_output=True, text=True)
    whole = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], whole, [Path(path) for path in result["paths"]]


def psnr(a: Path, b: Path) -> float:
    error = np.mean((np.asarray(Image.open(a), float) - np.asarray(Image.open(b), float)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(255 ** 2 / error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dgenerate-speed-"))
    print("| model | method | render s (best) | ratio | whole process s | PSNR dB (min / mean) |")
    print("|---|---|---|---|---|---|")
    for model in args.models:
        base = [*_model(model, work), "--device", "cpu", "--cpu-threads", args.threads]
        plain = [_run(base, work / f"{model}-plain-{n}") for n in range(args.repeats)]
        fastest = min(run[0] for run in plain)
        print(f"| {model} | none | {fastest:.2f} | 1.000 | {min(run[1] for run in plain):.1f} | |", flush=True)
        for label, options in METHODS[model].items():
            runs = [_run([*base, *options], work / f"{model}-{len(label)}-{n}") for n in range(args.repeats)]
            seconds = min(run[0] for run in runs)
            values = [psnr(a, b) for a, b in zip(plain[0][2], runs[0][2], strict=True)]
            print(f"| {model} | {label} | {seconds:.2f} | {fastest / seconds:.3f} | {min(run[1] for run in runs):.1f} "
                  f"| {min(values):.1f} / {sum(values) / len(values):.1f} |", flush=True)


if __name__ == "__main__":
    main()

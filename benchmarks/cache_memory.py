"""Peak memory of a long stdin batch over three models: 30 and 300 lines, each line one image of one of three tiny
models in turn, with the default model cache budget (all three stay loaded) and with a budget of one byte (every line
lets the previous model go and loads its own: the most churn a budget can cause). Each figure is the VmHWM of one
whole dgenerate process, measured by a fresh parent so no earlier peak leaks in.

Usage: .venv/bin/python benchmarks/cache_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, tiny_model

CHILD = """
import resource, subprocess, sys
with open(sys.argv[1]) as batch:
    subprocess.run([sys.executable, "-m", "dgenerate"], stdin=batch, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def models() -> list[Path]:
    first = tiny_model()
    folder = Path(tempfile.gettempdir()) / "dgenerate-bench-tiny-sd-others"
    sys.path.insert(0, str(ROOT))
    from tests.tiny_models import build_tiny_sd

    others = []
    for seed in (1, 2):
        path = folder / f"model-{seed}"
        if not (path / "model_index.json").exists():
            build_tiny_sd(path, seed=seed)
        others.append(path)
    return [first, *others]


def peak_mib(lines: int, budget: str | None, work: Path) -> float:
    paths = models()
    extra = f" --model-cache-memory {budget}" if budget else ""
    batch = work / f"batch-{lines}-{budget}.txt"
    batch.write_text("".join(f"{paths[n % 3]} --device cpu --cpu-threads 1 --inference-steps 1 --seeds {n} "
                             f"-o {work / f'out-{lines}-{budget}'}{extra}\n" for n in range(lines)))
    result = subprocess.run([sys.executable, "-c", CHILD, str(batch)], check=True, capture_output=True, text=True)
    return float(result.stdout.strip())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dgenerate-bench-cache-") as folder:
        work = Path(folder)
        print("peak RSS of the whole dgenerate process (MiB), three tiny models in turn, one image a line")
        print(f"{'budget':>28} {'30 lines':>9} {'300 lines':>10} {'change':>8}")
        for budget, name in ((None, "default (50% of RAM)"), ("1B", "1 byte (reload every line)")):
            short, long = peak_mib(30, budget, work), peak_mib(300, budget, work)
            print(f"{name:>28} {short:9.1f} {long:10.1f} {(long - short) / short * 100:7.1f}%")


if __name__ == "__main__":
    main()

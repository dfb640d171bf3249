"""The grid of 16 images (2 prompts x 4 seeds x 2 guidance scales, 64x64, 20 steps) on the tiny model:
dgenerate as a whole process at batch sizes 1, 4 and 8, against the plain diffusers floor doing the same work
one by one and batched. Run it with nothing else busy on the machine.

Usage: .venv/bin/python benchmarks/grid.py [repeats]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _common import DGENERATE, PYTHON, best_of, tiny_model
from floor_grid import GUIDANCE, PROMPTS, SEEDS, SIZE, STEPS

HERE = Path(__file__).resolve().parent


def dgenerate_command(model: Path, out: Path, batch: int) -> list[str]:
    return [*DGENERATE, str(model), "--prompts", *PROMPTS, "--seeds", *map(str, SEEDS), "--guidance-scales",
            *map(str, GUIDANCE), "--inference-steps", str(STEPS), "--output-size", str(SIZE), "--device", "cpu",
            "--batch-size", str(batch), "-o", str(out)]


def timed(repeats: int, command: list[str], out: Path) -> float:
    def once() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return best_of(1, command)

    return min(once() for _ in range(repeats))


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    model = tiny_model()
    work = Path(tempfile.mkdtemp(prefix="dgenerate-bench-"))
    floor = {b: timed(repeats, [PYTHON, str(HERE / "floor_grid.py"), str(model), str(work / "f"), str(b)], work / "f")
             for b in (1, 4, 8)}
    ours = {b: timed(repeats, dgenerate_command(model, work / "d", b), work / "d") for b in (1, 4, 8)}
    print(f"16 images, 64x64, 20 steps, tiny model; whole processes, best of {repeats}")
    print(f"{'batch':>5} {'floor s':>9} {'dgenerate s':>12} {'vs floor same batch':>20} {'vs floor one-by-one':>20}")
    for b in (1, 4, 8):
        print(f"{b:>5} {floor[b]:9.2f} {ours[b]:12.2f} {ours[b] / floor[b]:20.3f} {ours[b] / floor[1]:20.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

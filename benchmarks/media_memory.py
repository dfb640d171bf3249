"""Peak memory of read -> per-frame transform -> write, for 100 and 1,000 frame inputs.

Each run happens in a fresh subprocess and reports its peak RSS (ru_maxrss). Linux carries a parent's RSS high-water
mark into a child's ru_maxrss across fork and exec, so this parent imports nothing heavy and builds the inputs in
subprocesses too; the child also reports VmHWM from /proc, which starts afresh at exec. Streaming means the two
lengths should need the same memory, within a few percent.

    python benchmarks/media_memory.py [--size 64] [--inputs mp4,gif,webp] [--outputs mp4,gif,webp]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

LENGTHS = (100, 1000)
TOLERANCE = 0.05


def make_input(path: Path, fmt: str, count: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    from dgenerate.media import AnimationWriter

    rows, cols = np.mgrid[0:size, 0:size]
    with AnimationWriter(path, fmt, Fraction(30000, 1001), (size, size)) as writer:  # type: ignore[arg-type]
        for index in range(count):
            pixels = np.stack([(rows + index) % 256, (cols * 3 + index * 2) % 256, (rows ^ cols) % 256], axis=-1)
            writer.write(Image.fromarray(pixels.astype(np.uint8)))


def peak_rss_kib() -> tuple[int, int | None]:
    """(ru_maxrss, VmHWM) in KiB; VmHWM is None off Linux."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = Path("/proc/self/status")
    if not status.exists():
        return maxrss, None
    hwm = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM:")]
    return maxrss, int(hwm[0]) if hwm else None


def child(source: Path, target: Path, fmt: str) -> None:
    from PIL import ImageOps

    from dgenerate.media import AnimationWriter, open_media

    started = time.perf_counter()
    with open_media(source) as frames:
        assert frames.info.fps is not None
        with AnimationWriter(target, fmt, frames.info.fps, frames.info.size) as writer:  # type: ignore[arg-type]
            for frame in frames:
                writer.write(ImageOps.invert(frame))
    seconds = time.perf_counter() - started
    maxrss, hwm = peak_rss_kib()
    print(json.dumps({"peak_kib": maxrss, "hwm_kib": hwm, "frames": writer.frames_written, "seconds": seconds}))


def run_child(source: Path, target: Path, fmt: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(source), str(target), fmt]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def run_make(path: Path, fmt: str, count: int, size: int) -> None:
    command = [sys.executable, __file__, "--make", str(path), fmt, str(count), str(size)]
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--inputs", default="mp4,gif,webp")
    parser.add_argument("--outputs", default="mp4,gif,webp")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "TARGET", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=4, metavar=("PATH", "FORMAT", "COUNT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child[2])
        return 0
    if args.make:
        make_input(Path(args.make[0]), args.make[1], int(args.make[2]), int(args.make[3]))
        return 0
    failures = 0
    header = " ".join(f"{n:>5} frames: RSS MiB (VmHWM)    s" for n in LENGTHS)
    print(f"{'input':>5} {'output':>6}  {header}   growth", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for source_fmt in args.inputs.split(","):
            for count in LENGTHS:
                run_make(root / f"in{count}.{source_fmt}", source_fmt, count, args.size)
            for target_fmt in args.outputs.split(","):
                failures += report(root, source_fmt, target_fmt)
    return 1 if failures else 0


def report(root: Path, source_fmt: str, target_fmt: str) -> int:
    runs = []
    for count in LENGTHS:
        target = root / f"out{count}-{source_fmt}.{target_fmt}"
        runs.append(run_child(root / f"in{count}.{source_fmt}", target, target_fmt))
        assert runs[-1]["frames"] == count
        target.unlink()
    growth = runs[-1]["peak_kib"] / runs[0]["peak_kib"] - 1
    cells = " ".join(
        f"{run['peak_kib'] / 1024:>20.1f} ({(run['hwm_kib'] or 0) / 1024:5.1f}) {run['seconds']:5.1f}" for run in runs
    )
    verdict = "ok" if growth <= TOLERANCE else "GROWS"
    print(f"{source_fmt:>5} {target_fmt:>6}  {cells}   {growth:+.1%} {verdict}", flush=True)
    return 0 if growth <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())

"""Peak memory of dgenerate rendering a 100-frame and a 1,000-frame video through the tiny model, per output format.

Each render runs in a fresh `python -c` wrapper that starts dgenerate in-process and prints its own VmHWM (peak
resident memory since exec), so nothing of this parent's memory leaks into the figure. Streaming means the two
lengths peak within a few percent of each other.

Usage: .venv/bin/python benchmarks/animation_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import PYTHON, ROOT, tiny_model

LENGTHS = (100, 1000)
FORMATS = ("mp4", "gif", "webp")
SIZE = 32

_MEASURE = """
import json, pathlib, sys
from dgenerate.cli import main
code = main(sys.argv[1:])
hwm = [l.split()[1] for l in pathlib.Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:")]
print(json.dumps({"code": code, "hwm_kib": int(hwm[0])}))
"""


def make_video(path: Path, count: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from media_memory import make_input

    make_input(path, "mp4", count, SIZE)


def measure(model: Path, video: Path, fmt: str, out: Path) -> float:
    command = [PYTHON, "-c", _MEASURE, str(model), "--image-seeds", str(video), "--image-seed-strengths", "0.5",
               "--inference-steps", "2", "--seeds", "1", "--device", "cpu", "--animation-format", fmt, "-o", str(out)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise RuntimeError(result.stderr)
    return report["hwm_kib"] / 1024


def main() -> None:
    model = tiny_model()
    work = Path(tempfile.mkdtemp(prefix="dgenerate-animation-memory-"))
    videos = {n: work / f"input-{n}.mp4" for n in LENGTHS}
    for n, path in videos.items():
        subprocess.run([PYTHON, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                        f"from animation_memory import make_video; from pathlib import Path; "
                        f"make_video(Path({str(path)!r}), {n})"], check=True)
    print(f"tiny model, {SIZE}x{SIZE}, 1 denoising step per frame; peak resident memory (VmHWM) of the whole process")
    for fmt in FORMATS:
        peaks = [measure(model, videos[n], fmt, work / f"out-{fmt}-{n}") for n in LENGTHS]
        change = (peaks[1] - peaks[0]) / peaks[0] * 100
        print(f"{fmt:>5}: {LENGTHS[0]} frames {peaks[0]:7.1f} MiB   {LENGTHS[1]} frames {peaks[1]:7.1f} MiB   "
              f"change {change:+.1f}%")


if __name__ == "__main__":
    main()

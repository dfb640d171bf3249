"""Shared helpers for the benchmarks: the tiny model, timing whole processes, peak memory of a child."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DGENERATE = [PYTHON, "-m", "dgenerate"]


def tiny_model() -> Path:
    """The tests' tiny SD pipeline, built once into the system temp folder."""
    folder = Path(tempfile.gettempdir()) / "dgenerate-bench-tiny-sd"
    if not (folder / "model_index.json").exists():
        sys.path.insert(0, str(ROOT))
        from tests.tiny_models import build_tiny_sd

        build_tiny_sd(folder)
    return folder


def run_timed(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one whole process; fails loudly if the process fails."""
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env or {**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def best_of(repeats: int, command: list[str], cwd: Path | None = None) -> float:
    """The fastest of `repeats` runs: the least disturbed by anything else on the machine."""
    return min(run_timed(command, cwd) for _ in range(repeats))


def median_of(repeats: int, command: list[str]) -> float:
    return statistics.median(run_timed(command) for _ in range(repeats))


def peak_rss_mib(command: list[str]) -> float:
    """Peak resident memory of a child process (the parent stays small so its own peak does not leak in)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before:
        raise RuntimeError("a previous child had a higher peak; run each measurement in a fresh parent")
    return after / 1024

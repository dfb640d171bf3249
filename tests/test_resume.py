"""Stopping and resuming: SIGTERM stops like Ctrl-C (exit 143, whole files, a summary), and --resume makes exactly
the images an earlier run did not, with the names and bytes an uninterrupted run gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import RunCli

GRID = ("--device", "cpu", "--cpu-threads", "1", "--prompts", "a red circle", "a blue square", "--seeds", "1", "2",
        "3", "--batch-size", "2", "--output-configs")


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: (np.asarray(Image.open(path).convert("RGB")).tobytes() if path.suffix == ".png"
                        else path.read_bytes()) for path in sorted(folder.iterdir())}


def test_resume_skips_what_is_made_and_makes_the_rest_as_one_run_would(run_cli: RunCli, tiny_model: Path,
                                                                       tmp_path: Path) -> None:
    whole = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "-o", str(tmp_path / "whole"))
    assert whole.code == 0, whole.err
    expected = contents(tmp_path / "whole")
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("s_1_g_5-0_i_2_step_1", "s_3_g_5-0_i_2_step_6"):  # as if a run had stopped after making these
        for suffix in (".png", ".dgen"):
            (partial / f"{name}{suffix}").write_bytes((tmp_path / "whole" / f"{name}{suffix}").read_bytes())
    result = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "--resume", "-o", str(partial))
    assert result.code == 0, result.err
    assert "2 of 6 images are already made; making the other 4" in result.err
    assert contents(partial) == expected
    again = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "--resume", "-o", str(partial))
    assert again.code == 0 and "6 of 6 images are already made" in again.err and contents(partial) == expected


def test_a_deleted_image_whose_config_was_kept_is_made_again_under_its_own_name(run_cli: RunCli, tiny_model: Path,
                                                                               tmp_path: Path) -> None:
    first = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "-o", str(tmp_path))
    assert first.code == 0, first.err
    expected = contents(tmp_path)
    (tmp_path / "s_2_g_5-0_i_2_step_2.png").unlink()  # the config beside it is kept: an orphan of the same job
    result = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "--resume", "-o", str(tmp_path))
    assert result.code == 0 and "5 of 6 images are already made; making the other 1" in result.err, result.err
    assert contents(tmp_path) == expected
    (tmp_path / "s_2_g_5-0_i_2_step_2.png").unlink()  # a config of another job under that name keeps it
    (tmp_path / "s_2_g_5-0_i_2_step_2.dgen").write_bytes(expected["s_1_g_5-0_i_2_step_1.dgen"])
    other = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "--resume", "-o", str(tmp_path))
    assert other.code == 0, other.err
    assert (tmp_path / "s_2_g_5-0_i_2_step_2.dgen").read_bytes() == expected["s_1_g_5-0_i_2_step_1.dgen"]
    assert (tmp_path / "s_2_g_5-0_i_2_step_2_2.dgen").read_bytes() == expected["s_2_g_5-0_i_2_step_2.dgen"]


def test_resume_goes_by_job_id_not_by_name(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    first = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "-o", str(tmp_path))
    assert first.code == 0, first.err
    # The same names with 3 steps instead of 2 would be other files; with other guidance they are other jobs.
    other = run_cli(str(tiny_model), *GRID, "--inference-steps", "2", "--guidance-scales", "5.5", "--resume",
                    "-o", str(tmp_path))
    assert other.code == 0 and "0 of 6 images are already made" in other.err
    assert len(list(tmp_path.glob("*.png"))) == 12


def test_resume_needs_recorded_configs(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--device", "cpu", "--resume", "-o", str(tmp_path))
    assert result.code == 2 and "--resume recognises finished images by the job id" in result.err


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dgenerate", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _wait_for(folder: Path, pattern: str, process: subprocess.Popen[str], count: int = 1) -> None:
    deadline = time.monotonic() + 180
    while len(list(folder.glob(pattern))) < count and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert len(list(folder.glob(pattern))) >= count, "the run did not get going"


@pytest.mark.parametrize(("stop", "code", "word"), [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                     (signal.SIGINT, 130, "interrupted")])
def test_a_stopped_grid_keeps_whole_files_says_how_far_it_got_and_resumes(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path, stop: int, code: int, word: str) -> None:
    argv = [str(tiny_model), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "20", "--seeds",
            *map(str, range(30)), "--output-configs"]
    process = _start([*argv, "-o", str(tmp_path / "out")])
    _wait_for(tmp_path / "out", "*.dgen", process, count=2)
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    (line,) = [line for line in err.splitlines() if line.startswith("dgenerate: ") and "images;" in line]
    assert line.startswith(f"dgenerate: {word} after ") and "of 30 images" in line and "--resume" in line
    assert "Traceback" not in err
    made = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert all(not name.startswith(".") for name in made), "no temporary or partial file is left"
    done = int(line.split(" after ")[1].split(" of ")[0])
    assert done == len(list((tmp_path / "out").glob("*.png"))) == len(list((tmp_path / "out").glob("*.dgen"))), \
        "every image queued for writing is written before the process exits, and the summary counts it"
    for path in (tmp_path / "out").glob("*.png"):
        Image.open(path).load()
    result = run_cli(*argv, "--inference-steps", "20", "--resume", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    names = {path.name for path in (tmp_path / "out").glob("*.png")}
    assert names == {f"s_{seed}_g_5-0_i_20_step_{seed + 1}.png" for seed in range(30)}, "the first run's names, once"


def test_sigterm_during_an_animation_leaves_a_playable_file(tiny_model: Path, tmp_path: Path) -> None:
    from fractions import Fraction

    from dgenerate.media import open_media
    from tests.media.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", "libx264", Fraction(12), 40)
    process = _start([str(tiny_model), "--image-seeds", str(clip), "--device", "cpu", "--cpu-threads", "1",
                      "--inference-steps", "10", "--seeds", "1", "-o", str(tmp_path / "out")])
    _wait_for(tmp_path / "out", "*_frame_*.png", process, count=3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    (animation,) = (tmp_path / "out").glob("*.mp4")
    with open_media(animation) as source:
        frames = len(list(source))
    assert 3 <= frames < 40


def test_resume_knows_edits_which_record_no_strength(run_cli: RunCli, tiny_pix2pix: Path, tmp_path: Path) -> None:
    """An edit's job has no strength and records its image guidance: a resumed grid finds what it made."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), "teal").save(photo)
    argv = [str(tiny_pix2pix), "--image-seeds", str(photo), "--image-guidance-scales", "1.2", "2", "--device", "cpu",
            "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "5", "--output-configs", "-o",
            str(tmp_path / "out")]
    assert run_cli(*argv).code == 0
    made = contents(tmp_path / "out")
    (tmp_path / "out" / "s_5_g_5-0_igs_2-0_i_2_step_2.png").unlink()
    result = run_cli(*argv, "--resume")
    assert result.code == 0 and "1 of 2 images are already made; making the other 1" in result.err, result.err
    assert contents(tmp_path / "out") == made

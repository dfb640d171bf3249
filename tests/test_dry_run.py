"""--dry-run prints the resolved jobs: exactly the files a real run writes, their sizes and job ids, and loads no
weights."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

import dgenerate.models.cache
import dgenerate.models.loader
from dgenerate.reproduce import recorded_job_id
from tests.conftest import RunCli
from tests.media.conftest import write_video

FAST = ("--inference-steps", "2", "--device", "cpu", "--cpu-threads", "1")
_PATH = re.compile(r"(\S+\.(?:png|dgen|mp4))")


def _forbid_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec: object) -> None:
        raise AssertionError(f"--dry-run loaded {spec}")

    monkeypatch.setattr(dgenerate.models.cache, "load", refuse)
    monkeypatch.setattr(dgenerate.models.loader, "load", refuse)


def _listed(out: str) -> set[Path]:
    """Every file path on the file lines (not the indented commands) of a dry run."""
    files: set[Path] = set()
    for line in out.splitlines()[1:]:
        if not line.startswith(" "):
            files.update(Path(match) for match in _PATH.findall(line) if "..." not in match)
    return files


def test_dry_run_lists_exactly_what_the_run_writes(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "s_1_g_5-0_i_2_step_1.png").write_bytes(b"taken")  # the run must step around it, and the dry run says so
    argv = (str(tiny_model), "--prompts", "a", "b; c", "--seeds", "1", "2", "--batch-size", "2", "--output-size",
            "64x48", "--output-configs", *FAST, "-o", str(out))
    with monkeypatch.context() as patch:
        _forbid_loading(patch)
        dry = run_cli(*argv, "--dry-run")
    assert dry.code == 0, dry.err
    assert sorted(p.name for p in out.iterdir()) == ["s_1_g_5-0_i_2_step_1.png"], "a dry run writes nothing"
    lines = dry.out.splitlines()
    assert lines[0] == "4 images (2 prompts x 2 seeds x 1 guidance scale x 1 inference steps value)"
    assert lines[1].startswith(f"{out}/s_1_g_5-0_i_2_step_1_2.png 64x48 job ")
    listed = _listed(dry.out)
    assert len(listed) == 8
    real = run_cli(*argv)
    assert real.code == 0, real.err
    assert listed == set(out.iterdir()) - {out / "s_1_g_5-0_i_2_step_1.png"}
    ids = {line.split(" job ")[1].split(",")[0] for line in lines[1:] if " job " in line}
    assert ids == {recorded_job_id(path.read_text()) for path in out.glob("*.dgen")}, "the ids the configs record"


def test_each_dry_run_command_makes_its_image(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    import shlex

    argv = (str(tiny_model), "--prompts", "a", "--seeds", "4", "5", "--batch-size", "2", *FAST)
    dry = run_cli(*argv, "-o", str(tmp_path / "grid"), "--dry-run")
    commands = [line.strip() for line in dry.out.splitlines() if line.startswith("    dgenerate ")]
    assert len(commands) == 2
    assert run_cli(*argv, "-o", str(tmp_path / "grid")).code == 0
    words = shlex.split(commands[1])[1:]
    words[words.index("--output-path") + 1] = str(tmp_path / "alone")
    assert run_cli(*words).code == 0
    (alone,) = (tmp_path / "alone").glob("*.png")
    assert alone.name == "s_5_g_5-0_i_2_step_1.png", "alone, the image is the first of its own grid"
    assert alone.read_bytes() == (tmp_path / "grid" / "s_5_g_5-0_i_2_step_2.png").read_bytes(), "same shape and slot"


def test_dry_run_of_an_animation_lists_the_animation_and_its_frames(run_cli: RunCli, tiny_model: Path,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clip = write_video(tmp_path / "clip.mp4", "libx264", Fraction(24), 4)
    argv = (str(tiny_model), "--image-seeds", str(clip), "--frame-start", "1", "--seeds", "3", "--output-configs",
            *FAST, "-o", str(tmp_path / "out"))
    with monkeypatch.context() as patch:
        _forbid_loading(patch)
        dry = run_cli(*argv, "--dry-run")
    assert dry.code == 0, dry.err
    stem = f"{tmp_path}/out/s_3_st_0-8_g_5-0_i_2_step_1"
    assert dry.out.splitlines()[1].startswith(f"{stem}.mp4 64x48 job ")
    assert f"animation of 3 frames, written also as {stem}_frame_1.png ... {stem}_frame_3.png" in dry.out
    assert run_cli(*argv).code == 0
    written = set((tmp_path / "out").iterdir())
    assert {Path(f"{stem}.mp4"), Path(f"{stem}.dgen")} | _listed(dry.out) <= written
    assert {path.name for path in written} == {f"{Path(stem).name}{tail}" for tail in (
        ".mp4", ".dgen", "_frame_1.png", "_frame_1.dgen", "_frame_2.png", "_frame_2.dgen", "_frame_3.png",
        "_frame_3.dgen")}


def test_dry_run_on_one_line_of_a_batch_renders_nothing_for_that_line(run_cli: RunCli, tiny_model: Path,
                                                                      tmp_path: Path) -> None:
    text = (f"{tiny_model} --seeds 1 {' '.join(FAST)} -o {tmp_path}/real\n"
            f"{tiny_model} --seeds 2 {' '.join(FAST)} -o {tmp_path}/dry --dry-run\n")
    result = run_cli(stdin=text)
    assert result.code == 0, result.err
    assert len(list((tmp_path / "real").glob("*.png"))) == 1
    assert not (tmp_path / "dry").exists()
    assert f"{tmp_path}/dry/s_2_g_5-0_i_2_step_1.png 64x64 job " in result.out


def test_dry_run_reads_the_image_seeds_header_for_the_size(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    Image.new("RGB", (100, 60), "red").save(tmp_path / "seed.png")
    dry = run_cli(str(tiny_model), "--image-seeds", f"{tmp_path / 'seed.png'};64", "--seeds", "1", *FAST,
                  "-o", str(tmp_path / "out"), "--dry-run")
    assert dry.code == 0, dry.err
    assert " 64x40 job " in dry.out.splitlines()[1]
    assert f"--image-seeds '{tmp_path / 'seed.png'};64x40'" in dry.out

"""Output problems, for real: a path that is a file, a read-only folder, a disk that fills up mid-grid and
mid-animation (a small tmpfs the test mounts; root only). One line, exit 1, earlier files whole, nothing partial."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import RunCli
from tests.media.conftest import write_video

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "1")


def _mount(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """400 KB: two 256x256 PNGs of the tiny model (about 160 KB each) fit, a third does not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    yield from _mount(tmp_path / "small", "size=400k")


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    yield from _mount(tmp_path / "locked", "size=1m,ro")


def assert_one_line(err: str, *words: str) -> None:
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("dgenerate: error:")]
    assert len(lines) == 1 and all(word in lines[0] for word in words), err
    assert "Traceback" not in err


def assert_nothing_partial(folder: Path) -> None:
    names = [path.name for path in folder.iterdir()]
    assert not [name for name in names if name.startswith(".")], names
    for path in folder.glob("*.png"):
        Image.open(path).load()


def test_an_output_path_that_is_a_file(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine")
    result = run_cli(str(tiny_model), *FAST, "-o", str(tmp_path / "taken"))
    assert result.code == 1
    assert_one_line(result.err, "--output-path", "taken", "is a file, not a folder")
    nested = run_cli(str(tiny_model), *FAST, "-o", str(tmp_path / "taken" / "inside"))
    assert nested.code == 1
    assert_one_line(nested.err, "--output-path", "a part of the path is a file")
    assert (tmp_path / "taken").read_text() == "mine"


def test_a_folder_that_cannot_be_written(run_cli: RunCli, tiny_model: Path, read_only: Path) -> None:
    result = run_cli(str(tiny_model), *FAST, "-o", str(read_only))
    assert result.code == 1
    assert_one_line(result.err, f"--output-path '{read_only}' is not writable")
    assert "seeds:" not in result.err, "refused before the run is announced, before any work"
    missing = run_cli(str(tiny_model), *FAST, "-o", str(read_only / "sub"))
    assert missing.code == 1
    assert_one_line(missing.err, f"--output-path '{read_only / 'sub'}' cannot be created in '{read_only}'")
    assert list(read_only.iterdir()) == []


def test_a_disk_that_fills_up_mid_grid(run_cli: RunCli, tiny_model: Path, small_disk: Path) -> None:
    result = run_cli(str(tiny_model), *FAST, "--output-size", "256", "--seeds", *map(str, range(8)),
                     "-o", str(small_disk))
    assert result.code == 1
    assert_one_line(result.err, "cannot write", "the disk is full: free some space or choose another --output-path")
    assert_nothing_partial(small_disk)
    assert 1 <= len(list(small_disk.glob("*.png"))) < 8, "the images made before the disk filled are kept"


def test_a_disk_that_fills_up_mid_animation(run_cli: RunCli, tiny_model: Path, small_disk: Path,
                                           tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", "libx264", Fraction(12), 12)
    result = run_cli(str(tiny_model), *FAST, "--image-seeds", f"{clip};256", "--inference-steps", "2", "--seeds", "1",
                     "-o", str(small_disk))
    assert result.code == 1
    assert_one_line(result.err, "the disk is full")
    assert_nothing_partial(small_disk)
    assert not list(small_disk.glob("*.mp4")), "no partial animation"
    assert list(small_disk.glob("*_frame_0.png")), "the frames made before the disk filled are kept"


@pytest.mark.skipif(not Path("/proc/self/mountinfo").is_file(), reason="Linux's mount table is not here")
@pytest.mark.parametrize("folder", ["/proc/dgenerate-out", "/sys/kernel/dgenerate/out"])
def test_a_folder_under_a_system_file_system_is_refused_before_any_work(run_cli: RunCli, tiny_model: Path,
                                                                       folder: str) -> None:
    result = run_cli(str(tiny_model), *FAST, "-o", folder)
    assert result.code == 1
    mount = "/" + folder.split("/")[1]
    assert_one_line(result.err, f"--output-path '{folder}' is under '{mount}', a", "file system that the system keeps")
    assert "give a folder on a disk" in result.err and "seeds:" not in result.err

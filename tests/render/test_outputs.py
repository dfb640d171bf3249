"""The output stage on its own: real pictures, real PNG and animation files, a real writer thread.

It writes what it is given in order under the naming rules; on a stop it writes what is queued and finishes an open
animation playable; after an error it writes what is queued and leaves no unfinished animation; a failure to write
reaches the thread that renders, as its own one-line error."""

from __future__ import annotations

import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.errors import OutputError
from dgenerate.jobs import ImageSeedSpec, Job, ModelSpec, OutputSpec
from dgenerate.media import open_media
from dgenerate.render.outputs import OutputStage
from dgenerate.render.progress import Progress
from dgenerate.render.results import AnimationEnd, AnimationStart, Frame, Still
from dgenerate.reproduce import read_config
from tests.media.conftest import identify, solid


def _job(folder: Path, seed: int, index: int, **output: object) -> Job:
    return Job(ModelSpec("m", "torch", device="cpu", dtype="float32"), "a cat", None, seed, 5.0, 2, 64, 48,
               scheduler="DDIMScheduler", index=index, output=OutputSpec(str(folder), **output))  # type: ignore[arg-type]


def _stage() -> OutputStage:
    return OutputStage(Progress.start(0, 0, enabled=False), queue_size=2)


def _animation(job: Job, frames: int) -> list[AnimationStart | Frame]:
    seeded = replace(job, image_seed=ImageSeedSpec("clip.mp4", size=(64, 48)), strength=0.5)
    start = AnimationStart(seeded, Fraction(12), None, frames)
    return [start, *(Frame(replace(seeded, frame_start=n, frame_end=n), solid(n), "env") for n in range(frames))]


def test_stills_are_written_in_order_with_their_configs(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, seed, index, configs=True) for index, seed in enumerate((5, 5, 6), start=1)]
    with _stage() as stage:
        for number, job in enumerate(jobs):
            stage.put(Still(job, solid(number), "made here"))
    assert [paths[0].name for _, paths in stage.written] == ["s_5_g_5-0_i_2_step_1.png", "s_5_g_5-0_i_2_step_2.png",
                                                            "s_6_g_5-0_i_2_step_3.png"]
    assert [identify(Image.open(paths[0])) for _, paths in stage.written] == [0, 1, 2]
    config = (tmp_path / "s_6_g_5-0_i_2_step_3.dgen").read_text()
    assert "# made here" in config and read_config(config) == [jobs[2]]


def test_writing_happens_on_the_writer_thread(tmp_path: Path) -> None:
    threads: list[str] = []
    stage = _stage()
    stage.progress.image_done = lambda _path: threads.append(threading.current_thread().name)  # type: ignore[method-assign]
    with stage:
        stage.put(Still(_job(tmp_path, 1, 1), solid(0), "env"))
    assert threads == ["dgenerate-writer"]


def test_a_whole_animation_is_encoded_frame_by_frame_with_its_config(tmp_path: Path) -> None:
    job = _job(tmp_path, 1, 1, configs=True)
    with _stage() as stage:
        for result in _animation(job, 4):
            stage.put(result)
        stage.put(AnimationEnd(_animation(job, 0)[0].job, "env"))
    ((_, paths),) = stage.written
    assert [path.name for path in paths] == ["s_1_st_0-5_g_5-0_i_2_step_1.mp4",
                                             *(f"s_1_st_0-5_g_5-0_i_2_step_1_frame_{n}.png" for n in range(4))]
    with open_media(paths[0]) as source:
        assert [identify(frame) for frame in source] == [0, 1, 2, 3]
    assert (tmp_path / "s_1_st_0-5_g_5-0_i_2_step_1.dgen").is_file()


def test_a_stop_writes_what_is_queued_and_finishes_the_animation_playable(tmp_path: Path) -> None:
    job = _job(tmp_path, 1, 1, configs=True)
    stage = _stage()
    with pytest.raises(KeyboardInterrupt), stage:
        stage.put(Still(_job(tmp_path, 9, 2), solid(9), "env"))
        for result in _animation(job, 3):
            stage.put(result)
        raise KeyboardInterrupt
    assert [paths[0].name for _, paths in stage.written] == ["s_9_g_5-0_i_2_step_2.png"], \
        "the unfinished one is not done"
    (animation,) = tmp_path.glob("*.mp4")
    with open_media(animation) as source:
        assert [identify(frame) for frame in source] == [0, 1, 2]
    assert not list(tmp_path.glob("*step_1.dgen")), "an interrupted animation has no config"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_an_error_writes_what_is_queued_and_leaves_no_unfinished_animation(tmp_path: Path) -> None:
    stage = _stage()
    with pytest.raises(RuntimeError, match="a failed frame"), stage:
        stage.put(Still(_job(tmp_path, 9, 2), solid(9), "env"))
        for result in _animation(_job(tmp_path, 1, 1), 2):
            stage.put(result)
        raise RuntimeError("a failed frame")
    assert (tmp_path / "s_9_g_5-0_i_2_step_2.png").is_file()
    assert len(list(tmp_path.glob("*_frame_*.png"))) == 2, "the frames made are kept"
    assert not list(tmp_path.glob("*.mp4")) and not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_a_failure_to_write_stops_the_rendering_thread_with_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    blocked = _job(tmp_path / "taken" / "inside", 1, 1)
    stage, put = _stage(), []
    with pytest.raises(OutputError, match=r"--output-path .* cannot be created"), stage:
        for number in range(50):
            stage.put(Still(replace(blocked, seed=number), solid(0), "env"))
            put.append(number)
    assert len(put) < 50, "the failure reaches the rendering thread at its next put, not at the end"
    assert stage.written == []

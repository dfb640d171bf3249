"""Video models (Wan, LTX-Video) over the grid: a job makes one clip, written as an animation and as its frames'
PNGs, recorded and made again byte for byte from its config and from a frame's metadata; frame counts are a grid axis
checked against the model's rule; the dry run, --resume and the contact sheet know clips."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.models.cache import ModelCache
from dgenerate.reproduce import read_config, read_png_config, recorded_job_id
from tests.conftest import RunCli
from tests.models.conftest import assert_close

_CACHE = ModelCache()
_CLIP = ("--output-size", "48x32", "--frames", "9", "--inference-steps", "3", "--prompts", "a red circle",
         "--cpu-threads", "1", "--output-configs", "--output-metadata")


def _argv(model: Path, *more: str) -> list[str]:
    return [str(model), *_CLIP, *more]


def _render(argv: list[str], folder: Path) -> list[tuple[dgenerate.Job, list[Path]]]:
    from dgenerate.render.loop import render_with_jobs

    return render_with_jobs(parse_invocation([*argv, "-o", str(folder)])[0], _CACHE, progress=False)


def _decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _frames(paths: list[Path]) -> list[bytes]:
    """The frame PNGs' pixels (what the pipeline decoded), each checked not blank."""
    pixels = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
    assert all(each.std() > 1 for each in pixels), "a blank frame would reproduce trivially"
    return [each.tobytes() for each in pixels]


def test_a_clip_is_the_pipelines_frames_written_as_an_animation_and_as_pngs(tiny_wan: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import WanPipeline

    ((job, paths),) = _render(_argv(tiny_wan, "--seeds", "7", "-af", "apng"), tmp_path / "run")
    clip, frames = paths[0], paths[1:]
    assert clip.name == "s_7_g_5-0_i_3_nf_9_fs_3-0_step_1.apng" and len(frames) == 9
    assert [path.name for path in frames] == [f"{clip.stem}_frame_{k}.png" for k in range(9)]
    assert (job.frames, job.frame_rate, job.width, job.height) == (9, 16.0, 48, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job records
    try:
        plain = WanPipeline.from_pretrained(tiny_wan)(
            "a red circle", negative_prompt="", height=32, width=48, num_frames=9, num_inference_steps=3,
            guidance_scale=5.0, generator=[torch.Generator().manual_seed(7)], output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(frames) == [np.asarray(frame).tobytes() for frame in plain], "plain diffusers, byte for byte"
    assert [each.tobytes() for each in _decoded(clip)] == _frames(frames), "APNG is lossless"
    assert len(set(_frames(frames))) > 1, "the frames move"


def test_an_mp4_clip_holds_its_frames_within_h264s_loss(tiny_wan: Path, tmp_path: Path) -> None:
    ((_, paths),) = _render(_argv(tiny_wan, "--seeds", "7", "--output-size", "64x64"), tmp_path)
    decoded = _decoded(paths[0])
    assert len(decoded) == 9 and decoded[0].shape == (64, 64, 3)
    for frame, png in zip(decoded, paths[1:], strict=True):
        difference = np.abs(frame.astype(int) - np.asarray(Image.open(png).convert("RGB")))
        assert difference.mean() < 4, "lossy, at crf 18"


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_clip_is_made_again_from_its_config_and_from_a_frames_metadata(
        tiny_wan: Path, batch_size: int, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = _argv(tiny_wan, "--seeds", "11", "22", "--batch-size", str(batch_size), "-af", "apng")
    written = _render(argv, tmp_path / "run")
    (job, paths) = written[1]
    config = paths[0].with_suffix(".dgen")
    recorded = config.read_text()
    assert read_config(recorded) == [job] and recorded_job_id(recorded) == job.job_id
    assert "--frames 9" in recorded and "--frame-rate 16" in recorded and "--animation-format apng" in recorded

    monkeypatch.chdir(tmp_path)
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:])
    assert again[0].read_bytes() == paths[0].read_bytes(), "the same APNG, byte for byte"

    (tmp_path / "png").mkdir()
    monkeypatch.chdir(tmp_path / "png")
    result = run_cli(stdin=read_png_config(paths[5]))  # a frame's metadata makes its whole clip
    assert result.code == 0, result.err
    frames = sorted((tmp_path / "png" / "output").glob("*_frame_*.png"), key=lambda path: int(path.stem.split("_")[-1]))
    assert _frames(frames) == _frames(paths[1:])

    alone = _render(_argv(tiny_wan, "--seeds", "22"), tmp_path / "alone")
    if batch_size == 1:
        assert _frames(alone[0][1][1:]) == _frames(paths[1:])
    else:  # another batch shape: within the documented bound
        for single, batched in zip(_frames(alone[0][1][1:]), _frames(paths[1:]), strict=True):
            assert_close(single, batched)


def test_frame_counts_are_a_grid_axis_in_the_names(tiny_wan: Path, tmp_path: Path) -> None:
    argv = [str(tiny_wan), "--output-size", "32x32", "--frames", "5", "13", "--inference-steps", "2", "--prompts",
            "a cat", "--seeds", "3", "--frame-rate", "8", "-af", "apng"]
    written = _render(argv, tmp_path)
    assert [(job.frames, job.frame_rate, paths[0].name, len(paths) - 1) for job, paths in written] == [
        (5, 8.0, "s_3_g_5-0_i_2_nf_5_fs_3-0_step_1.apng", 5),
        (13, 8.0, "s_3_g_5-0_i_2_nf_13_fs_3-0_step_2.apng", 13)]
    with Image.open(written[1][1][0]) as apng:
        assert (apng.n_frames, apng.info["duration"]) == (13, 125), "8 frames a second"


def test_the_dry_run_resume_and_contact_sheet_know_clips(tiny_wan: Path, tmp_path: Path, run_cli: RunCli) -> None:
    argv = [*_argv(tiny_wan, "--seeds", "1", "2"), "-o", str(tmp_path)]
    listed = run_cli(*argv, "--dry-run")
    assert listed.code == 0 and "s_1_g_5-0_i_3_nf_9_fs_3-0_step_1.mp4 48x32" in listed.out
    assert "clip of 9 frames at 16 a second, written also as" in listed.out and not list(tmp_path.iterdir())
    assert run_cli(*argv, "--contact-sheet").code == 0
    with Image.open(tmp_path / "contact-sheet.png") as sheet:
        strip = np.asarray(sheet.convert("RGB"))
    assert strip.shape[1] > 2 * 4 * 48 * 0.9, "each cell a strip of four frames"
    for suffix in (".mp4", ".dgen"):
        (tmp_path / f"s_2_g_5-0_i_3_nf_9_fs_3-0_step_2{suffix}").unlink()
    resumed = run_cli(*argv, "--resume")
    assert resumed.code == 0, resumed.err
    assert "1 of 2 images are already made" in resumed.err
    assert (tmp_path / "s_2_g_5-0_i_3_nf_9_fs_3-0_step_2.mp4").is_file()


@pytest.mark.parametrize(("more", "message"), [
    (("--frames", "10"), "--frames 10 is not a multiple of 4 plus one, which this Wan model needs; use 9 or 13"),
    (("--output-size", "40x32"), "--output-size 40x32 is not a multiple of 16"),
    (("--scheduler", "EulerDiscreteScheduler"), "does not run torch-wan models, which denoise by flow matching; use "
     "one of: FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler, FlowMatchLCMScheduler, "
     "UniPCMultistepScheduler, DPMSolverMultistepScheduler"),
])
def test_a_clip_off_the_models_rules_is_one_line(tiny_wan: Path, tmp_path: Path, run_cli: RunCli,
                                                 more: tuple[str, ...], message: str) -> None:
    image = tmp_path / "seed.png"
    Image.new("RGB", (48, 32), "red").save(image)
    result = run_cli(*_argv(tiny_wan), *(word.format(image=image) for word in more), "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 2 and not (tmp_path / "out").exists()


def test_wans_own_scheduler_and_the_flow_matching_ones_run_it(tiny_wan: Path, tmp_path: Path) -> None:
    made = {}
    for scheduler in ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "FlowMatchEulerDiscreteScheduler"):
        ((job, paths),) = _render(_argv(tiny_wan, "--seeds", "4", "--scheduler", scheduler), tmp_path / scheduler)
        assert job.scheduler == scheduler
        made[scheduler] = _frames(paths[1:])
    assert len({tuple(frames) for frames in made.values()}) == 3, "each scheduler makes its own clip"


def test_an_image_model_refuses_frames(tiny_model: Path, run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--frames", "9", "-o", str(tmp_path))
    assert result.code == 2
    assert "--frames is for video models (torch-wan, torch-ltx, torch-ltx2)" in result.err
    assert "leave it out" in result.err


def _plain_ltx(model: Path, seed: int, frame_rate: float) -> list[bytes]:
    import torch
    from diffusers import LTXPipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job records
    try:
        frames = LTXPipeline.from_pretrained(model)(
            "a red circle", negative_prompt="", height=32, width=64, num_frames=9, frame_rate=frame_rate,
            num_inference_steps=3, guidance_scale=5.0, generator=[torch.Generator().manual_seed(seed)],
            output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    return [np.asarray(frame).tobytes() for frame in frames]


def test_an_ltx_clip_is_the_pipelines_frames_at_the_frame_rate_it_is_told(tiny_ltx: Path, tmp_path: Path) -> None:
    runs = {rate: _render(_argv(tiny_ltx, "--output-size", "64x32", "--seeds", "5", "--frame-rate", rate),
                          tmp_path / rate) for rate in ("25", "12")}
    ((job, paths),) = runs["25"]
    assert (job.model.model_type, job.frames, job.frame_rate, job.width, job.height) == ("torch-ltx", 9, 25.0, 64, 32)
    assert _frames(paths[1:]) == _plain_ltx(tiny_ltx, 5, 25.0), "plain diffusers, byte for byte"
    assert _frames(runs["12"][0][1][1:]) == _plain_ltx(tiny_ltx, 5, 12.0), "LTX reads the frame rate"
    assert _frames(runs["12"][0][1][1:]) != _frames(paths[1:])


def test_an_ltx_clip_is_made_again_from_its_config(tiny_ltx: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ((job, paths),) = _render(_argv(tiny_ltx, "--output-size", "64x32", "--seeds", "8", "-af", "apng",
                                    "--max-sequence-length", "64"), tmp_path / "run")
    recorded = paths[0].with_suffix(".dgen").read_text()
    assert read_config(recorded) == [job] and "--model-type torch-ltx" in recorded
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:]) and again[0].read_bytes() == paths[0].read_bytes()


@pytest.mark.parametrize(("more", "message"), [
    (("--frames", "11"), "--frames 11 is not a multiple of 4 plus one, which this LTX-Video model needs; use 9 or 13"),
    (("--output-size", "48x32"), "--output-size 48x32 is not a multiple of 32"),
])
def test_an_ltx_clip_off_its_rules_is_one_line(tiny_ltx: Path, tmp_path: Path, run_cli: RunCli,
                                               more: tuple[str, ...], message: str) -> None:
    result = run_cli(*_argv(tiny_ltx, "--output-size", "64x32"), *more, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_a_wan_image_to_video_clip_starts_from_the_image_seed(tiny_wan_i2v: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from diffusers import WanImageToVideoPipeline

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), "navy").save(photo)
    ((job, paths),) = _render([str(tiny_wan_i2v), "--image-seeds", str(photo), *_CLIP[2:], "--seeds", "6", "-af",
                               "apng"], tmp_path / "run")
    assert (job.width, job.height, job.frames, job.strength) == (64, 48, 9, None), "the seed's size, no strength"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = WanImageToVideoPipeline.from_pretrained(tiny_wan_i2v)(
            image=Image.open(photo).convert("RGB"), prompt="a red circle", negative_prompt="", height=48, width=64,
            num_frames=9, num_inference_steps=3, guidance_scale=5.0, generator=[torch.Generator().manual_seed(6)],
            output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain], "plain diffusers, byte for byte"
    recorded = paths[0].with_suffix(".dgen").read_text()
    assert f"--image-seeds '{photo};64x48'" in recorded and read_config(recorded) == [job]
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:]) and again[0].read_bytes() == paths[0].read_bytes()


def test_a_wan_image_to_video_model_needs_an_image_and_takes_no_strength(tiny_wan_i2v: Path, tmp_path: Path,
                                                                          run_cli: RunCli) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), "navy").save(photo)
    for more, message in (((), "is a Wan image-to-video model, which starts its clip from an image: give --image-seeds "
                                "photo.png"),
                          (("--image-seeds", str(photo), "--image-seed-strengths", "0.5"),
                           "a Wan image-to-video model takes no strength")):
        result = run_cli(str(tiny_wan_i2v), *_CLIP[2:], *more, "-o", str(tmp_path / "out"))
        assert result.code == 2 and message in result.err and not (tmp_path / "out").exists()


def test_flow_shifts_are_a_grid_axis_each_the_schedulers_own_shift(tiny_wan: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline

    written = _render(_argv(tiny_wan, "--seeds", "2", "--flow-shifts", "1.5", "6"), tmp_path / "run")
    assert [(job.flow_shift, paths[0].name) for job, paths in written] == [
        (1.5, "s_2_g_5-0_i_3_nf_9_fs_1-5_step_1.mp4"), (6.0, "s_2_g_5-0_i_3_nf_9_fs_6-0_step_2.mp4")]
    pipeline = WanPipeline.from_pretrained(tiny_wan)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for job, paths in written:
            pipeline.scheduler = UniPCMultistepScheduler.from_config(pipeline.scheduler.config,
                                                                     flow_shift=job.flow_shift)
            plain = pipeline("a red circle", negative_prompt="", height=32, width=48, num_frames=9,
                             num_inference_steps=3, generator=[torch.Generator().manual_seed(2)],
                             output_type="pil").frames[0]
            assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain]
    finally:
        torch.set_num_threads(threads)
    assert _frames(written[0][1][1:]) != _frames(written[1][1][1:])
    ((default, _),) = _render(_argv(tiny_wan, "--seeds", "2"), tmp_path / "default")
    assert default.flow_shift == 3.0, "the model's own shift, recorded"


def test_a_wan_2_2_folder_runs_both_experts_as_plain_diffusers_does(tiny_wan22: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import WanPipeline

    ((_, paths),) = _render(_argv(tiny_wan22, "--seeds", "9", "--inference-steps", "8", "-af", "apng"), tmp_path)
    pipeline = WanPipeline.from_pretrained(tiny_wan22)
    assert pipeline.transformer_2 is not None and pipeline.config.boundary_ratio == 0.875
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = pipeline("a red circle", negative_prompt="", height=32, width=48, num_frames=9,
                         num_inference_steps=8, generator=[torch.Generator().manual_seed(9)],
                         output_type="pil").frames[0]
        single = WanPipeline(tokenizer=pipeline.tokenizer, text_encoder=pipeline.text_encoder, vae=pipeline.vae,
                             transformer=pipeline.transformer, scheduler=pipeline.scheduler)  # the first expert alone
        alone = single("a red circle", negative_prompt="", height=32, width=48, num_frames=9,
                       num_inference_steps=8, generator=[torch.Generator().manual_seed(9)],
                       output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain]
    assert _frames(paths[1:]) != [np.asarray(frame).tobytes() for frame in alone], "the second expert takes part"


def _source_video(folder: Path, frames: int, size: tuple[int, int] = (48, 32)) -> Path:
    """An MP4 of a square moving right, `frames` long, at 16 frames a second."""
    from fractions import Fraction

    from PIL import ImageDraw

    from dgenerate.media import AnimationWriter

    path = folder / "moving.mp4"
    with AnimationWriter(path, "mp4", Fraction(16), size) as writer:
        for index in range(frames):
            picture = Image.new("RGB", size, "navy")
            ImageDraw.Draw(picture).rectangle((2 + 2 * index, 8, 14 + 2 * index, 20), fill="orange")
            writer.write(picture)
    return path


def _assert_replayed_at_strength(job: dgenerate.Job, paths: list[Path], folder: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The clip's config records its strength and makes the clip again: its frames and its APNG, byte for byte."""
    recorded = paths[0].with_suffix(".dgen").read_text()
    assert "--image-seed-strengths 0.6" in recorded and read_config(recorded) == [job]
    folder.mkdir()
    monkeypatch.chdir(folder)
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:]) and again[0].read_bytes() == paths[0].read_bytes()


def test_a_wan_text_to_video_model_changes_a_video(tiny_wan: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from diffusers import WanVideoToVideoPipeline

    from dgenerate.media import open_seed

    video = _source_video(tmp_path, 12)
    argv = [str(tiny_wan), "--image-seeds", str(video), "--image-seed-strengths", "0.6", *_CLIP[2:], "--seeds", "3",
            "-af", "apng"]
    ((job, paths),) = _render(argv, tmp_path / "run")
    assert (job.frames, job.strength, job.width, job.height, len(paths) - 1) == (9, 0.6, 48, 32, 9)
    with open_seed(video) as source:
        frames = [image.convert("RGB") for image, _, _ in itertools.islice(source, 9)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = WanVideoToVideoPipeline.from_pretrained(tiny_wan)(
            video=frames, prompt="a red circle", negative_prompt="", height=32, width=48, strength=0.6,
            num_inference_steps=3, guidance_scale=5.0, generator=[torch.Generator().manual_seed(3)],
            output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain], "plain diffusers, byte for byte"
    _assert_replayed_at_strength(job, paths, tmp_path / "again", monkeypatch)


def test_video_to_video_needs_a_video_as_long_as_the_clip(tiny_wan: Path, tmp_path: Path, run_cli: RunCli) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (48, 32), "navy").save(still)
    short = _source_video(tmp_path, 7)
    for seed, message in ((still, "is a still image, and a Wan text-to-video model changes a video (video to video): "
                                  "give a video, or use an image-to-video model to start a clip from a picture"),
                          (short, "has 7 frames (from --frame-start to --frame-end), fewer than --frames 9: use "
                                  "--frames 5 or a longer video")):
        result = run_cli(*_argv(tiny_wan), "--image-seeds", str(seed), "-o", str(tmp_path / "out"))
        assert result.code == 2 and message in result.err and not (tmp_path / "out").exists()


def test_a_two_expert_models_low_noise_guidance_is_a_grid_axis(tiny_wan22: Path, tiny_wan: Path, tmp_path: Path,
                                                               run_cli: RunCli) -> None:
    import torch
    from diffusers import WanPipeline

    written = _render(_argv(tiny_wan22, "--seeds", "9", "--inference-steps", "8", "--low-noise-guidance-scales", "2",
                            "8"), tmp_path / "run")
    assert [(job.low_noise_guidance_scale, paths[0].name) for job, paths in written] == [
        (2.0, "s_9_g_5-0_lg_2-0_i_8_nf_9_fs_3-0_step_1.mp4"), (8.0, "s_9_g_5-0_lg_8-0_i_8_nf_9_fs_3-0_step_2.mp4")]
    assert "--low-noise-guidance-scales 2" in written[0][1][0].with_suffix(".dgen").read_text()
    pipeline = WanPipeline.from_pretrained(tiny_wan22)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = pipeline("a red circle", negative_prompt="", height=32, width=48, num_frames=9, num_inference_steps=8,
                         guidance_scale_2=2.0, generator=[torch.Generator().manual_seed(9)],
                         output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(written[0][1][1:]) == [np.asarray(frame).tobytes() for frame in plain]
    assert _frames(written[0][1][1:]) != _frames(written[1][1][1:])
    one = run_cli(*_argv(tiny_wan), "--low-noise-guidance-scales", "2", "-o", str(tmp_path / "out"))
    assert one.code == 2 and "--low-noise-guidance-scales is for Wan models with two experts" in one.err


def test_a_first_and_last_frame_model_ends_the_clip_on_the_last_frame_given(
        tiny_wan_flf2v: Path, tiny_wan_i2v: Path, tmp_path: Path, run_cli: RunCli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from diffusers import WanImageToVideoPipeline

    first, last = tmp_path / "first.png", tmp_path / "last.png"
    Image.new("RGB", (64, 48), "navy").save(first)
    Image.new("RGB", (64, 48), "orange").save(last)
    seed = f"{first};last={last}"
    ((job, paths),) = _render([str(tiny_wan_flf2v), "--image-seeds", seed, *_CLIP[2:], "--seeds", "6", "-af", "apng"],
                              tmp_path / "run")
    assert job.image_seed is not None and job.image_seed.last == str(last)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipeline = WanImageToVideoPipeline.from_pretrained(tiny_wan_flf2v)
        plain = [pipeline(image=Image.open(first).convert("RGB"), prompt="a red circle", negative_prompt="", height=48,
                          width=64, num_frames=9, num_inference_steps=3, guidance_scale=5.0,
                          generator=[torch.Generator().manual_seed(6)], output_type="pil",
                          last_image=ending).frames[0]
                 for ending in (Image.open(last).convert("RGB"), Image.new("RGB", (64, 48), "green"))]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain[0]], "plain diffusers, byte for byte"
    assert _frames(paths[1:]) != [np.asarray(frame).tobytes() for frame in plain[1]], "another last frame, another clip"
    recorded = paths[0].with_suffix(".dgen").read_text()
    assert f"--image-seeds '{first};last={last};64x48'" in recorded and read_config(recorded) == [job]
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:])
    for model, message in ((tiny_wan_i2v, "reads no last frame (a first-and-last-frame model does, such as "
                                          "Wan2.1-FLF2V): remove ';last="),):
        result = run_cli(str(model), "--image-seeds", seed, *_CLIP[2:], "-o", str(tmp_path / "out"))
        assert result.code == 2 and message in result.err and not (tmp_path / "out").exists()


def test_a_last_frame_is_written_last_and_needs_an_image() -> None:
    from dgenerate.errors import UsageError
    from dgenerate.plan import parse_image_seed

    seed = parse_image_seed("/a/first.png;last=/a/end.png;64x48")
    assert (seed.image, seed.last, seed.size, str(seed)) == ("/a/first.png", "/a/end.png", (64, 48),
                                                            "/a/first.png;last=/a/end.png;64x48")
    plain = dgenerate.Job(dgenerate.ModelSpec("m"), "p", None, 1, 5.0, 2, 64, 48,
                          image_seed=parse_image_seed("/a/first.png"))
    assert '"last"' not in plain.canonical_json(), "seeds without it keep their ids"
    for text in ("/a/first.png;last=", "last=/a/end.png"):
        with pytest.raises(UsageError, match=r"or ';last=l\.png'"):
            parse_image_seed(text)


def test_an_ltx_folder_starts_a_clip_from_an_image(tiny_ltx: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import LTXImageToVideoPipeline

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 32), "teal").save(photo)
    ((job, paths),) = _render([str(tiny_ltx), "--image-seeds", str(photo), *_CLIP[2:], "--seeds", "4"], tmp_path)
    assert (job.width, job.height, job.frames, job.strength) == (64, 32, 9, None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = LTXImageToVideoPipeline.from_pretrained(tiny_ltx)(
            image=Image.open(photo).convert("RGB"), prompt="a red circle", negative_prompt="", height=32, width=64,
            num_frames=9, frame_rate=25.0, num_inference_steps=3, guidance_scale=5.0,
            generator=[torch.Generator().manual_seed(4)], output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain], "plain diffusers, byte for byte"


def _plain_ltx_video_to_video(model: Path, frames: list[Image.Image], strength: float, seed: int) -> list[bytes]:
    """What a plain diffusers script does for LTX video to video: LTXConditionPipeline from the video's latents (its
    VAE's mean, normalised as the pipeline does), on the scheduler unshifted, at one thread."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipeline = LTXConditionPipeline.from_pretrained(model)
        pipeline.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipeline.scheduler.config,
                                                                         use_dynamic_shifting=False)
        with torch.no_grad():
            encoded = pipeline.vae.encode(pipeline.video_processor.preprocess_video(frames, 32, 64)).latent_dist.mode()
        latents = pipeline._normalize_latents(encoded, pipeline.vae.latents_mean, pipeline.vae.latents_std)
        made = pipeline(prompt="a red circle", negative_prompt="", latents=latents, denoise_strength=strength,
                        height=32, width=64, num_frames=9, frame_rate=25.0, num_inference_steps=5, guidance_scale=5.0,
                        generator=[torch.Generator().manual_seed(seed)], output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    return [np.asarray(frame).tobytes() for frame in made]


def test_an_ltx_folder_changes_a_video_given_a_strength(tiny_ltx: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from dgenerate.media import open_seed

    video = _source_video(tmp_path, 12, (64, 32))
    argv = [str(tiny_ltx), "--image-seeds", str(video), "--image-seed-strengths", "0.6", *_CLIP[2:], "--seeds", "3",
            "--inference-steps", "5", "-af", "apng"]
    ((job, paths),) = _render(argv, tmp_path / "run")
    assert (job.frames, job.strength, job.width, job.height, len(paths) - 1) == (9, 0.6, 64, 32, 9)
    with open_seed(video) as source:
        frames = [image.convert("RGB") for image, _, _ in itertools.islice(source, 9)]
    assert _frames(paths[1:]) == _plain_ltx_video_to_video(tiny_ltx, frames, 0.6, 3), "plain diffusers, byte for byte"
    assert _frames(paths[1:]) != _plain_ltx_video_to_video(tiny_ltx, frames, 0.9, 3), "the strength counts"
    _assert_replayed_at_strength(job, paths, tmp_path / "again", monkeypatch)


def test_ltx_video_to_video_needs_a_video(tiny_ltx: Path, tmp_path: Path, run_cli: RunCli) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 32), "navy").save(still)
    result = run_cli(*_argv(tiny_ltx, "--output-size", "64x32"), "--image-seeds", str(still), "--image-seed-strengths",
                     "0.5", "-o", str(tmp_path / "out"))
    assert result.code == 2 and not (tmp_path / "out").exists()
    assert "is a still image, and an LTX-Video model given a strength changes a video (video to video): give a " \
           "video, or leave out --image-seed-strengths to start a clip from a picture" in result.err


def test_ltx_decodes_at_the_timestep_and_noise_it_is_given(tiny_ltx_091: Path, tiny_ltx: Path, tmp_path: Path,
                                                           run_cli: RunCli) -> None:
    import torch
    from diffusers import LTXPipeline

    decode = ("--ltx-decode-timestep", "0.05", "--ltx-decode-noise-scale", "0.025")
    ((job, paths),) = _render(_argv(tiny_ltx_091, "--output-size", "64x32", "--seeds", "5", *decode), tmp_path / "a")
    ((_, default),) = _render(_argv(tiny_ltx_091, "--output-size", "64x32", "--seeds", "5"), tmp_path / "b")
    assert (job.ltx_decode_timestep, job.ltx_decode_noise_scale) == (0.05, 0.025)
    assert "--ltx-decode-timestep 0.05" in paths[0].with_suffix(".dgen").read_text()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = LTXPipeline.from_pretrained(tiny_ltx_091)(
            "a red circle", negative_prompt="", height=32, width=64, num_frames=9, frame_rate=25.0,
            num_inference_steps=3, guidance_scale=5.0, decode_timestep=0.05, decode_noise_scale=0.025,
            generator=[torch.Generator().manual_seed(5)], output_type="pil").frames[0]
    finally:
        torch.set_num_threads(threads)
    assert _frames(paths[1:]) == [np.asarray(frame).tobytes() for frame in plain], "plain diffusers, byte for byte"
    assert _frames(paths[1:]) != _frames(default[1:])
    refused = run_cli(*_argv(tiny_ltx, "--output-size", "64x32"), *decode, "-o", str(tmp_path / "out"))
    assert refused.code == 2 and "--ltx-decode-timestep is for LTX-Video models whose VAE decodes at a timestep" \
        in refused.err


def test_bfloat16_and_vae_tiling_are_recorded_and_replay(tiny_wan: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ((job, paths),) = _render(_argv(tiny_wan, "--seeds", "12", "--dtype", "bfloat16", "--vae-tiling", "-af", "apng"),
                              tmp_path / "run")
    recorded = paths[0].with_suffix(".dgen").read_text()
    assert "--dtype bfloat16" in recorded and "--vae-tiling" in recorded and read_config(recorded) == [job]
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert _frames(again[1:]) == _frames(paths[1:]) and again[0].read_bytes() == paths[0].read_bytes()

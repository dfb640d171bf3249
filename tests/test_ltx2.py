"""LTX-2: a clip with its sound. The frames and the sound are plain diffusers' byte for byte; the sound is written as a
WAV file beside the clip and into an MP4, and a config remakes both exactly."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.media.sound import Sound, wav_bytes
from dgenerate.models.cache import ModelCache
from dgenerate.reproduce import read_config
from tests.conftest import RunCli

_CACHE = ModelCache()
_CLIP = ("--output-size", "64x32", "--frames", "9", "--inference-steps", "3", "--prompts", "a red circle",
         "--max-sequence-length", "64", "--cpu-threads", "1", "--output-configs", "--output-metadata")


def _render(argv: list[str], folder: Path) -> list[tuple[dgenerate.Job, list[Path]]]:
    from dgenerate.render.loop import render_with_jobs

    return render_with_jobs(parse_invocation([*argv, "-o", str(folder)])[0], _CACHE, progress=False)


def _frames(paths: list[Path]) -> list[bytes]:
    pixels = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
    assert all(each.std() > 1 for each in pixels), "a blank frame would reproduce trivially"
    return [each.tobytes() for each in pixels]


def _plain(model: Path, seed: int, image: Image.Image | None = None) -> tuple[list[bytes], bytes]:
    """A plain diffusers script at one thread, with the pipeline's own defaults: the frames' pixels and the sound as
    a WAV file."""
    import torch
    from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        arguments = dict(prompt="a red circle", negative_prompt="", height=32, width=64, num_frames=9,
                         frame_rate=24.0, num_inference_steps=3, guidance_scale=5.0, max_sequence_length=64,
                         generator=[torch.Generator().manual_seed(seed)], output_type="pil")
        if image is None:
            made = LTX2Pipeline.from_pretrained(model)(**arguments)
        else:
            made = LTX2ImageToVideoPipeline.from_pretrained(model)(image=image, **arguments)
    finally:
        torch.set_num_threads(threads)
    sound = Sound(made.audio[0].float().numpy(), 16000)
    return [np.asarray(frame).tobytes() for frame in made.frames[0]], wav_bytes(sound)


def test_an_ltx2_clip_and_its_sound_are_the_pipelines(tiny_ltx2: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ((job, paths),) = _render([str(tiny_ltx2), *_CLIP, "--seeds", "5", "-af", "apng"], tmp_path / "run")
    assert (job.model.model_type, job.frames, job.frame_rate, job.max_sequence_length) == ("torch-ltx2", 9, 24.0, 64)
    clip, *frames, sound = paths
    assert (clip.suffix, len(frames), sound.suffix) == (".apng", 9, ".wav")
    pixels, plain_sound = _plain(tiny_ltx2, 5)
    assert _frames(frames) == pixels, "plain diffusers' frames, byte for byte"
    assert sound.read_bytes() == plain_sound, "and its sound"
    with wave.open(str(sound)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16000) and np.abs(samples).max() > 100
    recorded = clip.with_suffix(".dgen").read_text()
    assert "--model-type torch-ltx2" in recorded and read_config(recorded) == [job]
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(recorded), _CACHE)
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in paths], \
        "the config remakes the clip, its frames and its sound byte for byte"


def test_an_ltx2_mp4_carries_the_sound(tiny_ltx2: Path, tmp_path: Path) -> None:
    import av

    ((_, paths),) = _render([str(tiny_ltx2), *_CLIP, "--seeds", "5"], tmp_path)
    with av.open(str(paths[0])) as container:
        kinds = {stream.type: stream for stream in container.streams}
        assert kinds["video"].frames == 9 and kinds["audio"].codec_context.name == "aac"
        assert kinds["audio"].codec_context.sample_rate == 16000
        decoded = np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=1)
    assert np.abs(decoded).max() > 0.001, "the sound is heard"


def test_an_ltx2_folder_starts_a_clip_from_an_image(tiny_ltx2: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 32), "teal").save(photo)
    ((job, paths),) = _render([str(tiny_ltx2), "--image-seeds", str(photo), *_CLIP[2:], "--seeds", "4"], tmp_path)
    assert (job.width, job.height, job.strength) == (64, 32, None)
    pixels, sound = _plain(tiny_ltx2, 4, Image.open(photo).convert("RGB"))
    assert _frames(paths[1:-1]) == pixels and paths[-1].read_bytes() == sound


def test_the_dry_run_lists_an_ltx2_clips_sound(tiny_ltx2: Path, tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    listed = run_cli(str(tiny_ltx2), *_CLIP, "--seeds", "5", "-o", str(out), "--dry-run")
    assert listed.code == 0 and not out.exists()
    assert f"its sound {out / 's_5_g_5-0_i_3_nf_9_step_1'}.wav" in listed.out


@pytest.mark.parametrize(("more", "message"), [
    (("--frames", "10"), "--frames 10 is not a multiple of 2 plus one, which this LTX-2 model needs; use 9 or 11"),
    (("--output-size", "48x32"), "multiple of 32"),
    (("--max-sequence-length", "2000"), "--max-sequence-length '2000' is out of range: use a value from 1 to 1024"),
])
def test_an_ltx2_clip_off_its_rules_is_one_line(tiny_ltx2: Path, tmp_path: Path, run_cli: RunCli,
                                               more: tuple[str, ...], message: str) -> None:
    result = run_cli(str(tiny_ltx2), *_CLIP, *more, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err and result.err.count("error:") == 1
    assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_a_gemma_sequence_is_longer_than_t5s(tiny_ltx2: Path, tiny_ltx: Path, tmp_path: Path,
                                            run_cli: RunCli) -> None:
    """LTX-2 reads up to 1024 prompt tokens (its default); the T5 families stay at 512."""
    listed = run_cli(str(tiny_ltx2), *_CLIP, "--max-sequence-length", "1024", "--dry-run")
    assert listed.code == 0, listed.err
    refused = run_cli(str(tiny_ltx), *_CLIP, "--max-sequence-length", "600", "-o", str(tmp_path / "out"))
    assert refused.code == 2 and "--max-sequence-length 600 is too long for LTX-Video: use 1 to 512" in refused.err


def test_a_batched_ltx2_clip_is_made_again_from_its_config(tiny_ltx2: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.models.conftest import assert_close

    written = _render([str(tiny_ltx2), *_CLIP, "--seeds", "5", "6", "--batch-size", "2", "-af", "apng"],
                      tmp_path / "run")
    job, paths = written[1]
    assert (job.seed, job.batch_size, job.batch_slot) == (6, 2, 1)
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    again = dgenerate.render(dgenerate.load_config(paths[0].with_suffix(".dgen").read_text()), _CACHE)
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in paths], "same shape and slot: bytes"
    ((_, alone),) = _render([str(tiny_ltx2), *_CLIP, "--seeds", "6", "-af", "apng"], tmp_path / "alone")
    for single, batched in zip(_frames(alone[1:-1]), _frames(paths[1:-1]), strict=True):
        assert_close(single, batched)


def test_the_contact_sheet_shows_ltx2_clips_as_strips(tiny_ltx2: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """A clip's written files end with its sound; the strip is made of its frames."""
    result = run_cli(str(tiny_ltx2), *_CLIP, "--seeds", "1", "2", "-o", str(tmp_path), "--contact-sheet")
    assert result.code == 0, result.err
    with Image.open(tmp_path / "contact-sheet.png") as sheet:
        assert sheet.width > 2 * 4 * 64 * 0.9, "each cell a strip of four frames"

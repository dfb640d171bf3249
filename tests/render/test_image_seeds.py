"""Image seeds end to end on the tiny pipeline: img2img, inpainting, animations, slices, reproduction, errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dgenerate.media import open_media
from tests.conftest import RunCli
from tests.media.conftest import write_pillow_animation, write_video

FAST = ("--inference-steps", "4", "--image-seed-strengths", "0.5", "--device", "cpu", "--seeds", "7")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seeds")
    seed = Image.new("RGB", (96, 64), "blue")
    ImageDraw.Draw(seed).ellipse((30, 10, 70, 50), fill="red")
    seed.save(folder / "seed.png")
    mask = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(mask).rectangle((24, 8, 72, 56), fill=255)
    mask.save(folder / "mask.png")
    Image.new("L", (40, 40), 255).save(folder / "small-mask.png")
    return {"seed": folder / "seed.png", "mask": folder / "mask.png", "small-mask": folder / "small-mask.png",
            "mp4": write_video(folder / "clip.mp4", "libx264", Fraction(30000, 1001), 6),
            "gif": write_pillow_animation(folder / "clip.gif", 5, 100),
            "webp": write_pillow_animation(folder / "clip.webp", 4, 125)}


def _image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.mark.parametrize(("seed_text", "extra", "size"), [
    ("{seed}", (), (96, 64)),
    ("{seed};64", (), (64, 40)),
    ("{seed};64x64", (), (64, 64)),
    ("{seed}", ("--output-size", "48"), (48, 32)),
])
def test_img2img_sizes_follow_the_resizing_rule(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                               inputs: dict[str, Path], seed_text: str, extra: tuple[str, ...],
                                               size: tuple[int, int]) -> None:
    result = run_cli(str(tiny_model), "--image-seeds", seed_text.format(seed=inputs["seed"]), *FAST, *extra,
                     "-o", str(tmp_path))
    assert result.code == 0, result.err
    (png,) = tmp_path.glob("*.png")
    assert png.name == "s_7_st_0-5_g_5-0_i_4_step_1.png"
    assert Image.open(png).size == size


def test_inpainting_keeps_the_unmasked_pixels_and_reproduces(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                            inputs: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seed_text = f"{inputs['seed']};{inputs['mask']}"
    result = run_cli(str(tiny_model), "--image-seeds", seed_text, *FAST, "-o", str(tmp_path / "a"),
                     "--output-configs")
    assert result.code == 0, result.err
    (png,) = (tmp_path / "a").glob("*.png")
    out, original = _image(png), _image(inputs["seed"])
    outside = np.asarray(Image.open(inputs["mask"])) == 0
    assert np.array_equal(out[outside], original[outside])
    assert not np.array_equal(out[~outside], original[~outside]), "the masked part is generated"
    monkeypatch.chdir(tmp_path)
    assert run_cli(stdin=png.with_suffix(".dgen").read_text()).code == 0
    (again,) = (tmp_path / "output").glob("*.png")
    assert again.read_bytes() == png.read_bytes()


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webp"])
def test_animation_keeps_frame_count_and_rate(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                             inputs: dict[str, Path], fmt: str) -> None:
    # 29.97 fps survives exactly in mp4; GIF and WebP store delays in 1/100 and 1/1000 s.
    source = {"mp4": "mp4", "gif": "webp", "webp": "gif"}[fmt]
    result = run_cli(str(tiny_model), "--image-seeds", str(inputs[source]), *FAST, "--animation-format", fmt,
                     "-o", str(tmp_path))
    assert result.code == 0, result.err
    with open_media(inputs[source]) as original:
        expected = original.info
    (animation,) = tmp_path.glob(f"*.{fmt}")
    with open_media(animation) as produced:
        assert produced.info.frame_count == expected.frame_count
        assert produced.info.fps == expected.fps
        assert len(list(produced)) == expected.frame_count
    frames = sorted(tmp_path.glob("*_frame_*.png"))
    assert len(frames) == expected.frame_count
    first, last = _image(frames[0]), _image(frames[-1])
    assert not np.array_equal(first, last), "each frame follows its own input frame"


def test_each_frame_regenerates_alone_from_its_config(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                     inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(str(tiny_model), "--image-seeds", f"{inputs['mp4']};{inputs['small-mask'].parent / 'mask.png'}",
                     *FAST, "--output-configs", "-o", str(tmp_path / "a"), "--output-size", "64")
    assert result.code != 0 and "same size" in result.err  # the mask is 96x64, the video 64x48
    result = run_cli(str(tiny_model), "--image-seeds", str(inputs["mp4"]), *FAST, "--output-configs",
                     "--frame-start", "2", "--frame-end", "4", "-o", str(tmp_path / "a"))
    assert result.code == 0, result.err
    frames = sorted((tmp_path / "a").glob("*_frame_*.png"))
    assert [f.name.rsplit("_", 1)[1] for f in frames] == ["2.png", "3.png", "4.png"]
    monkeypatch.chdir(tmp_path)
    assert run_cli(stdin=frames[1].with_suffix(".dgen").read_text()).code == 0
    (again,) = (tmp_path / "output").glob("*.png")
    assert again.read_bytes() == frames[1].read_bytes()
    assert not list((tmp_path / "output").glob("*.mp4")), "a one-frame slice gives a still image"


def test_static_seed_with_animated_mask_repeats_the_seed(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                         inputs: dict[str, Path]) -> None:
    mask_gif = tmp_path / "mask.gif"
    masks = [Image.new("L", (96, 64), 0) for _ in range(3)]
    for k, mask in enumerate(masks):
        ImageDraw.Draw(mask).rectangle((10 + 20 * k, 10, 40 + 20 * k, 50), fill=255)
    masks[0].save(mask_gif, save_all=True, append_images=masks[1:], duration=200)
    result = run_cli(str(tiny_model), "--image-seeds", f"{inputs['seed']};{mask_gif}", *FAST, "-o",
                     str(tmp_path / "out"), "--animation-format", "gif")
    assert result.code == 0, result.err
    assert len(list((tmp_path / "out").glob("*_frame_*.png"))) == 3
    (animation,) = (tmp_path / "out").glob("*.gif")
    with open_media(animation) as produced:
        assert produced.info.frame_count == 3 and produced.info.fps == 5


@pytest.mark.parametrize(("argv", "needle", "code"), [
    (["--image-seeds", "/no/such/seed.png"], "/no/such/seed.png", 1),
    (["--image-seeds", "{seed};{small-mask}"], "same size", 1),
    (["--image-seeds", "{gif}", "--frame-start", "9"], "--frame-start 9 is past the end", 2),
    (["--image-seeds", "{mp4}", "--frame-start", "6", "--frame-end", "8"], "--frame-start 6 is past the end", 2),
    (["--image-seeds", "{seed}", "--image-seed-strengths", "0.1"], "no denoising step", 2),
])
def test_bad_inputs_are_one_line_and_write_nothing(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                   inputs: dict[str, Path], argv: list[str], needle: str,
                                                   code: int) -> None:
    names = {key: str(value) for key, value in inputs.items()}
    argv = [a.format(**names) for a in argv]
    result = run_cli(str(tiny_model), *argv, "--inference-steps", "4", "--device", "cpu", "--seeds", "1", "-o",
                     str(tmp_path / "out"))
    assert result.code == code, "a slice past the input is an argument error (2), like a strength with no step"
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("dgenerate: error:") and needle in line, result.err
    assert not list(tmp_path.glob("out/*"))


def test_image_seed_options_need_image_seeds(run_cli: RunCli) -> None:
    result = run_cli("m", "--frame-start", "1")
    assert result.code == 2 and "--frame-start needs --image-seeds" in result.err


def test_interrupted_animation_is_playable_and_nothing_is_half_written(tiny_model: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    clip = write_pillow_animation(tmp_path / "long.gif", 40, 100)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dgenerate", str(tiny_model), "--image-seeds", str(clip), *FAST, "-o", str(out)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while len(list(out.glob("*_frame_*.png"))) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    frames = len(list(out.glob("*_frame_*.png")))
    (animation,) = out.glob("*.mp4")
    with open_media(animation) as produced:
        decoded = len(list(produced))
    assert 3 <= decoded <= frames <= decoded + 1 < 40
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_url_image_seed_and_mask_are_downloaded(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                inputs: dict[str, Path]) -> None:
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(inputs["seed"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(str(tiny_model), "--image-seeds", f"{base}/seed.png;{base}/mask.png", *FAST,
                         "-o", str(tmp_path / "url"))
        assert result.code == 0, result.err
        assert run_cli(str(tiny_model), "--image-seeds", f"{inputs['seed']};{inputs['mask']}", *FAST,
                       "-o", str(tmp_path / "disk")).code == 0
        missing = run_cli(str(tiny_model), "--image-seeds", f"{base}/missing.png", *FAST, "-o", str(tmp_path / "x"))
    finally:
        server.shutdown()
    (url,), (disk,) = (tmp_path / "url").glob("*.png"), (tmp_path / "disk").glob("*.png")
    assert url.read_bytes() == disk.read_bytes()
    assert missing.code == 1 and f"{base}/missing.png" in missing.err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.tiny_models import build_tiny_sdxl, build_tiny_sdxl_refiner

    folder = tmp_path_factory.mktemp("tiny-sdxl")
    base = build_tiny_sdxl(folder / "base")
    return base, build_tiny_sdxl_refiner(folder / "refiner", base)


def test_sdxl_img2img_and_inpainting_with_refiner_reproduce(run_cli: RunCli, tiny_sdxl: tuple[Path, Path],
                                                           tmp_path: Path, inputs: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    base, refiner = tiny_sdxl
    seeds = (str(inputs["seed"]), f"{inputs['seed']};{inputs['mask']}")
    common = (str(base), "--model-type", "torch-sdxl", "--image-seeds", *seeds, *FAST, "--output-configs")
    assert run_cli(*common, "-o", str(tmp_path / "plain")).code == 0
    result = run_cli(*common, "--sdxl-refiner", str(refiner), "-hnf", "0.5", "-o", str(tmp_path / "refined"))
    assert result.code == 0, result.err
    plain, refined = sorted((tmp_path / "plain").glob("*.png")), sorted((tmp_path / "refined").glob("*.png"))
    assert [p.name.replace("_step_", "_hnf_0-5_step_") for p in plain] == [p.name for p in refined]
    assert len(plain) == 2
    for a, b in zip(plain, refined, strict=True):
        assert not np.array_equal(_image(a), _image(b)), "the refiner takes part"
    outside = np.asarray(Image.open(inputs["mask"])) == 0
    assert np.array_equal(_image(refined[1])[outside], _image(inputs["seed"])[outside])
    monkeypatch.chdir(tmp_path)
    for png in refined:
        assert run_cli(stdin=png.with_suffix(".dgen").read_text()).code == 0
        (again,) = (tmp_path / "output").glob("*.png")
        assert again.read_bytes() == png.read_bytes()
        again.unlink()


def test_ctrl_c_while_the_animation_encoder_opens_exits_130_and_writes_nothing(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path, inputs: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    real_open = av.open

    def interrupted_open(file: object, mode: str = "r", **options: object) -> object:
        if mode == "w":  # the moment the mp4 encoder opens its file
            raise KeyboardInterrupt
        return real_open(file, mode, **options)  # type: ignore[call-overload]

    monkeypatch.setattr(av, "open", interrupted_open)
    result = run_cli(str(tiny_model), "--image-seeds", str(inputs["gif"]), *FAST, "--output-configs",
                     "-o", str(tmp_path / "out"))
    assert result.code == 130, result.err
    assert result.err.strip().splitlines()[-1].startswith("dgenerate: interrupted after 0 of 1 images")
    assert list((tmp_path / "out").iterdir()) == [], "no config of an animation that was never made"


def _halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    pixels = _image(path)
    return pixels[: pixels.shape[0] // 2].mean(axis=(0, 1)), pixels[pixels.shape[0] // 2:].mean(axis=(0, 1))


@pytest.mark.parametrize("degrees", [-90, 180])
def test_a_rotated_phone_video_comes_out_standing_as_it_is_shown(run_cli: RunCli, tmp_path: Path,
                                                                  degrees: int) -> None:
    from tests.media.test_display import STORED, write_displayed

    shown = Image.new("RGB", (64, 96), "blue")
    shown.paste((255, 0, 0), (0, 0, 64, 48))  # red above, blue below, as the phone's screen showed it
    video = write_displayed(tmp_path / "phone.mov", shown.transpose(STORED[degrees]), degrees, count=2)
    # builtin:shapes keeps the picture's layout at a low strength, so the output shows which way it was read.
    result = run_cli("builtin:shapes", "--image-seeds", str(video), "--image-seed-strengths", "0.3",
                     "--inference-steps", "10", "--prompts", "a red square on a blue background", "--seeds", "1",
                     "--cpu-threads", "1", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    frames = sorted((tmp_path / "out").glob("*_frame_*.png"))
    assert len(frames) == 2
    for frame in frames:
        assert Image.open(frame).size == (64, 96)
        top, bottom = _halves(frame)
        assert top[0] > top[2] + 60 and bottom[2] > bottom[0] + 60, (top, bottom)
    (animation,) = (tmp_path / "out").glob("*.mp4")
    with open_media(animation) as written:
        assert written.info.size == (64, 96)


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_a_frame_of_zero_ms_keeps_its_delay_where_the_format_can(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                                 fmt: str) -> None:
    from dgenerate.media._delays import read_delays

    frames = [Image.new("RGB", (48, 32), (60 * index, 0, 255 - 60 * index)) for index in range(4)]
    source = tmp_path / "zero.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=[0, 70, 70, 60], loop=0)
    assert read_delays(source, "GIF") == [Fraction(0), Fraction(7, 100), Fraction(7, 100), Fraction(6, 100)]
    result = run_cli(str(tiny_model), "--image-seeds", str(source), *FAST, "--animation-format", fmt,
                     "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    (animation,) = (tmp_path / "out").glob(f"*.{fmt}")
    if fmt == "mp4":  # no frame can last 0 ms in mp4: a constant rate over the same total, 4 frames in 0.2 s
        import av

        with av.open(str(animation)) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == 20 and stream.frames == 4
        return
    written = read_delays(animation, fmt.upper())
    assert [int(delay * 1000) for delay in written] == [0, 70, 70, 60]

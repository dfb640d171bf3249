"""Adapters through dgenerate: each changes the image, its neutral value leaves it as it was, and a ControlNet makes
the image follow its control image. The reproduction contract for each is in tests/test_reproduction.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import dgenerate
from dgenerate.cli import parse_invocation
from tests.conftest import RunCli

CPU = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "5")


def _image(tmp_path: Path, *argv: str) -> np.ndarray:
    folder = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    (path,) = dgenerate.render(parse_invocation([*argv, *CPU, "-o", str(folder)])[0], progress=False)
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_an_embedding_counts_where_its_token_is_written(tiny_model: Path, sd_embedding: Path,
                                                        tmp_path: Path) -> None:
    model = str(tiny_model)
    with_token = _image(tmp_path, model, "--textual-inversions", str(sd_embedding), "-p", "a red circle, tinystyle")
    loaded_unused = _image(tmp_path, model, "--textual-inversions", str(sd_embedding), "-p", "a red circle")
    assert np.array_equal(loaded_unused, _image(tmp_path, model, "-p", "a red circle"))
    assert not np.array_equal(with_token, loaded_unused)
    renamed = _image(tmp_path, model, "--textual-inversions", f"{sd_embedding};token=<mine>", "-p",
                     "a red circle, <mine>")
    assert np.array_equal(renamed, with_token), "the same vectors under another token"
    assert np.array_equal(_image(tmp_path, model, "--textual-inversions", str(sd_embedding), "-p",
                                 "a red circle, TinyStyle"), with_token), "the token in any case"


def test_weights_of_one_leave_the_prompt_as_diffusers_reads_it(tiny_model: Path, tmp_path: Path) -> None:
    model = str(tiny_model)
    plain = _image(tmp_path, model, "-p", "a red circle; blue")
    assert np.array_equal(_image(tmp_path, model, "--prompt-weighting", "a1111", "-p", "a red circle; blue"), plain)
    assert np.array_equal(_image(tmp_path, model, "--prompt-weighting", "a1111", "-p", "a (red:1) circle; blue"), plain)
    weighted = _image(tmp_path, model, "--prompt-weighting", "a1111", "-p", "a (red:1.5) circle; blue")
    assert not np.array_equal(weighted, plain)
    literal = _image(tmp_path, model, "-p", "a (red:1.5) circle; blue")
    assert not np.array_equal(weighted, literal), "without a1111 the brackets are plain text"


def test_a_prompt_longer_than_77_tokens_is_read_whole(tiny_model: Path, tmp_path: Path) -> None:
    """diffusers cuts a prompt at 77 tokens; with a1111 the words after it still change the image."""
    head = ", ".join(["a red circle"] * 30)
    model = ("--prompt-weighting", "a1111")
    short = _image(tmp_path, str(tiny_model), *model, "-p", head)
    longer = _image(tmp_path, str(tiny_model), *model, "-p", head + ", a blue square on green")
    assert not np.array_equal(short, longer)
    assert np.array_equal(_image(tmp_path, str(tiny_model), "-p", head),
                          _image(tmp_path, str(tiny_model), "-p", head + ", a blue square on green"))


def _split(path: Path, box: tuple[int, int, int, int] | None) -> Path:
    image = Image.new("RGB", (64, 64), "black")
    if box is not None:
        ImageDraw.Draw(image).rectangle(box, fill="white")
    image.save(path)
    return path


def _halves(change: np.ndarray) -> tuple[float, float]:
    columns = np.abs(change).mean(axis=(0, 2))
    return float(columns[:32].mean()), float(columns[32:].mean())


def test_the_image_follows_the_control_image(tiny_model: Path, sd_controlnet: Path, tmp_path: Path) -> None:
    """Whitening one half of an all-black control image changes that half of the output more than the other, for
    either half, at a strong scale; at scale 0 the ControlNet adds exact zeros and the control image does not matter.

    The tiny model's random weights mix the image globally (self-attention in the UNet and the VAE), so the
    correlation of the output with the control is weak (|r| about 0.1 on the column means); the locality of the
    change is what they keep."""
    black, left = _split(tmp_path / "black.png", None), _split(tmp_path / "left.png", (0, 0, 31, 63))
    right = _split(tmp_path / "right.png", (32, 0, 63, 63))
    model = [str(tiny_model), "-p", "a red circle"]

    def made(control: Path, scale: str) -> np.ndarray:
        return _image(tmp_path, *model, "--control-nets", f"{sd_controlnet};scale={scale}", "--image-seeds",
                      str(control))

    assert np.array_equal(made(left, "0"), made(right, "0"))
    assert np.array_equal(made(left, "0"), _image(tmp_path, *model, "-s", "64")), "scale 0 is plain text to image"
    base = made(black, "2")
    left_change, right_change = _halves(made(left, "2") - base), _halves(made(right, "2") - base)
    assert left_change[0] > left_change[1] * 1.05 and right_change[1] > right_change[0] * 1.05, \
        (left_change, right_change)


def test_an_animated_control_image_runs_frame_by_frame(tiny_model: Path, sd_controlnet: Path, tmp_path: Path,
                                                        run_cli: RunCli) -> None:
    from fractions import Fraction

    from tests.media.conftest import write_video

    clip = write_video(tmp_path / "control.mp4", "libx264", Fraction(24), 3)
    result = run_cli(str(tiny_model), "--control-nets", str(sd_controlnet), "--image-seeds", str(clip),
                     *CPU, "--output-configs", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    frames = sorted((tmp_path / "out").glob("*_frame_*.png"))
    assert len(frames) == 3 and len(list((tmp_path / "out").glob("*.mp4"))) == 1
    assert len({Image.open(frame).tobytes() for frame in frames}) == 3, "each frame its own control image"


@pytest.mark.parametrize(("model", "net", "message"), [
    ("tiny_model", "sdxl_controlnet",
     "is a ControlNet for another architecture: its cross_attention_dim is 80, the model's is 32"),
    ("tiny_sd3", "flux_controlnet", "is a FluxControlNetModel, and this model (torch-sd3) takes a SD3ControlNetModel"),
])
def test_a_controlnet_for_another_architecture_is_one_line(model: str, net: str, message: str,
                                                           request: pytest.FixtureRequest, tmp_path: Path,
                                                           run_cli: RunCli) -> None:
    control = _split(tmp_path / "left.png", (0, 0, 31, 63))
    result = run_cli(str(request.getfixturevalue(model)), "--control-nets", str(request.getfixturevalue(net)),
                     "--image-seeds", str(control), *CPU, "-o", str(tmp_path / "out"))
    assert result.code == 1 and message in result.err, result.err
    assert "Traceback" not in result.err and not list((tmp_path / "out").glob("*.png"))


def test_sd3_controlnets_guide_text_to_image_only(tiny_sd3: Path, sd3_controlnet: Path, tmp_path: Path,
                                                  run_cli: RunCli) -> None:
    control = _split(tmp_path / "left.png", (0, 0, 31, 63))
    result = run_cli(str(tiny_sd3), "--control-nets", str(sd3_controlnet), "--image-seeds",
                     f"{control};control={control}", *CPU)
    assert result.code == 2 and "--control-nets with Stable Diffusion 3 guide text to image only" in result.err


def test_adapters_the_refiner_would_not_read_are_refused(tiny_sdxl: Path, tiny_refiner: Path, sdxl_embedding: Path,
                                                         run_cli: RunCli) -> None:
    refined = [str(tiny_sdxl), "--sdxl-refiner", str(tiny_refiner), *CPU]
    for extra, message in ((["--textual-inversions", str(sdxl_embedding)], "--textual-inversions do not run with "),
                           (["--prompt-weighting", "a1111"], "--prompt-weighting a1111 does not run with ")):
        result = run_cli(*refined, *extra)
        assert result.code == 2 and message + "--sdxl-refiner" in result.err, result.err


@pytest.mark.parametrize(("argv", "message"), [
    (["--control-nets", "{cn}", "--image-seeds", "{control};control={control}", "-p", "a; b"],
     "Flux with --control-nets and an image to change reads no negative prompt"),
    (["--control-nets", "{cn}", "--image-seeds", "{control};control={control}", "--true-guidance-scales", "2"],
     "Flux with --control-nets and an image to change has no true guidance"),
    (["--prompt-weighting", "a1111"],
     "--prompt-weighting a1111 is for Stable Diffusion 1.x/2.x and Stable Diffusion XL models (torch, torch-sdxl)"),
    (["--textual-inversions", "x.safetensors"],
     "--textual-inversions is for Stable Diffusion 1.x/2.x and Stable Diffusion XL models (torch, torch-sdxl)"),
])
def test_adapters_the_flow_models_lack_are_refused(argv: list[str], message: str, tiny_flux: Path,
                                                   flux_controlnet: Path, tmp_path: Path, run_cli: RunCli) -> None:
    control = _split(tmp_path / "left.png", (0, 0, 31, 63))
    words = [word.format(cn=flux_controlnet, control=control) for word in argv]
    result = run_cli(str(tiny_flux), *words, *CPU, "-s", "32")
    assert result.code == 2 and message in result.err, result.err

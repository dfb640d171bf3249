"""--seed-image-processors, --mask-image-processors and --control-image-processors: applied to what the pipeline
is given, recorded in configs, and equal to giving files processed beforehand with --image-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "3", "--prompts", "a cat")


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    """A 64x64 seed (the tiny model's size: fitting it changes nothing), a mask and a control image."""
    seed = Image.new("RGB", (64, 64), (200, 180, 40))
    ImageDraw.Draw(seed).ellipse((12, 10, 50, 52), fill=(30, 60, 200))
    seed.save(tmp_path / "seed.png")
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 39, 39), fill=255)
    mask.save(tmp_path / "mask.png")
    return tmp_path


def _made(run_cli: RunCli, model: Path, folder: Path, *extra: str) -> np.ndarray:
    result = run_cli(str(model), *FAST, "--output-configs", "-o", str(folder), *extra)
    assert result.code == 0, result.err
    (png,) = folder.glob("*.png")
    return np.asarray(Image.open(png))


def _processed(run_cli: RunCli, source: Path, folder: Path, *processors: str) -> Path:
    result = run_cli("--image-process", str(source), "--processors", *processors, "-o", str(folder))
    assert result.code == 0, result.err
    return folder / f"{source.stem}_processed.png"


@pytest.mark.parametrize(("flag", "seed_text", "processors"), [
    ("--seed-image-processors", "{seed}", ("invert", "gaussian-blur;radius=1.5")),
    ("--mask-image-processors", "{seed};{mask}", ("dilate;size=6",)),
])
def test_processed_seeds_equal_files_processed_beforehand(run_cli: RunCli, tiny_model: Path, pictures: Path,
                                                          flag: str, seed_text: str,
                                                          processors: tuple[str, ...]) -> None:
    seed, mask = pictures / "seed.png", pictures / "mask.png"
    inline = _made(run_cli, tiny_model, pictures / "inline", "--image-seeds",
                   seed_text.format(seed=seed, mask=mask), flag, *processors)
    target = seed if flag == "--seed-image-processors" else mask
    ready = _processed(run_cli, target, pictures / "ready", *processors)
    given = seed_text.format(seed=ready if target == seed else seed, mask=ready if target == mask else mask)
    beforehand = _made(run_cli, tiny_model, pictures / "beforehand", "--image-seeds", given)
    plain = _made(run_cli, tiny_model, pictures / "plain", "--image-seeds", seed_text.format(seed=seed, mask=mask))
    assert np.array_equal(inline, beforehand) and not np.array_equal(inline, plain)
    (config,) = (pictures / "inline").glob("*.dgen")
    text = config.read_text()
    assert all(processor.split(";")[0] in text for processor in processors) and flag in text
    again = run_cli(stdin=text.replace("--output-configs", f"-o {pictures / 'again'}"))
    assert again.code == 0, again.err
    (png,) = (pictures / "again").glob("*.png")
    assert np.array_equal(np.asarray(Image.open(png)), inline)


def test_control_images_take_processors(run_cli: RunCli, tiny_model: Path, sd_controlnet: Path,
                                        pictures: Path) -> None:
    control = pictures / "seed.png"
    nets = ("--control-nets", str(sd_controlnet))
    inline = _made(run_cli, tiny_model, pictures / "inline", *nets, "--image-seeds", f"control={control}",
                   "--control-image-processors", "canny;low=50;high=150")
    ready = _processed(run_cli, control, pictures / "ready", "canny;low=50;high=150")
    beforehand = _made(run_cli, tiny_model, pictures / "beforehand", *nets, "--image-seeds", f"control={ready}")
    assert np.array_equal(inline, beforehand)


@pytest.mark.parametrize(("extra", "message"), [
    (("--seed-image-processors", "invert"), "--seed-image-processors needs --image-seeds"),
    (("--image-seeds", "{seed}", "--mask-image-processors", "dilate"),
     "--mask-image-processors needs --image-seeds with an inpainting mask"),
    (("--image-seeds", "{seed}", "--control-image-processors", "canny"),
     "--control-image-processors needs --control-nets"),
    (("--image-seeds", "{seed}", "--seed-image-processors", "sharpen"), "'sharpen' is not a processor"),
])
def test_misplaced_processors_are_one_line(run_cli: RunCli, tiny_model: Path, pictures: Path,
                                           extra: tuple[str, ...], message: str) -> None:
    argv = [word.format(seed=pictures / "seed.png") for word in extra]
    result = run_cli(str(tiny_model), *FAST, *argv, "-o", str(pictures / "out"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err, result.err
    assert not (pictures / "out").exists()


def test_post_processors_make_the_written_image(run_cli: RunCli, tiny_model: Path, pictures: Path) -> None:
    """A post-processed image is the plain one processed by --image-process, and its config makes it again."""
    text_to_image = ("--output-size", "64x48")
    made = _made(run_cli, tiny_model, pictures / "made", *text_to_image, "--post-processors", "resize;size=96x72",
                 "posterize;bits=3")
    _made(run_cli, tiny_model, pictures / "plain", *text_to_image)
    (plain_png,) = (pictures / "plain").glob("*.png")
    ready = _processed(run_cli, plain_png, pictures / "ready", "resize;size=96x72", "posterize;bits=3")
    assert made.shape == (72, 96, 3) and np.array_equal(made, np.asarray(Image.open(ready)))
    (config,) = (pictures / "made").glob("*.dgen")
    again = run_cli(stdin=config.read_text().replace("--output-configs", f"-o {pictures / 'again'}"))
    assert again.code == 0, again.err
    (png,) = (pictures / "again").glob("*.png")
    assert np.array_equal(np.asarray(Image.open(png)), made)
    shown = run_cli(str(tiny_model), *FAST, *text_to_image, "--post-processors", "crop;box=0,0,40,20", "--dry-run")
    assert " 40x20 " in shown.out


def test_post_processors_apply_to_every_frame_of_an_animation(run_cli: RunCli, tiny_model: Path,
                                                              pictures: Path) -> None:
    frames = [Image.new("RGB", (64, 64), (40 * n, 90, 200 - 40 * n)) for n in range(3)]
    frames[0].save(pictures / "clip.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = run_cli(str(tiny_model), *FAST, "--image-seeds", str(pictures / "clip.gif"), "--post-processors",
                     "resize;size=32x32", "--animation-format", "gif", "-o", str(pictures / "out"))
    assert result.code == 0, result.err
    (animation,) = (pictures / "out").glob("*.gif")
    opened = Image.open(animation)
    assert opened.size == (32, 32) and opened.n_frames == 3
    assert {Image.open(path).size for path in (pictures / "out").glob("*.png")} == {(32, 32)}

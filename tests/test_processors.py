"""Image processors on pixels, and --image-process over stills, animations and a real video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dgenerate.errors import UsageError
from dgenerate.processors import apply_processors, parse_processor
from tests.conftest import RunCli

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "media"


def square(size: tuple[int, int] = (96, 64), box: tuple[int, int, int, int] = (20, 16, 59, 47)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle(box, fill="black")
    return image


def run(image: Image.Image, *texts: str) -> np.ndarray:
    return np.asarray(apply_processors(image, tuple(parse_processor(text, "--processors") for text in texts)))


def test_canny_finds_the_edges_of_a_drawn_square() -> None:
    edges = run(square(), "canny;low=50;high=150")[:, :, 0] > 0
    rows, cols = np.nonzero(edges)
    assert {rows.min(), rows.max(), cols.min(), cols.max()} <= {15, 16, 17, 46, 47, 48, 19, 20, 21, 58, 59, 60}
    assert not edges[25:40, 28:52].any() and not edges[:10].any(), "nothing inside the square or far outside it"
    assert edges[16:48, 20].sum() + edges[16:48, 19].sum() >= 28, "the left side is one edge"


def test_sizes_are_exact() -> None:
    assert run(square(), "resize;size=40x30").shape == (30, 40, 3)
    cut = run(square(), "crop;box=20,16,60,48")
    assert cut.shape == (32, 40, 3) and (cut == 0).all(), "the square's own pixels"
    boxed = run(square((100, 50)), "letterbox;size=64x64;color=#ff0000")
    assert boxed.shape == (64, 64, 3)
    assert tuple(boxed[0, 0]) == (255, 0, 0) and tuple(boxed[63, 63]) == (255, 0, 0), "bars above and below"
    assert tuple(boxed[32, 0]) == (255, 255, 255), "the picture spans the full width"


def test_colour_processors() -> None:
    photo = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    image = Image.fromarray(photo)
    assert (run(image, "invert") == 255 - photo).all()
    grey = run(image, "grayscale")
    assert (grey[:, :, 0] == grey[:, :, 1]).all() and (grey[:, :, 1] == grey[:, :, 2]).all()
    assert set(np.unique(run(image, "posterize;bits=1"))) <= {0, 128}
    assert (run(image, "mirror") == photo[:, ::-1]).all() and (run(image, "flip") == photo[::-1]).all()


def test_blur_and_dilate() -> None:
    assert (run(square(), "gaussian-blur;radius=0") == np.asarray(square())).all()
    blurred = run(square(), "gaussian-blur;radius=3")[32]
    assert 0 < blurred[20, 0] < 255, "the edge is soft"
    mask = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(mask).rectangle((15, 15, 24, 24), fill=255)
    grown = run(mask, "dilate;size=3") > 0
    rows, cols = np.nonzero(grown)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (12, 27, 12, 27)


def test_the_same_picture_gives_the_same_bytes() -> None:
    for text in ("canny", "gaussian-blur;radius=1.5", "letterbox;size=50x50", "resize;size=33x17;resample=bicubic"):
        assert run(square(), text).tobytes() == run(square(), text).tobytes()


@pytest.mark.parametrize(("text", "message"), [
    ("blur", "'blur' is not a processor; use one of resize"),
    ("resize;width=3", "'width=3' is not a setting of resize; it takes size=, resample="),
    ("resize;size=0x3", "size=0x3 is not a size"),
    ("posterize;bits=9", "bits=9 is out of range: use 1 to 8"),
    ("crop;box=5,5,5,9", "box=5,5,5,9 is empty"),
    ("letterbox;color=blurple", "color=blurple is not a colour"),
])
def test_bad_processors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="^--processors " + repr(text).replace("|", "\\|") + ": .*" + message):
        parse_processor(text, "--processors")


def test_settings_are_written_out_whole() -> None:
    assert str(parse_processor("canny;high=120", "--processors")) == "canny;low=100;high=120"


def test_image_process_writes_stills_and_animations_and_overwrites_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    square().save(tmp_path / "square.png")
    frames = [square(box=(10 + 8 * n, 16, 40 + 8 * n, 47)) for n in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = tmp_path / "out"
    result = run_cli("--image-process", str(tmp_path / "square.png"), str(tmp_path / "moving.gif"), "--processors",
                     "invert", "--animation-format", "gif", "-o", str(out))
    assert result.code == 0, result.err
    assert (np.asarray(Image.open(out / "square_processed.png")) == 255 - np.asarray(square())).all()
    animation = Image.open(out / "moving_processed.gif")
    assert animation.n_frames == 3
    assert np.asarray(animation.convert("RGB"))[30, 50].tolist() == [0, 0, 0], "white beside the first square, inverted"
    animation.seek(2)
    assert np.asarray(animation.convert("RGB"))[30, 50].tolist() == [255, 255, 255], "the last frame's square, inverted"
    again = run_cli("--image-process", str(tmp_path / "square.png"), "--processors", "invert", "-o", str(out))
    assert again.code == 0 and (out / "square_processed_2.png").is_file()


def test_image_process_refusals_are_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    missing = run_cli("--image-process", str(tmp_path / "none.png"), "--processors", "invert", "-o", str(tmp_path))
    assert missing.code == 2 and "is not a file" in missing.err
    alone = run_cli("--processors", "invert")
    assert alone.code == 2 and "--image-process FILE... and --processors PROCESSOR... go together" in alone.err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
def test_a_real_video_is_processed_frame_by_frame(run_cli: RunCli, tmp_path: Path) -> None:
    import av

    video = SAMPLES / "moviepy__fire2.mp4"
    result = run_cli("--image-process", str(video), "--processors", "resize;size=64x48", "canny;low=40;high=120",
                     "-o", str(tmp_path))
    assert result.code == 0, result.err
    with av.open(str(video)) as source, av.open(str(tmp_path / "moviepy__fire2_processed.mp4")) as made:
        assert made.streams.video[0].frames == source.streams.video[0].frames
        assert (made.streams.video[0].width, made.streams.video[0].height) == (64, 48)

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.errors import MediaError, UsageError
from dgenerate.media import open_media, open_seed

SEEDS = ["mp4", "gif", "webp", "png"]
MASKS = [None, "mask_png", "mask_gif", "mask_webp", "mask_mp4"]


def frames_of(path: Path) -> list[Image.Image]:
    with open_media(path) as source:
        return list(source)


def fps_of(path: Path) -> Fraction | None:
    with open_media(path) as source:
        return source.info.fps


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mask", MASKS)
def test_every_seed_and_mask_combination_pairs_as_documented(
    media: dict[str, Path], seed: str, mask: str | None
) -> None:
    seed_frames = frames_of(media[seed])
    mask_frames = [frame.convert("L") for frame in frames_of(media[mask])] if mask else [None]
    seed_animated, mask_animated = len(seed_frames) > 1, len(mask_frames) > 1
    if seed_animated and mask_animated:
        count = min(len(seed_frames), len(mask_frames))
    else:
        count = max(len(seed_frames), len(mask_frames))
    with open_seed(media[seed], media[mask] if mask else None) as source:
        pairs = list(source)
        info = source.info
    assert len(pairs) == count == info.frame_count
    assert info.animated == (count > 1)
    expected_fps = fps_of(media[seed]) if seed_animated else None
    if not seed_animated and mask_animated and mask:
        expected_fps = fps_of(media[mask])
    assert info.fps == expected_fps
    for index, (image, mask_frame, controls) in enumerate(pairs):
        assert controls == ()
        assert image.tobytes() == seed_frames[index if seed_animated else 0].tobytes()
        expected_mask = mask_frames[index if mask_animated else 0]
        if expected_mask is None:
            assert mask_frame is None
        else:
            assert mask_frame is not None and mask_frame.mode == "L"
            assert mask_frame.tobytes() == expected_mask.tobytes()


def test_slice_applies_to_seed_and_mask(media: dict[str, Path], identify_frame: Callable[[Image.Image], int]) -> None:
    with open_seed(media["mp4"], media["mask_gif"], frame_start=3, frame_end=5) as source:
        pairs = list(source)
        assert (source.info.frame_count, source.info.animated) == (3, True)
    assert [identify_frame(image) for image, _, _ in pairs] == [3, 4, 5]
    assert [identify_frame(mask.convert("RGB")) for _, mask, _ in pairs if mask] != []


def test_one_frame_slice_of_seed_and_mask_is_a_still(media: dict[str, Path]) -> None:
    with open_seed(media["gif"], media["mask_mp4"], frame_start=2, frame_end=2) as source:
        assert (source.info.animated, source.info.frame_count, source.info.fps) == (False, 1, None)
        assert len(list(source)) == 1


def test_static_seed_with_animated_mask_repeats_the_seed(media: dict[str, Path]) -> None:
    with open_seed(media["png"], media["mask_gif"]) as source:
        images = [image for image, _, _ in source]
    assert len(images) == 12 and len({image.tobytes() for image in images}) == 1


def test_mask_of_another_size_is_refused_with_both_sizes(media: dict[str, Path]) -> None:
    with pytest.raises(MediaError) as caught:
        open_seed(media["mp4"], media["small_png"])
    message = str(caught.value)
    assert "32x32" in message and "64x48" in message and "small.png" in message and "\n" not in message


def test_mask_slice_past_its_end_names_the_mask(media: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match=r"--frame-start 30 .*mask\.gif"):
        open_seed(media["mp4"], media["mask_gif"], frame_start=30)


def test_control_images_advance_with_the_seed(media: dict[str, Path],
                                              identify_frame: Callable[[Image.Image], int]) -> None:
    """An animated control image drives a still seed frame by frame; a still control repeats; alone, the first
    control image gives the size."""
    with open_seed(media["png"], None, controls=[media["mp4"], media["small_png"]]) as source:
        frames = list(source)
        assert source.info.animated and source.info.frame_count == len(frames) == len(frames_of(media["mp4"]))
    assert [identify_frame(controls[0]) for _, _, controls in frames] == list(range(len(frames)))
    assert len({controls[1].tobytes() for _, _, controls in frames}) == 1
    assert len({image.tobytes() for image, _, _ in frames if image is not None}) == 1
    with open_seed(None, None, 1, 2, controls=[media["mp4"]]) as source:
        assert (source.info.width, source.info.height, source.info.frame_count) == (64, 48, 2)
        assert [(image, mask, identify_frame(controls[0])) for image, mask, controls in source] == \
            [(None, None, 1), (None, None, 2)]

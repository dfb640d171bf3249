"""The depth processor with a real (tiny, trained in the fixture) Depth Anything: the near plane comes out brighter
than the far one, at the picture's size, the same bytes every time; a folder that is not a safetensors depth model is
one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.errors import UsageError
from dgenerate.processors import apply_processors, parse_processor
from tests.conftest import RunCli
from tests.tiny_depth import scene


def _depth(picture: np.ndarray, folder: Path) -> np.ndarray:
    spec = parse_processor(f"depth;model={folder}", "--processors")
    return np.asarray(apply_processors(Image.fromarray(picture), (spec,)))


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_depth_orders_a_near_and_a_far_plane(tiny_depth: Path, seed: int) -> None:
    picture, inverse_depth = scene(np.random.default_rng(seed))
    grey = _depth(picture, tiny_depth)
    near, far = grey[:, :, 0][inverse_depth == 1], grey[:, :, 0][inverse_depth < 1]
    assert near.mean() > far.mean() + 64, "nearer is brighter"
    assert grey.shape == (*picture.shape[:2], 3) and (grey[:, :, 0] == grey[:, :, 2]).all()
    assert grey.min() == 0 and grey.max() == 255, "stretched to the full range"


def test_depth_is_the_same_bytes_every_time_and_at_any_size(tiny_depth: Path) -> None:
    picture, _ = scene(np.random.default_rng(7))
    assert np.array_equal(_depth(picture, tiny_depth), _depth(picture, tiny_depth))
    wide = np.asarray(Image.fromarray(picture).resize((96, 40)))
    assert _depth(wide, tiny_depth).shape == (40, 96, 3), "the map has the picture's size, whatever the model's"


def test_depth_prepares_a_guide_image_from_the_command_line(run_cli: RunCli, tiny_depth: Path,
                                                            tmp_path: Path) -> None:
    picture, inverse_depth = scene(np.random.default_rng(5))
    Image.fromarray(picture).save(tmp_path / "scene.png")
    result = run_cli("--image-process", str(tmp_path / "scene.png"), "--processors", f"depth;model={tiny_depth}",
                     "--output-path", str(tmp_path / "guides"))
    assert result.code == 0, result.err
    grey = np.asarray(Image.open(tmp_path / "guides" / "scene_processed.png"))[:, :, 0]
    assert grey[inverse_depth == 1].mean() > grey[inverse_depth < 1].mean() + 64


def test_a_folder_that_is_not_a_safetensors_depth_model_is_one_line(tiny_depth: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_depth / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    for folder, message in ((tmp_path, "is not a model folder (no config.json)"),
                            (pickled, "holds no .safetensors weights (pickled weights are not read)"),
                            ("", "is missing: give a depth model's folder")):
        with pytest.raises(UsageError, match=r"model=.*" + message.replace("(", r"\(").replace(")", r"\)")):
            parse_processor(f"depth;model={folder}", "--processors")

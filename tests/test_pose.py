"""The pose processor with a real (tiny, trained in the fixture) ViTPose: it finds a drawn figure's joints, in the
whole picture or a given box, at any size, the same bytes every time, and draws them as OpenPose's body skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.errors import UsageError
from dgenerate.estimation import draw_body, pose_joints
from dgenerate.processors import apply_processors, parse_processor
from tests.conftest import RunCli
from tests.tiny_pose import HEIGHT, WIDTH, figure


def _errors(found: list[tuple[float, float]], joints: np.ndarray, unit: float) -> np.ndarray:
    """Each joint's distance from where it was drawn, in pixels of the 48x64 picture."""
    return np.linalg.norm(np.asarray(found) - joints, axis=1) / unit


@pytest.mark.parametrize(("seed", "scale"), [(201, 1), (202, 1), (203, 2), (204, 2), (205, 3)])
def test_pose_finds_the_joints_of_a_drawn_figure(tiny_pose: Path, seed: int, scale: int) -> None:
    picture, joints = figure(np.random.default_rng(seed), WIDTH * scale, HEIGHT * scale)
    found, scores = pose_joints(picture, str(tiny_pose), "cpu", None)
    errors = _errors(found, joints, scale)
    assert np.median(errors) < 1.5 and errors.max() < 6, np.round(errors, 1)
    assert min(scores) > 0.3, "every joint is found with confidence"


def test_pose_looks_in_the_box_it_is_given(tiny_pose: Path) -> None:
    person, joints = figure(np.random.default_rng(206))
    picture = Image.new("RGB", (3 * WIDTH, HEIGHT + 20), (30, 30, 30))
    picture.paste(person, (2 * WIDTH, 10))
    found, _ = pose_joints(picture, str(tiny_pose), "cpu", (2 * WIDTH, 10, 3 * WIDTH, 10 + HEIGHT))
    errors = _errors(found, joints + np.array([2 * WIDTH, 10]), 1)
    assert np.median(errors) < 1.5 and errors.max() < 6, np.round(errors, 1)


def test_the_skeleton_is_drawn_as_openpose_draws_it() -> None:
    alone = np.asarray(draw_body([(20.0, 12.0), *[None] * 17], (40, 30)))
    assert tuple(alone[12, 20]) == (255, 0, 0), "the nose: OpenPose's first colour"
    assert (alone.any(axis=2).sum(), alone[12, 24].any(), alone[12, 25].any()) == (49, True, False), "radius 4"
    limb = np.asarray(draw_body([None, None, (5.0, 15.0), (35.0, 15.0), *[None] * 14], (40, 30)))
    assert tuple(limb[15, 20]) == (153, 102, 0), "the right upper arm: OpenPose's third colour, blended in at 60%"
    assert tuple(limb[15, 35]) == (255, 204, 0), "the elbow's point (yellow) under the arm"
    assert limb[15 + 4, 20].any() and not limb[15 + 5, 20].any(), "4 pixels thick each side"


def test_pose_map_is_the_same_bytes_every_time_and_the_picture_size(tiny_pose: Path) -> None:
    picture, joints = figure(np.random.default_rng(207), 96, 128)
    spec = parse_processor(f"pose;model={tiny_pose}", "--processors")
    first, second = apply_processors(picture, (spec,)), apply_processors(picture, (spec,))
    assert first.size == (96, 128) and first.tobytes() == second.tobytes()
    drawn = np.asarray(first).max(axis=2)
    for x, y in joints[5:]:  # shoulders down: each joint is on the skeleton
        assert drawn[round(y) - 2:round(y) + 3, round(x) - 2:round(x) + 3].max() > 100
    assert not drawn[:, :4].any() and not drawn[-4:].any(), "black away from the figure"


def test_pose_prepares_a_guide_image_from_the_command_line(run_cli: RunCli, tiny_pose: Path, tmp_path: Path) -> None:
    picture, joints = figure(np.random.default_rng(208))
    picture.save(tmp_path / "figure.png")
    result = run_cli("--image-process", str(tmp_path / "figure.png"), "--processors",
                     f"pose;model={tiny_pose};threshold=0.2", "--output-path", str(tmp_path / "guides"))
    assert result.code == 0, result.err
    drawn = np.asarray(Image.open(tmp_path / "guides" / "figure_processed.png")).max(axis=2)
    x, y = joints[9]  # the left wrist
    assert drawn[round(y) - 2:round(y) + 3, round(x) - 2:round(x) + 3].max() > 100


def test_a_folder_that_is_not_a_vitpose_model_is_one_line(tiny_pose: Path, tiny_depth: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^pose;model=.* is a depth_anything model, not ViTPose: give a ViTPose "
                                         r"folder$"):
        apply_processors(Image.new("RGB", (48, 64)), (parse_processor(f"pose;model={tiny_depth}", "--processors"),))
    for setting, message in ((f"model={tmp_path}", "is not a model folder (no config.json)"),
                             ("model=", "is missing: give a ViTPose model's folder"),
                             (f"model={tiny_pose};box=10,10,5,5", "is empty"),
                             (f"model={tiny_pose};threshold=2", "is out of range: use 0 to 1")):
        with pytest.raises(UsageError, match=r"^--processors 'pose;.*: .*" + message.replace("(", r"\(")
                           .replace(")", r"\)")):
            parse_processor(f"pose;{setting}", "--processors")

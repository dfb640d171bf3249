"""--batch-size: several images per pipeline call, each still exactly reproducible alone from its config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.jobs import ModelSpec
from dgenerate.plan import Prompt, RenderRequest, batch_groups, plan
from tests.conftest import RunCli

FAST = ("--inference-steps", "4", "--device", "cpu")


def test_neighbours_sharing_settings_fill_one_call() -> None:
    two_prompts = RenderRequest(model=ModelSpec("m"), seeds=(1, 2, 3), prompts=(Prompt("a"), Prompt("b")),
                                batch_size=4)
    jobs = plan(two_prompts)
    assert [job.batch_slot for job in jobs] == [0, 1, 2, 3, 0, 1]
    assert [len(group) for group in batch_groups(jobs)] == [4, 2]
    two_scales = RenderRequest(model=ModelSpec("m"), seeds=(1, 2, 3), guidance_scales=(5.0, 7.0), batch_size=4)
    groups = batch_groups(plan(two_scales))
    assert [[job.guidance_scale for job in group] for group in groups] == [[5.0] * 3, [7.0] * 3]
    assert {job.batch_size for group in groups for job in group} == {3}, "no call is padded past its key's jobs"


def test_calls_gather_every_prompt_with_the_same_settings() -> None:
    request = RenderRequest(model=ModelSpec("m"), seeds=(1, 2), prompts=(Prompt("a"), Prompt("b")),
                            guidance_scales=(5.0, 7.0), batch_size=8)
    groups = batch_groups(plan(request))
    assert [[(job.prompt, job.seed, job.index) for job in group] for group in groups] == [
        [("a", 1, 1), ("a", 2, 2), ("b", 1, 5), ("b", 2, 6)], [("a", 1, 3), ("a", 2, 4), ("b", 1, 7), ("b", 2, 8)]]


def test_explicit_slot_puts_each_image_alone_at_that_slot() -> None:
    jobs = plan(RenderRequest(model=ModelSpec("m"), seeds=(1, 2), batch_size=4, batch_slot=3))
    assert [(j.batch_size, j.batch_slot) for j in jobs] == [(4, 3), (4, 3)]
    assert [len(group) for group in batch_groups(jobs)] == [1, 1]


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_every_image_of_a_batch_regenerates_alone_byte_identical(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = (str(tiny_model), "--prompts", "a red circle", "a cat; dog", "--seeds", "1", "2", "3", *FAST)
    assert run_cli(*common, "-o", str(tmp_path / "bs1")).code == 0
    assert run_cli(*common, "-o", str(tmp_path / "bs4"), "--batch-size", "4", "--output-configs").code == 0
    names = sorted(p.name for p in (tmp_path / "bs4").glob("*.png"))
    assert names == sorted(p.name for p in (tmp_path / "bs1").glob("*.png")) and len(names) == 6
    for name in names:
        monkeypatch.chdir(tmp_path / "bs1")
        again = tmp_path / "again" / name
        config = (tmp_path / "bs4" / name).with_suffix(".dgen").read_text()
        assert run_cli(stdin=config.replace("--output-configs", f"--output-configs -o {again.parent}")).code == 0
        (regenerated,) = again.parent.glob("*.png")
        assert regenerated.read_bytes() == (tmp_path / "bs4" / name).read_bytes(), name
        regenerated.unlink()
        # Against --batch-size 1 the kernels round differently; the documented bound is one 8-bit level.
        assert np.abs(_pixels(tmp_path / "bs1" / name) - _pixels(tmp_path / "bs4" / name)).max() <= 1


def test_batch_slot_out_of_range_is_an_argument_error(run_cli: RunCli, tiny_model: Path) -> None:
    result = run_cli(str(tiny_model), "--seeds", "1", "--batch-size", "2", "--batch-slot", "2", *FAST)
    assert result.code == 2
    assert "--batch-slot 2 is outside the batch" in result.err

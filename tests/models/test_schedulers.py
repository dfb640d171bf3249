"""--scheduler: every documented name runs on the tiny model from its own config, and repeats byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgenerate.errors import UsageError
from dgenerate.jobs import ModelSpec
from dgenerate.models.schedulers import SCHEDULER_NAMES, canonical_scheduler_name
from dgenerate.models.schedulers import fresh_scheduler as seeded_scheduler
from dgenerate.render.noise import generators
from tests.conftest import RunCli
from tests.models.conftest import assert_close, loaded, pixels


def scheduler_images(model_path: Path, name: str, seeds: tuple[int, ...]) -> list[bytes]:
    """The render loop's call, with the fresh, per-image-seeded scheduler the loop should use."""
    pipeline = loaded(ModelSpec(str(model_path), device="cpu")).pipeline
    original = pipeline.scheduler
    pipeline.scheduler = seeded_scheduler(original.config, name, list(seeds))
    try:
        return pixels(pipeline(prompt=["a red circle"] * len(seeds), negative_prompt=[""] * len(seeds),
                               num_inference_steps=4, guidance_scale=5.0, width=64, height=64,
                               generator=generators(list(seeds)), output_type="pil").images)
    finally:
        pipeline.scheduler = original


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_scheduler_runs_and_repeats_byte_for_byte(tiny_model: Path, name: str) -> None:
    first = scheduler_images(tiny_model, name, (5, 6))
    assert first[0] != first[1]
    assert scheduler_images(tiny_model, name, (5, 6)) == first, "the same twice, byte for byte"
    assert_close(scheduler_images(tiny_model, name, (6,))[0], first[1])


def test_sde_scheduler_draws_its_brownian_noise_from_each_images_seed(tiny_model: Path) -> None:
    scheduler = seeded_scheduler(loaded(ModelSpec(str(tiny_model), device="cpu")).pipeline.scheduler.config,
                                 "DPMSolverSDEScheduler", [5, 6])
    assert scheduler.config.noise_sampler_seed == [5, 6]


def test_noise_schedulers_need_scipy_and_torchsde() -> None:
    import scipy  # noqa: F401  LMSDiscreteScheduler
    import torchsde  # noqa: F401  DPMSolverSDEScheduler


def test_unknown_scheduler_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"^--scheduler 'Euler' is not a known scheduler; use one of: DDIMScheduler"):
        canonical_scheduler_name("Euler")


def test_a_scheduler_that_cannot_plan_the_steps_is_refused_before_any_work(run_cli: RunCli, tiny_model: Path,
                                                                           tmp_path: Path) -> None:
    """PNDM without skip_prk_steps (as this model's configuration has it) needs 4 steps; diffusers fails inside the
    denoising loop otherwise."""
    result = run_cli(str(tiny_model), "--scheduler", "PNDMScheduler", "--inference-steps", "3", "--seeds", "1",
                     "--device", "cpu", "-o", str(tmp_path))
    assert result.code == 2
    assert result.err.strip().splitlines()[-1].startswith(
        "dgenerate: error: --scheduler PNDMScheduler cannot plan 3 --inference-steps with this model's scheduler "
        "configuration (")
    assert list(tmp_path.iterdir()) == []

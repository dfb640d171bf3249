from __future__ import annotations

import pytest

from dgenerate.errors import UsageError
from dgenerate.jobs import ModelSpec
from dgenerate.naming import image_stem
from dgenerate.plan import Prompt, RenderRequest, describe_grid, parse_prompt, parse_size, plan


def test_prompt_splits_on_first_semicolon_only() -> None:
    assert parse_prompt("a cat; dog; blur") == Prompt("a cat", "dog; blur")
    assert parse_prompt("a cat") == Prompt("a cat", None)
    assert parse_prompt("a cat;  ") == Prompt("a cat", None)


@pytest.mark.parametrize(("text", "size"), [("512x768", (512, 768)), ("64", (64, 64)), ("64X32", (64, 32))])
def test_size_forms(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["512x", "x512", "big", "1x2x3", "4x4", "-8x8"])
def test_bad_sizes_name_the_option(text: str) -> None:
    with pytest.raises(UsageError, match="--output-size"):
        parse_size(text)


def test_grid_is_every_combination_with_seed_fastest() -> None:
    request = RenderRequest(
        model=ModelSpec("m"), seeds=(1, 2), prompts=(Prompt("a"), Prompt("b")),
        guidance_scales=(5.0, 7.5), inference_steps=(10,),
    )
    jobs = plan(request)
    assert len(jobs) == 8
    assert [(j.prompt, j.guidance_scale, j.seed) for j in jobs[:4]] == [
        ("a", 5.0, 1), ("a", 5.0, 2), ("a", 7.5, 1), ("a", 7.5, 2)]
    assert [j.index for j in jobs] == list(range(1, 9))
    assert image_stem(jobs[2]) == "s_1_g_7-5_i_10_step_3"
    assert describe_grid(request).startswith("8 images (2 prompts x 2 seeds x 2 guidance scales")


def test_job_id_ignores_output_and_position_but_not_pixels() -> None:
    request = RenderRequest(model=ModelSpec("m"), seeds=(3, 3))
    first, second = plan(request)
    assert first.job_id == second.job_id
    other = plan(RenderRequest(model=ModelSpec("m"), seeds=(4,)))[0]
    assert other.job_id != first.job_id


def test_builtin_shapes2_uses_its_own_guidance_unless_one_is_asked_for() -> None:
    own = plan(RenderRequest(model=ModelSpec("builtin:shapes2"), seeds=(1,)))
    asked = plan(RenderRequest(model=ModelSpec("builtin:shapes2"), seeds=(1,), guidance_scales=(5.0,)))
    first = plan(RenderRequest(model=ModelSpec("builtin:shapes"), seeds=(1,)))
    other = plan(RenderRequest(model=ModelSpec("some/model"), seeds=(1,)))
    assert [jobs[0].guidance_scale for jobs in (own, asked, first, other)] == [1.0, 5.0, 5.0, 5.0]


def test_a_config_without_guidance_gets_the_models_own() -> None:
    from dgenerate.reproduce import read_config

    (shapes2,) = read_config("builtin:shapes2 --seeds 3 --prompts 'a red circle on a blue background'\n")
    (first,) = read_config("builtin:shapes --seeds 3 --prompts 'a red circle on a blue background'\n")
    assert (shapes2.guidance_scale, first.guidance_scale) == (1.0, 5.0)

"""What each family module declares agrees with diffusers: its classes exist, and every pipeline's __call__ takes the
arguments the declaration says dgenerate passes it. And the one table of family options refuses and accepts by what
each family declares."""

from __future__ import annotations

import inspect

import pytest

from dgenerate.errors import UsageError
from dgenerate.families import FAMILIES, MODES, Family, Pipeline, check_options, family, family_of_index
from dgenerate.families._options import _TABLE
from dgenerate.jobs import Job, ModelSpec, RefinerSpec, TextualInversionSpec


def _pipelines(each: Family) -> list[tuple[str, Pipeline]]:
    named = [(f"{mode}", each.pipelines[mode]) for mode in MODES if mode in each.pipelines]
    named += [(f"control {mode}", pipeline) for mode, pipeline in each.control_pipelines.items()]
    named += [(f"{variant.name} {mode}", pipeline) for variant in each.variants
              for mode, pipeline in variant.pipelines.items()]
    if each.refiner_class:
        named.append(("refiner", Pipeline(each.refiner_class, sized=False)))
    return named


def _parameters(class_name: str) -> set[str]:
    import diffusers

    return set(inspect.signature(getattr(diffusers, class_name).__call__).parameters)


@pytest.mark.parametrize("each", FAMILIES.values(), ids=lambda each: each.model_type)
def test_every_declared_class_is_a_diffusers_class(each: Family) -> None:
    import diffusers

    names = [*each.index_classes, *(pipeline.class_name for _, pipeline in _pipelines(each)),
             *(name for name in (each.control_net_class, each.transformer_class, each.refiner_class) if name)]
    assert [name for name in names if not hasattr(diffusers, name)] == []
    assert all(family_of_index(name, "x") is each for name in each.index_classes)


# Parameters a pipeline's __call__ takes and never reads: declaring them would pass nothing.
_UNREAD = {"ChromaInpaintPipeline": {"true_cfg_scale"}}


def test_the_parameters_taken_as_unread_are_unread() -> None:
    import diffusers

    for class_name, names in _UNREAD.items():
        body = inspect.getsource(getattr(diffusers, class_name).__call__).split('"""')[-1]
        assert [name for name in names if name in body] == [], class_name


@pytest.mark.parametrize("each", FAMILIES.values(), ids=lambda each: each.model_type)
def test_every_pipeline_takes_what_its_declaration_passes(each: Family) -> None:
    for mode, pipeline in _pipelines(each):
        takes = _parameters(pipeline.class_name) - _UNREAD.get(pipeline.class_name, set())
        wrong = [name for name, passed in (("width", pipeline.sized), ("negative_prompt", pipeline.negative_prompt),
                                           ("true_cfg_scale", pipeline.true_cfg)) if passed and name not in takes]
        wrong += [name for name, passed in (("negative_prompt", pipeline.negative_prompt),
                                            ("true_cfg_scale", pipeline.true_cfg)) if not passed and name in takes]
        seeded = mode.split()[-1] in ("img2img", "inpaint")
        checked = [("callback_on_step_end", pipeline.step_callback)]
        checked += [("strength", pipeline.strength and seeded)] if mode != "refiner" else []
        wrong += [name for name, passed in checked if passed != (name in takes)]
        if mode.startswith("control"):
            wrong += [] if pipeline.control_image in takes else [pipeline.control_image]
        if each.default_sequence_length is not None:
            wrong += [] if "max_sequence_length" in takes else ["max_sequence_length"]
        assert wrong == [], f"{each.model_type} {mode} {pipeline.class_name}"


@pytest.mark.parametrize("each", FAMILIES.values(), ids=lambda each: each.model_type)
def test_a_family_supports_references_where_a_pipeline_of_it_takes_them(each: Family) -> None:
    from dgenerate.families import REFERENCES

    takers = [pipeline for _, pipeline in _pipelines(each) if pipeline.references]
    assert bool(takers) == (REFERENCES in each.supports)
    for pipeline in takers:
        assert pipeline.references in _parameters(pipeline.class_name)


def test_sizes_are_passed_to_every_pipeline_that_takes_them() -> None:
    """SD's and SDXL's img2img pipelines, SD's InstructPix2Pix and the x4 upscaler take the size of their image; every
    other one is told the job's size."""
    unsized = {pipeline.class_name for each in FAMILIES.values() for mode, pipeline in _pipelines(each)
               if not pipeline.sized and mode != "refiner"}
    assert unsized == {"StableDiffusionImg2ImgPipeline", "StableDiffusionXLImg2ImgPipeline",
                       "StableDiffusionInstructPix2PixPipeline", "StableDiffusionUpscalePipeline"}
    assert all("width" not in _parameters(name) for name in unsized)


def test_family_call_arguments_are_taken_by_every_pipeline_of_the_family() -> None:
    job = Job(ModelSpec("m", "torch-sdxl"), "p", None, 1, 5.0, 2, 64, 48)
    arguments = family("torch-sdxl").complete(job)
    assert (arguments.sdxl_original_size, arguments.sdxl_target_size) == ((64, 48), (64, 48))
    for _, pipeline in _pipelines(family("torch-sdxl")):
        assert set(family("torch-sdxl").call_arguments(arguments)) <= _parameters(pipeline.class_name)


def _job(model_type: str, **fields: object) -> Job:
    model = {name: fields.pop(name) for name in ("refiner", "textual_inversions", "transformer", "no_t5")
             if name in fields}
    return Job(ModelSpec("m", model_type, **model), "p", None, 1, 5.0, 2, None, None, **fields)  # type: ignore[arg-type]


_GIVEN = {"refiner": {"refiner": RefinerSpec("r")}, "textual_inversions": {"textual_inversions": (
    TextualInversionSpec("t.pt"),)}, "transformer": {"transformer": "t.safetensors"}, "no_t5": {"no_t5": True},
    "max_sequence_length": {"max_sequence_length": 77}, "prompt_weighting": {"prompt_weighting": "a1111"},
    "true_guidance": {"true_guidance_scale": 2.0}, "image_guidance": {"image_guidance_scale": 1.2},
    "upscaler_noise": {"upscaler_noise_level": 30},
    "variation_seeds": {"variation_seed": 3, "variation_strength": 0.5, "resize_seed_from": (64, 64)},
    "deepcache": {"cache": "deepcache;interval=3;branch=0;warmup=0"},
    "first-block": {"cache": "first-block;threshold=0.05"},
    "taylorseer": {"cache": "taylorseer;interval=5;warmup=3;order=1"},
    "video": {"frames": 9, "frame_rate": 16.0}, "flow_shift": {"flow_shift": 5.0},
    "low_noise_guidance": {"low_noise_guidance_scale": 3.0},
    "ltx_decode": {"ltx_decode_timestep": 0.05, "ltx_decode_noise_scale": 0.025}}


@pytest.mark.parametrize("option", _TABLE, ids=lambda option: option.name)
def test_an_option_is_refused_by_the_families_that_do_not_declare_it(option: object) -> None:
    name = option.name  # type: ignore[attr-defined]
    supporting = [each for each in FAMILIES.values() if name in each.supports]
    assert supporting, f"no family supports {name}"
    for each in FAMILIES.values():
        job = _job(each.model_type, **_GIVEN[name])
        if each in supporting:
            check_options(job, each, "model_path 'm'")
            continue
        with pytest.raises(UsageError) as refused:
            check_options(job, each, "model_path 'm'")
        message = str(refused.value)
        assert message.endswith(f"; model_path 'm' is {each.name}: leave it out"), message
        assert all(owner.model_type in message for owner in supporting), message



"""--cache: each method computes less of the denoiser (counted on the real modules), changes the picture a little,
is recorded and replays byte for byte, and leaves the shared model as it found it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.jobs import ModelSpec
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel, load
from dgenerate.reproduce import read_config
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--seeds", "3", "--output-size", "64x64", "--output-configs")


def _pixels(path: Path) -> bytes:
    return np.asarray(Image.open(path)).tobytes()


def _counting(pick: Callable[[Any], Any], counts: list[int]) -> Callable[[ModelSpec], LoadedModel]:
    """A loader that loads as dgenerate does and counts the calls of the module `pick` finds in the pipeline (a module
    inside the part a cache skips: it runs only when that part is computed)."""
    def loader(spec: ModelSpec) -> LoadedModel:
        model = load(spec)
        pick(model.pipeline).register_forward_hook(lambda *_: counts.append(1))
        return model
    return loader


def _render(argv: list[str], pick: Callable[[Any], Any]) -> tuple[list[Path], int]:
    counts: list[int] = []
    request, _args = parse_invocation(argv)
    paths = dgenerate.render(request, ModelCache(_counting(pick, counts)))
    return paths, len(counts)


def _mid_resnet(pipeline: Any) -> Any:
    return pipeline.unet.mid_block.resnets[0]


def test_deepcache_runs_the_deep_blocks_every_interval_th_step(tiny_model: Path, tmp_path: Path) -> None:
    steps = ["--inference-steps", "8"]
    plain, plain_calls = _render([str(tiny_model), *FAST, *steps, "-o", str(tmp_path / "plain")], _mid_resnet)
    cached, cached_calls = _render([str(tiny_model), *FAST, *steps, "--cache", "deepcache", "-o",
                                    str(tmp_path / "cached")], _mid_resnet)
    every, every_calls = _render([str(tiny_model), *FAST, *steps, "--cache", "deepcache;interval=1", "-o",
                                  str(tmp_path / "every")], _mid_resnet)
    assert plain_calls == 8 and every_calls == 8
    assert cached_calls == 3, "steps 0, 3 and 6 of 8 run the whole UNet at interval 3"
    assert _pixels(every[0]) == _pixels(plain[0]), "interval 1 computes every step: the plain picture"
    difference = np.abs(np.asarray(Image.open(cached[0]), float) - np.asarray(Image.open(plain[0]), float))
    assert 0 < difference.mean() < 64, "the cached picture is near the plain one, not equal to it"
    assert "ca_deepcache-3-0-0" in cached[0].name
    (job,) = read_config(cached[0].with_suffix(".dgen").read_text())
    assert job.cache == "deepcache;interval=3;branch=0;warmup=0"


def _attention(pipeline: Any) -> Any:
    return pipeline.transformer.transformer_blocks[0].attn.to_q


def test_taylorseer_predicts_attention_between_whole_steps(tiny_flux: Path, tmp_path: Path) -> None:
    steps = ["--inference-steps", "8"]
    _plain, plain_calls = _render([str(tiny_flux), *FAST, *steps, "-o", str(tmp_path / "plain")], _attention)
    cached, cached_calls = _render([str(tiny_flux), *FAST, *steps, "--cache", "taylorseer;interval=2;warmup=2",
                                    "-o", str(tmp_path / "cached")], _attention)
    assert plain_calls == 8
    assert cached_calls == 5, "steps 0 and 1 warm the series up; then steps 3, 5 and 7 compute"
    (job,) = read_config(cached[0].with_suffix(".dgen").read_text())
    assert job.cache == "taylorseer;interval=2;warmup=2;order=1"


@pytest.fixture(scope="module")
def deeper_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Flux with blocks after its first one, for First Block Cache to skip."""
    from tests.tiny_flow_models import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("deeper-flux") / "model", layers=2)


def _last_single_block(pipeline: Any) -> Any:
    return pipeline.transformer.single_transformer_blocks[-1].proj_out


def test_first_block_cache_skips_steps_and_runs_each_image_alone(deeper_flux: Path, tmp_path: Path) -> None:
    steps = ["--inference-steps", "6", "--seeds", "3", "4", "--batch-size", "2"]
    _plain, plain_calls = _render([str(deeper_flux), *FAST, *steps, "-o", str(tmp_path / "plain")],
                                  _last_single_block)
    loose, loose_calls = _render([str(deeper_flux), *FAST, *steps, "--cache", "first-block;threshold=5", "-o",
                                  str(tmp_path / "loose")], _last_single_block)
    strict, strict_calls = _render([str(deeper_flux), *FAST, *steps, "--cache", "first-block;threshold=0.000001",
                                    "-o", str(tmp_path / "strict")], _last_single_block)
    assert plain_calls == 6, "two images in one call of 6 steps"
    assert strict_calls == 12, "each image alone, every step computed below a tiny threshold"
    assert loose_calls == 2, "each image alone, its first step computed and the rest taken from it"
    jobs = [read_config(path.with_suffix(".dgen").read_text())[0] for path in loose]
    assert [(job.batch_size, job.batch_slot) for job in jobs] == [(1, 0), (1, 0)]
    assert all(_pixels(a) != _pixels(b) for a, b in zip(strict, loose, strict=True)), "skipped steps change it"


@pytest.mark.parametrize("cache", ["deepcache;interval=2", "taylorseer;interval=2;warmup=1"])
def test_a_cached_grid_replays_from_its_config_and_leaves_the_model_as_it_was(
        run_cli: RunCli, tiny_sdxl: Path, tiny_flux: Path, tmp_path: Path, cache: str) -> None:
    model = tiny_sdxl if cache.startswith("deepcache") else tiny_flux
    words = [str(model), *FAST, "--inference-steps", "5", "--seeds", "3", "4", "--batch-size", "2"]
    grid = run_cli(*words, "--cache", cache, "none", "-o", str(tmp_path / "grid"))
    assert grid.code == 0, grid.err
    alone = run_cli(*words, "-o", str(tmp_path / "alone"))
    assert alone.code == 0, alone.err
    made = sorted((tmp_path / "grid").glob("*.png"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
    assert [_pixels(path) for path in made[2:]] == [_pixels(path) for path in sorted((tmp_path / "alone").glob(
        "*.png"))], "the uncached images after cached ones are the plain ones: the hooks are gone"
    config = made[1].with_suffix(".dgen").read_text()
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (replayed,) = (tmp_path / "again").glob("*.png")
    assert _pixels(replayed) == _pixels(made[1]), "the second image of a cached batch, alone at its slot"


@pytest.mark.parametrize(("given", "message"), [
    ("quick", "'quick' is not a cache method; use one of deepcache, first-block, taylorseer or none"),
    ("deepcache;interval=0", "interval=0 is not a whole number of at least 1"),
    ("deepcache;depth=2", "'depth=2' is not a setting of deepcache; it takes interval=, branch="),
    ("first-block;threshold=x", "threshold=x is not a threshold between 0 and 10"),
    ("taylorseer", "--cache taylorseer is for"),
    ("deepcache;branch=1", "this UNet has 2 levels, so branch takes 0 to 0"),
])
def test_a_cache_that_cannot_run_is_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path, given: str,
                                             message: str) -> None:
    result = run_cli(str(tiny_model), *FAST, "--inference-steps", "2", "--cache", given, "-o", str(tmp_path))
    assert result.code in (1, 2) and message in result.err, result.err
    errors = [line for line in result.err.splitlines() if "error" in line or "Traceback" in line]
    assert len(errors) == 1 and not list(tmp_path.glob("*.png"))


def test_the_run_says_how_many_calls_took_the_cached_part(run_cli: RunCli, tiny_model: Path, tiny_flux: Path,
                                                          tmp_path: Path) -> None:
    unet = run_cli(str(tiny_model), *FAST, "--inference-steps", "8", "--seeds", "3", "4", "--cache", "deepcache",
                   "none", "-o", str(tmp_path / "unet"))
    assert unet.code == 0, unet.err
    assert "--cache deepcache;interval=3;branch=0;warmup=0: 10 of 16 denoiser calls took the cached part" in unet.err
    transformer = run_cli(str(tiny_flux), *FAST, "--inference-steps", "8", "--cache", "taylorseer;interval=2;warmup=2",
                          "-o", str(tmp_path / "transformer"))
    assert transformer.code == 0, transformer.err
    assert ": 3 of 8 denoiser calls took the cached part from an earlier step" in transformer.err


def _first_down_resnet(pipeline: Any) -> Any:
    return pipeline.unet.down_blocks[-1].resnets[0]


def _last_attention(pipeline: Any) -> Any:
    return [module for name, module in pipeline.transformer.named_modules() if name.endswith("to_q")][-1]


# every family each method supports: the model, what its run needs, and the method (counted on a module it skips)
FAMILIES = [
    ("tiny_sdxl", [], "deepcache;interval=2"),
    ("tiny_kolors", [], "deepcache;interval=2"),
    ("tiny_pix2pix", ["--image-seeds", "{seed}"], "deepcache;interval=2"),
    ("tiny_sdxl_pix2pix", ["--image-seeds", "{seed}"], "deepcache;interval=2"),
    ("tiny_upscaler", ["--image-seeds", "{seed}"], "deepcache;interval=2"),
    ("tiny_sd3", [], "taylorseer;interval=2;warmup=1"),
    ("tiny_chroma", ["--output-size", "32"], "taylorseer;interval=2;warmup=1"),
    ("tiny_flux_kontext", ["--image-seeds", "{seed}"], "first-block;threshold=5"),
    ("tiny_flux_kontext", ["--output-size", "32"], "taylorseer;interval=2;warmup=1"),
    ("tiny_flux2", ["--output-size", "64"], "taylorseer;interval=2;warmup=1"),
    ("tiny_qwen_image", ["--output-size", "32"], "taylorseer;interval=2;warmup=1"),
]


@pytest.mark.parametrize(("fixture", "options", "cache"), FAMILIES, ids=lambda value: str(value).split(";")[0])
def test_every_family_a_method_supports_computes_less_and_replays(
        fixture: str, options: list[str], cache: str, request: pytest.FixtureRequest, run_cli: RunCli,
        tmp_path: Path) -> None:
    seed = tmp_path / "seed.png"
    Image.new("RGB", (64, 48), "teal").save(seed)
    model = request.getfixturevalue(fixture)
    words = [str(model), "--device", "cpu", "--cpu-threads", "1", "--seeds", "3", "--inference-steps", "6",
             "--output-configs", *(option.replace("{seed}", str(seed)) for option in options)]
    pick = _first_down_resnet if cache.startswith("deepcache") else _last_attention
    _plain, plain_calls = _render([*words, "-o", str(tmp_path / "plain")], pick)
    (cached,), cached_calls = _render([*words, "--cache", cache, "-o", str(tmp_path / "cached")], pick)
    assert 0 < cached_calls < plain_calls
    config = cached.with_suffix(".dgen").read_text()
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (replayed,) = (tmp_path / "again").glob("*.png")
    assert _pixels(replayed) == _pixels(cached)

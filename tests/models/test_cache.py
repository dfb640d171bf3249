"""The model cache within a memory budget, on real tiny pipelines: least recently used models go first, a batch
over three models stays within the budget, and rendering after an eviction gives the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.cli import parse_invocation
from dgenerate.models.budget import parse_budget
from dgenerate.models.cache import ModelCache, model_bytes
from dgenerate.render.loop import render_with_jobs
from tests.conftest import RunCli
from tests.tiny_models import build_tiny_sd


@pytest.fixture(scope="module")
def three_models(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("three")
    return [tiny_model, build_tiny_sd(folder / "b", seed=1), build_tiny_sd(folder / "c", seed=2)]


def _render(cache: ModelCache, model: Path, out: Path, seed: int = 1) -> Path:
    request, _ = parse_invocation([str(model), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "1",
                                   "--seeds", str(seed), "-o", str(out)])
    ((_, (png,)),) = render_with_jobs(request, cache, progress=False)
    return png


def test_least_recently_used_models_go_first(three_models: list[Path], tmp_path: Path) -> None:
    a, b, c = three_models
    probe = ModelCache()
    _render(probe, a, tmp_path / "probe")
    size = probe.held_bytes()
    assert size > 0 and size == model_bytes(probe.get(next(iter(probe._models))))
    cache = ModelCache(budget=int(size * 2.5))  # two tiny models fit, three do not
    first = _render(cache, a, tmp_path / "1")
    _render(cache, b, tmp_path / "2")
    _render(cache, a, tmp_path / "3")  # a is used again: b is now the least recently used
    _render(cache, c, tmp_path / "4")
    assert (cache.loads, cache.evictions, len(cache)) == (3, 1, 2)
    assert cache.held_bytes() <= size * 2.5
    _render(cache, b, tmp_path / "5")  # b comes back, a (used before c) goes
    assert (cache.loads, cache.evictions) == (4, 2)
    again = _render(cache, a, tmp_path / "6")  # loaded again after its eviction: the same image
    pixels = [np.asarray(Image.open(path)).tobytes() for path in (first, again)]
    assert pixels[0] == pixels[1]


def test_a_model_larger_than_the_budget_still_loads_alone(three_models: list[Path], tmp_path: Path) -> None:
    cache = ModelCache(budget=1)
    for number, model in enumerate(three_models):
        _render(cache, model, tmp_path / str(number))
        assert len(cache) == 1
    assert cache.loads == 3 and cache.evictions == 2


def test_a_batch_over_three_models_keeps_to_the_budget(run_cli: RunCli, three_models: list[Path],
                                                      tmp_path: Path) -> None:
    lines = [f"{model} --device cpu --cpu-threads 1 --inference-steps 1 --seeds {n} -o {tmp_path}/out "
             f"--model-cache-memory 1B" for n, model in enumerate(three_models * 2)]
    result = run_cli(stdin="\n".join(lines))
    assert result.code == 0, result.err
    assert len(list((tmp_path / "out").glob("*.png"))) == 6


@pytest.mark.parametrize(("text", "value"), [("8GB", 8 * 10**9), ("1.5GiB", 3 * 2**29), ("500mb", 5 * 10**8),
                                             ("40%", 0.4), ("1000", 1000), ("1", 1)])
def test_budgets_read_as_sizes_or_shares(text: str, value: float) -> None:
    parsed = parse_budget(text)
    assert parsed == value and isinstance(parsed, type(value))


@pytest.mark.parametrize("text", ["lots", "0", "0%", "150%", "-1GB", "GB", "1.5.2GB"])
def test_a_bad_budget_is_an_argument_error(run_cli: RunCli, text: str) -> None:
    result = run_cli("model", f"--model-cache-memory={text}")
    assert result.code == 2 and f"--model-cache-memory {text!r} is not a memory size" in result.err


def test_a_controlnet_loaded_onto_a_model_counts_towards_the_budget(three_models: list[Path], sd_controlnet: Path,
                                                                    tmp_path: Path) -> None:
    """A ControlNet joins a cached model when a job first names it; the model then holds more, and the cache lets go
    of models by what they hold now, not by what they held when they loaded."""
    a, b, _ = three_models
    Image.new("RGB", (64, 64), "white").save(tmp_path / "control.png")
    probe = ModelCache()
    _render(probe, a, tmp_path / "probe")
    plain = probe.held_bytes()
    cache = ModelCache()
    request, _ = parse_invocation([str(a), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "1",
                                   "--control-nets", str(sd_controlnet), "--image-seeds", str(tmp_path / "control.png"),
                                   "-o", str(tmp_path / "controlled")])
    for _ in render_with_jobs(request, cache, progress=False):
        pass
    ((model, _),) = cache._models.values()
    (net,) = model.control_nets.values()
    net_bytes = sum(tensor.numel() * tensor.element_size() for tensor in (*net.parameters(), *net.buffers()))
    assert cache.held_bytes() == plain + net_bytes
    cache.budget = 2 * plain + net_bytes // 2  # two plain models fit; with the ControlNet they do not
    _render(cache, b, tmp_path / "b")
    assert (cache.loads, cache.evictions, len(cache)) == (2, 1, 1)

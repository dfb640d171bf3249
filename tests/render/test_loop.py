"""End to end on a tiny random pipeline: the grid, exact reproduction, configs, metadata, batches, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dgenerate.models.cache
from dgenerate.reproduce import read_png_config
from tests.conftest import RunCli

FAST = ("--inference-steps", "4", "--device", "cpu")


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_grid_writes_one_named_image_per_cell(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--prompts", "a red circle", "a blue square; green", "--seeds", "11", "22",
                     "--guidance-scales", "5", "7.5", "-o", str(tmp_path), "-op", "pre", *FAST)
    assert result.code == 0, result.err
    assert "8 images (2 prompts x 2 seeds x 2 guidance scales x 1 inference steps value)" in result.err
    expected = [f"pre_s_{seed}_g_{g}_i_4_step_{n}.png" for n, (g, seed) in
                enumerate([(g, s) for _ in range(2) for g in ("5-0", "7-5") for s in (11, 22)], start=1)]
    assert _pngs(tmp_path) == sorted(expected)
    images = [_pixels(tmp_path / name) for name in expected]
    assert all(image.shape == (64, 64, 3) for image in images)
    assert not np.array_equal(images[0], images[1]), "different seeds must give different images"
    assert not np.array_equal(images[0], images[2]), "different guidance must give different images"
    assert not np.array_equal(images[0], images[4]), "different prompts must give different images"


def test_same_command_twice_gives_identical_bytes(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    for run in ("a", "b"):
        result = run_cli(str(tiny_model), "--prompts", "a cat", "--seeds", "5", "6", "-o", str(tmp_path / run),
                         "--output-metadata", *FAST)
        assert result.code == 0, result.err
    names = _pngs(tmp_path / "a")
    assert names == _pngs(tmp_path / "b") and len(names) == 2
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_config_regenerates_the_image_byte_identical(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "first"
    result = run_cli(str(tiny_model), "--prompts", "a $HOME 'quoted' cat; dog", "--seeds", "77", "-o", str(first),
                     "--scheduler", "EulerAncestralDiscreteScheduler", "--output-size", "64x48", "--output-configs",
                     *FAST)
    assert result.code == 0, result.err
    (config,) = first.glob("*.dgen")
    (original,) = first.glob("*.png")
    monkeypatch.chdir(tmp_path)
    result = run_cli(stdin=config.read_text())
    assert result.code == 0, result.err
    (again,) = (tmp_path / "output").glob("*.png")
    assert again.read_bytes() == original.read_bytes()
    assert _pixels(original).shape == (48, 64, 3)


def test_png_metadata_regenerates_the_image_byte_identical(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(str(tiny_model), "--prompts", "a tree; fog", "--seeds", "123456789012", "-o",
                     str(tmp_path / "first"), "--output-metadata", "--guidance-scales", "6.5", *FAST)
    assert result.code == 0, result.err
    (original,) = (tmp_path / "first").glob("*.png")
    parameters = Image.open(original).text["parameters"]  # type: ignore[attr-defined]
    assert parameters.splitlines()[:2] == ["a tree", "Negative prompt: fog"]
    assert "Steps: 4, Sampler: DDIM, CFG scale: 6.5, Seed: 123456789012, Size: 64x64, Model: model" in parameters
    monkeypatch.chdir(tmp_path)
    assert run_cli(stdin=read_png_config(original)).code == 0
    (again,) = (tmp_path / "output").glob("*.png")
    assert again.read_bytes() == original.read_bytes()


def test_batch_loads_each_model_once_and_reports_the_failing_line(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real_load = dgenerate.models.cache.load

    def counting_load(spec: dgenerate.ModelSpec) -> dgenerate.models.loader.LoadedModel:
        loads.append(spec.path)
        return real_load(spec)

    monkeypatch.setattr(dgenerate.models.cache, "load", counting_load)
    monkeypatch.setenv("OUT", str(tmp_path))
    text = (f"# three lines, one model\n{tiny_model} --seeds 1 -o $OUT/one {' '.join(FAST)}\n\n"
            f"{tiny_model} --seeds 2 -o ${{OUT}}/two \\\n   {' '.join(FAST)}\n"
            f"{tiny_model} --prompts 'x' --seeds 3 -o $OUT/three {' '.join(FAST)}\n"
            f"{tmp_path}/missing-model --seeds 4 -o $OUT/four {' '.join(FAST)}\n")
    result = run_cli(stdin=text)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith("dgenerate: error: line 7: model_path")
    assert loads == [str(tiny_model)], "the model of lines 1-3 loads once; line 7's is not found when it resolves"
    assert [len(_pngs(tmp_path / d)) for d in ("one", "two", "three")] == [1, 1, 1]
    assert not (tmp_path / "four").exists()


def test_batch_argument_error_stops_before_any_work(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(stdin=f"{tiny_model} --seeds 1 -o {tmp_path}/a {' '.join(FAST)}\n{tiny_model} --seeds x\n")
    assert result.code == 2
    assert result.err.strip() == "dgenerate: error: line 2: --seeds 'x' is not a whole number"
    assert not (tmp_path / "a").exists()


def test_existing_images_are_never_overwritten(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    args = (str(tiny_model), "--seeds", "9", "-o", str(tmp_path), "--output-configs", *FAST)
    assert run_cli(*args, "--prompts", "first").code == 0
    before = (tmp_path / "s_9_g_5-0_i_4_step_1.png").read_bytes()
    assert run_cli(*args, "--prompts", "second").code == 0
    assert (tmp_path / "s_9_g_5-0_i_4_step_1.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s_9_g_5-0_i_4_step_1.dgen", "s_9_g_5-0_i_4_step_1.png", "s_9_g_5-0_i_4_step_1_2.dgen",
        "s_9_g_5-0_i_4_step_1_2.png"]
    assert "second" in (tmp_path / "s_9_g_5-0_i_4_step_1_2.dgen").read_text()


def test_generated_seeds_are_printed_and_used(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--gen-seeds", "2", "-o", str(tmp_path), *FAST)
    assert result.code == 0
    seeds = result.err.split("seeds: ")[1].split()[:2]
    assert _pngs(tmp_path) == sorted(f"s_{seed}_g_5-0_i_4_step_{n}.png" for n, seed in enumerate(seeds, start=1))


def test_size_not_a_multiple_of_the_model_is_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), "--seeds", "1", "--output-size", "60", "-o", str(tmp_path), *FAST)
    assert result.code == 2
    assert result.err.strip().splitlines()[-1] == (
        "dgenerate: error: --output-size 60x60 is not a multiple of 8, which this model needs; use for example 56x56")
    assert not tmp_path.joinpath("s_1_g_5-0_i_4_step_1.png").exists()


def test_model_missing_offline_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("someone/not-downloaded", "--seeds", "1", "-o", str(tmp_path), *FAST)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()[-1:]
    assert "'someone/not-downloaded' is not on disk or in the Hugging Face cache" in line
    assert "hf download someone/not-downloaded" in line


def test_cpu_thread_count_is_recorded_and_used(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    default_threads = torch.get_num_threads()
    args = (str(tiny_model), "--prompts", "a hat", "--seeds", "3", "--output-configs", *FAST)
    assert run_cli(*args, "-o", str(tmp_path / "default")).code == 0
    assert f"--cpu-threads {default_threads}" in next((tmp_path / "default").glob("*.dgen")).read_text()
    assert run_cli(*args, "--cpu-threads", "1", "-o", str(tmp_path / "one")).code == 0
    (original,) = (tmp_path / "one").glob("*.png")
    config = original.with_suffix(".dgen").read_text()
    assert "--cpu-threads 1" in config
    assert torch.get_num_threads() == default_threads, "the library puts the thread count back"
    monkeypatch.chdir(tmp_path)
    assert run_cli(stdin=config).code == 0
    (again,) = (tmp_path / "output").glob("*.png")
    assert again.read_bytes() == original.read_bytes()


def test_safety_checker_flag_without_a_checker_in_the_model_changes_nothing(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    args = (str(tiny_model), "--prompts", "a boat", "--seeds", "8", *FAST)
    assert run_cli(*args, "-o", str(tmp_path / "off")).code == 0
    assert run_cli(*args, "--safety-checker", "--output-configs", "-o", str(tmp_path / "on")).code == 0
    (off,), (on,) = (tmp_path / "off").glob("*.png"), (tmp_path / "on").glob("*.png")
    assert off.read_bytes() == on.read_bytes()
    assert "--safety-checker" in on.with_suffix(".dgen").read_text()


def test_the_library_prints_nothing_unless_asked(tiny_model: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import dgenerate.render.loop
    import dgenerate.resolve

    assert all(callable(function) for function in (dgenerate.plan, dgenerate.resolve, dgenerate.render))

    request = dgenerate.RenderRequest(model=dgenerate.ModelSpec(str(tiny_model), device="cpu"), seeds=(1, 2),
                                      inference_steps=(2,), output=dgenerate.OutputSpec(str(tmp_path)))
    capsys.readouterr()
    written = dgenerate.render(request)
    assert capsys.readouterr() == ("", ""), "no progress bar and no 'wrote ...' lines from a library call"
    assert [path.name for path in written] == ["s_1_g_5-0_i_2_step_1.png", "s_2_g_5-0_i_2_step_2.png"]
    dgenerate.render(request, progress=True)
    assert "wrote " in capsys.readouterr().err

"""The hi-res pass (AUTOMATIC1111's hires fix): upscale then denoise again, one image that its config, its metadata
and AUTOMATIC1111's text of it make again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.curate.metadata import a1111_arguments, parse_a1111
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "4", "--seeds", "7", "--prompts", "a red circle",
        "--output-size", "64x48")
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "metadata"


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("upscaler", ["latent", "lanczos", "model"])
def test_a_hires_image_is_the_upscaled_size_and_replays(run_cli: RunCli, tiny_model: Path, tiny_esrgan: Path,
                                                        tmp_path: Path, upscaler: str) -> None:
    chosen = str(tiny_esrgan) if upscaler == "model" else upscaler
    result = run_cli(str(tiny_model), *FAST, "--hires-scales", "1.5", "--hires-upscaler", chosen, "--hires-strengths",
                     "0.5", "--hires-steps", "3", "--output-metadata", "--output-configs", "-o", str(tmp_path / "made"))
    assert result.code == 0, result.err
    (made,) = (tmp_path / "made").glob("*.png")
    assert made.name == "s_7_g_5-0_i_4_hrs_1-5_hrst_0-5_step_1.png" and Image.open(made).size == (96, 72)
    parameters = Image.open(made).text["parameters"]
    name = {"latent": "Latent", "lanczos": "Lanczos", "model": tiny_esrgan.stem}[upscaler]
    assert f"Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 3, Hires upscaler: {name}" in parameters
    replayed = run_cli("--from-image", str(made), "-o", str(tmp_path / "again"))
    assert replayed.code == 0, replayed.err
    (again,) = (tmp_path / "again").glob("*.png")
    assert np.array_equal(_pixels(again), _pixels(made))
    plain = run_cli(str(tiny_model), *FAST, "-o", str(tmp_path / "plain"))
    assert plain.code == 0
    (first,) = (tmp_path / "plain").glob("*.png")
    assert Image.open(first).size == (64, 48)


def test_hires_axes_make_a_grid_that_also_runs_batched(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    grid = ("--hires-scales", "1.5", "2", "--hires-strengths", "0.3", "0.6", "--seeds", "7", "8")
    alone = run_cli(str(tiny_model), *FAST, *grid, "-o", str(tmp_path / "alone"))
    batched = run_cli(str(tiny_model), *FAST, *grid, "--batch-size", "2", "-o", str(tmp_path / "batched"))
    assert alone.code == 0 and batched.code == 0, alone.err + batched.err
    names = sorted(path.name for path in (tmp_path / "alone").glob("*.png"))
    assert len(names) == 8 and {Image.open(tmp_path / "alone" / name).size for name in names} == {(96, 72), (128, 96)}
    assert "8 images (1 prompt x 2 seeds x 1 guidance scale x 1 inference steps value x 2 hires scales x 2 hires " \
           "strengths)" in alone.err


def test_the_hires_pass_runs_the_steps_it_is_given() -> None:
    """As AUTOMATIC1111 does: a strength of 0.25 and 3 hi-res steps plan 12 and run 3."""
    from dgenerate.jobs import Job, ModelSpec
    from dgenerate.resolve import hires_schedule

    job = Job(ModelSpec("m"), "p", None, 1, 5.0, 20, 64, 64, hires_scale=2.0, hires_strength=0.25, hires_steps=3)
    assert hires_schedule(job) == 12


@pytest.mark.parametrize(("extra", "message"), [
    (("--hires-strengths", "0.4"), "--hires-strengths needs --hires-scales"),
    (("--hires-scales", "0.5"), "--hires-scales '0.5' is out of range"),
    (("--hires-scales", "2", "--hires-upscaler", "bicubic"), "neither latent, lanczos nor an upscaling model"),
    (("--hires-scales", "2", "--hires-strengths", "0"), "--hires-strengths 0 leaves the hi-res pass nothing"),
])
def test_bad_hires_options_are_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                        extra: tuple[str, ...], message: str) -> None:
    result = run_cli(str(tiny_model), *FAST, *extra, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err, result.err
    assert not (tmp_path / "out").exists()


def test_families_without_the_pass_refuse_it(run_cli: RunCli, tiny_flux: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_flux), "--device", "cpu", "--output-size", "32", "--hires-scales", "2",
                     "-o", str(tmp_path / "out"))
    assert result.code == 2 and "--hires-scales makes a hi-res pass of text to image with" in result.err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
def test_an_automatic1111_hires_image_replays(run_cli: RunCli, tiny_sdxl: Path, tmp_path: Path) -> None:
    sample = SAMPLES / "Dataset-Tools__test_img_A1111_simple_SDXL.png"
    mapped = a1111_arguments(parse_a1111(Image.open(sample).text["parameters"]))
    assert {"--hires-scales=1.5", "--hires-steps=30", "--hires-strengths=0.35",
            "--hires-upscaler=lanczos"} <= set(mapped.arguments)
    assert any("4x_foolhardy_Remacri" in item for item in mapped.not_mapped)
    result = run_cli(str(tiny_sdxl), "--from-image", str(sample), "--output-size", "64x96", "--inference-steps", "2",
                     "--hires-steps", "2", "--device", "cpu", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    (made,) = (tmp_path / "out").glob("*.png")
    assert Image.open(made).size == (96, 144)

"""Variation seeds and --resize-seed-from: starting noise as AUTOMATIC1111 makes it, on pixels and in the records.

`a1111_noise` below is AUTOMATIC1111's published algorithm (modules/rng.py, ImageRNG.first, with its CPU random
number source: torch.manual_seed then torch.randn), written out here from its source text, not imported, so that
dgenerate's own code is checked against it rather than against itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.curate.metadata import a1111_arguments, parse_a1111
from dgenerate.render.noise import cpu_generator, varied_noise
from dgenerate.reproduce import read_config
from tests.conftest import RunCli

torch = pytest.importorskip("torch")

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "4", "--scheduler", "DDIMScheduler",
        "--prompts", "a red circle")


def _randn(seed: int, shape: tuple[int, ...]) -> Any:
    torch.manual_seed(seed)
    return torch.randn(shape, device="cpu")


def _slerp(val: float, low: Any, high: Any) -> Any:
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * (1 - val) + high * val
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def a1111_noise(shape: tuple[int, int, int], seed: int, subseed: int | None, strength: float,
                resize_h: int = 0, resize_w: int = 0) -> Any:
    """ImageRNG.first() for one image: `resize_h`/`resize_w` in pixels, divided by 8 as AUTOMATIC1111 does."""
    noise_shape = shape if resize_h <= 0 or resize_w <= 0 else (shape[0], resize_h // 8, resize_w // 8)
    subnoise = None
    if subseed is not None and strength != 0:
        subnoise = _randn(subseed, noise_shape)
    noise = _randn(seed, noise_shape)
    if subnoise is not None:
        noise = _slerp(strength, noise, subnoise)
    if noise_shape != shape:
        x = _randn(seed, shape)
        dx = (shape[2] - noise_shape[2]) // 2
        dy = (shape[1] - noise_shape[1]) // 2
        w = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
        h = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
        tx = 0 if dx < 0 else dx
        ty = 0 if dy < 0 else dy
        dx = max(-dx, 0)
        dy = max(-dy, 0)
        x[:, ty:ty + h, tx:tx + w] = noise[:, dy:dy + h, dx:dx + w]
        noise = x
    return noise


@pytest.mark.parametrize(("strength", "resize"), [(0.3, None), (0.75, None), (1.0, None), (0.0, (96, 48)),
                                                   (0.3, (48, 96)), (0.5, (128, 128)), (0.2, (32, 32))])
def test_noise_equals_automatic1111s(strength: float, resize: tuple[int, int] | None) -> None:
    shape = (4, 8, 12)  # a 96x64 picture's latents
    latent = None if resize is None else (resize[1] // 8, resize[0] // 8)
    ours = varied_noise(shape, 1234, cpu_generator(1234), 99, strength, latent)
    reference = a1111_noise(shape, 1234, 99, strength, *((resize[1], resize[0]) if resize else (0, 0)))
    assert torch.equal(ours[0], reference)


def test_resized_noise_keeps_the_seed_noise_of_the_overlap() -> None:
    """Drawn as for 64x128 (8x16 latents) and kept at 96x64 (8x12): the middle 12 columns are the large noise's."""
    ours = varied_noise((4, 8, 12), 7, cpu_generator(7), None, 0.0, (8, 16))[0]
    assert torch.equal(ours, _randn(7, (4, 8, 16))[:, :, 2:14])
    smaller = varied_noise((4, 8, 12), 7, cpu_generator(7), None, 0.0, (4, 4))[0]
    assert torch.equal(smaller[:, 2:6, 4:8], _randn(7, (4, 4, 4)))
    assert torch.equal(smaller[:, :2], _randn(7, (4, 8, 12))[:, :2]), "outside, the seed's noise at the full size"


def test_the_generator_goes_on_as_after_the_plain_noise() -> None:
    """Ancestral schedulers draw their step noise from the image's generator after its starting noise."""
    plain, varied = cpu_generator(5), cpu_generator(5)
    torch.randn((1, 4, 8, 8), generator=plain)
    varied_noise((4, 8, 8), 5, varied, 6, 0.4, None)
    assert torch.equal(torch.randn(3, generator=plain), torch.randn(3, generator=varied))


def _pixels(folder: Path) -> np.ndarray:
    (png,) = folder.glob("*.png")
    return np.asarray(Image.open(png).convert("RGB"))


def _run(run_cli: RunCli, model: Path, folder: Path, *extra: str) -> np.ndarray:
    result = run_cli(str(model), *FAST, "-o", str(folder), *extra)
    assert result.code == 0, result.err
    return _pixels(folder)


def test_strength_zero_is_the_seed_and_strength_one_the_variation_seed(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    seed_image = _run(run_cli, tiny_model, tmp_path / "seed", "--seeds", "11")
    variation_image = _run(run_cli, tiny_model, tmp_path / "variation", "--seeds", "12")
    assert not np.array_equal(seed_image, variation_image)
    none = _run(run_cli, tiny_model, tmp_path / "zero", "--seeds", "11", "-vse", "12", "-vst", "0")
    full = _run(run_cli, tiny_model, tmp_path / "one", "--seeds", "11", "-vse", "12", "-vst", "1")
    assert np.array_equal(none, seed_image)
    assert np.array_equal(full, variation_image)


def _plain_diffusers(model: Path, noise: Any, seed: int) -> np.ndarray:
    """The picture plain diffusers makes from `noise`, with the same settings as FAST."""
    import diffusers

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(model)
    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        image = pipe("a red circle", latents=noise.unsqueeze(0), generator=[cpu_generator(seed)],
                     num_inference_steps=4, guidance_scale=5.0, height=64, width=64).images[0]
    finally:
        torch.set_num_threads(threads)
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(("extra", "strength", "resize"), [(("-vse", "12", "-vst", "0.3"), 0.3, (0, 0)),
                                                          (("--resize-seed-from", "128x96"), 0.0, (96, 128)),
                                                          (("-vse", "12", "-vst", "0.6", "--resize-seed-from", "32x48"),
                                                           0.6, (48, 32))])
def test_pictures_are_made_from_automatic1111s_noise(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                     extra: tuple[str, ...], strength: float,
                                                     resize: tuple[int, int]) -> None:
    made = _run(run_cli, tiny_model, tmp_path / "made", "--seeds", "11", *extra)
    reference = a1111_noise((4, 8, 8), 11, 12, strength, *resize)
    assert np.array_equal(made, _plain_diffusers(tiny_model, reference, 11))
    assert not np.array_equal(made, _run(run_cli, tiny_model, tmp_path / "plain", "--seeds", "11"))


def test_a_variation_grid_is_named_recorded_and_regenerates(run_cli: RunCli, tiny_model: Path,
                                                            tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), *FAST, "--seeds", "11", "-vse", "12", "13", "-vst", "0.25", "0.5",
                     "--resize-seed-from", "64x128", "--batch-size", "2", "--output-configs", "--output-metadata",
                     "-o", str(tmp_path / "grid"))
    assert result.code == 0, result.err
    names = sorted(path.name for path in (tmp_path / "grid").glob("*.png"))
    assert names == ["s_11_vs_12_vst_0-25_g_5-0_i_4_step_1.png", "s_11_vs_12_vst_0-5_g_5-0_i_4_step_3.png",
                     "s_11_vs_13_vst_0-25_g_5-0_i_4_step_2.png", "s_11_vs_13_vst_0-5_g_5-0_i_4_step_4.png"]
    chosen = tmp_path / "grid" / names[1]
    config = chosen.with_suffix(".dgen").read_text()
    (job,) = read_config(config)
    assert (job.variation_seed, job.variation_strength, job.resize_seed_from) == (12, 0.5, (64, 128))
    again = run_cli(stdin=config.replace("--output-configs", f"--output-configs -o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    assert np.array_equal(_pixels(tmp_path / "again"), np.asarray(Image.open(chosen).convert("RGB")))
    parameters = Image.open(chosen).text["parameters"]
    assert "Seed: 11" in parameters and "Variation seed: 12, Variation seed strength: 0.5" in parameters
    assert "Seed resize from: 64x128" in parameters
    replayed = run_cli("--from-image", str(chosen), "-o", str(tmp_path / "replayed"))
    assert replayed.code == 0, replayed.err
    assert np.array_equal(_pixels(tmp_path / "replayed"), np.asarray(Image.open(chosen).convert("RGB")))


def test_automatic1111s_variation_settings_are_read() -> None:
    text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Variation seed: 77, " \
           "Variation seed strength: 0.35, Seed resize from: 768x512"
    mapped = a1111_arguments(parse_a1111(text))
    assert {"--variation-seeds=77", "--variation-strengths=0.35", "--resize-seed-from=768x512"} <= set(mapped.arguments)
    assert mapped.not_mapped == []


@pytest.mark.parametrize(("extra", "message"), [
    (("-vse", "3"), "--variation-seeds needs --variation-strengths"),
    (("-vst", "0.5"), "--variation-strengths needs --variation-seeds"),
    (("-vse", "3", "-vst", "1.5"), "--variation-strengths '1.5' is out of range"),
    (("--resize-seed-from", "60x64"), "--resize-seed-from 60x64 is not a multiple of 8"),
])
def test_bad_variation_options_are_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                            extra: tuple[str, ...], message: str) -> None:
    result = run_cli(str(tiny_model), *FAST, "--seeds", "1", *extra, "-o", str(tmp_path / "out"))
    errors = [line for line in result.err.splitlines() if "error" in line]
    assert result.code == 2 and errors == [f"dgenerate: error: {message}" + errors[0].split(message)[1]], result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_families_that_draw_their_own_noise_refuse_variation_seeds(run_cli: RunCli, tiny_flux: Path,
                                                                   tmp_path: Path) -> None:
    result = run_cli(str(tiny_flux), "--device", "cpu", "--seeds", "1", "-vse", "2", "-vst", "0.5",
                     "-o", str(tmp_path / "out"))
    errors = [line for line in result.err.splitlines() if "error" in line]
    assert result.code == 2 and len(errors) == 1 and "--variation-seeds is for Stable Diffusion 1.x/2.x" in errors[0]
    assert "torch-sd3" in errors[0] and "Traceback" not in result.err, result.err
    assert not (tmp_path / "out").exists()

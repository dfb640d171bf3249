"""The README's examples run as written (with the tiny test model in place of the built-in one)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import RunCli

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str) -> list[str]:
    match = re.search(rf"<!-- example: {name} -->\n```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, f"README has no example {name!r}"
    words = shlex.split(match.group(1).replace("\\\n", " "))
    assert words[0] == "dgenerate"
    return words[1:]


def test_setup_commands_open_the_readme() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks[0].startswith("scripts/setup && .venv/bin/dgenerate builtin:shapes2 ")
    assert blocks[1].strip() == "scripts/setup --test && .venv/bin/python -m pytest -q"
    assert blocks[1].strip() in (README.parent / ".ci" / "run").read_text()


def test_first_command_draws_four_clearly_different_pictures(run_cli: RunCli, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in model's first run, as the README shows it (docs/first-run.png): each prompt's two seeds differ in
    where the shape is or how big it is, and every picture is what its prompt asks for."""
    from training.measure_diversity import geometry

    from tests.shapes_scorer import Reading, read_image

    first = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)[0]
    words = shlex.split(first.split(".venv/bin/dgenerate", 1)[1])
    assert "![" in README.read_text() and "docs/first-run.png" in README.read_text()
    assert (README.parent / "docs" / "first-run.png").is_file()
    monkeypatch.chdir(tmp_path)
    assert run_cli(*words).code == 0
    pictures = sorted((tmp_path / "shapes").glob("*.png"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
    assert len(pictures) == 4
    wanted = [Reading("blue", "red", "circle")] * 2 + [Reading("black", "yellow", "triangle")] * 2
    images = [Image.open(path).convert("RGB") for path in pictures]
    assert [read_image(image) for image in images] == wanted
    shapes = [geometry(np.asarray(image)) for image in images]
    for one, two in ((shapes[0], shapes[1]), (shapes[2], shapes[3])):
        assert one is not None and two is not None
        assert max(abs(a - b) for a, b in zip(one, two, strict=True)) >= 4.0, (one, two)


def test_text_to_image_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("text-to-image")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu")
    assert result.code == 0, result.err
    pngs = sorted((tmp_path / "shapes").glob("*.png"))
    assert len(pngs) == 8 and len(list((tmp_path / "shapes").glob("*.dgen"))) == 8
    assert pngs[0].name == "s_1_g_3-0_i_20_step_1.png"


def test_curation_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("curation")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    folder = tmp_path / "shapes"
    assert len(list(folder.glob("s_*.png"))) == 12
    assert sorted(path.name for path in folder.glob("contact-sheet*")) == ["contact-sheet-1.png", "contact-sheet-2.png"]
    assert (folder / "index.html").is_file()
    first = sorted(folder.glob("s_*.png"))[0]
    replayed = run_cli("--from-image", str(first), "--output-path", str(tmp_path / "again"))
    assert replayed.code == 0, replayed.err
    assert (tmp_path / "again" / first.name).read_bytes() == first.read_bytes()


def test_dynamic_prompts_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("dynamic-prompts")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "2", "--output-configs")
    assert result.code == 0, result.err
    prompts = [path.read_text().split("--prompts ")[1].split(" \\")[0]
               for path in sorted((tmp_path / "shapes").glob("*.dgen"))]
    assert prompts == ["'a red circle on a blue background'", "'a red triangle on a blue background'",
                       "'a yellow circle on a blue background'", "'a yellow triangle on a blue background'"]


def test_image_process_example(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image, ImageDraw

    argv = readme_example("image-process")
    monkeypatch.chdir(tmp_path)
    photo = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(photo).ellipse((50, 40, 200, 160), fill="navy")
    photo.save("photo.png")
    result = run_cli(*argv)
    assert result.code == 0, result.err
    guide = Image.open(tmp_path / "guides" / "photo_processed.png")
    assert guide.size == (512, 512) and 0 < (np.asarray(guide) > 0).mean() < 0.1


def test_hires_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("hires")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    sizes = sorted(Image.open(path).size for path in (tmp_path / "shapes").glob("*.png"))
    assert sizes == [(96, 96), (128, 128)]


def test_variation_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("variation")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    folder = tmp_path / "variations"
    names = sorted(path.name for path in folder.glob("s_*.png"))
    assert names[0] == "s_7_vs_8_vst_0-1_g_5-0_i_2_step_1.png" and len(names) == 4
    assert (folder / "contact-sheet.png").is_file()


def test_flux_example(run_cli: RunCli, tiny_flux: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, on the tiny Flux model at 32x16 and 2 steps: the model type is read from the folder."""
    argv = readme_example("flux")
    assert argv[0] == "./FLUX.1-dev"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_flux), *argv[1:], "--device", "cpu", "--output-size", "32x16", "--inference-steps", "2")
    assert result.code == 0, result.err
    configs = sorted((tmp_path / "flux").glob("*.dgen"))
    assert len(configs) == 4 and len(list((tmp_path / "flux").glob("*.png"))) == 4
    texts = [config.read_text() for config in configs]
    assert all("--model-type torch-flux" in text and "--dtype bfloat16" in text for text in texts)
    assert sorted(text.count("--true-guidance-scales 4") for text in texts) == [0, 0, 1, 1]


def test_adapters_example(run_cli: RunCli, tiny_model: Path, tiny_lora: Path, second_lora: Path, sd_embedding: Path,
                          sd_controlnet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, with the tiny model's adapters under the example's names in the working folder."""
    import shutil

    from PIL import Image, ImageDraw

    argv = readme_example("adapters")
    assert argv[0] == "./stable-diffusion-v1-5"
    monkeypatch.chdir(tmp_path)
    for source, name in ((tiny_lora, "ink-style.safetensors"), (second_lora, "detail.safetensors"),
                         (sd_embedding, "easynegative.safetensors")):
        shutil.copy(source, tmp_path / name)
    shutil.copytree(sd_controlnet, tmp_path / "controlnet-canny")
    edges = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(edges).ellipse((16, 16, 48, 48), outline="white")
    edges.save(tmp_path / "edges.png")
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    configs = sorted((tmp_path / "adapters").glob("*.dgen"))
    assert len(configs) == 2 and len(list((tmp_path / "adapters").glob("*.png"))) == 2
    text = configs[0].read_text()
    for expected in ("ink-style.safetensors;0.8", "detail.safetensors;0.4", "--textual-inversions", "control=",
                     "controlnet-canny;scale=0.9;start=0;end=0.8", "--prompt-weighting a1111"):
        assert expected in text, expected


def _photo(folder: Path, size: tuple[int, int]) -> None:
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", size, "teal")
    ImageDraw.Draw(photo).rectangle((4, 4, size[0] // 2, size[1] // 2), fill="yellow")
    photo.save(folder / "photo.png")


def test_edit_example(run_cli: RunCli, tiny_pix2pix: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, on the tiny InstructPix2Pix model at 2 steps: 2 image guidance scales x 2 seeds."""
    argv = readme_example("edit")
    assert argv[0] == "./instruct-pix2pix"
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path, (64, 48))
    result = run_cli(str(tiny_pix2pix), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    names = sorted(path.name for path in (tmp_path / "edits").glob("*.png"))
    assert names == ["s_1_g_7-0_igs_1-2_i_2_step_1.png", "s_1_g_7-0_igs_1-8_i_2_step_3.png",
                     "s_2_g_7-0_igs_1-2_i_2_step_2.png", "s_2_g_7-0_igs_1-8_i_2_step_4.png"]
    assert all("--model-type torch-pix2pix" in path.read_text() for path in (tmp_path / "edits").glob("*.dgen"))


def test_upscale_example(run_cli: RunCli, tiny_upscaler: Path, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, on the tiny x4 upscaler at 2 steps: the 128x96 seed becomes 512x384, at two noise levels."""
    from PIL import Image

    argv = readme_example("upscale")
    assert argv[0] == "./stable-diffusion-x4-upscaler"
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path, (200, 150))
    result = run_cli(str(tiny_upscaler), *argv[1:], "--device", "cpu", "--inference-steps", "2")
    assert result.code == 0, result.err
    pictures = sorted((tmp_path / "upscaled").glob("*.png"))
    assert [path.name for path in pictures] == ["s_1_g_5-0_unl_10_i_2_step_1.png", "s_1_g_5-0_unl_60_i_2_step_2.png"]
    assert all(Image.open(path).size == (512, 384) for path in pictures)


def test_cache_example(run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = readme_example("cache")
    assert argv[0] == "builtin:shapes"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_model), *argv[1:], "--device", "cpu", "--inference-steps", "4")
    assert result.code == 0, result.err
    names = sorted(path.name for path in (tmp_path / "shapes").glob("*.png"))
    assert len(names) == 6 and sum("_ca_deepcache-3-0-0_" in name for name in names) == 2
    assert sum("_ca_deepcache-2-0-0_" in name for name in names) == 2 and sum("_ca_" not in n for n in names) == 2


def test_video_example(run_cli: RunCli, tiny_wan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, on the tiny Wan at 48x32 and 2 steps: 2 clip lengths x 2 seeds, each an APNG, its frames and its
    config."""
    argv = readme_example("video")
    assert argv[0] == "./Wan2.1-T2V-1.3B-Diffusers"
    monkeypatch.chdir(tmp_path)
    result = run_cli(str(tiny_wan), *argv[1:], "--device", "cpu", "--output-size", "48x32", "--inference-steps", "2")
    assert result.code == 0, result.err
    clips = sorted(path.name for path in (tmp_path / "clips").glob("*.apng"))
    assert clips == ["s_1_g_5-0_i_2_nf_33_fs_3-0_step_1.apng", "s_1_g_5-0_i_2_nf_49_fs_3-0_step_3.apng",
                     "s_2_g_5-0_i_2_nf_33_fs_3-0_step_2.apng", "s_2_g_5-0_i_2_nf_49_fs_3-0_step_4.apng"]
    assert len(list((tmp_path / "clips").glob("*_frame_*.png"))) == 2 * (33 + 49)
    assert all("--model-type torch-wan" in path.read_text() for path in (tmp_path / "clips").glob("*.dgen"))

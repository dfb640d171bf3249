"""--from-image replays an image (ours byte-identical, others' settings where they map); --inspect reads metadata."""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from dgenerate.cli import parse_invocation
from dgenerate.curate.metadata import a1111_arguments, parse_a1111
from dgenerate.jobs import Job, ModelSpec
from dgenerate.reproduce import read_config, read_png_config
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3")
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "metadata"


def pixels(path: Path) -> bytes:
    return np.asarray(Image.open(path).convert("RGB")).tobytes()


@pytest.fixture
def made(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> Path:
    result = run_cli(str(tiny_model), *FAST, "--seeds", "21", "--prompts", "-a circle; blue $HOME",
                     "--scheduler", "EulerAncestralDiscreteScheduler", "--output-metadata", "--output-configs",
                     "-o", str(tmp_path / "first"))
    assert result.code == 0, result.err
    (png,) = (tmp_path / "first").glob("*.png")
    return png


def test_an_image_regenerates_byte_identical_from_itself(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    result = run_cli("--from-image", str(made), "-o", str(tmp_path / "again"))
    assert result.code == 0, result.err
    (again,) = (tmp_path / "again").glob("*.png")
    assert again.name == made.name and pixels(again) == pixels(made)
    assert read_config(read_png_config(again)) == read_config(read_png_config(made))


def test_a_dgen_config_replays_the_same_way(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    result = run_cli("--from-image", str(made.with_suffix(".dgen")), "-o", str(tmp_path / "again"))
    assert result.code == 0, result.err
    (again,) = (tmp_path / "again").glob("*.png")
    assert pixels(again) == pixels(made)


def test_an_override_changes_only_what_it_names(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    result = run_cli("--from-image", str(made), "--inference-steps", "5", "-o", str(tmp_path / "more"))
    assert result.code == 0, result.err
    (more,) = (tmp_path / "more").glob("*.png")
    (before,), (after,) = read_config(read_png_config(made)), read_config(read_png_config(more))
    assert after == replace(before, inference_steps=5)
    assert pixels(more) != pixels(made)


def test_overrides_can_be_a_grid_again(made: Path) -> None:
    request, _ = parse_invocation(["--from-image", str(made), "--gen-seeds", "3", "-gs", "2", "4"])
    assert len(request.seeds) == 3 and request.guidance_scales == (2.0, 4.0)
    assert request.prompts[0].positive == "-a circle" and request.prompts[0].negative == "blue $HOME"
    assert request.scheduler == "EulerAncestralDiscreteScheduler" and request.inference_steps == (3,)


def _a1111_png(path: Path, text: str) -> Path:
    """A PNG as AUTOMATIC1111 saves it: the settings in a tEXt chunk named 'parameters'."""
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (64, 64), "grey").save(path, pnginfo=info)
    return path


A1111_TEXT = ("a red circle, (masterpiece:1.2)\nNegative prompt: blurry, lowres\n"
              "Steps: 12, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 987654321, "
              "Size: 64x64, Model hash: cde528265a, Model: dreamy, Clip skip: 2, Version: v1.10.1")


def test_an_automatic1111_image_becomes_our_options(tiny_model: Path, tmp_path: Path) -> None:
    png = _a1111_png(tmp_path / "a1111.png", A1111_TEXT)
    request, args = parse_invocation([str(tiny_model), "--from-image", str(png)])
    assert request.prompts[0].positive == "a red circle, (masterpiece:1.2)"
    assert request.prompts[0].negative == "blurry, lowres"
    assert (request.inference_steps, request.guidance_scales, request.seeds) == ((12,), (6.5,), (987654321,))
    assert request.output_size == (64, 64) and request.scheduler == "EulerAncestralDiscreteScheduler"
    assert args.replay_note == (f"from '{png}' (AUTOMATIC1111 parameters), not used: Schedule type: Automatic, "
                                "Model hash: cde528265a, Model: dreamy, Clip skip: 2, Version: v1.10.1")


def test_an_automatic1111_image_renders_and_says_what_it_left_out(run_cli: RunCli, tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    png = _a1111_png(tmp_path / "a1111.png", A1111_TEXT.replace("Steps: 12", "Steps: 2"))
    result = run_cli(str(tiny_model), "--from-image", str(png), "--device", "cpu", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert "not used: Schedule type: Automatic, Model hash" in result.err
    (made,) = (tmp_path / "out").glob("*.png")
    assert made.name == "s_987654321_g_6-5_i_2_step_1.png"


def test_an_automatic1111_image_needs_a_model(run_cli: RunCli, tmp_path: Path) -> None:
    png = _a1111_png(tmp_path / "a1111.png", A1111_TEXT)
    result = run_cli("--from-image", str(png))
    assert result.code == 2 and "made by another tool with the model 'dreamy'" in result.err
    assert "dgenerate MODEL_PATH --from-image" in result.err


def test_karras_and_a_semicolon_are_named_when_they_cannot_be_kept() -> None:
    mapped = a1111_arguments(parse_a1111("a; b\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1"))
    assert mapped.arguments == ["--prompts=a, b", "--inference-steps=20", "--guidance-scales=7", "--seeds=1",
                                "--scheduler=DPMSolverMultistepScheduler"]
    assert mapped.not_mapped == ["';' in the prompt (written as ',')", "Karras sigmas"]


def test_automatic1111s_image_cfg_scale_is_the_image_guidance_of_an_instruction_edit(tiny_pix2pix: Path) -> None:
    """AUTOMATIC1111 writes an instruct-pix2pix image's image guidance as "Image CFG scale"; so does dgenerate."""
    from dgenerate.reproduce import a1111_parameters

    mapped = a1111_arguments(parse_a1111("make it snow\nSteps: 20, CFG scale: 7.5, Image CFG scale: 1.25, Seed: 3"))
    assert "--image-guidance-scales=1.25" in mapped.arguments and mapped.not_mapped == []
    job = Job(ModelSpec(str(tiny_pix2pix), "torch-pix2pix"), "make it snow", None, 3, 7.5, 20, 64, 48,
              scheduler="DDIMScheduler", image_guidance_scale=1.25)
    written = a1111_arguments(parse_a1111(a1111_parameters(job)))
    assert {"--guidance-scales=7.5", "--image-guidance-scales=1.25", "--seeds=3"} <= set(written.arguments)


def test_a_size_off_the_grid_of_8_is_read_as_automatic1111_renders_it() -> None:
    """AUTOMATIC1111 takes latents of an eighth of `Size`, rounded down: 892x1156 is rendered 888x1152."""
    text = 'a\nSteps: 20, CFG scale: 7, Seed: 1, Size: 892x1156, TI hashes: "tok: 23f5e3fc030a, tok: 23f5e3fc030a"'
    mapped = a1111_arguments(parse_a1111(text))
    assert "--output-size=888x1152" in mapped.arguments
    assert mapped.not_mapped == ["Size 892x1156 as given (read as 888x1152, the size AUTOMATIC1111 renders for it)",
                                 "textual inversion tok (give it with --textual-inversions PATH)"]
    assert "--output-size=512x768" in a1111_arguments(parse_a1111(text.replace("892x1156", "512x768"))).arguments


@pytest.mark.parametrize(("config", "message"), [
    ("model --seeds 1 --prompts x --output-path /tmp/elsewhere\n", "'--output-path' is not an option a config holds"),
    ("model --seeds 1 --prompts x\nmodel --seeds 2 --prompts y\n", "holds 2 invocations"),
    ("$(touch /tmp/pwned) --seeds 1 --prompts x --device cpu\n", None),
])
def test_a_hostile_config_in_a_png_is_data(run_cli: RunCli, tmp_path: Path, config: str, message: str | None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    info = PngInfo()
    info.add_text("DgenerateConfig", config)
    png = tmp_path / "hostile.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    monkeypatch.chdir(tmp_path)
    result = run_cli("--from-image", str(png), "--dry-run")
    assert result.code in (1, 2) and len(result.err.strip().splitlines()) == 1
    if message:
        assert message in result.err
    assert not Path("/tmp/pwned").exists() and not Path("/tmp/elsewhere").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hostile.png"]


def test_inspect_prints_what_images_record(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    result = run_cli("--inspect", str(made))
    assert result.code == 0 and result.out.startswith(f"{made}:\n  dgenerate config:\n    # dgenerate")
    assert "  parameters:\n    -a circle\n    Negative prompt: blue $HOME\n    Steps: 3" in result.out
    result = run_cli("--inspect", str(made), str(plain))
    assert result.code == 1 and result.out.endswith(f"{plain}: no dgenerate config and no AUTOMATIC1111 parameters\n")
    missing = run_cli("--inspect", str(tmp_path / "nope.png"))
    assert missing.code == 2 and "--inspect" in missing.err and "does not exist" in missing.err


def test_inspect_and_from_image_import_no_torch(made: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from dgenerate.cli import main; main(['--inspect', sys.argv[1]]); "
            "from dgenerate.cli import parse_invocation; parse_invocation(['--from-image', sys.argv[1]]); "
            "assert not {'torch', 'diffusers', 'av'} & set(sys.modules), sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(made)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
@pytest.mark.parametrize(("name", "seed", "steps", "scheduler"), [
    ("sd-metadata__sd-webui.png", 3782896554, 20, "DPMSolverMultistepScheduler"),
    ("sd-metadata__forge.png", 747066619, 25, "EulerDiscreteScheduler"),
    ("sd-metadata__forge-neo.png", 4179307297, 24, "EulerAncestralDiscreteScheduler"),
    ("sd-metadata__sd-next.png", 2427651458, 20, "DDIMScheduler"),
    ("sd-metadata__comfyui-saveimagewithmetadata.png", 38802053347333, 20, "EulerAncestralDiscreteScheduler"),
    ("sd-parsers__text_after_idat.png", 235284042, 15, "UniPCMultistepScheduler"),
    ("Dataset-Tools__test_img_A1111_simple_SDXL.png", 970527942, 30, "EulerAncestralDiscreteScheduler"),
])
def test_real_images_from_other_tools_map(tiny_model: Path, name: str, seed: int, steps: int, scheduler: str) -> None:
    request, args = parse_invocation([str(tiny_model), "--from-image", str(SAMPLES / name)])
    assert request.seeds == (seed,) and request.inference_steps == (steps,) and request.scheduler == scheduler
    assert request.prompts[0].positive.startswith(("general, masterpiece", "photo of a duck", "Hell4ineXLPOS"))
    assert request.prompts[0].negative and "Model" in args.replay_note


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
def test_a_real_image_of_a_size_off_the_grid_replays(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    """Size: 892x1156 in an AUTOMATIC1111 image with a LoRA and hires fix: its first pass rendered as AUTOMATIC1111
    renders it (888x1152), then the hi-res pass at twice that (its upscaler model, not here, read as lanczos)."""
    result = run_cli(str(tiny_model), "--from-image", str(SAMPLES / "Dataset-Tools__a1111_krhistia_png.png"),
                     "--dry-run", "-o", str(tmp_path))
    assert result.code == 0, result.err
    assert "s_1912648290_g_7-0_i_30_hrs_2-0_hrst_0-35_step_1.png 1776x2304 job" in result.out
    assert "--output-size 888x1152" in result.out and "--hires-steps 20" in result.out
    assert "LoRA The_Many_Colors_of_Krhis_Tia_FFXIV_OC_Illustrious at 0.7 (give it with --lora PATH;0.7)" in result.err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
def test_a_comfyui_image_says_what_it_has(run_cli: RunCli) -> None:
    result = run_cli("--inspect", str(SAMPLES / "sd-metadata__comfyui.png"))
    assert result.code == 1 and "a ComfyUI workflow" in result.out


SECRET = "s3cr3t-7f1c-env-value"


def _with_config(png: Path, config: str, made: Path) -> Path:
    """A copy of `made` whose DgenerateConfig chunk is `config`, as someone else could have edited it."""
    info = PngInfo()
    info.add_text("DgenerateConfig", config)
    Image.open(made).save(png, pnginfo=info)
    return png


def _edited(made: Path, **lines: str) -> str:
    """`made`'s config with the lines of the options named (as --prompts -> prompts) replaced."""
    text = read_png_config(made)
    for option, line in lines.items():
        flag = "--" + option.replace("_", "-")
        text = "\n".join(f"    {flag} {line} \\" if row.strip().startswith(flag + " ") else row
                         for row in text.split("\n"))
    return text


def _everything_written(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_a_config_in_an_image_reads_no_environment_variable(run_cli: RunCli, made: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_SECRET", SECRET)
    prompt = "a ${DGENERATE_SECRET} and $DGENERATE_SECRET, $$ and $HOME; ${HOME}"
    png = _with_config(tmp_path / "edited.png", _edited(made, prompts=shlex.quote(prompt)), made)
    result = run_cli("--from-image", str(png), "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    (again,) = (tmp_path / "out").glob("*.png")
    (job,) = read_config(read_png_config(again))
    literal = "a ${DGENERATE_SECRET} and $DGENERATE_SECRET, $ and $HOME"
    assert (job.prompt, job.negative_prompt) == (literal, "${HOME}")
    written = _everything_written(tmp_path / "out")
    assert SECRET.encode() not in written and os.environ["HOME"].encode() + b"/" not in written
    assert (again.with_suffix(".dgen")).read_text().count("$${DGENERATE_SECRET}") == 1


def test_a_batch_on_standard_input_still_reads_the_environment(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_SECRET", SECRET)
    result = run_cli(stdin=f"{tiny_model} --prompts 'a ${{DGENERATE_SECRET}} $$x' --seeds 1 --dry-run -o {tmp_path}")
    assert result.code == 0, result.err
    assert f"a {SECRET} $x" in result.out


@pytest.mark.parametrize(("option", "value", "named"), [
    ("vae", "'AutoencoderKL;model=~/vae'", "--vae 'AutoencoderKL;model=~/vae'"),
    ("image_seeds", "'~/photo.png'", "--image-seeds '~/photo.png'"),
    ("model", "~/models/dreamy", "model_path '~/models/dreamy'"),
])
def test_a_path_from_home_in_an_image_is_refused_in_one_line(run_cli: RunCli, made: Path, tmp_path: Path,
                                                              option: str, value: str, named: str) -> None:
    text = read_png_config(made)
    if option == "model":
        text = text.replace(text.split("\n")[3].split(" ")[0], value, 1)
    else:
        text = text.replace("    --seeds 21", f"    --{option.replace('_', '-')} {value} \\\n    --seeds 21")
    png = _with_config(tmp_path / "home.png", text, made)
    result = run_cli("--from-image", str(png), "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert named in result.err and "write the path out in full" in result.err
    assert not (tmp_path / "out").exists()


def test_a_tilde_in_a_prompt_is_just_text(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    png = _with_config(tmp_path / "tilde.png", _edited(made, prompts="'~/x ~ a; ~root'"), made)
    result = run_cli("--from-image", str(png), "--dry-run", "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    (job,) = read_config(_edited(made, prompts="'~/x ~ a; ~root'"))
    assert (job.prompt, job.negative_prompt) == ("~/x ~ a", "~root")


def test_a_directive_in_an_image_is_refused_in_one_line(run_cli: RunCli, made: Path, tmp_path: Path) -> None:
    text = "\\print ${HOME}\n" + read_png_config(made)
    result = run_cli("--from-image", str(_with_config(tmp_path / "directive.png", text, made)), "--dry-run")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "line 1: '\\print' is a directive (the batch language of later dgenerate versions)" in result.err
    assert os.environ["HOME"] not in result.err.replace("${HOME}", "")


def test_control_characters_from_an_image_do_not_reach_the_terminal(run_cli: RunCli, made: Path,
                                                                    tmp_path: Path) -> None:
    """An escape sequence in a prompt or a path of someone else's image is shown as text, never sent raw."""
    prompt = shlex.quote("a\x1b[2J\x1b]0;owned\x07 circle\u202e")
    png = _with_config(tmp_path / "escapes.png", _edited(made, prompts=prompt), made)
    listed = run_cli("--from-image", str(png), "--dry-run", "-o", str(tmp_path / "out"))
    inspected = run_cli("--inspect", str(png))
    config = read_png_config(made)
    broken = _with_config(tmp_path / "broken.png", config.replace(
        config.split("\n")[3].split(" ")[0], "'/no/such\x1b[31m\nmodel'", 1), made)
    failed = run_cli("--from-image", str(broken), "-o", str(tmp_path / "out"))
    assert (listed.code, inspected.code, failed.code) == (0, 0, 1), failed.err
    for text in (listed.out, inspected.out, failed.err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert all(shown in listed.out for shown in ("a\\x1b[2J\\x1b]0", "owned\\x07 circle\\u202e"))
    assert "\\x1b[2J" in inspected.out
    (error,) = [line for line in failed.err.splitlines() if "error:" in line]
    assert "model_path '/no/such\\x1b[31m\\nmodel' is not a folder or file on disk" in error

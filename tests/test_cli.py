from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli


def _dgenerate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dgenerate", *argv], capture_output=True, text=True, timeout=60)


def test_help_and_argument_errors_do_not_import_torch() -> None:
    probe = ("import sys; from dgenerate.cli import main\n"
             "for argv in (['--help'], ['--version'], ['m', '--seeds', 'x'], ['m', '--backend', 'ray', '--workers', "
             "'0'], ['m', '--workers', '2']):\n"
             "    try: main(argv)\n"
             "    except SystemExit: pass\n"
             "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'av', 'ray') if m in sys.modules]\n"
             "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, timeout=60)


def test_help_lists_every_documented_option() -> None:
    result = _dgenerate("--help")
    assert result.returncode == 0
    for option in ("--model-type", "--revision", "--variant", "--subfolder", "--auth-token", "--vae", "--vae-revision",
                   "--vae-variant", "--vae-dtype", "--vae-subfolder", "--lora", "--lora-weight-name",
                   "--lora-revision", "--lora-subfolder", "--scheduler", "--sdxl-refiner", "--sdxl-refiner-revision",
                   "--sdxl-refiner-variant", "--sdxl-refiner-subfolder", "--sdxl-refiner-dtype",
                   "--sdxl-original-size", "--sdxl-target-size", "--safety-checker", "--version", "--device",
                   "--dtype", "--output-size", "--output-path", "--output-prefix", "--prompts", "--seeds",
                   "--gen-seeds", "--animation-format", "--frame-start", "--frame-end", "--image-seeds",
                   "--image-seed-strengths", "--guidance-scales", "--inference-steps",
                   "--sdxl-high-noise-fractions"):
        assert option in result.stdout, option


def test_help_names_the_families_each_option_is_for_from_their_declarations() -> None:
    from dgenerate.cli import build_parser
    from dgenerate.families import FAMILIES, NO_T5, REFINER, SEQUENCE_LENGTH_OPTION, TRANSFORMER, TRUE_GUIDANCE

    helps = {action.option_strings[-1]: action.help or "" for action in build_parser()._actions
             if action.option_strings}
    for flag, option in (("--sdxl-refiner", REFINER), ("--no-t5", NO_T5), ("--transformer", TRANSFORMER),
                         ("--true-guidance-scales", TRUE_GUIDANCE), ("--max-sequence-length", SEQUENCE_LENGTH_OPTION)):
        named = [each.model_type for each in FAMILIES.values()
                 if re.search(rf"(?<![\w-]){each.model_type}(?![\w-])", helps[flag])]
        assert named == [each.model_type for each in FAMILIES.values() if option in each.supports], flag
    assert "256 for Stable Diffusion 3 and Kolors; 512 for Flux, Chroma, " in helps["--max-sequence-length"]


@pytest.mark.parametrize(("argv", "needle"), [
    (["m", "--seeds", "1", "x"], "--seeds"),
    (["m", "--seeds", "1", "--gen-seeds", "2"], "not allowed with"),
    (["m", "--gen-seeds", "0"], "--gen-seeds"),
    (["m", "--guidance-scales", "high"], "--guidance-scales"),
    (["m", "--inference-steps", "0"], "--inference-steps"),
    (["m", "--output-size", "12x"], "--output-size"),
    (["m", "--scheduler", "Nope"], "DDIMScheduler"),
    (["m", "--dtype", "float8"], "--dtype"),
    (["m", "--no-such-option"], "unrecognized"),
    (["m", "--vae", "Autoencoder;x"], "--vae 'Autoencoder;x'"),
    (["m", "--lora", "x;big"], "--lora 'x;big'"),
    (["m", "--model-type", "torch", "--sdxl-refiner", "r"],
     "--sdxl-refiner 'r' is for Stable Diffusion XL models (torch-sdxl); --model-type torch is Stable Diffusion "
     "1.x/2.x: leave it out"),
    (["m", "--batch-size", "0"], "--batch-size"),
    (["--prompts", "x"], "model_path"),
])
def test_argument_errors_are_one_line_and_exit_2(run_cli: RunCli, argv: list[str], needle: str) -> None:
    result = run_cli(*argv)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dgenerate: error:") and needle in lines[0], result.err


def test_argument_error_in_a_subprocess_has_no_traceback() -> None:
    result = _dgenerate("m", "--seeds", "x")
    assert result.returncode == 2
    assert result.stderr.strip() == "dgenerate: error: --seeds 'x' is not a whole number"


def test_version() -> None:
    result = _dgenerate("--version")
    assert result.returncode == 0 and result.stdout.startswith("dgenerate ")


def test_abbreviated_option_from_the_reference_examples_is_accepted(run_cli: RunCli, tiny_model: Path) -> None:
    result = run_cli(str(tiny_model), "--guidance-scale", "12", "--seeds", "1", "--dry-run")
    assert result.code == 0 and "s_1_g_12-0_i_30_step_1" in result.out


def test_cpu_threads_past_the_ceiling_is_an_argument_error() -> None:
    """It used to reach torch.set_num_threads and kill the process with a segmentation fault (exit 139)."""
    import os

    result = _dgenerate("builtin:shapes", "--cpu-threads", "1000000", "--seeds", "1", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip() == ("dgenerate: error: --cpu-threads 1000000 is out of range: use 1 to 256 (this "
                                     f"machine has {os.cpu_count()} logical CPUs)")


def test_a_prefix_too_long_for_a_file_name_is_an_argument_error(run_cli: RunCli, tiny_model: Path,
                                                                tmp_path: Path) -> None:
    grid = (str(tiny_model), "--seeds", "1", "123456789", "--guidance-scales", "7.25", "--dry-run", "-o", str(tmp_path))
    result = run_cli(*grid, "--output-prefix", "é" * 120)
    assert result.code == 2 and "Traceback" not in result.err
    (line,) = result.err.strip().splitlines()
    room = int(re.search(r"shorten it to at most (\d+) bytes", line).group(1))  # type: ignore[union-attr]
    assert "(240 bytes) makes file names of up to" in line and "past the 255 file systems allow" in line
    fits = run_cli(*grid, "--output-prefix", "x" * room)
    assert fits.code == 0, fits.err
    name = next(word for word in fits.out.split() if word.endswith(".png"))
    assert len(Path(name).name.encode()) <= 255 - len("_999")
    assert run_cli(*grid, "--output-prefix", "x" * (room + 1)).code == 2

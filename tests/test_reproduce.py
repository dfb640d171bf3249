"""Configs: read back through the same table that writes them, strictly; configs of the previous version still work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import dgenerate
from dgenerate.errors import ConfigError
from dgenerate.jobs import Job, ModelSpec
from dgenerate.reproduce import config_text, read_config, recorded_job_id
from tests.conftest import RunCli

# Written by dgenerate 0.1.0 before configs were read through the option table (no job id, the scheduler left out
# when it was the model's own); {model} and {seed} stand for paths.
PREVIOUS_BATCH_CONFIG = """\
# dgenerate 0.1.0 config: `dgenerate < this-file` regenerates the image
# made with torch 2.13.0+cpu, diffusers 0.42.1 on cpu (x86_64)
{model} \\
    --model-type torch \\
    --dtype float32 \\
    --device cpu \\
    --output-size 64x64 \\
    --scheduler EulerAncestralDiscreteScheduler \\
    --cpu-threads 1 \\
    --batch-size 2 \\
    --batch-slot 1 \\
    --prompts 'a $$cat; dog' \\
    --seeds 4 \\
    --guidance-scales 6.5 \\
    --inference-steps 2 \\
    --output-configs
"""
PREVIOUS_IMAGE_SEED_CONFIG = """\
# dgenerate 0.1.0 config: `dgenerate < this-file` regenerates the image
# made with torch 2.13.0+cpu, diffusers 0.42.1 on cpu (x86_64)
{model} \\
    --model-type torch \\
    --dtype float32 \\
    --device cpu \\
    --image-seeds '{seed};72x48' \\
    --image-seed-strengths 0.6 \\
    --animation-format mp4 \\
    --cpu-threads 1 \\
    --prompts '' \\
    --seeds 3 \\
    --guidance-scales 5 \\
    --inference-steps 2 \\
    --output-configs
"""
SAME_ON_THE_COMMAND_LINE = {
    "batch": ["--prompts", "a $cat; dog", "--seeds", "3", "4", "--batch-size", "2", "--guidance-scales", "6.5",
              "--scheduler", "EulerAncestralDiscreteScheduler"],
    "image seed": ["--image-seeds", "{seed}", "--image-seed-strengths", "0.6", "--seeds", "3"],
}


@pytest.mark.parametrize(("kind", "template"), [("batch", PREVIOUS_BATCH_CONFIG),
                                                ("image seed", PREVIOUS_IMAGE_SEED_CONFIG)])
def test_a_config_of_the_previous_version_regenerates_its_image(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str,
        template: str) -> None:
    Image.new("RGB", (72, 48), "blue").save(tmp_path / "seed.png")
    config = template.format(model=tiny_model, seed=tmp_path / "seed.png")
    options = [word.format(seed=tmp_path / "seed.png") for word in SAME_ON_THE_COMMAND_LINE[kind]]
    made = run_cli(str(tiny_model), *options, "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2",
                   "-o", str(tmp_path / "now"))
    assert made.code == 0, made.err
    expected = sorted((tmp_path / "now").glob("*.png"))[-1]
    (job,) = read_config(config)
    assert recorded_job_id(config) is None and job.scheduler == ("EulerAncestralDiscreteScheduler"
                                                                 if kind == "batch" else None)
    monkeypatch.chdir(tmp_path)
    (from_library,) = dgenerate.render(read_config(config))
    assert from_library.read_bytes() == expected.read_bytes()
    from_library.unlink()
    assert run_cli(stdin=config).code == 0
    (from_stdin,) = (tmp_path / "output").glob("*.png")
    assert from_stdin.read_bytes() == expected.read_bytes()


def _job(**fields: object) -> Job:
    base: dict[str, object] = {"prompt": "a", "negative_prompt": None, "seed": 1, "guidance_scale": 5.0,
                               "inference_steps": 3, "width": 64, "height": 64, "scheduler": "DDIMScheduler",
                               "cpu_threads": 1}
    return Job(ModelSpec("/models/m", dtype="float32", device="cpu"), **{**base, **fields})  # type: ignore[arg-type]


def test_the_job_id_is_recorded_and_names_the_pixels() -> None:
    job = _job(prompt="a $HOME `touch pwned` $(touch pwned)", negative_prompt="no; $$")
    text = config_text(job, "test")
    assert recorded_job_id(text) == job.job_id and read_config(text) == [job]
    assert read_config(text)[0].prompt == job.prompt, "a config is data: nothing is substituted or run"
    assert not Path("pwned").exists()
    edited = text.replace("--seeds 1", "--seeds 2")
    assert read_config(edited)[0].job_id != recorded_job_id(edited), "an edited config makes another image"


@pytest.mark.parametrize(("change", "message"), [
    (("--seeds 1", "--seeds 1 2"), "line 4: --seeds is followed by '2', which is no option; a config holds one "
                                   "value per option"),
    (("--seeds 1", "--no-such 3 --seeds 1"), "line 4: '--no-such' is not an option a config holds"),
    (("--dtype float32", "--dtype float8"), "line 4: --dtype 'float8' is not one of: float16, bfloat16, float32, auto"),
    (("--cpu-threads 1", "--cpu-threads 1000000"), "line 4: --cpu-threads 1000000 is out of range: use 1 to 256"),
    (("--inference-steps 3", "--inference-steps 0"), "line 4: --inference-steps '0' is out of range"),
    (("--scheduler DDIMScheduler", "--scheduler Nope"), "line 4: --scheduler 'Nope' is not a known scheduler"),
    (("--device cpu", "--device cpu --vae-dtype float16"), "line 4: --vae-dtype needs --vae before it"),
])
def test_a_config_is_read_strictly(change: tuple[str, str], message: str) -> None:
    text = config_text(_job(), "test").replace(*change)
    with pytest.raises(ConfigError) as caught:
        read_config(text)
    assert str(caught.value).startswith(message), caught.value


def test_cpu_threads_past_the_ceiling_is_an_argument_error_in_a_config_too(tmp_path: Path) -> None:
    """It used to reach torch.set_num_threads and kill the process (exit 139)."""
    config = config_text(_job(), "test").replace("--cpu-threads 1", "--cpu-threads 1000000")
    result = subprocess.run([sys.executable, "-m", "dgenerate"], input=config, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "dgenerate: error: line 4: --cpu-threads 1000000 is out of range: use 1 to 256 (this machine has "
        f"{__import__('os').cpu_count()} logical CPUs)"]
    assert list(tmp_path.iterdir()) == []


def test_job_words_are_a_command_line_that_reads_back_to_the_job(tiny_model: Path, tmp_path: Path) -> None:
    from dgenerate.cli import parse_invocation
    from dgenerate.reproduce import job_words

    argv = [str(tiny_model), "--device", "cpu", "--prompts", "-a circle; -blue", "--seeds", "4", "-o", str(tmp_path)]
    (job,) = dgenerate.resolve(dgenerate.plan(parse_invocation(argv)[0]))
    words = job_words(job)
    assert "--prompts=-a circle; -blue" in words, "a value that starts with '-' stays a value"
    (again,) = dgenerate.resolve(dgenerate.plan(parse_invocation([*words, "-o", str(tmp_path)])[0]))
    assert again == job

"""The adapter options as text: several --lora values, --textual-inversions, --control-nets with control images in
--image-seeds, --prompt-weighting; each parsed strictly, written into configs and read back to the same Job."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgenerate.cli import parse_invocation
from dgenerate.errors import UsageError
from dgenerate.jobs import ControlNetSpec, ImageSeedSpec, Job, LoraSpec, ModelSpec, TextualInversionSpec
from dgenerate.plan import parse_control_net, parse_image_seed, parse_lora, parse_textual_inversion, plan
from dgenerate.reproduce import a1111_parameters, config_text, read_config
from tests.conftest import RunCli


def test_lora_values_take_a_scale_and_keywords() -> None:
    assert parse_lora("a.safetensors") == LoraSpec("a.safetensors", 1.0)
    assert parse_lora("a;0.5") == LoraSpec("a", 0.5)
    assert parse_lora("repo/x;0.25;weight-name=w.safetensors;revision=r;subfolder=s") == \
        LoraSpec("repo/x", 0.25, "w.safetensors", "r", "s")
    assert parse_lora("x;scale=2") == LoraSpec("x", 2.0)
    for bad, message in (("x;big", r"'big' is not a number"), ("x;0.5;colour=red", r"'colour=red' is not one of "),
                         (";0.5", r"needs a path first"), ("x;1;2", r"more than a path and a scale")):
        with pytest.raises(UsageError, match=rf"^--lora '{bad}'.*{message}"):
            parse_lora(bad)


def test_control_nets_and_textual_inversions_parse_strictly() -> None:
    assert parse_control_net("cn") == ControlNetSpec("cn", 1.0, 0.0, 1.0)
    assert parse_control_net("cn;scale=0.8;start=0.1;end=0.6") == ControlNetSpec("cn", 0.8, 0.1, 0.6)
    for bad, message in (("cn;start=0.7;end=0.2", "end=0.2 must come after start=0.7"),
                         ("cn;end=2", "'2' is out of range"), ("cn;0.5", "give one path")):
        with pytest.raises(UsageError, match=rf"^--control-nets '{bad}'.*{message}"):
            parse_control_net(bad)
    assert parse_textual_inversion("e.pt") == TextualInversionSpec("e.pt")
    assert parse_textual_inversion("e.pt;token=<bad>") == TextualInversionSpec("e.pt", "<bad>")


def test_image_seeds_name_control_images(tmp_path: Path) -> None:
    def absolute(name: str) -> str:
        return str(tmp_path / name)

    seed = parse_image_seed(f"{absolute('i.png')};{absolute('m.png')};control={absolute('a.png')},{absolute('b.png')}")
    assert seed == ImageSeedSpec(absolute("i.png"), absolute("m.png"), None, (absolute("a.png"), absolute("b.png")))
    assert parse_image_seed(str(seed)) == seed
    alone = parse_image_seed(f"control={absolute('c.png')};64x48")
    assert alone == ImageSeedSpec(None, None, (64, 48), (absolute("c.png"),)) and parse_image_seed(str(alone)) == alone
    assert parse_image_seed(f"{absolute('i.png')};mask={absolute('m.png')}").mask == absolute("m.png")


def _jobs(*argv: str) -> tuple[Job, ...]:
    return plan(parse_invocation(["model", *argv])[0])


def test_a_plain_image_seed_is_the_control_image_with_control_nets(tmp_path: Path) -> None:
    (job,) = _jobs("--control-nets", "cn;scale=0.5", "--image-seeds", str(tmp_path / "c.png"))
    assert job.image_seed == ImageSeedSpec(None, None, None, (str(tmp_path / "c.png"),)) and job.strength is None
    assert job.control_nets == (ControlNetSpec("cn", 0.5),)
    (job,) = _jobs("--control-nets", "cn", "--image-seeds", f"{tmp_path / 'i.png'};control={tmp_path / 'c.png'}")
    assert job.image_seed is not None and job.image_seed.image == str(tmp_path / "i.png")
    assert job.strength is None  # planned: resolution gives 0.8 where the pipeline takes a strength


@pytest.mark.parametrize(("argv", "message"), [
    (["--control-nets", "cn"], "--control-nets needs --image-seeds"),
    (["--control-nets", "a", "b", "--image-seeds", "c.png"], "has 1 control image(s) for 2 --control-nets"),
    (["--image-seeds", "i.png;control=c.png"], "gives control images: add --control-nets"),
    (["--control-nets", "a", "--image-seeds", "c.png", "i.png;control=c.png"], "mixes control images alone"),
    (["--control-nets", "a", "--image-seeds", "c.png", "--image-seed-strengths", "0.5"],
     "--image-seed-strengths applies to images to change"),
    (["--lora", "a", "b", "--lora-weight-name", "w"], "--lora-weight-name applies to one --lora, and 2 are given"),
    (["--prompt-weighting", "compel"], "invalid choice: 'compel'"),
])
def test_adapter_argument_errors_are_one_line(argv: list[str], message: str, run_cli: RunCli) -> None:
    result = run_cli("model", *argv)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1, result.err


def _resolved_like(job: Job) -> Job:
    return Job(ModelSpec("/m", "torch", dtype="float32", device="cpu", loras=job.model.loras,
                         textual_inversions=job.model.textual_inversions),
               job.prompt, job.negative_prompt, 1, 5.0, 3, 64, 64, "DDIMScheduler", job.image_seed, job.strength,
               cpu_threads=1, prompt_weighting=job.prompt_weighting, control_nets=job.control_nets)


def test_every_adapter_is_written_into_the_config_and_read_back(tmp_path: Path) -> None:
    (planned,) = _jobs("--lora", "/l/a.safetensors;0.5", "/l/b;0.25;weight-name=w.safetensors", "--textual-inversions",
                       "/t/bad.pt;token=<bad>", "/t/good.safetensors", "--control-nets", "/c/pose;scale=0.8;end=0.5",
                       "/c/depth", "--image-seeds", f"control={tmp_path / 'a.png'},{tmp_path / 'b.png'};64x64",
                       "--prompt-weighting", "a1111", "--prompts", "a (red:1.3) circle")
    job = _resolved_like(planned)
    text = config_text(job, "test")
    assert read_config(text) == [job]
    assert text.count("--lora ") == 2 and text.count("--control-nets ") == 2 and "--prompt-weighting a1111" in text
    parameters = a1111_parameters(job)
    assert parameters.startswith("a (red:1.3) circle <lora:a:0.5> <lora:b:0.25>\n")
    assert 'TI hashes: "<bad>: unknown, good: unknown"' in parameters
    assert 'ControlNet 0: "Module: none, Model: pose, Weight: 0.8, Guidance Start: 0, Guidance End: 0.5"' in parameters


def test_a_config_from_before_several_loras_reads_the_same() -> None:
    job = Job(ModelSpec("/m", "torch", dtype="float32", device="cpu", loras=(LoraSpec("/l", 0.5, "w.safetensors"),)),
              "p", None, 1, 5.0, 3, 64, 64, "DDIMScheduler", cpu_threads=1)
    old = ("/m --model-type torch --dtype float32 --device cpu --lora '/l;0.5' --lora-weight-name w.safetensors "
           "--output-size 64x64 --scheduler DDIMScheduler --cpu-threads 1 --prompts p --seeds 1 --guidance-scales 5 "
           "--inference-steps 3\n")
    assert read_config(old) == [job]
    assert '"lora":{"path":"/l","revision":null,"scale":0.5,"subfolder":null,"weight_name":"w.safetensors"}' in \
        job.canonical_json(), "one LoRA keeps the canonical JSON, so its job id, of earlier versions"
    plain = Job(ModelSpec("/m", "torch", dtype="float32", device="cpu"), "p", None, 1, 5.0, 3, 64, 64)
    for name in ("textual_inversions", "prompt_weighting", "control_nets", "control"):
        assert name not in plain.canonical_json()
    assert '"lora":null' in plain.canonical_json()

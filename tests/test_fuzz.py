"""A property-based fuzz of the command line and the batch syntax: documented options with valid and hostile values,
corrupt inputs, models and configs. Whatever it is given, dgenerate answers with an exit code of 0, 1, 2 or 130,
never a traceback, with each error on one line, and leaves no stray or partial file. Runs are dry (--dry-run) or
aimed at inputs that fail before any image is made, so the fixed budget stays a few seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RunCli

EXAMPLES = int(os.environ.get("DGENERATE_FUZZ_EXAMPLES", "150"))
HOSTILE_TEXT = ["", " ", "-", "--", "x", "-1", "0", "1e309", "nan", "inf", "-inf", "9" * 40, "1.5", "0x10", "1_000",
                "../../etc/passwd", "/dev/null", "/proc/self/mem", "$(touch pwned)", "`touch pwned`", "${HOME}",
                "a;b;c;d", ";", "\u202e\u0000x", "é", "🙂", "%s%n", "'", '"', "\\", "*", "?"]


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Corrupt and odd inputs: images, videos, models and configs that are not what they claim."""
    folder = tmp_path_factory.mktemp("hostile")
    files = {
        "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        "mp4": b"\x00\x00\x00\x18ftypmp42" + os.urandom(64),
        "gif": b"GIF89a" + os.urandom(32),
        "webp": b"RIFF\xff\xff\xff\xffWEBPVP8X" + os.urandom(16),
        "txt": b"not an image",
        "dgen": b"--output-path /tmp/elsewhere --seeds 1 \\\n",
        "safetensors": b"\xff" * 16,
        "ckpt": b"\x80\x04" + os.urandom(30),
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"bad.{name}"
        path.write_bytes(data)
        paths[name] = str(path)
    model = folder / "bad-model"
    model.mkdir()
    (model / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", ')
    paths["model"] = str(model)
    paths["folder"] = str(folder)
    return paths


def _values(files: dict[str, str], model: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from([*files.values(), model]),
                     st.text(max_size=12), st.integers(-10, 10**6).map(str))


def _argv(files: dict[str, str], model: str) -> st.SearchStrategy[list[str]]:
    option = st.sampled_from([
        "--model-type", "--revision", "--variant", "--subfolder", "--vae", "--vae-dtype", "--lora", "--scheduler",
        "--sdxl-refiner", "--sdxl-original-size", "--device", "--dtype", "--output-size", "--output-prefix",
        "--prompts", "--seeds", "--gen-seeds", "--animation-format", "--frame-start", "--frame-end", "--image-seeds",
        "--image-seed-strengths", "--guidance-scales", "--inference-steps", "--sdxl-high-noise-fractions",
        "--batch-size", "--batch-slot", "--cpu-threads", "--contact-sheet-axes", "--from-image", "--inspect",
        "--backend", "--workers", "--ray-address", "--resume", "--output-configs", "--contact-sheet", "--gallery"])
    pair = st.tuples(option, st.lists(_values(files, model), max_size=2)).map(lambda p: [p[0], *p[1]])
    head = st.sampled_from([model, files["model"], files["safetensors"], files["ckpt"], "no/such-model", "", "-x"])
    return st.tuples(head, st.lists(pair, max_size=4)).map(lambda t: [t[0], *[w for p in t[1] for w in p]])


def _check(result_code: int, err: str, folder: Path, before: set[str]) -> None:
    assert result_code in (0, 1, 2, 130), (result_code, err)
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) <= 1, err
    made = {path.name for path in folder.iterdir()} - before
    assert made <= {"output"}, f"stray files: {made}"
    assert not Path("pwned").exists()
    for leftover in folder.rglob(".*partial"):
        raise AssertionError(f"partial file left: {leftover}")


def test_the_command_line_survives_anything(run_cli: RunCli, tiny_model: Path, hostile_files: dict[str, str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = {path.name for path in tmp_path.iterdir()}
    tried = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(argv=_argv(hostile_files, str(tiny_model)))
    def run(argv: list[str]) -> None:
        if "--inspect" not in argv:
            argv = [*argv, "--dry-run"]  # a valid combination is listed, not rendered
        try:
            result = run_cli(*argv)
        except SystemExit as stop:  # argparse's own exit for a bad choice with --help-like words is not expected
            raise AssertionError(f"SystemExit {stop.code} for {argv}") from None
        tried.append(result.code)
        _check(result.code, result.err, tmp_path, before)

    run()
    assert len(tried) >= min(EXAMPLES, 50)
    assert {0, 1, 2} <= set(tried), f"the fuzz reaches listing (0), run-time errors (1) and arguments (2): {tried}"


def test_the_batch_syntax_survives_anything(run_cli: RunCli, tiny_model: Path, hostile_files: dict[str, str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = {path.name for path in tmp_path.iterdir()}
    pieces = st.sampled_from([str(tiny_model), "--seeds 1", "--dry-run", "--prompts 'a b", '"', "\\", "\\\n", "#",
                              "$(touch pwned)", "`touch pwned`", "${", "$", "$$", "\t", "\n", " ", "--inference-steps",
                              "--output-size 8x8", "--device cpu", "--image-seeds", hostile_files["png"],
                              hostile_files["mp4"], hostile_files["dgen"], "--cpu-threads 999999", "\x00", "é"])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(lines=st.lists(st.lists(pieces, max_size=6).map(" ".join), max_size=4))
    def run(lines: list[str]) -> None:
        text = "\n".join(f"{line} --dry-run" if line.strip() else line for line in lines)
        result = run_cli(stdin=text)
        _check(result.code, result.err, tmp_path, before)

    run()

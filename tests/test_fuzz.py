"""A property-based fuzz of the command line and the batch syntax: documented options with valid and hostile values,
corrupt inputs, models and configs. Whatever it is given, dgenerate answers with an exit code of 0, 1, 2 or 130,
never a traceback, with each error on one line, and leaves no stray or partial file. Runs are dry (--dry-run) or
aimed at inputs that fail before any image is made, so the fixed budget stays a few seconds."""

from __future__ import annotations

import os
import re
import shlex
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


FUZZ_SECRET = "fuzz-s3cr3t-0b7e"
CONFIG_PIECES = ["$", "$$", "${DGENERATE_FUZZ_SECRET}", "$DGENERATE_FUZZ_SECRET", "'", '"', "\\", " \\", "~/", "~",
                 "\\print ${DGENERATE_FUZZ_SECRET}", "--output-path /tmp/elsewhere", "--output-prefix ../../up",
                 "--seeds 2", "--prompts '$HOME'", "--image-seeds ~/x.png", "$(touch pwned)", "`touch pwned`",
                 "\x1b[2J", "#", "\n", "--device", "--inference-steps 2", "--cpu-threads 1"]


@pytest.fixture(scope="module")
def recorded_png(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real image of the tool's, its config in its DgenerateConfig chunk, for the edits below to start from."""
    from dgenerate.cli import main

    folder = tmp_path_factory.mktemp("recorded")
    code = main([str(tiny_model), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3",
                 "--prompts", "a circle; $x", "--output-metadata", "-o", str(folder)])
    assert code == 0
    (png,) = folder.glob("*.png")
    return png


def _edited_configs(text: str) -> st.SearchStrategy[str]:
    """A real config with random edits: pieces put into lines, lines replaced or dropped."""
    lines = text.split("\n")
    piece = st.one_of(st.sampled_from(CONFIG_PIECES),
                      st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8))
    edit = st.tuples(st.integers(0, len(lines) - 1), st.sampled_from(["insert", "replace", "append", "drop"]), piece)

    def apply(edits: list[tuple[int, str, str]]) -> str:
        rows = list(lines)
        for index, how, text in edits:
            index %= max(len(rows), 1)
            if not rows or how == "insert":
                rows.insert(index, text)
            elif how == "replace":
                rows[index] = text
            elif how == "append":
                rows[index] += text
            else:
                del rows[index]
        return "\n".join(rows)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def _prompt_edited_configs(text: str) -> st.SearchStrategy[str]:
    """A real config whose prompt is made of the pieces, quoted as a config quotes it: most of these replay."""
    def put(pieces: list[str]) -> str:
        line = "    --prompts " + shlex.quote("".join(pieces)) + " \\"
        return re.sub(r"(?m)^    --prompts .*$", lambda _: line, text)

    return st.lists(st.sampled_from(CONFIG_PIECES), min_size=1, max_size=5).map(put)


def _foreign_png_run(run_cli: RunCli, recorded: Path, folder: Path, config: str, render: bool) -> int:
    import shutil

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("DgenerateConfig", config)
    png = folder / "edited.png"
    Image.open(recorded).save(png, pnginfo=info)
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    result = run_cli("--from-image", str(png), "-o", str(out), *(() if render else ("--dry-run",)))
    assert result.code in (0, 1, 2), (result.code, result.err, config)
    assert "Traceback" not in result.err, result.err
    assert len([line for line in result.err.splitlines() if "error:" in line]) <= 1, result.err
    assert "\x1b" not in result.err + result.out
    assert {path.name for path in folder.iterdir()} <= {"edited.png", "out"}, config
    assert not Path("/tmp/elsewhere").exists() and not Path("pwned").exists()
    written = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file()) if out.exists() else b""
    assert FUZZ_SECRET not in result.out + result.err and FUZZ_SECRET.encode() not in written, config
    assert not list(out.rglob(".*partial")) if out.exists() else True
    return result.code


@pytest.mark.parametrize("render", [False, True], ids=["listed", "rendered"])
def test_a_png_config_edited_by_anyone_is_data(run_cli: RunCli, recorded_png: Path, tmp_path: Path, render: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Random edits of a real PNG's config: no traceback, nothing outside the output folder, no environment value in
    anything printed or written. Listed examples edit any line; rendered ones (fewer, as each runs the model) edit the
    prompt, so that most make a real image and its config and metadata are searched for the environment's values."""
    from dgenerate.reproduce import read_png_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DGENERATE_FUZZ_SECRET", FUZZ_SECRET)
    monkeypatch.setenv("HOME", f"/home/{FUZZ_SECRET}")
    codes = []
    recorded = read_png_config(recorded_png)
    assert "    --prompts " in recorded

    @settings(max_examples=EXAMPLES // 6 if render else EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(config=(_prompt_edited_configs if render else _edited_configs)(recorded))
    def run(config: str) -> None:
        codes.append(_foreign_png_run(run_cli, recorded_png, tmp_path, config, render))

    run()
    if render:
        assert codes.count(0) >= len(codes) // 2, f"most prompts edited so replay and make an image: {codes}"
    else:
        assert {0, 2} <= set(codes), f"the edits reach both a listed image (0) and a refused config (2): {codes}"

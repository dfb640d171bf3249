"""Prompt syntax: alternatives, wildcards and the prompt matrix expand into the prompt axis, the same way every time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.errors import UsageError
from dgenerate.prompt_syntax import MAX_EXPANSIONS, Syntax, expand
from dgenerate.reproduce import read_config
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2")


@pytest.fixture
def wildcards(tmp_path: Path) -> Path:
    folder = tmp_path / "wildcards"
    (folder / "nested").mkdir(parents=True)
    (folder / "colour.txt").write_text("red\n# a comment\n\n  green  \n")
    (folder / "nested" / "shape.txt").write_text("circle\n{square|triangle}\n__colour__ star\n")
    return folder


def test_alternatives_expand_in_order_leftmost_slowest() -> None:
    syntax = Syntax(dynamic=True)
    assert expand("a {red|green} {circle|square}", syntax) == [
        "a red circle", "a red square", "a green circle", "a green square"]
    assert expand("{a {big|small}|the} cat", syntax) == ["a big cat", "a small cat", "the cat"]
    assert expand("{emphasis} (word:1.2) [cat|dog] $HOME 50%", syntax) == ["{emphasis} (word:1.2) [cat|dog] $HOME 50%"]
    assert expand("a {red|green", syntax) == ["a {red|green"], "an unclosed brace is text"


def test_wildcards_read_their_files_in_order_and_nest(wildcards: Path) -> None:
    syntax = Syntax(wildcards=wildcards)
    assert expand("a __colour__ __nested/shape__", syntax) == [
        "a red circle", "a red square", "a red triangle", "a red red star", "a red green star",
        "a green circle", "a green square", "a green triangle", "a green red star", "a green green star"]


def test_missing_wildcards_and_big_expansions_are_one_line(wildcards: Path) -> None:
    with pytest.raises(UsageError, match=r"wildcard __missing__ has no file .*missing\.txt'; add it"):
        expand("a __missing__", Syntax(wildcards=wildcards))
    with pytest.raises(UsageError, match=r"names the wildcard __colour__; give the folder .* --wildcards DIR"):
        expand("a __colour__", Syntax(dynamic=True))
    (wildcards / "self.txt").write_text("again __self__\n")
    with pytest.raises(UsageError, match="nest more than"):
        expand("__self__", Syntax(wildcards=wildcards))
    many = "{a|b|c|d|e|f|g|h|i|j}" * 5
    with pytest.raises(UsageError, match=f"more than {MAX_EXPANSIONS} prompts"):
        expand(many, Syntax(dynamic=True))


def test_prompt_matrix_is_automatic1111s() -> None:
    assert expand("a city|illustration|cinematic lighting", Syntax(matrix=True)) == [
        "a city", "a city, illustration", "a city, cinematic lighting", "a city, illustration, cinematic lighting"]
    assert expand("a [cat|dog]|{x|y}", Syntax(matrix=True, dynamic=True)) == ["a [cat|dog]", "a [cat|dog], x",
                                                                               "a [cat|dog], y"]


def test_without_the_options_prompts_are_literal() -> None:
    """Configs written before these options hold prompts as text: they must read as they did."""
    from dgenerate.cli import parse_invocation
    from dgenerate.plan import Prompt

    request, _ = parse_invocation(["m", "--prompts", "a {red|green} circle|x; __n__", "--seeds", "1"])
    assert request.prompts == (Prompt("a {red|green} circle|x", "__n__"),)


def _dgen_prompts(folder: Path) -> list[str]:
    return [read_config(path.read_text())[0].prompt for path in sorted(folder.glob("*.dgen"))]


def test_a_batch_expands_the_same_twice_and_resumes(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                    wildcards: Path) -> None:
    line = (f"{tiny_model} --prompts 'a __colour__ {{circle|square}}; __colour__' --wildcards {wildcards} "
            f"--seeds 1 {' '.join(FAST)} --output-configs -o OUT\n")
    first = run_cli(stdin=line.replace("OUT", str(tmp_path / "one")))
    assert first.code == 0, first.err
    assert run_cli(stdin=line.replace("OUT", str(tmp_path / "two"))).code == 0
    prompts = _dgen_prompts(tmp_path / "one")
    assert prompts == _dgen_prompts(tmp_path / "two") and len(prompts) == 8
    assert prompts[:2] == ["a red circle", "a red circle"]
    pngs = sorted((tmp_path / "one").glob("*.png"))
    pngs[3].unlink()
    pngs[3].with_suffix(".dgen").unlink()
    resumed = run_cli(stdin=line.replace("OUT", f"{tmp_path / 'one'} --resume"))
    assert resumed.code == 0, resumed.err
    assert sorted((tmp_path / "one").glob("*.png")) == pngs
    remade = np.asarray(Image.open(pngs[3]))
    assert np.array_equal(remade, np.asarray(Image.open(tmp_path / "two" / pngs[3].name)))


def test_a_config_regenerates_without_the_wildcard_files(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                         wildcards: Path) -> None:
    result = run_cli(str(tiny_model), "--prompts", "a __nested/shape__", "--wildcards", str(wildcards), "--seeds",
                     "1", *FAST, "--output-configs", "-o", str(tmp_path / "made"))
    assert result.code == 0, result.err
    chosen = sorted((tmp_path / "made").glob("*.png"))[4]
    config = chosen.with_suffix(".dgen").read_text()
    assert "'a green star'" in config and "__" not in config.split("--prompts")[1].split("\\")[0]
    for path in wildcards.rglob("*.txt"):
        path.unlink()
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (remade,) = (tmp_path / "again").glob("*.png")
    assert np.array_equal(np.asarray(Image.open(remade)), np.asarray(Image.open(chosen)))


def test_dry_run_shows_the_expansion_and_errors_come_before_any_model_loads(run_cli: RunCli, tmp_path: Path,
                                                                           wildcards: Path) -> None:
    shown = run_cli("no-such-model", "--prompts", "{a|b} __colour__", "--wildcards", str(wildcards), "--seeds", "1",
                    "--dry-run")
    assert "4 images (4 prompts" in shown.out
    missing = run_cli("no-such-model", "--prompts", "__nope__", "--wildcards", str(wildcards), "--seeds", "1")
    assert missing.code == 2 and "wildcard __nope__ has no file" in missing.err
    assert len([line for line in missing.err.splitlines() if line.strip()]) == 1
    folder = run_cli("no-such-model", "--prompts", "x", "--wildcards", str(tmp_path / "none"))
    assert folder.code == 2 and "--wildcards" in folder.err and "is not a folder" in folder.err


def test_contact_sheet_axes_are_the_slots_the_syntax_filled(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    import json

    folder = tmp_path / "wildcards"
    folder.mkdir()
    (folder / "colour.txt").write_text("red\ngreen\n")
    (folder / "shape.txt").write_text("circle\nsquare\n")
    result = run_cli(str(tiny_model), "--prompts", "a __colour__ __shape__ {big|small}", "--wildcards", str(folder),
                     "--seeds", "1", *FAST, "--contact-sheet", "--contact-sheet-axes", "__colour__", "__shape__",
                     "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    sheets = sorted((tmp_path / "out").glob("contact-sheet*.png"))
    assert [path.name for path in sheets] == ["contact-sheet-1.png", "contact-sheet-2.png"], "one sheet a {1} value"
    layout = json.loads(Image.open(sheets[0]).text["DgenerateContactSheet"])
    assert ["red" in label for label in layout["columns"]] == [True, False]
    assert ["circle" in label for label in layout["rows"]] == [True, False]
    assert any("{1}: big" in line for line in layout["title"]) and len(layout["cells"]) == 4
    wrong = run_cli(str(tiny_model), "--prompts", "x", "--contact-sheet", "--contact-sheet-axes", "__bad",
                    "-o", str(tmp_path / "wrong"))
    assert wrong.code == 2 and "prompt syntax slot" in wrong.err

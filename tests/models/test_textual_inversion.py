"""--textual-inversions: every format loads with its token and its exact vectors, the token changes the image only where
the prompt uses it, SDXL files fill both encoders, and every mistake is one line that says what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import ModelSpec, TextualInversionSpec
from dgenerate.models.textual_inversion import apply_textual_inversions, expandable_prompt
from tests.tiny_adapters import (
    embedding_vectors,
    write_a1111_pt,
    write_a1111_safetensors,
    write_a1111_sdxl,
    write_diffusers_embedding,
)

SD_WIDTH, SDXL_WIDTHS = 32, (32, 48)


@pytest.fixture
def sd(tiny_model: Path) -> Any:
    """A fresh pipeline per test: textual inversions change its tokenizer and text encoder."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model, safety_checker=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture
def sdxl(tiny_sdxl: Path) -> Any:
    from diffusers import StableDiffusionXLPipeline

    pipeline = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _apply(pipeline: Any, *specs: TextualInversionSpec) -> None:
    apply_textual_inversions(pipeline, specs, ModelSpec("tiny-model"))


def _rows(text_encoder: Any, tokenizer: Any, token: str, count: int) -> Any:
    names = [token] + [f"{token}_{i}" for i in range(1, count)]
    ids = tokenizer.convert_tokens_to_ids(names)
    return text_encoder.get_input_embeddings().weight[ids].detach()


def _image(pipeline: Any, prompt: str) -> Any:
    import torch

    return pipeline(prompt, num_inference_steps=2, width=64, height=64, output_type="np",
                    generator=torch.Generator("cpu").manual_seed(0)).images[0]


Writer = Callable[[Path], Path]
FORMATS: dict[str, tuple[Writer, str, int]] = {
    "a1111-pt": (lambda d: write_a1111_pt(d / "EasyNegative.pt", SD_WIDTH, vectors=2, seed=1), "easynegative", 2),
    "a1111-safetensors": (lambda d: write_a1111_safetensors(d / "bad_hands.safetensors", SD_WIDTH, vectors=3, seed=1),
                          "bad_hands", 3),
    "diffusers-file": (lambda d: write_diffusers_embedding(d / "cat.safetensors", "<cat-toy>", SD_WIDTH, seed=1),
                       "<cat-toy>", 1),
    "diffusers-bin": (lambda d: write_diffusers_embedding(d / "dog.bin", "<dog>", SD_WIDTH, seed=1, vectors=2),
                      "<dog>", 2),
    "diffusers-folder": (lambda d: write_diffusers_embedding(d / "concept", "<cat-toy>", SD_WIDTH, seed=1).parent,
                         "<cat-toy>", 1),
}


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_loads_its_token_and_exact_vectors(sd: Any, tmp_path: Path, name: str) -> None:
    write, token, count = FORMATS[name]
    _apply(sd, TextualInversionSpec(str(write(tmp_path))))
    assert sd.tokenizer(f"a {token} photo").input_ids[2] == sd.tokenizer.convert_tokens_to_ids(token) >= 49408
    assert np.array_equal(_rows(sd.text_encoder, sd.tokenizer, token, count), embedding_vectors(count, SD_WIDTH, 1))
    assert f"{token}_{count}" not in sd.tokenizer.get_vocab()


def test_token_option_overrides_the_files_token(sd: Any, tmp_path: Path) -> None:
    path = write_a1111_safetensors(tmp_path / "bad_hands.safetensors", SD_WIDTH, vectors=2, seed=4)
    _apply(sd, TextualInversionSpec(str(path), token="MyStyle"))
    assert "bad_hands" not in sd.tokenizer.get_vocab()
    assert np.array_equal(_rows(sd.text_encoder, sd.tokenizer, "mystyle", 2), embedding_vectors(2, SD_WIDTH, 4))


def test_a_multi_vector_token_expands_in_any_spelling(sd: Any, tmp_path: Path) -> None:
    _apply(sd, TextualInversionSpec(str(write_a1111_pt(tmp_path / "EasyNegative.pt", SD_WIDTH, vectors=3))))
    assert sd.maybe_convert_prompt("a easynegative", sd.tokenizer) == "a easynegative easynegative_1 easynegative_2"
    assert sd.maybe_convert_prompt("a EasyNegative", sd.tokenizer) == "a EasyNegative", "diffusers alone: 1 vector"
    assert expandable_prompt(sd, "a EasyNegative, Easy") == "a easynegative, Easy"


def test_the_token_changes_the_image_only_where_the_prompt_uses_it(sd: Any, tmp_path: Path) -> None:
    before = {prompt: _image(sd, prompt) for prompt in ("a red circle", "easynegative, a red circle")}
    _apply(sd, TextualInversionSpec(str(write_a1111_pt(tmp_path / "EasyNegative.pt", SD_WIDTH, vectors=2))))
    assert np.array_equal(_image(sd, "a red circle"), before["a red circle"])
    with_token = _image(sd, "easynegative, a red circle")
    assert np.abs(with_token - before["easynegative, a red circle"]).mean() > 3 / 255
    assert np.array_equal(_image(sd, expandable_prompt(sd, "EasyNegative, a red circle")), with_token)


def test_an_sdxl_file_fills_both_encoders_and_changes_the_image(sdxl: Any, tmp_path: Path) -> None:
    path = write_a1111_sdxl(tmp_path / "xl_style.safetensors", *SDXL_WIDTHS, vectors=2, seed=5)
    before = {prompt: _image(sdxl, prompt) for prompt in ("a red circle", "xl_style a red circle")}
    _apply(sdxl, TextualInversionSpec(str(path)))
    assert np.array_equal(_rows(sdxl.text_encoder, sdxl.tokenizer, "xl_style", 2), embedding_vectors(2, 32, 5))
    assert np.array_equal(_rows(sdxl.text_encoder_2, sdxl.tokenizer_2, "xl_style", 2), embedding_vectors(2, 48, 6))
    assert np.array_equal(_image(sdxl, "a red circle"), before["a red circle"])
    assert np.abs(_image(sdxl, "xl_style a red circle") - before["xl_style a red circle"]).mean() > 3 / 255


def test_a_diffusers_sdxl_training_folder_fills_both_encoders(sdxl: Any, tmp_path: Path) -> None:
    folder = tmp_path / "trained"
    write_diffusers_embedding(folder, "<toy>", 32, seed=7)
    write_diffusers_embedding(folder, "<toy>", 48, seed=8, name="learned_embeds_2.safetensors")
    _apply(sdxl, TextualInversionSpec(str(folder)))
    assert np.array_equal(_rows(sdxl.text_encoder, sdxl.tokenizer, "<toy>", 1), embedding_vectors(1, 32, 7))
    assert np.array_equal(_rows(sdxl.text_encoder_2, sdxl.tokenizer_2, "<toy>", 1), embedding_vectors(1, 48, 8))


class _RunsCode:
    """Unpickling this calls _record: a weights-only load must refuse it before anything runs."""

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return _record, ("unpickled",)


_RAN: list[str] = []


def _record(what: str) -> None:
    _RAN.append(what)


def test_a_pickle_that_needs_code_is_refused_and_nothing_runs(sd: Any, tmp_path: Path) -> None:
    import torch

    path = tmp_path / "evil.pt"
    torch.save({"string_to_param": {"*": torch.zeros(1, SD_WIDTH)}, "payload": _RunsCode()}, path)
    with pytest.raises(ModelError, match=r"^--textual-inversions .*evil.pt: .* needs to run pickled code to load, "
                                         r"which dgenerate refuses") as error:
        _apply(sd, TextualInversionSpec(str(path)))
    assert _RAN == [] and "\n" not in str(error.value)


def _unknown_keys(folder: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({"weights": torch.zeros(2, 4), "alpha": torch.zeros(1)}, folder / "lora.safetensors")
    return folder / "lora.safetensors"


def _damaged(folder: Path) -> Path:
    (folder / "broken.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    return folder / "broken.safetensors"


def _empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


SD_MISTAKES: dict[str, tuple[Writer, type[Exception], str]] = {
    "missing": (lambda d: d / "nowhere.pt", ModelNotFoundError, r": no such file or folder; check the path$"),
    "folder without embedding": (_empty_folder, ModelNotFoundError, r"holds no learned_embeds.safetensors or "
                                 r"learned_embeds.bin and 0 other embedding files; give the embedding file itself"),
    "unknown keys": (_unknown_keys, ModelError, r"is not a textual inversion embedding \(keys: alpha, weights\)"),
    "damaged": (_damaged, ModelError, r"is not a readable .safetensors file"),
    "SD 1.x width": (lambda d: write_a1111_pt(d / "big.pt", 768), ModelError,
                     r"is 768 wide, made for SD 1.x, but its text encoder is 32 wide; use an embedding made for this "
                     r"model"),
    "other width": (lambda d: write_diffusers_embedding(d / "w.bin", "<w>", 48), ModelError,
                    r"is 48 wide, made for a text encoder 48 wide, but its text encoder is 32 wide"),
    "SDXL file": (lambda d: write_a1111_sdxl(d / "xl.safetensors", 32, 48), ModelError,
                  r"is an SDXL embedding \(clip_l and clip_g\); use it with an SDXL model"),
    "a word": (lambda d: write_diffusers_embedding(d / "c.safetensors", "Cat", SD_WIDTH), ModelError,
               r"the token 'cat' is already in this model's vocabulary .*; choose another with "
               r"'.*c.safetensors;token=NAME'$"),
}


@pytest.mark.parametrize("case", SD_MISTAKES)
def test_sd_mistakes_are_one_line_and_change_nothing(sd: Any, tmp_path: Path, case: str) -> None:
    write, kind, message = SD_MISTAKES[case]
    before = len(sd.tokenizer)
    with pytest.raises(kind, match=r"^--textual-inversions \S+") as error:
        _apply(sd, TextualInversionSpec(str(write(tmp_path))))
    assert error.type is kind and "\n" not in str(error.value)
    assert re.search(message, str(error.value)), str(error.value)
    assert len(sd.tokenizer) == before


def test_a_token_used_twice_says_to_pass_token(sd: Any, tmp_path: Path) -> None:
    spec = TextualInversionSpec(str(write_a1111_safetensors(tmp_path / "zq_style.safetensors", SD_WIDTH)))
    with pytest.raises(ModelError, match=r"another textual inversion already uses the token 'zq_style'; choose another "
                                         r"with '.*zq_style.safetensors;token=NAME'$"):
        _apply(sd, spec, spec)
    assert "zq_style" not in sd.tokenizer.get_vocab(), "checked before anything is added"
    _apply(sd, spec)
    with pytest.raises(ModelError, match=r"the token 'zq_style' is already in this model's vocabulary \(a word, or an "
                                         r"embedding loaded before\)"):
        _apply(sd, spec)
    _apply(sd, TextualInversionSpec(spec.path, token="zq_style2"))
    assert "zq_style2_1" in sd.tokenizer.get_vocab()


def test_a_one_encoder_embedding_on_sdxl_is_refused(sdxl: Any, tmp_path: Path) -> None:
    """SDXL's first encoder is exactly as wide as SD 1.x's: loading there alone would leave text_encoder_2 reading
    the token as sub-word pieces, so an embedding for one encoder is refused whatever its width."""
    for path, made_for in [(write_a1111_pt(tmp_path / "sd1.pt", 768), "SD 1.x"),
                           (write_diffusers_embedding(tmp_path / "d.bin", "<d>", 32), "a text encoder 32 wide")]:
        with pytest.raises(ModelError, match=rf"^--textual-inversions \S+ is one \d+-wide embedding, made for "
                                             rf"{made_for}; this SDXL model needs one for both its text encoders"):
            _apply(sdxl, TextualInversionSpec(str(path)))


def test_sdxl_widths_are_checked_before_anything_is_added(sdxl: Any, tmp_path: Path) -> None:
    path = write_a1111_sdxl(tmp_path / "swapped.safetensors", 48, 32)
    with pytest.raises(ModelError, match=r"^--textual-inversions \S+ is 48 wide, made for a text encoder 48 wide, but "
                                         r"its text_encoder \(clip_l\) is 32 wide") as error:
        _apply(sdxl, TextualInversionSpec(str(path)))
    assert "\n" not in str(error.value)
    assert "swapped" not in sdxl.tokenizer.get_vocab() and "swapped" not in sdxl.tokenizer_2.get_vocab()

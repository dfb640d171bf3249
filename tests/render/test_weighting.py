"""AUTOMATIC1111's prompt weighting: the parser against A1111's own examples, its chunking, and embeddings that equal
the pipeline's own encode_prompt where nothing is weighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dgenerate.errors import UsageError
from dgenerate.models.paths import builtin_tokenizer_path
from dgenerate.render.weighting import BREAK, emphasis, parse_attention, prompt_chunks, weighted_embeddings

BOS, EOS = 49406, 49407
CAT, DOG, COMMA = 2368, 1929, 267  # single CLIP tokens: "cat</w>", "dog</w>", ",</w>"
LONG = " ".join(["cat"] * 100)  # 100 tokens: two chunks


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(builtin_tokenizer_path())


@pytest.fixture(scope="module")
def sd(tiny_model: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl: Path) -> Any:
    from diffusers import StableDiffusionXLPipeline

    pipeline = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


# The examples of the docstring of AUTOMATIC1111's modules/prompt_parser.py parse_prompt_attention, then more.
@pytest.mark.parametrize(("text", "expected"), [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [
        ("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
        (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1),
    ]),
    ("", [("", 1.0)]),
    ("a cat BREAK a dog", [("a cat", 1.0), BREAK, ("a dog", 1.0)]),
    ("a BREAK (b BREAK c)", [("a", 1.0), BREAK, ("", 1.0), ("b", 1.1), ("BREAK", -1.1), ("c", 1.1)]),
    ("BREAKFAST", [("BREAKFAST", 1.0)]),
    ("(word:1.3)", [("word", 1.3)]),
    ("( word : 0.5 )", [(" word ", 0.5)]),
    ("[word]", [("word", 1 / 1.1)]),
    ("((word))", [("word", 1.1 * 1.1)]),
    ("[[word]", [("word", 1.0 * (1 / 1.1) * (1 / 1.1))]),
    ("(a [b] c)", [("a ", 1.1), ("b", 1.0 * (1 / 1.1) * 1.1), (" c", 1.1)]),
    ("\\\\ \\) \\[", [("\\ ) [", 1.0)]),
    ("a) b] :1.2) c", [("a) b] :1.2) c", 1.0)]),
    ("ratio 16:9", [("ratio 16:9", 1.0)]),
])
def test_parse_attention_is_automatic1111s(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_attention(text) == expected


def test_a_weight_that_is_not_a_number_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'1\.2\.3'.*\(word:1\.3\)"):
        parse_attention("(word:1.2.3)")


def test_a_short_prompt_is_one_chunk_laid_out_as_the_tokenizer_does(tokenizer: Any) -> None:
    [chunk] = prompt_chunks("a photo of a cat", tokenizer)
    own = tokenizer("a photo of a cat", padding="max_length", max_length=77)
    assert list(chunk.ids) == own.input_ids and list(chunk.mask) == own.attention_mask
    assert chunk.weights == (1.0,) * 77


def test_an_empty_prompt_is_one_chunk(tokenizer: Any) -> None:
    [chunk] = prompt_chunks("", tokenizer)
    assert chunk.ids == (BOS, EOS) + (tokenizer.pad_token_id,) * 75


def test_weights_follow_their_tokens(tokenizer: Any) -> None:
    [chunk] = prompt_chunks("a (cat:1.5) [dog]", tokenizer)
    assert chunk.ids[:5] == (BOS, 320, CAT, DOG, EOS)
    assert chunk.weights[:5] == (1.0, 1.0, 1.5, 1 / 1.1, 1.0)


def test_a_100_token_prompt_makes_two_chunks_of_75(tokenizer: Any) -> None:
    first, second = prompt_chunks(LONG, tokenizer)
    assert first.ids == (BOS,) + (CAT,) * 75 + (EOS,)
    assert second.ids == (BOS,) + (CAT,) * 25 + (EOS,) + (tokenizer.pad_token_id,) * 50
    assert second.mask == (1,) * 27 + (0,) * 50


def test_break_starts_a_new_chunk(tokenizer: Any) -> None:
    first, second = prompt_chunks("cat BREAK dog", tokenizer)
    assert first.ids[:3] == (BOS, CAT, EOS) and second.ids[:3] == (BOS, DOG, EOS)


def test_a_full_chunk_moves_the_words_after_a_near_comma_to_the_next(tokenizer: Any) -> None:
    first, second = prompt_chunks(" ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10), tokenizer)
    assert first.ids[:73] == (BOS,) + (CAT,) * 70 + (COMMA, EOS)
    assert second.ids[:12] == (BOS,) + (DOG,) * 10 + (EOS,)


def test_a_comma_further_back_than_20_tokens_is_not_a_break(tokenizer: Any) -> None:
    first, second = prompt_chunks(" ".join(["cat"] * 50) + ", " + " ".join(["dog"] * 30), tokenizer)
    assert first.ids == (BOS,) + (CAT,) * 50 + (COMMA,) + (DOG,) * 24 + (EOS,)
    assert second.ids[:8] == (BOS,) + (DOG,) * 6 + (EOS,)


def test_plain_prompts_equal_the_pipelines_own_encoding(sd: Any) -> None:
    import torch

    prompts, negatives = ["a photo of a cat", "a dog"], ["blurry", ""]
    weighted = weighted_embeddings(sd, prompts, negatives)
    own, own_negative = sd.encode_prompt(prompts, "cpu", 1, True, negatives)
    assert torch.equal(weighted["prompt_embeds"], own)
    assert torch.equal(weighted["negative_prompt_embeds"], own_negative)
    assert set(weighted) == {"prompt_embeds", "negative_prompt_embeds"}


def test_a_weight_scales_its_tokens_then_the_chunk_keeps_its_mean(sd: Any) -> None:
    import torch

    plain = weighted_embeddings(sd, ["a photo of a cat"], [""])["prompt_embeds"]
    weighted = weighted_embeddings(sd, ["a photo of a (cat:1.5)"], [""])["prompt_embeds"]
    multipliers = torch.ones(77)
    multipliers[5] = 1.5  # BOS a photo of a cat
    scaled = plain * multipliers[None, :, None]
    assert torch.equal(weighted, scaled * (plain.mean() / scaled.mean()))
    ratio = weighted / plain
    rescale = ratio[0, 0, 0]
    assert torch.allclose(ratio[0, 5], 1.5 * rescale) and not torch.allclose(ratio[0, 5], rescale)
    others = torch.cat([ratio[0, :5], ratio[0, 6:]])
    assert torch.allclose(others, torch.full_like(others, rescale.item()))
    assert torch.allclose(weighted.mean(), plain.mean())


def test_emphasis_leaves_weights_of_one_untouched() -> None:
    import torch

    z = torch.randn(1, 77, 8)
    assert emphasis(z, (1.0,) * 77) is z


def test_a_long_prompt_gives_154_tokens_and_pads_its_negative_with_empty_chunks(sd: Any) -> None:
    import torch

    weighted = weighted_embeddings(sd, [LONG], [""])
    empty = weighted_embeddings(sd, [""], [""])["prompt_embeds"]
    assert weighted["prompt_embeds"].shape == (1, 154, 32)
    assert torch.equal(weighted["negative_prompt_embeds"], torch.cat([empty, empty], dim=1))


def test_each_prompt_is_encoded_as_if_alone(sd: Any) -> None:
    import torch

    both = weighted_embeddings(sd, [LONG, "a (dog:1.2)"], ["", "blurry"])
    alone = weighted_embeddings(sd, ["a (dog:1.2)"], ["blurry"])
    empty = weighted_embeddings(sd, [""], [""])["prompt_embeds"]
    assert both["prompt_embeds"].shape == (2, 154, 32)
    assert torch.equal(both["prompt_embeds"][1:], torch.cat([alone["prompt_embeds"], empty], dim=1))
    assert torch.equal(both["negative_prompt_embeds"][1:], torch.cat([alone["negative_prompt_embeds"], empty], dim=1))


def test_a_pipeline_without_clip_text_encoders_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^prompt weighting reads prompts through CLIP text encoders, which "
                                         r"SimpleNamespace has none of"):
        weighted_embeddings(SimpleNamespace(), ["a cat"], [""])


def test_sdxl_plain_prompts_equal_the_pipelines_own_encoding(sdxl: Any) -> None:
    import torch

    weighted = weighted_embeddings(sdxl, ["a photo of a cat"], ["blurry"])
    own = sdxl.encode_prompt("a photo of a cat", device="cpu", num_images_per_prompt=1,
                             do_classifier_free_guidance=True, negative_prompt="blurry")
    names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
    assert all(torch.equal(weighted[name], expected) for name, expected in zip(names, own, strict=True))


def test_an_empty_sdxl_negative_prompt_is_zeros_as_in_the_pipeline(sdxl: Any) -> None:
    import torch

    weighted = weighted_embeddings(sdxl, ["a photo of a cat"], [""])
    own = sdxl.encode_prompt("a photo of a cat", device="cpu", num_images_per_prompt=1,
                             do_classifier_free_guidance=True)
    assert torch.equal(weighted["negative_prompt_embeds"], own[1]) and not own[1].any()
    assert torch.equal(weighted["negative_pooled_prompt_embeds"], own[3]) and not own[3].any()


def test_without_force_zeros_an_empty_sdxl_negative_prompt_is_encoded(tiny_sdxl: Path) -> None:
    import torch
    from diffusers import StableDiffusionXLPipeline

    pipeline = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl, force_zeros_for_empty_prompt=False)
    weighted = weighted_embeddings(pipeline, ["a photo of a cat"], [""])
    own = pipeline.encode_prompt("a photo of a cat", device="cpu", num_images_per_prompt=1,
                                 do_classifier_free_guidance=True, negative_prompt="")
    assert torch.equal(weighted["negative_prompt_embeds"], own[1]) and own[1].any()
    assert torch.equal(weighted["negative_pooled_prompt_embeds"], own[3])


def test_sdxl_long_prompt_shapes_and_pooled_from_the_first_chunk(sdxl: Any) -> None:
    import torch

    weighted = weighted_embeddings(sdxl, ["a photo of a cat BREAK a (dog:1.3)"], ["blurry"])
    first = weighted_embeddings(sdxl, ["a photo of a cat"], ["blurry"])
    assert weighted["prompt_embeds"].shape == (1, 154, 32 + 48)
    assert weighted["negative_prompt_embeds"].shape == (1, 154, 32 + 48)
    assert weighted["pooled_prompt_embeds"].shape == (1, 48)
    assert torch.equal(weighted["pooled_prompt_embeds"], first["pooled_prompt_embeds"])
    assert torch.equal(weighted["prompt_embeds"][:, :77], first["prompt_embeds"])


def _image(pipeline: Any, **inputs: Any) -> Any:
    import torch

    return pipeline(num_inference_steps=2, height=64, width=64, output_type="np",
                    generator=torch.Generator("cpu").manual_seed(7), **inputs).images


def test_a_pipeline_call_with_the_embeddings_matches_plain_and_differs_weighted(sd: Any) -> None:
    import numpy as np

    own = _image(sd, prompt=["a photo of a cat"], negative_prompt=["blurry"])
    plain = _image(sd, **weighted_embeddings(sd, ["a photo of a cat"], ["blurry"]))
    weighted = _image(sd, **weighted_embeddings(sd, ["a photo of a (cat:1.5)"], ["blurry"]))
    assert np.array_equal(plain, own)
    assert not np.array_equal(weighted, own)


def test_an_sdxl_call_runs_with_a_long_weighted_prompt(sdxl: Any) -> None:
    import numpy as np

    own = _image(sdxl, prompt=["a photo of a cat"])
    weighted = _image(sdxl, **weighted_embeddings(sdxl, ["a photo of a (cat:1.5) BREAK sun"], [""]))
    assert weighted.shape == own.shape == (1, 64, 64, 3)
    assert not np.array_equal(weighted, own)


def test_hidden_states_that_average_to_zero_are_refused_not_turned_into_nans() -> None:
    import torch

    from dgenerate.errors import ModelError
    from dgenerate.render.weighting import emphasis

    z = torch.tensor([[[1.0, -1.0], [2.0, -2.0]]])
    with pytest.raises(ModelError, match=r"^--prompt-weighting a1111: this text encoder's hidden states average to "):
        emphasis(z, (1.0, 1.5))

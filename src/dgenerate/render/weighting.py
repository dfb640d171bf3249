"""AUTOMATIC1111's weighted prompts for Stable Diffusion 1.x/2.x and SDXL pipelines, read as AUTOMATIC1111 reads them.

    (word) x1.1    [word] /1.1    (word:1.3) x1.3    nesting multiplies    \\( \\) \\[ \\] \\\\ literal characters
    BREAK          starts a new 75-token chunk; prompts of any length are encoded 75 tokens at a time

Each chunk (BOS, 75 prompt tokens, EOS and padding: 77 ids) goes through the pipeline's own text encoder(s) alone, then
gets AUTOMATIC1111's "Original" emphasis: every token's vector is multiplied by its weight and the chunk is rescaled so
that its mean is what it was. Chunks are concatenated along the sequence; the result replaces `prompt` and
`negative_prompt` in the pipeline call. A plain prompt of up to 75 tokens gives exactly what the pipeline's own
`encode_prompt` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dgenerate.errors import ModelError, UsageError

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
CHUNK_LENGTH = 75
"""Prompt tokens per chunk: CLIP reads 77 ids, BOS and EOS included."""
COMMA_BACKTRACK = 20
"""AUTOMATIC1111's comma_padding_backtrack: a full chunk moves the words after its last comma, if this near the end,
into the next chunk."""
BREAK = ("BREAK", -1.0)

_ATTENTION = re.compile(r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""", re.X)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_attention(text: str) -> list[tuple[str, float]]:
    """AUTOMATIC1111's parse_prompt_attention: (text, weight) runs, BREAK as ("BREAK", -1.0), unclosed brackets
    closed at the end, runs of equal weight merged."""
    parsed: list[list[Any]] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []
    for match in _ATTENTION.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            parsed.append([token[1:], 1.0])
        elif token == "(":
            round_brackets.append(len(parsed))
        elif token == "[":
            square_brackets.append(len(parsed))
        elif weight is not None and round_brackets:
            _multiply(parsed, round_brackets.pop(), _weight(weight, text))
        elif token == ")" and round_brackets:
            _multiply(parsed, round_brackets.pop(), ROUND_MULTIPLIER)
        elif token == "]" and square_brackets:
            _multiply(parsed, square_brackets.pop(), SQUARE_MULTIPLIER)
        else:
            _append_text(parsed, token)
    for start in round_brackets:
        _multiply(parsed, start, ROUND_MULTIPLIER)
    for start in square_brackets:
        _multiply(parsed, start, SQUARE_MULTIPLIER)
    return _merged(parsed or [["", 1.0]])


def _weight(weight: str, text: str) -> float:
    try:
        return float(weight)
    except ValueError:
        raise UsageError(f"prompt weight {weight!r} in {text!r} is not a number; write a weight like (word:1.3)") \
            from None


def _multiply(parsed: list[list[Any]], start: int, multiplier: float) -> None:
    for run in parsed[start:]:
        run[1] *= multiplier


def _append_text(parsed: list[list[Any]], text: str) -> None:
    for index, part in enumerate(_BREAK.split(text)):
        if index > 0:
            parsed.append(list(BREAK))
        parsed.append([part, 1.0])


def _merged(parsed: list[list[Any]]) -> list[tuple[str, float]]:
    runs: list[tuple[str, float]] = []
    for text, weight in parsed:
        if runs and runs[-1][1] == weight:
            runs[-1] = (runs[-1][0] + text, weight)
        else:
            runs.append((text, weight))
    return runs


@dataclass(frozen=True)
class Chunk:
    """One pass through a text encoder: 77 ids (BOS, up to 75 prompt tokens, EOS, padding), a weight for each
    (1.0 for BOS, EOS and padding), and the attention mask the pipeline's tokenizer would give (0 for padding)."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]
    mask: tuple[int, ...]


@dataclass
class _Chunker:
    """AUTOMATIC1111's tokenize_line: fills 75-token chunks, BREAK closes one, a full chunk backtracks to a comma."""

    comma: int | None
    done: list[tuple[list[int], list[float]]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    last_comma: int = -1

    def close(self) -> None:
        self.done.append((self.tokens, self.weights))
        self.tokens, self.weights, self.last_comma = [], [], -1

    def add(self, token: int, weight: float) -> None:
        if token == self.comma:
            self.last_comma = len(self.tokens)
        elif len(self.tokens) == CHUNK_LENGTH and self.last_comma != -1 \
                and len(self.tokens) - self.last_comma <= COMMA_BACKTRACK:
            self._carry_after_comma()
        if len(self.tokens) == CHUNK_LENGTH:
            self.close()
        self.tokens.append(token)
        self.weights.append(weight)

    def _carry_after_comma(self) -> None:
        cut = self.last_comma + 1
        tokens, weights = self.tokens[cut:], self.weights[cut:]
        self.tokens, self.weights = self.tokens[:cut], self.weights[:cut]
        self.close()
        self.tokens, self.weights = tokens, weights


def prompt_chunks(prompt: str, tokenizer: Any) -> list[Chunk]:
    """The chunks AUTOMATIC1111 makes of `prompt` with a CLIP `tokenizer`; an empty prompt gives one chunk."""
    parsed = parse_attention(prompt)
    tokenized = tokenizer([text for text, _ in parsed], add_special_tokens=False, truncation=False,
                          verbose=False)["input_ids"]
    chunker = _Chunker(comma=tokenizer.get_vocab().get(",</w>"))
    for ids, run in zip(tokenized, parsed, strict=True):
        if run == BREAK:
            chunker.close()
            continue
        for token in ids:
            chunker.add(token, run[1])
    if chunker.tokens or not chunker.done:
        chunker.close()
    return [_framed(tokens, weights, tokenizer) for tokens, weights in chunker.done]


def _framed(tokens: list[int], weights: list[float], tokenizer: Any) -> Chunk:
    """BOS + tokens + EOS + padding, as the pipeline's tokenizer lays out a prompt (and AUTOMATIC1111 does: it pads
    SD 1.x with EOS and OpenCLIP with 0, which are these tokenizers' pad ids)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    padding = CHUNK_LENGTH - len(tokens)
    ids = (tokenizer.bos_token_id, *tokens, tokenizer.eos_token_id) + (pad,) * padding
    return Chunk(ids, (1.0, *weights, 1.0) + (1.0,) * padding, (1,) * (len(tokens) + 2) + (0,) * padding)


@dataclass(frozen=True)
class _Encoder:
    tokenizer: Any
    model: Any
    penultimate: bool
    """SDXL reads the penultimate hidden state without the final layer norm; SD 1.x/2.x the last hidden state."""


def weighted_embeddings(pipeline: Any, prompts: list[str], negative_prompts: list[str]) -> dict[str, Any]:
    """Keyword arguments for a Stable Diffusion or SDXL pipeline call that replace `prompt` and `negative_prompt`.

    Each prompt is encoded alone, so an image's embeddings do not depend on the others of its call. Every prompt and
    negative prompt gets as many chunks as the longest of them, the shorter padded with chunks of an empty prompt.
    With SDXL's force_zeros_for_empty_prompt an empty negative prompt is zeros, as in the pipeline and AUTOMATIC1111.
    """
    import torch

    if not prompts or len(prompts) != len(negative_prompts):
        raise ValueError(f"need one negative prompt per prompt, got {len(prompts)} and {len(negative_prompts)}")
    encoders = _encoders(pipeline)
    texts = [*prompts, *negative_prompts]
    chunks = [[prompt_chunks(_converted(pipeline, text, e.tokenizer), e.tokenizer) for e in encoders] for text in texts]
    count = max(len(per_encoder) for per_text in chunks for per_encoder in per_text)
    cache: dict[tuple[int, Chunk], tuple[Any, Any]] = {}
    with torch.no_grad():
        encoded = [_encode_text(pipeline, encoders, per_text, count, cache) for per_text in chunks]
    return _call_arguments(pipeline, encoders, encoded, negative_prompts)


def _encoders(pipeline: Any) -> list[_Encoder]:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    xl = getattr(pipeline, "text_encoder_2", None) is not None
    pairs = [(getattr(pipeline, "tokenizer", None), getattr(pipeline, "text_encoder", None)),
             (getattr(pipeline, "tokenizer_2", None), getattr(pipeline, "text_encoder_2", None))]
    encoders = [_Encoder(tokenizer, model, xl) for tokenizer, model in pairs
                if tokenizer is not None and model is not None]
    clip = all(isinstance(encoder.model, (CLIPTextModel, CLIPTextModelWithProjection)) for encoder in encoders)
    if not encoders or not clip:
        raise UsageError(f"prompt weighting reads prompts through CLIP text encoders, which {type(pipeline).__name__} "
                         "has none of; leave it off for this model")
    return encoders


def _converted(pipeline: Any, text: str, tokenizer: Any) -> str:
    """The prompt with multi-vector textual inversion tokens spelled out, as the pipeline's encode_prompt does.

    Only where the tokenizer has such tokens: the conversion tokenizes the whole prompt, and transformers warns about
    "indexing errors" for any prompt over 77 tokens, which chunking makes harmless."""
    convert = getattr(pipeline, "maybe_convert_prompt", None)
    added = set(tokenizer.added_tokens_encoder) - set(tokenizer.all_special_tokens)
    return text if convert is None or not added else str(convert(text, tokenizer))


def _encode_text(pipeline: Any, encoders: list[_Encoder], chunks: list[list[Chunk]], count: int,
                 cache: dict[tuple[int, Chunk], tuple[Any, Any]]) -> tuple[Any, Any]:
    """(embeddings, pooled) of one prompt: its chunks through each encoder, padded to `count` with empty-prompt
    chunks, concatenated along the sequence, then the encoders along the features; pooled from the first chunk."""
    import torch

    per_encoder, pooled = [], None
    for index, (encoder, own) in enumerate(zip(encoders, chunks, strict=True)):
        padded = own + prompt_chunks("", encoder.tokenizer) * (count - len(own))
        outputs = [_cached(cache, index, encoder, chunk, pipeline) for chunk in padded]
        per_encoder.append(torch.cat([z for z, _ in outputs], dim=1))
        pooled = outputs[0][1] if outputs[0][1] is not None else pooled
    return torch.cat(per_encoder, dim=-1), pooled


def _cached(cache: dict[tuple[int, Chunk], tuple[Any, Any]], index: int, encoder: _Encoder, chunk: Chunk,
            pipeline: Any) -> tuple[Any, Any]:
    if (index, chunk) not in cache:
        z, pooled = _encode_chunk(encoder, chunk)
        device = pipeline._execution_device
        cache[index, chunk] = (z.to(device), None if pooled is None else pooled.to(device))
    return cache[index, chunk]


def _encode_chunk(encoder: _Encoder, chunk: Chunk) -> tuple[Any, Any]:
    """(hidden states with emphasis, pooled or None) of one chunk, read as the pipeline's encode_prompt reads them."""
    import torch
    from diffusers.utils.torch_utils import get_module_execution_device

    device = get_module_execution_device(encoder.model)
    ids = torch.tensor([chunk.ids], device=device)
    if encoder.penultimate:
        output = encoder.model(ids, output_hidden_states=True)
        pooled = output[0] if output[0].ndim == 2 else None
        return emphasis(output.hidden_states[-2], chunk.weights), pooled
    mask = None
    if getattr(encoder.model.config, "use_attention_mask", False):
        mask = torch.tensor([chunk.mask], device=device)
    return emphasis(encoder.model(ids, attention_mask=mask)[0], chunk.weights), None


def emphasis(z: Any, weights: tuple[float, ...]) -> Any:
    """AUTOMATIC1111's "Original" emphasis on one chunk's hidden states [1, 77, features]: each token's vector times
    its weight, then the whole rescaled to its former mean. Computed in float32 (A1111's multipliers are float32)."""
    import torch

    if all(weight == 1.0 for weight in weights):
        return z  # what the arithmetic gives too, bit for bit; skipping it keeps plain prompts exact by construction
    before = z.float()
    weighted = before * torch.tensor(weights, dtype=torch.float32, device=z.device)[None, :, None]
    rescaled = weighted * (before.mean() / weighted.mean())
    if not torch.isfinite(rescaled).all():
        raise ModelError("--prompt-weighting a1111: this text encoder's hidden states average to zero, so "
                         "AUTOMATIC1111's emphasis, which restores their mean, cannot weight the prompt; use "
                         "--prompt-weighting none or weights of 1")
    return rescaled.to(z.dtype)


def _call_arguments(pipeline: Any, encoders: list[_Encoder], encoded: list[tuple[Any, Any]],
                    negative_prompts: list[str]) -> dict[str, Any]:
    import torch

    half = len(negative_prompts)
    positive, negative = encoded[:half], encoded[half:]
    xl = encoders[0].penultimate
    if xl and pipeline.config.get("force_zeros_for_empty_prompt", False):
        negative = [(torch.zeros_like(z), torch.zeros_like(pooled)) if text == "" else encoding
                    for (z, pooled), encoding, text in zip(positive, negative, negative_prompts, strict=True)]
    dtype = encoders[-1].model.dtype
    arguments = {"prompt_embeds": torch.cat([z for z, _ in positive]).to(dtype),
                 "negative_prompt_embeds": torch.cat([z for z, _ in negative]).to(dtype)}
    if xl:
        arguments["pooled_prompt_embeds"] = torch.cat([pooled for _, pooled in positive]).to(dtype)
        arguments["negative_pooled_prompt_embeds"] = torch.cat([pooled for _, pooled in negative]).to(dtype)
    return arguments

"""--textual-inversions "path;token=NAME": embeddings added to the tokenizers and text encoders of an SD or SDXL model.

Formats, told apart by their keys:
- AUTOMATIC1111 .pt: a pickled dict with the vectors in string_to_param["*"];
- AUTOMATIC1111 .safetensors: emb_params;
- AUTOMATIC1111 SDXL .safetensors: clip_l (for text_encoder) and clip_g (for text_encoder_2);
- diffusers: learned_embeds.safetensors or .bin holding {token: vectors}; a folder of diffusers' SDXL training output
  adds learned_embeds_2 for text_encoder_2.
A path is such a file or a folder holding one. Safetensors files are read with safetensors, pickled ones weights-only
(a file that needs code to unpickle is refused), and diffusers is handed the tensors, never the file.

The token is ;token=NAME, else the file's stem for AUTOMATIC1111 files (as their users write them in prompts) and the
key for diffusers files. A multi-vector embedding adds token, token_1, ... and diffusers expands the token in a prompt
into all of them. Tokens are registered in lowercase: CLIP lowercases prompts, so any spelling selects the token,
but diffusers expands it only where the prompt's text spells it as registered (see expandable_prompt).

An SDXL model needs an embedding for both its text encoders. An embedding of one width is refused there rather than
loaded into one encoder alone, where the other would read its token as meaningless sub-word pieces: an SD 1.x
embedding is exactly as wide as SDXL's first encoder, and AUTOMATIC1111 refuses it on SDXL too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import ModelSpec, TextualInversionSpec
from dgenerate.models.paths import first_line
from dgenerate.models.single_file import PICKLED_SUFFIXES, load_pickled

_FOLDER_FILES = ("learned_embeds.safetensors", "learned_embeds.bin")
_SECOND_FILES = ("learned_embeds_2.safetensors", "learned_embeds_2.bin")
_EMBEDDING_SUFFIXES = (".safetensors", *PICKLED_SUFFIXES)
_MADE_FOR = {768: "SD 1.x", 1024: "SD 2.x", 1280: "SDXL's second text encoder"}


@dataclass(frozen=True)
class Embedding:
    """One file's vectors: one matrix [n, width] for a one-encoder model, or (clip_l, clip_g) for SDXL."""

    option: str
    path: str
    token: str
    vectors: tuple[Any, ...]


def _option(spec: TextualInversionSpec) -> str:
    return f"--textual-inversions {spec.path}" + (f";token={spec.token}" if spec.token else "")


def apply_textual_inversions(pipeline: Any, inversions: tuple[TextualInversionSpec, ...], model: ModelSpec) -> None:
    """Add each embedding's token to the pipeline's tokenizers and its vectors to the text encoders. Every file is read
    and checked before anything is added, so a mistake in any of them leaves the pipeline as it was."""
    if not inversions:
        return
    planned: list[tuple[Embedding, list[tuple[Any, Any, Any]]]] = []
    for spec in inversions:
        embedding = read_embedding(spec)
        targets = _targets(pipeline, embedding, model)
        _check_token(embedding, targets, [planned_embedding.token for planned_embedding, _ in planned])
        planned.append((embedding, targets))
    for embedding, targets in planned:
        for vectors, tokenizer, text_encoder in targets:
            _add(pipeline, embedding, vectors, tokenizer, text_encoder)


def expandable_prompt(pipeline: Any, prompt: str) -> str:
    """The prompt with every added token spelled as registered (lowercase), whatever case the user wrote: CLIP reads
    'EasyNegative' as the token either way, but diffusers expands a multi-vector token into 'token token_1 ...' only
    where the text spells it exactly, so the prompt would otherwise get the first vector alone."""
    tokens = {token for tokenizer in (getattr(pipeline, "tokenizer", None), getattr(pipeline, "tokenizer_2", None))
              if tokenizer is not None for token in _added_tokens(tokenizer)}
    if not tokens:
        return prompt
    pattern = re.compile("|".join(re.escape(token) for token in sorted(tokens, key=len, reverse=True)), re.IGNORECASE)
    return pattern.sub(lambda match: match.group(0).lower(), prompt)


def _added_tokens(tokenizer: Any) -> list[str]:
    return [added.content for added in tokenizer.added_tokens_decoder.values() if not added.special]


def read_embedding(spec: TextualInversionSpec) -> Embedding:
    """The embedding a path names, with its token; reads no code and touches no model."""
    option = _option(spec)
    path = Path(spec.path).expanduser()
    if path.is_dir():
        first, second = _folder_files(path, option)
    elif path.is_file():
        first, second = path, None
    else:
        raise ModelNotFoundError(f"{option}: no such file or folder; check the path")
    token, vectors = _parse(_read(first, option), first, option)
    if second is not None:
        vectors = (vectors[0], *_parse(_read(second, option), second, option)[1])
        if len(vectors) != 2:
            raise ModelError(f"{option}: {str(second)!r} holds more than one embedding; it should hold the same "
                             f"token's vectors for text_encoder_2 as {first.name} holds for text_encoder")
    token = (spec.token or token).lower()
    if not token or any(character.isspace() for character in token):
        raise ModelError(f"{option}: the token {token!r} is empty or has spaces, which a prompt cannot select; give "
                         f"one word with '{spec.path};token=NAME'")
    return Embedding(option, spec.path, token, vectors)


def _folder_files(folder: Path, option: str) -> tuple[Path, Path | None]:
    first = next((folder / name for name in _FOLDER_FILES if (folder / name).is_file()), None)
    if first is not None:
        return first, next((folder / name for name in _SECOND_FILES if (folder / name).is_file()), None)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _EMBEDDING_SUFFIXES)
    if len(files) != 1:
        raise ModelNotFoundError(f"{option}: the folder holds no {' or '.join(_FOLDER_FILES)} and {len(files)} other "
                                 f"embedding files; give the embedding file itself")
    return files[0], None


def _read(path: Path, option: str) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as error:  # safetensors raises its own SafetensorError, and OSError
            raise ModelError(f"{option}: {str(path)!r} is not a readable .safetensors file ({first_line(error)})") \
                from error
    if path.suffix.lower() in PICKLED_SUFFIXES:
        return load_pickled(path, option)
    raise ModelError(f"{option}: {str(path)!r} is not an embedding file; give a {' / '.join(_EMBEDDING_SUFFIXES)} file "
                     "or a diffusers folder with learned_embeds.safetensors")


def _parse(state: dict[str, Any], path: Path, option: str) -> tuple[str, tuple[Any, ...]]:
    """The file's own token and its vectors, by format."""
    params = state.get("string_to_param")
    if isinstance(params, dict) and "*" in params:
        return path.stem, (_matrix(params["*"], "string_to_param['*']", option),)
    if "emb_params" in state:
        return path.stem, (_matrix(state["emb_params"], "emb_params", option),)
    if "clip_l" in state and "clip_g" in state:
        return path.stem, (_matrix(state["clip_l"], "clip_l", option), _matrix(state["clip_g"], "clip_g", option))
    if len(state) == 1:
        key, value = next(iter(state.items()))
        return str(key), (_matrix(value, repr(key), option),)
    names = sorted(map(str, state))
    found = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") if names else "none"
    raise ModelError(f"{option}: {str(path)!r} is not a textual inversion embedding (keys: {found}); expected "
                     "AUTOMATIC1111's string_to_param or emb_params (clip_l and clip_g for SDXL) or diffusers' "
                     "single {token: vectors}")


def _matrix(value: Any, key: str, option: str) -> Any:
    """The vectors as [n, width]: diffusers files may hold one vector as [width]."""
    import torch

    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.ndim not in (1, 2) \
            or value.numel() == 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ModelError(f"{option}: its {key} is not a list of embedding vectors ({shape}); the file is damaged or "
                         "is not a textual inversion")
    return value.detach().reshape(-1, value.shape[-1])


def _targets(pipeline: Any, embedding: Embedding, model: ModelSpec) -> list[tuple[Any, Any, Any]]:
    """(vectors, tokenizer, text encoder) for each text encoder the pipeline has; checks the widths."""
    option, width = embedding.option, embedding.vectors[0].shape[-1]
    about = f"model_path {model.path!r}, --model-type {model.model_type}"
    if "text_encoder_2" not in pipeline.components:
        if len(embedding.vectors) == 2:
            raise ModelError(f"{option} is an SDXL embedding (clip_l and clip_g); use it with an SDXL model, or an "
                             f"embedding made for this one ({about})")
        encoders = [(pipeline.tokenizer, pipeline.text_encoder, "its text encoder")]
    else:
        if len(embedding.vectors) == 1:
            raise ModelError(f"{option} is one {width}-wide embedding, made for {_made_for(width)}; this SDXL "
                             "model needs one for both its text encoders: an AUTOMATIC1111 SDXL file (clip_l and "
                             f"clip_g) or a diffusers folder with learned_embeds and learned_embeds_2 ({about})")
        encoders = [(pipeline.tokenizer, pipeline.text_encoder, "its text_encoder (clip_l)"),
                    (pipeline.tokenizer_2, pipeline.text_encoder_2, "its text_encoder_2 (clip_g)")]
    targets = []
    for vectors, (tokenizer, text_encoder, name) in zip(embedding.vectors, encoders, strict=True):
        if text_encoder is None:  # the SDXL refiner has the second encoder only
            continue
        expected = text_encoder.get_input_embeddings().weight.shape[-1]
        if vectors.shape[-1] != expected:
            raise ModelError(f"{option} is {vectors.shape[-1]} wide, made for {_made_for(vectors.shape[-1])}, but "
                             f"{name} is {expected} wide; use an embedding made for this model ({about})")
        targets.append((vectors, tokenizer, text_encoder))
    return targets


def _made_for(width: int) -> str:
    return _MADE_FOR.get(width, f"a text encoder {width} wide")


def _check_token(embedding: Embedding, targets: list[tuple[Any, Any, Any]], planned: list[str]) -> None:
    """diffusers refuses a token the vocabulary has; a word's token ('cat</w>') would be taken over too."""
    token, count = embedding.token, max((len(vectors) for vectors, _, _ in targets), default=1)
    how = f"choose another with '{embedding.path};token=NAME'"
    if token in planned:
        raise ModelError(f"{embedding.option}: another textual inversion already uses the token {token!r}; {how}")
    names = [token] + [f"{token}_{i}" for i in range(1, max(count, 2))]
    for _, tokenizer, _ in targets:
        vocabulary = tokenizer.get_vocab()
        clash = next((name for name in names if name in vocabulary or f"{name}</w>" in vocabulary), None)
        if clash is not None:
            raise ModelError(f"{embedding.option}: the token {clash!r} is already in this model's vocabulary (a word, "
                             f"or an embedding loaded before); {how}")


def _add(pipeline: Any, embedding: Embedding, vectors: Any, tokenizer: Any, text_encoder: Any) -> None:
    weight = text_encoder.get_input_embeddings().weight
    try:
        pipeline.load_textual_inversion(vectors.to(weight.device, weight.dtype), token=embedding.token,
                                        tokenizer=tokenizer, text_encoder=text_encoder)
    except (ValueError, RuntimeError, TypeError) as error:
        raise ModelError(f"{embedding.option} could not be loaded: {first_line(error)}") from error

"""Convert open_clip's BPE vocabulary into the vocab.json + merges.txt that CLIPTokenizer reads.

The vocabulary is OpenAI's CLIP BPE table; open-clip-torch ships it as ``bpe_simple_vocab_16e6.txt.gz``.
Usage: ``python training/clip_vocab.py BPE_GZ OUT_DIR`` (get the file with
``pip download --no-deps open-clip-torch`` and unzip ``open_clip/bpe_simple_vocab_16e6.txt.gz``).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

MERGE_COUNT = 49152 - 256 - 2
MODEL_MAX_LENGTH = 77


def bytes_to_unicode() -> dict[int, str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))


def convert(bpe_gz: Path, out_dir: Path) -> None:
    with gzip.open(bpe_gz, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")
    merges = lines[1 : MERGE_COUNT + 1]
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    vocab_list += ["".join(merge.split()) for merge in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(vocab_list)}
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))

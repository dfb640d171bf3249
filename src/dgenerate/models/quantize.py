"""--quantize: the denoiser's and the text encoders' linear layers held in fewer bits.

- torchao (`quantize` extra), on any device, applied to the loaded weights: `int8-weight-only` (int8 weights scaled
  per output channel, computed in the model's dtype), `int8-dynamic` (int8 weights and activations quantized per
  call) and `float8-weight-only`.
- bitsandbytes, on NVIDIA GPUs only, applied as the weights load: `bnb-8bit` (LLM.int8) and `bnb-4bit` (NF4).

`parts` says which components: `denoiser`, `text-encoders` or both (the default). The recorded value has every
setting, so a config loads the same model again. No torch at import: the plan parses and checks the option.
"""

from __future__ import annotations

from typing import Any

from dgenerate.errors import UsageError
from dgenerate.processors import settings

TORCHAO = {"int8-weight-only": "Int8WeightOnlyConfig", "int8-dynamic": "Int8DynamicActivationInt8WeightConfig",
           "float8-weight-only": "Float8WeightOnlyConfig"}
BITSANDBYTES = {"bnb-8bit": "bitsandbytes_8bit", "bnb-4bit": "bitsandbytes_4bit"}
PARTS = ("denoiser", "text-encoders")
_DEFAULTS = {"parts": ",".join(PARTS)}


def _check_parts(_key: str, value: str) -> None:
    chosen = value.split(",")
    if not value or any(part not in PARTS for part in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(f"is not a list of {' and '.join(PARTS)} (commas between)")


def parse_quantize(text: str, option: str = "--quantize") -> str:
    """'int8-weight-only' -> 'int8-weight-only;parts=denoiser,text-encoders' (every setting: the recorded form)."""
    name, *parts = [part.strip() for part in text.split(";")]
    name = name.lower()
    if name not in TORCHAO and name not in BITSANDBYTES:
        raise UsageError(f"{option} {text!r}: {name!r} is not a quantization; use one of "
                         f"{', '.join([*TORCHAO, *BITSANDBYTES])}")
    chosen = settings(parts, _DEFAULTS, _check_parts, f"{option} {text!r}", name)
    return f"{name};parts={chosen['parts']}"


def quantized_parts(text: str) -> tuple[str, tuple[str, ...]]:
    """A recorded --quantize value's method and parts."""
    name, parts = text.split(";parts=")
    return name, tuple(parts.split(","))


def check_quantize(text: str, device: str) -> None:
    """What can be told before loading: bitsandbytes runs on CUDA only, and each library is installed."""
    name, _parts = quantized_parts(text)
    if name in BITSANDBYTES and not device.startswith("cuda"):
        raise UsageError(f"--quantize {name} runs on NVIDIA GPUs only (bitsandbytes), and this run is on {device}: "
                         f"use --device cuda, or --quantize int8-weight-only (torchao) on this device")
    module, extra = ("torchao", "quantize") if name in TORCHAO else ("bitsandbytes", "bitsandbytes")
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise UsageError(f"--quantize {name} needs {module}, which is not installed: pip install "
                         + (f"'dgenerate[{extra}]'" if extra == "quantize" else module))


def _components(pipeline: Any, denoiser: str, parts: tuple[str, ...]) -> list[str]:
    names = [denoiser] if "denoiser" in parts else []
    if "text-encoders" in parts:
        names += [name for name in ("text_encoder", "text_encoder_2", "text_encoder_3")
                  if getattr(pipeline, name, None) is not None]
    return names


def loading_arguments(text: str | None, denoiser: str) -> dict[str, Any]:
    """from_pretrained arguments of a bitsandbytes quantization (it quantizes as the weights load); none for
    torchao's, which quantize() applies afterwards."""
    if text is None or quantized_parts(text)[0] not in BITSANDBYTES:
        return {}
    from diffusers.quantizers import PipelineQuantizationConfig

    name, parts = quantized_parts(text)
    wanted = ([denoiser] if "denoiser" in parts else []) + \
        (["text_encoder", "text_encoder_2", "text_encoder_3"] if "text-encoders" in parts else [])
    backend = BITSANDBYTES[name]
    flag: dict[str, Any] = {"load_in_8bit": True} if name == "bnb-8bit" else \
        {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    return {"quantization_config": PipelineQuantizationConfig(quant_backend=backend, quant_kwargs=flag,
                                                              components_to_quantize=wanted)}


def quantize(pipeline: Any, text: str | None, denoiser: str) -> None:
    """torchao's quantization applied in place to the loaded pipeline's chosen components."""
    if text is None or quantized_parts(text)[0] not in TORCHAO:
        return
    import torchao.quantization

    name, parts = quantized_parts(text)
    config = getattr(torchao.quantization, TORCHAO[name])
    for component in _components(pipeline, denoiser, parts):
        torchao.quantization.quantize_(getattr(pipeline, component), config())

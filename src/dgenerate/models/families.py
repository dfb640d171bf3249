"""The model families dgenerate runs, told apart without torch: what each --model-type loads and how it is driven.

Stable Diffusion 1.x/2.x (torch) and SDXL (torch-sdxl) denoise with a UNet and a discrete-time scheduler; Stable
Diffusion 3.x (torch-sd3) and Flux (torch-flux) denoise with a transformer and a flow-matching scheduler, read prompts
with a T5 encoder as well as CLIP, and need sizes that are a multiple of the VAE's scale factor times 2 (the
transformer's 2x2 patches).
"""

from __future__ import annotations

from dataclasses import dataclass

from dgenerate.errors import UsageError


@dataclass(frozen=True)
class Family:
    model_type: str
    name: str
    pipeline: str  # the diffusers text-to-image class
    denoiser: str  # the component that holds the sample size: unet or transformer
    patch: int  # the size multiple is the VAE's scale factor times this
    flow: bool  # flow matching: FlowMatch* schedulers, T5, --max-sequence-length
    default_sequence_length: int | None = None


FAMILIES = {
    "torch": Family("torch", "Stable Diffusion 1.x/2.x", "StableDiffusionPipeline", "unet", 1, False),
    "torch-sdxl": Family("torch-sdxl", "Stable Diffusion XL", "StableDiffusionXLPipeline", "unet", 1, False),
    "torch-sd3": Family("torch-sd3", "Stable Diffusion 3", "StableDiffusion3Pipeline", "transformer", 2, True, 256),
    "torch-flux": Family("torch-flux", "Flux", "FluxPipeline", "transformer", 2, True, 512),
}
FILL_PIPELINE = "FluxFillPipeline"  # Flux Fill models: inpainting from an image and a mask, nothing else
MAX_SEQUENCE_LENGTH = 512  # what both T5-reading pipelines accept at most

# A model_index.json's _class_name -> --model-type, by prefix (longest first: StableDiffusion3 and XL before 1.x).
_CLASS_PREFIXES = (
    ("StableDiffusionXL", "torch-sdxl"),
    ("StableDiffusion3", "torch-sd3"),
    ("StableDiffusion", "torch"),
    ("Flux", "torch-flux"),
)
_UNSUPPORTED_FLUX = ("Flux2", "FluxKontext", "FluxControl", "FluxPriorRedux")


def family(model_type: str) -> Family:
    return FAMILIES[model_type]


def type_of_pipeline(class_name: str, path: str) -> str:
    """The --model-type of a diffusers pipeline class named in a model_index.json."""
    for prefix, model_type in _CLASS_PREFIXES:
        if class_name.startswith(prefix) and not class_name.startswith(_UNSUPPORTED_FLUX):
            return model_type
    known = ", ".join(f"{each.name} ({each.model_type})" for each in FAMILIES.values())
    raise UsageError(f"model_path {path!r} is a {class_name or 'pipeline of no named class'}, which dgenerate does "
                     f"not run; give a model of one of: {known}")


def check_model_type(given: str, found: str, path: str) -> None:
    """An explicit --model-type must be the folder's own (diffusers would load it with parts missing)."""
    if given != found:
        raise UsageError(f"model_path {path!r} is a {FAMILIES[found].name} model, not {FAMILIES[given].name}: use "
                         f"--model-type {found}, or leave --model-type out and it is read from the model")


def is_fill(class_name: str) -> bool:
    return class_name == FILL_PIPELINE

"""FLUX.2 [klein]: Flux.2's transformer (double and single blocks with shared modulation) over a 32-channel VAE in 2x2
patches, a Qwen3 encoder read at three depths, flow matching on sigmas of its own. An image seed is the image to edit
by the prompt, with reference images after it ('photo.png;reference=style.png'); with a mask it inpaints, the
references guiding what fills it. The pipelines read no negative prompt (guidance, where the model is not
step-distilled, is against the empty prompt).

FLUX.2 [dev] folders (Flux2Pipeline) are a variant: a Mistral 3 encoder read at three depths, and a transformer that
embeds the guidance scale (guidance-distilled: one pass a step, no negative prompt). They draw from text, or edit the
image seed with reference images after it; their tokenizer loads without torchvision (models/torchvision_free.py)."""

from __future__ import annotations

from dgenerate.families._family import (
    MAX_SEQUENCE_LENGTH,
    REFERENCES,
    TAYLORSEER,
    TRANSFORMER,
    Family,
    Pipeline,
    Variant,
    flow_steps,
)

FAMILY = Family(
    model_type="torch-flux2",
    name="Flux.2",
    order=6,
    index_classes=("Flux2KleinPipeline", "Flux2KleinInpaintPipeline", "Flux2Pipeline"),
    pipelines={"text": Pipeline("Flux2KleinPipeline", negative_prompt=False),
               "img2img": Pipeline("Flux2KleinPipeline", negative_prompt=False, strength=False, references="image"),
               "inpaint": Pipeline("Flux2KleinInpaintPipeline", negative_prompt=False,
                                   references="image_reference")},
    denoiser="transformer",
    supports=frozenset({TAYLORSEER, TRANSFORMER, MAX_SEQUENCE_LENGTH, REFERENCES}),
    patch=2,
    default_sample_size=128,  # the pipelines' default 1024x1024
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=512,
    min_image_side=64,  # Flux2ImageProcessor refuses smaller images
    transformer_class="Flux2Transformer2DModel",
    transformer_markers=("single_stream_modulation.",),
    strength_steps=flow_steps,
    variants=(Variant("Flux2Pipeline", "Flux.2 [dev]",
                      {"text": Pipeline("Flux2Pipeline", negative_prompt=False),
                       "img2img": Pipeline("Flux2Pipeline", negative_prompt=False, strength=False, references="image")},
                      "which draws from text or edits an image by the prompt, without a mask"),),
)

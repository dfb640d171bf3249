"""Z-Image (Tongyi-MAI's Z-Image and Z-Image-Turbo): a single-stream transformer over Flux's 16-channel VAE latents in
2x2 patches, a Qwen3 text encoder (its penultimate layer, padding dropped), real classifier-free guidance with the
negative prompt through --guidance-scales (Turbo runs at 0 or 1), flow matching."""

from __future__ import annotations

from dgenerate.families._family import MAX_SEQUENCE_LENGTH, TRANSFORMER, Family, Pipeline, flow_steps

FAMILY = Family(
    model_type="torch-z-image",
    name="Z-Image",
    order=7,
    index_classes=("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline"),
    pipelines={"text": Pipeline("ZImagePipeline"),
               "img2img": Pipeline("ZImageImg2ImgPipeline"),
               "inpaint": Pipeline("ZImageInpaintPipeline")},
    denoiser="transformer",
    supports=frozenset({TRANSFORMER, MAX_SEQUENCE_LENGTH}),
    patch=2,
    default_sample_size=128,  # the pipelines' default 1024x1024
    flow_matching=True,
    default_sequence_length=512,
    transformer_class="ZImageTransformer2DModel",
    transformer_markers=("all_x_embedder.",),
    strength_steps=flow_steps,
)

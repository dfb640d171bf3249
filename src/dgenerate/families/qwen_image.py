"""Qwen-Image: an MMDiT over a Wan-style 16-channel causal VAE in 2x2 patches, a Qwen2.5-VL text encoder (its last
hidden state, the prompt template's opening dropped), flow matching on sigmas of its own. It guides with the negative
prompt through true classifier-free guidance (--true-guidance-scales, the pipeline's default 4 recorded); its
--guidance-scales is read only by guidance-distilled transformers. Qwen-Image-Edit folders (QwenImageEditPipeline) edit
the image seed by the prompt, the encoder seeing the image too; Edit-Plus folders take reference images after it. Their
Qwen2-VL processor is loaded without torchvision (models/torchvision_free.py)."""

from __future__ import annotations

from dgenerate.families._family import (
    MAX_SEQUENCE_LENGTH,
    REFERENCES,
    TAYLORSEER,
    TRANSFORMER,
    TRUE_GUIDANCE,
    Family,
    Pipeline,
    Variant,
    flow_steps,
)
from dgenerate.jobs import Job
from dgenerate.naming import format_number


def _a1111_guidance(job: Job) -> str:
    """The true guidance is the CFG scale people set for Qwen-Image."""
    assert job.true_guidance_scale is not None, "resolved Qwen-Image jobs record their true guidance"
    return f"CFG scale: {format_number(job.true_guidance_scale)}"


FAMILY = Family(
    model_type="torch-qwen-image",
    name="Qwen-Image",
    order=8,
    index_classes=("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline", "QwenImageEditPipeline",
                   "QwenImageEditPlusPipeline"),
    pipelines={"text": Pipeline("QwenImagePipeline", true_cfg=True),
               "img2img": Pipeline("QwenImageImg2ImgPipeline", true_cfg=True),
               "inpaint": Pipeline("QwenImageInpaintPipeline", true_cfg=True)},
    denoiser="transformer",
    supports=frozenset({TAYLORSEER, TRANSFORMER, TRUE_GUIDANCE, MAX_SEQUENCE_LENGTH, REFERENCES}),
    patch=2,
    default_sample_size=128,  # the pipelines' default 1024x1024
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=512,
    default_true_guidance=4.0,  # QwenImagePipeline's true_cfg_scale default
    transformer_class="QwenImageTransformer2DModel",
    transformer_markers=("txt_norm.",),
    strength_steps=flow_steps,
    a1111_guidance=_a1111_guidance,
    variants=(Variant("QwenImageEditPipeline", "Qwen-Image-Edit",
                      {"img2img": Pipeline("QwenImageEditPipeline", true_cfg=True, strength=False)},
                      "which edits an image by the prompt: give --image-seeds photo.png"),
              Variant("QwenImageEditPlusPipeline", "Qwen-Image-Edit-Plus",
                      {"img2img": Pipeline("QwenImageEditPlusPipeline", true_cfg=True, strength=False,
                                           references="image")},
                      "which edits an image by the prompt, with reference images after it: give --image-seeds "
                      "'photo.png;reference=other.png'"),),
)

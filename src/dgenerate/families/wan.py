"""Wan 2.1: a 3D transformer in 1x2x2 patches over Wan's causal video VAE (8 times smaller a side, 4 times fewer
frames), a UMT5 text encoder, flow matching (its models ship UniPC with flow sigmas). A job makes one clip of `frames`
frames (a multiple of 4 plus one), written as an animation at `frame_rate` frames a second. Text-to-video folders
(WanPipeline) start from the prompt alone; image-to-video folders (WanImageToVideoPipeline, with a CLIP image encoder)
start the clip from the image seed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.families._family import (
    FLOW_SHIFT,
    LOW_NOISE_GUIDANCE,
    MAX_SEQUENCE_LENGTH,
    VIDEO,
    Family,
    Pipeline,
    Variant,
)
from dgenerate.jobs import Job


def _clip_arguments(job: Job) -> dict[str, Any]:
    assert job.frames is not None, "resolved Wan jobs record their frame count"
    low_noise = {} if job.low_noise_guidance_scale is None else {"guidance_scale_2": job.low_noise_guidance_scale}
    return {"num_frames": job.frames, **low_noise}


def _first_and_last_frame(transformer: Mapping[str, Any]) -> bool:
    """Wan2.1-FLF2V's transformer has positions for both frames' CLIP features."""
    return transformer.get("pos_embed_seq_len") is not None


FAMILY = Family(
    model_type="torch-wan",
    name="Wan",
    order=13,
    index_classes=("WanPipeline", "WanImageToVideoPipeline"),
    pipelines={"text": Pipeline("WanPipeline"),
               "img2img": Pipeline("WanVideoToVideoPipeline", video=True, clip_arguments=False)},
    denoiser="transformer",
    supports=frozenset({VIDEO, MAX_SEQUENCE_LENGTH, FLOW_SHIFT, LOW_NOISE_GUIDANCE}),
    patch=2,
    flow_matching=True,
    default_sequence_length=512,
    frames_multiple=4,
    default_frames=81,  # WanPipeline's default: 5 seconds at 16 frames a second
    default_frame_rate=16.0,
    default_size=(832, 480),  # WanPipeline's default, 480p
    needs="a prompt alone, or a video to change (a still image to start from needs a Wan image-to-video model)",
    variants=(Variant("WanImageToVideoPipeline", "Wan image-to-video",
                      {"img2img": Pipeline("WanImageToVideoPipeline", strength=False, last_image=True)},
                      "which starts its clip from an image: give --image-seeds photo.png"),),
    call_arguments=_clip_arguments,
    reads_last_frame=_first_and_last_frame,
)

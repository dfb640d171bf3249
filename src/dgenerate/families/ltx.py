"""LTX-Video: text to video, image to video (the image seed is the clip's first frame) and, given a strength, video to
video (LTXConditionPipeline changes the seed's frames from their latents), all from the same folder. A
3D transformer over LTX's video VAE (32 times smaller a side and, for the released models, 8 times fewer frames: the
VAE's configuration says), a T5 encoder, flow matching on sigmas of its own with a shift that grows with the clip. The
pipeline is told the frame rate (its positions are in seconds). A job makes one clip of `frames` frames, written as an
animation at `frame_rate` frames a second."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.families._family import LTX_DECODE, MAX_SEQUENCE_LENGTH, VIDEO, Family, Pipeline
from dgenerate.jobs import Job


def _clip_arguments(job: Job) -> dict[str, Any]:
    assert job.frames is not None and job.frame_rate is not None, "resolved LTX jobs record their clip"
    decode = {name: value for name, value in (("decode_timestep", job.ltx_decode_timestep),
                                              ("decode_noise_scale", job.ltx_decode_noise_scale)) if value is not None}
    return {"num_frames": job.frames, "frame_rate": job.frame_rate, **decode}


def _temporal_factor(vae: Mapping[str, Any]) -> int:
    """AutoencoderKLLTXVideo's temporal compression: its configuration's, or its time patch times 2 for each block
    that scales time (8 for the released models)."""
    stated = vae.get("temporal_compression_ratio")
    if stated:
        return int(stated)
    return int(vae.get("patch_size_t", 1)) * 2 ** sum(bool(each) for each in vae.get("spatio_temporal_scaling", ()))


FAMILY = Family(
    model_type="torch-ltx",
    name="LTX-Video",
    order=14,
    index_classes=("LTXPipeline",),
    pipelines={"text": Pipeline("LTXPipeline"), "img2img": Pipeline("LTXImageToVideoPipeline", strength=False)},
    video_to_video=Pipeline("LTXConditionPipeline", video=True, video_latents=True),
    denoiser="transformer",
    supports=frozenset({VIDEO, MAX_SEQUENCE_LENGTH, LTX_DECODE}),
    sizes_multiple=32,  # LTXPipeline's rule, whatever the VAE
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=128,
    frames_multiple=8,
    temporal_factor=_temporal_factor,
    default_frames=161,  # LTXPipeline's default: 6.4 seconds at 25 frames a second
    default_frame_rate=25.0,
    default_size=(704, 512),
    needs="a prompt alone, an image to start the clip from, or a video and --image-seed-strengths to change it",
    call_arguments=_clip_arguments,
)

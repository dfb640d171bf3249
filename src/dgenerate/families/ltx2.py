"""LTX-2: a clip with its sound. One 3D transformer denoises the video's latents and the audio's together, over LTX-2's
video VAE (32 times smaller a side, 8 times fewer frames for the released models: the VAE's configuration says) and
its audio VAE, whose mel spectrogram a vocoder turns into a waveform; a Gemma 3 encoder reads the prompt, and
connectors turn its layers into the video's and the audio's text. Text to video (LTX2Pipeline), and image to video
from the same folder (LTX2ImageToVideoPipeline: the image seed is the clip's first frame). A job makes one clip of
`frames` frames at `frame_rate` frames a second (the pipeline is told it, as LTX-Video's is) and its sound.

The pipeline's guidance settings beyond the guidance scale (spatio-temporal and cross-modality guidance, rescaling,
the audio's own guidance) are passed as diffusers 0.42 defines them, so a later diffusers with other defaults makes
the same clips from the same configs."""

from __future__ import annotations

from typing import Any

from dgenerate.families._family import AUDIO, LTX_DECODE, MAX_SEQUENCE_LENGTH, VIDEO, Family, Pipeline
from dgenerate.families.ltx import _clip_arguments as ltx_clip_arguments
from dgenerate.families.ltx import _temporal_factor
from dgenerate.jobs import Job

# LTX2Pipeline's defaults in diffusers 0.42, pinned
_GUIDANCE = {"stg_scale": 1.0, "modality_scale": 3.0, "guidance_rescale": 0.7, "audio_guidance_scale": 7.0,
             "audio_stg_scale": 1.0, "audio_modality_scale": 3.0, "audio_guidance_rescale": 0.7,
             "spatio_temporal_guidance_blocks": [28], "noise_scale": 0.0, "motion_speed": 1.0,
             "use_cross_timestep": True}


def _clip_arguments(job: Job) -> dict[str, Any]:
    """LTX-Video's clip arguments (frames, frame rate, decode timestep and noise) and the pinned guidance."""
    return {**ltx_clip_arguments(job), **_GUIDANCE}

FAMILY = Family(
    model_type="torch-ltx2",
    name="LTX-2",
    order=15,
    index_classes=("LTX2Pipeline", "LTX2ImageToVideoPipeline"),
    pipelines={"text": Pipeline("LTX2Pipeline"), "img2img": Pipeline("LTX2ImageToVideoPipeline", strength=False)},
    denoiser="transformer",
    supports=frozenset({VIDEO, AUDIO, MAX_SEQUENCE_LENGTH, LTX_DECODE}),
    sizes_multiple=32,  # LTX2Pipeline's rule, whatever the VAE
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=1024,
    longest_sequence=1024,
    frames_multiple=8,
    temporal_factor=_temporal_factor,
    default_frames=121,  # LTX2Pipeline's default without a duration head: about 5 seconds at 24 frames a second
    default_frame_rate=24.0,
    default_size=(768, 512),
    needs="a prompt alone, or an image to start the clip from",
    call_arguments=_clip_arguments,
)

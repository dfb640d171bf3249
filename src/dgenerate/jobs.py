"""The units of work: frozen descriptions of one model load and one image. No torch here.

Anything that changes the pixels of an image is a field of its Job, so the Job alone reproduces it. The plan makes
Jobs with the user's defaults still open (device "auto", no size, no scheduler); resolve.py fills every one in, and
render, configs and metadata only ever see resolved Jobs.

The job id is the documented identity of an image: the first 16 hex digits of the SHA-256 of the resolved Job's
canonical JSON (its pixel fields, keys sorted, no spaces). Equal ids mean byte-identical images on the same machine
and library versions; the id is printed by --dry-run and recorded in every config and PNG metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from dgenerate.processors import ProcessorSpec

DTYPES = ("float16", "bfloat16", "float32", "auto")
AUTO_MODEL_TYPE = "auto"  # read from the model's model_index.json (or a checkpoint's weight names) when resolved;
# the other model types are the families' (dgenerate.families.MODEL_TYPES)
OFFLOAD_MODES = ("model", "sequential")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VAE_CLASSES = ("AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny")


# Fields added after job ids were first published: at their default they stay out of the canonical JSON, so every
# job id recorded before them (in configs, PNGs, --resume folders) still names the same job.
_ADDED_LATER = (("model", "no_t5", False), ("model", "offload", None), ("model", "textual_inversions", ()),
                ("job", "true_guidance_scale", None), ("job", "max_sequence_length", None),
                ("job", "prompt_weighting", None), ("job", "control_nets", ()), ("model", "transformer", None),
                ("job", "image_guidance_scale", None), ("job", "upscaler_noise_level", None),
                ("job", "variation_seed", None), ("job", "variation_strength", None), ("job", "resize_seed_from", None),
                ("job", "seed_image_processors", ()), ("job", "mask_image_processors", ()),
                ("job", "control_image_processors", ()), ("job", "post_processors", ()), ("job", "hires_scale", None),
                ("job", "hires_upscaler", None), ("job", "hires_strength", None), ("job", "hires_steps", None),
                ("job", "vae_tiling", False), ("job", "vae_slicing", False), ("job", "cache", None),
                ("job", "frames", None), ("job", "frame_rate", None), ("job", "flow_shift", None),
                ("job", "low_noise_guidance_scale", None), ("job", "ltx_decode_timestep", None),
                ("job", "ltx_decode_noise_scale", None),
                ("model", "quantize", None), ("model", "compile", None))
HIRES_UPSCALERS = ("latent", "lanczos")  # or an upscaling model's weights file
PROMPT_WEIGHTINGS = ("none", "a1111")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides which weights are loaded and how; equal specs share one loaded pipeline."""

    path: str
    model_type: str = AUTO_MODEL_TYPE
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    safety_checker: bool = False
    auth_token: str | None = field(default=None, repr=False, compare=False)
    vae: VaeSpec | None = None
    loras: tuple[LoraSpec, ...] = ()
    refiner: RefinerSpec | None = None
    no_t5: bool = False
    textual_inversions: tuple[TextualInversionSpec, ...] = ()
    offload: str | None = None
    transformer: str | None = None
    quantize: str | None = None  # --quantize with every setting: 'int8-weight-only;parts=denoiser,text-encoders'
    compile: str | None = None  # --compile: torch.compile's mode for the denoiser ("default", "max-autotune", ...)


@dataclass(frozen=True)
class VaeSpec:
    """--vae "Class;path" and its --vae-* options; variant and dtype default to the main model's."""

    class_name: str
    path: str
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None


@dataclass(frozen=True)
class LoraSpec:
    """One --lora "path;scale;weight-name=...;revision=...;subfolder=..." value."""

    path: str
    scale: float = 1.0
    weight_name: str | None = None
    revision: str | None = None
    subfolder: str | None = None


@dataclass(frozen=True)
class TextualInversionSpec:
    """--textual-inversions "path;token=NAME": an embedding file (AUTOMATIC1111 .pt/.safetensors, or diffusers'
    learned_embeds) or folder; the token defaults to the file's own (its stem for AUTOMATIC1111 files)."""

    path: str
    token: str | None = None


@dataclass(frozen=True)
class ControlNetSpec:
    """--control-nets "path;scale=S;start=A;end=B": a ControlNet and how strongly, over which part of the schedule,
    it conditions the image."""

    path: str
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class RefinerSpec:
    """--sdxl-refiner and its --sdxl-refiner-* options; variant and dtype default to the main model's."""

    path: str
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Where and how an image is written; none of it changes the pixels."""

    path: str = "output"
    prefix: str | None = None
    configs: bool = False
    metadata: bool = False
    animation_format: str = "mp4"


@dataclass(frozen=True)
class ImageSeedSpec:
    """--image-seeds "image;mask;control=c.png;reference=r.png;last=l.png;WxH": a path or URL, an optional inpaint
    mask, the ControlNets' control images (with --control-nets; alone, they guide text to image: no image), reference
    images for the models that read several (Flux.2), a clip's last frame (Wan image to video), an optional size
    (height optional)."""

    image: str | None
    mask: str | None = None
    size: tuple[int, int | None] | None = None
    control: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    last: str | None = None  # the clip's last frame, for the video models that take one (Wan image to video)

    def __str__(self) -> str:
        parts = ([self.image] if self.image else []) + ([self.mask] if self.mask else [])
        if self.control:
            parts.append("control=" + ",".join(self.control))
        if self.references:
            parts.append("reference=" + ",".join(self.references))
        if self.last:
            parts.append(f"last={self.last}")
        if self.size is not None:
            width, height = self.size
            parts.append(f"{width}x{height}" if height is not None else str(width))
        return ";".join(parts)


@dataclass(frozen=True)
class Job:
    """One image: a cell of the grid. Equal Jobs make equal pixels: the grid position (`index`, which names the file),
    the output options and where prompt syntax made the prompt from do not take part in equality."""

    model: ModelSpec
    prompt: str
    negative_prompt: str | None
    seed: int
    guidance_scale: float
    inference_steps: int
    width: int | None
    height: int | None
    scheduler: str | None = None
    image_seed: ImageSeedSpec | None = None
    strength: float | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    high_noise_fraction: float | None = None
    sdxl_original_size: tuple[int, int] | None = None
    sdxl_target_size: tuple[int, int] | None = None
    batch_size: int = 1
    batch_slot: int = 0
    cpu_threads: int | None = None
    true_guidance_scale: float | None = None
    max_sequence_length: int | None = None
    prompt_weighting: str | None = None  # None: plain prompts; "a1111": AUTOMATIC1111's (word:1.3) and long prompts
    control_nets: tuple[ControlNetSpec, ...] = ()
    image_guidance_scale: float | None = None  # instruction-editing models: how closely to keep the image seed
    upscaler_noise_level: int | None = None  # the SD x4 upscaler: noise added to the image seed before upscaling
    variation_seed: int | None = None  # a second seed whose noise is mixed in, at variation_strength (0 to 1)
    variation_strength: float | None = None
    resize_seed_from: tuple[int, int] | None = None  # (width, height) the seed's noise is drawn at, centred
    # Applied in order to each frame of the image seed, its mask and its control images, once fitted to the job's size
    seed_image_processors: tuple[ProcessorSpec, ...] = ()
    mask_image_processors: tuple[ProcessorSpec, ...] = ()
    control_image_processors: tuple[ProcessorSpec, ...] = ()
    post_processors: tuple[ProcessorSpec, ...] = ()  # applied to the generated picture before it is written
    # A hi-res pass (AUTOMATIC1111's hires fix): the picture upscaled by hires_scale, then denoised again
    hires_scale: float | None = None
    hires_upscaler: str | None = None  # "latent", "lanczos" or a model file
    hires_strength: float | None = None
    hires_steps: int | None = None  # the second pass's inference steps (its strength runs part of them)
    vae_tiling: bool = False  # the VAE encodes and decodes large pictures in overlapping tiles (less memory)
    vae_slicing: bool = False  # the VAE decodes a batch one image at a time (less memory)
    cache: str | None = None  # --cache with every setting: 'deepcache;interval=3;branch=0;warmup=0'
    frames: int | None = None  # a video model's clip: its frame count (None: a picture)
    frame_rate: float | None = None  # and its frames a second
    flow_shift: float | None = None  # the scheduler's flow shift (Wan), where the family takes it as an option
    low_noise_guidance_scale: float | None = None  # a two-expert model's low-noise expert's (None: guidance_scale)
    ltx_decode_timestep: float | None = None  # LTX-Video's timestep-conditioned VAE decodes at this timestep
    ltx_decode_noise_scale: float | None = None  # with this much noise mixed into the latents (None: the timestep)
    index: int = field(default=1, compare=False)
    output: OutputSpec = field(default_factory=OutputSpec, compare=False)
    prompt_template: str | None = field(default=None, compare=False)  # the prompt as given, before its syntax
    prompt_choices: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # what each slot became

    @property
    def pixel_fields(self) -> dict[str, object]:
        """The fields that decide the pixels, as plain data (no output options, no grid position)."""
        data = asdict(self)
        del data["index"], data["output"], data["prompt_template"], data["prompt_choices"]
        del data["model"]["auth_token"]
        for fields, name, default in _ADDED_LATER:
            owner = data["model"] if fields == "model" else data
            if owner[name] == default:
                del owner[name]
        loras = data["model"].pop("loras")  # published ids hold one LoRA, or none, under "lora"
        data["model"]["lora"] = None if not loras else loras[0] if len(loras) == 1 else loras
        for name in ("control", "references", "last"):  # added later: absent when empty, as in published ids
            if data["image_seed"] is not None and not data["image_seed"][name]:
                del data["image_seed"][name]
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.pixel_fields, sort_keys=True, separators=(",", ":"))

    @property
    def job_id(self) -> str:
        """A short hash of the canonical JSON: equal ids mean equal pixels on the same machine and versions."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

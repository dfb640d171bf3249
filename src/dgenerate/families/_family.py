"""What a model family declares: the one record each family module fills in, and the behaviour most families share.

No torch here: the command line lists families and checks options against them before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dgenerate.errors import UsageError
from dgenerate.jobs import Job, ModelSpec
from dgenerate.naming import format_number

Mode = Literal["text", "img2img", "inpaint"]
MODES: tuple[Mode, ...] = ("text", "img2img", "inpaint")

# The options a family may support, as `Family.supports` names them (families/_options.py checks them).
REFINER = "refiner"
TEXTUAL_INVERSIONS = "textual_inversions"
PROMPT_WEIGHTING = "prompt_weighting"
NO_T5 = "no_t5"
TRANSFORMER = "transformer"
TRUE_GUIDANCE = "true_guidance"
MAX_SEQUENCE_LENGTH = "max_sequence_length"
IMAGE_GUIDANCE = "image_guidance"
REFERENCES = "references"  # reads reference images after its image seed (declared by the family, used by pipelines)
UPSCALER_NOISE = "upscaler_noise"
VARIATION_SEEDS = "variation_seeds"  # text to image takes its starting noise unpacked, (1, C, H/f, W/f)
# --cache methods (dgenerate.caching.METHODS): its denoiser is a UNet2DConditionModel; diffusers' First Block Cache
# knows its transformer's blocks; diffusers' TaylorSeer finds its transformer's attention
DEEPCACHE = "deepcache"
FIRST_BLOCK_CACHE = "first-block"
TAYLORSEER = "taylorseer"
VIDEO = "video"  # makes clips: --frames and --frame-rate
AUDIO = "audio"  # its clips have sound (LTX-2): written as a WAV file beside the clip, and into an MP4
FLOW_SHIFT = "flow_shift"  # its scheduler's flow shift is an option (--flow-shifts)
LTX_DECODE = "ltx_decode"  # its timestep-conditioned VAEs decode at a timestep with noise (LTX-Video 0.9.1 on)
LOW_NOISE_GUIDANCE = "low_noise_guidance"  # its two-expert models guide the low-noise expert apart (Wan 2.2)


@dataclass(frozen=True)
class Pipeline:
    """A diffusers pipeline class of a family, and the arguments its __call__ takes beyond the common ones."""

    class_name: str
    sized: bool = True  # takes width and height (SD's and SDXL's img2img pipelines take the size of their image)
    negative_prompt: bool = True  # reads a negative prompt (Flux Fill and Flux's ControlNet img2img do not)
    true_cfg: bool = False  # takes true_cfg_scale: true classifier-free guidance with the negative prompt
    control_image: str = "control_image"  # the argument a ControlNet pipeline takes its control images in
    strength: bool = True  # takes a strength (img2img, inpainting); False: it edits its image by the prompt
    references: str = ""  # the argument that takes reference images ("image": after the image seed in its list)
    step_callback: bool = True  # takes callback_on_step_end (a few older pipelines take only callback_steps)
    video: bool = False  # takes the image seed's frames as `video` (video to video), as many as the job's frames
    last_image: bool = False  # takes a clip's last frame (last_image) besides its first, where the model reads one
    # takes the video to change as its VAE's latents with a denoise_strength, and plans its own timesteps (so its
    # scheduler shifts none by the clip's size): LTXConditionPipeline
    video_latents: bool = False
    clip_arguments: bool = True  # takes the family's call arguments (the frame count...) with a video to change


@dataclass(frozen=True)
class Checkpoint:
    """An architecture of one-file checkpoints in the original (non-diffusers) layout, told by its weight names."""

    architecture: str  # also the folder of its bundled diffusers configuration in models/configs
    name: str
    prefixes: tuple[str, ...]  # weight-name prefixes that only this architecture's files have
    bundled: bool = True  # False: recognised, to say so in one line, but loaded from diffusers folders only
    refiner: bool = False  # an SDXL refiner: given with --sdxl-refiner, never as model_path
    in_channels: int | None = None  # the UNet's input channels, where they tell it from another with the same names


@dataclass(frozen=True)
class Variant:
    """Models of a family whose folder names another pipeline class (Flux Fill): they load as that class and run
    only the modes it has."""

    index_class: str
    name: str
    pipelines: Mapping[Mode, Pipeline]
    needs: str  # what to give instead, for a mode the variant does not run


def floor_steps(steps: int, strength: float) -> int:
    """The steps SD and SDXL img2img pipelines run: steps x strength, rounded down."""
    return int(steps * strength)


def flow_steps(steps: int, strength: float) -> int:
    """The steps flow-matching img2img pipelines run: they drop the whole steps of the unused part."""
    return steps - int(max(steps - min(steps * strength, steps), 0))


def cfg_scale(job: Job) -> str:
    """AUTOMATIC1111's guidance field."""
    return f"CFG scale: {format_number(job.guidance_scale)}"


def _none(_: object) -> dict[str, Any]:
    return {}


def _accept(_spec: ModelSpec, _pipeline: Any) -> None:
    return None


def _unchanged(job: Job) -> Job:
    return job


def _converted(_config: Mapping[str, Any]) -> str | None:
    return None


def _reads_no_last_frame(_config: Mapping[str, Any]) -> bool:
    return False


def _first_checkpoint(index: Mapping[str, Any]) -> int:  # noqa: ARG001 - one architecture: the first
    return 0


@dataclass(frozen=True, eq=False)
class Family:
    """Everything dgenerate decides by a model's family; each module of this package declares one."""

    model_type: str  # --model-type
    name: str
    order: int  # the family's place in listings (--help, error messages)
    index_classes: tuple[str, ...]  # model_index.json `_class_name`s of this family's model folders
    pipelines: Mapping[Mode, Pipeline]  # by mode; the first is the class a model folder loads as
    denoiser: str  # the component with the sample size and that ControlNets and --transformer match: unet, transformer
    control_pipelines: Mapping[Mode, Pipeline] = field(default_factory=dict)  # with --control-nets, by mode
    control_net_class: str | None = None
    control_note: str = ""  # why ControlNets guide some modes only, for the error that says so
    supports: frozenset[str] = frozenset()  # options beyond the common ones (see the names above)
    min_image_side: int = 0  # image seeds and reference images must be at least this many pixels a side
    output_scale: int = 1  # the picture is this many times the job's size on each side (an upscaler's)
    # A video family's clips: frame counts are multiples of `frames_multiple` plus one (the VAE's temporal factor;
    # 0: an image family), by default `default_frames` at `default_frame_rate` frames a second
    frames_multiple: int = 0
    # where the VAE's configuration says it (LTX's VAEs differ): its temporal factor, read from that configuration
    temporal_factor: Callable[[Mapping[str, Any]], int] | None = None
    default_frames: int = 0
    default_frame_rate: float = 0.0
    default_size: tuple[int, int] | None = None  # (width, height) when no size is given; None: the sample size square
    patch: int = 1  # sizes are multiples of the VAE's scale factor times this (2 for 2x2 transformer patches)
    sizes_multiple: int = 0  # the pipelines' own rule for sizes, whatever the VAE (LTX's 32); 0: the rule above
    default_sample_size: int = 64  # the denoiser's sample size when its config names none
    flow_matching: bool = False  # FlowMatch* schedulers (else the discrete-time ones)
    custom_sigmas: bool = False  # the pipelines plan the scheduler with sigmas of their own
    default_true_guidance: float = 1.0  # --true-guidance-scales when not given, where the pipelines take it (1: off)
    default_sequence_length: int | None = None  # T5 or Qwen prompt tokens the pipelines read by default
    longest_sequence: int = 512  # the most prompt tokens --max-sequence-length may ask of it
    transformer_class: str | None = None  # what --transformer loads
    transformer_markers: tuple[str, ...] = ()  # weight-name prefixes of its transformer in the diffusers layout
    checkpoints: tuple[Checkpoint, ...] = ()
    vae_file_config: str | None = None  # bundled config of a --vae file without one; None: the model's own VAE's
    refiner_class: str | None = None  # the pipeline --sdxl-refiner loads as
    variants: tuple[Variant, ...] = ()
    # a video family whose img2img pipeline starts a clip from a picture: the pipeline that changes a video instead,
    # which a job with a strength runs
    video_to_video: Pipeline | None = None
    edit_word: str = "editing"  # what its img2img pipeline without a strength does, in messages
    needs: str = ""  # what to give for a mode the family has no pipeline for ("an image to change: --image-seeds x")
    strength_steps: Callable[[int, float], int] = floor_steps
    a1111_guidance: Callable[[Job], str] = cfg_scale  # the guidance fields of AUTOMATIC1111's parameters text
    complete: Callable[[Job], Job] = _unchanged  # fields of this family's own that resolution fills in
    call_arguments: Callable[[Job], dict[str, Any]] = _none  # pipeline call arguments of this family's own
    load_arguments: Callable[[ModelSpec], dict[str, Any]] = _none  # from_pretrained arguments of its own
    check_loaded: Callable[[ModelSpec, Any], None] = _accept  # a loaded pipeline is what the spec said (and is
    # settled where diffusers' pipelines need what a folder may lack)
    checkpoint_of_index: Callable[[Mapping[str, Any]], int] = _first_checkpoint  # a '<stem>.config' folder's
    # whether a model whose denoiser has this configuration reads a clip's last frame (Wan's first-and-last-frame)
    reads_last_frame: Callable[[Mapping[str, Any]], bool] = _reads_no_last_frame
    # why diffusers cannot convert a transformer of this configuration (its config.json) from the original layout;
    # None where it can
    original_layout_refusal: Callable[[Mapping[str, Any]], str | None] = _converted

    @property
    def label(self) -> str:
        """'Stable Diffusion XL (torch-sdxl)'."""
        return f"{self.name} ({self.model_type})"

    def describe(self, mode: Mode, control: bool, index_class: str, strength: bool = False) -> str:
        """The pipeline of a mode in words, for messages: 'a Flux Fill model', 'Flux with --control-nets and an image
        to change'."""
        variant = self.variant(index_class)
        if variant is not None:
            return f"{article(variant.name)} model"
        if control:
            return f"{self.name} with --control-nets" + (" and an image to change" if mode != "text" else "")
        if self._video_to_video(mode, strength) is not None:
            return f"{self.name} (video to video)"
        return f"{self.name} ({_mode_word(mode, self.pipelines, self.edit_word, VIDEO in self.supports)})"

    def variant(self, index_class: str) -> Variant | None:
        return next((each for each in self.variants if each.index_class == index_class), None)

    def load_class(self, index_class: str = "") -> str:
        """The pipeline class a model folder of this family loads as (a variant's own, or the text pipeline)."""
        variant = self.variant(index_class)
        return variant.index_class if variant is not None else next(iter(self.pipelines.values())).class_name

    def _video_to_video(self, mode: Mode, strength: bool) -> Pipeline | None:
        """The pipeline that changes a video, where a job of `mode` with a strength runs one."""
        return self.video_to_video if mode == "img2img" and strength else None

    def pipeline(self, mode: Mode, control: bool, index_class: str, model: str, strength: bool = False) -> Pipeline:
        """The pipeline that runs `mode` (with ControlNets when `control`, a strength when `strength`) for a model
        whose folder names `index_class`; a mode it has none for is one line."""
        variant = self.variant(index_class)
        if variant is not None:
            if control:
                raise UsageError(f"model_path {model!r} is {article(variant.name)} model, which runs no "
                                 "--control-nets: leave them out")
            if mode not in variant.pipelines:
                raise UsageError(f"model_path {model!r} is {article(variant.name)} model, {variant.needs}")
            return variant.pipelines[mode]
        if not control:
            changes_video = self._video_to_video(mode, strength)
            if changes_video is not None:
                return changes_video
            if mode not in self.pipelines:
                raise UsageError(f"model_path {model!r} is {article(self.name)} model, which runs "
                                 f"{_modes(self.pipelines, self.edit_word, VIDEO in self.supports)} only: give "
                                 f"{self.needs}")
            return self.pipelines[mode]
        if mode not in self.control_pipelines:
            raise UsageError(f"--control-nets with {self.name} guide {_modes(self.control_pipelines)} only"
                             f"{self.control_note}; give control images alone: --image-seeds control.png")
        return self.control_pipelines[mode]


_MODE_WORDS = {"text": "text to image", "img2img": "img2img", "inpaint": "inpainting"}


def article(name: str) -> str:
    """'a Flux Fill', 'an SDXL refiner' (initialisms read letter by letter), 'a Stable Diffusion 3'."""
    spoken_vowel = name[0] in "AEIOU" or (name[:2].isupper() and name[0] in "FHLMNRSX")
    return f"an {name}" if spoken_vowel else f"a {name}"


def _mode_word(mode: Mode, pipelines: Mapping[Mode, Pipeline], edit_word: str, video: bool = False) -> str:
    """'img2img', or the family's `edit_word` where its image-to-image pipeline takes no strength; 'text to video'
    for a video family."""
    if video and mode == "text":
        return "text to video"
    if video and mode == "img2img" and mode in pipelines:
        return "video to video" if pipelines[mode].strength else "image to video"
    edits = mode == "img2img" and mode in pipelines and not pipelines[mode].strength
    return edit_word if edits else _MODE_WORDS[mode]


def _modes(pipelines: Mapping[Mode, Pipeline], edit_word: str = "editing", video: bool = False) -> str:
    return " and ".join(_mode_word(mode, pipelines, edit_word, video) for mode in MODES if mode in pipelines)

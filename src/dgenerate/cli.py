"""The command line: parse the documented options into a RenderRequest, call the library, map errors to exit codes.

Nothing here imports torch or diffusers: `--help`, `--version` and argument errors stay instant.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from dgenerate._version import __version__
from dgenerate.backends import BACKENDS, Backend
from dgenerate.batch import Invocation, read_invocations
from dgenerate.caching import parse_cache
from dgenerate.curate.axes import AXES, check_axes
from dgenerate.downloads import allow
from dgenerate.errors import DgenerateError, Terminated, UsageError, printable
from dgenerate.families import (
    DEEPCACHE,
    FAMILIES,
    FIRST_BLOCK_CACHE,
    FLOW_SHIFT,
    IMAGE_GUIDANCE,
    LOW_NOISE_GUIDANCE,
    LTX_DECODE,
    MAX_SEQUENCE_LENGTH,
    MODEL_TYPES,
    NO_T5,
    REFERENCES,
    REFINER,
    SEQUENCE_LENGTH_OPTION,
    TAYLORSEER,
    TRANSFORMER,
    TRUE_GUIDANCE,
    UPSCALER_NOISE,
    VARIATION_SEEDS,
    VIDEO,
    check_options,
    default_sequence_lengths,
    family,
    supporting,
)
from dgenerate.jobs import (
    AUTO_MODEL_TYPE,
    COMPILE_MODES,
    DTYPES,
    OFFLOAD_MODES,
    PROMPT_WEIGHTINGS,
    LoraSpec,
    ModelSpec,
    OutputSpec,
    RefinerSpec,
    VaeSpec,
)
from dgenerate.media.writers import ANIMATION_FORMATS
from dgenerate.models.quantize import parse_quantize
from dgenerate.models.schedulers import (
    FLOW_SCHEDULER_NAMES,
    SCHEDULER_NAMES,
    canonical_scheduler_name,
    flow_matching_types,
)
from dgenerate.naming import check_name_lengths, format_number
from dgenerate.plan import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_HIRES_STRENGTH,
    DEFAULT_INFERENCE_STEPS,
    DEFAULT_STRENGTH,
    MAX_BATCH_SIZE,
    MAX_CPU_THREADS,
    MAX_FRAMES,
    MAX_GEN_SEEDS,
    MAX_INFERENCE_STEPS,
    MAX_NOISE_LEVEL,
    MAX_SEED_VALUE,
    ImageSeedSpec,
    Prompt,
    RenderRequest,
    cells,
    check_cpu_threads,
    control_seeds,
    describe_grid,
    parse_control_net,
    parse_hires_upscaler,
    parse_image_seed,
    parse_lora,
    parse_number,
    parse_prompt,
    parse_size,
    parse_textual_inversion,
    parse_vae,
    random_seeds,
)
from dgenerate.processors import KINDS as PROCESSOR_KINDS
from dgenerate.processors import parse_processor
from dgenerate.prompt_syntax import MAX_EXPANSIONS, Choices, Syntax, expand_choices

MAX_WORKERS = 4096
DEFAULT_GALLERY_PORT = 8788
DESCRIPTION = "Stable diffusion batch image generation tool with support for video / gif / webp animation transcoding."

class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every error is one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _model_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("model_path", nargs="?", help="huggingface model repository slug, path to a folder on disk, "
        "path to a .ckpt or .safetensors file, or builtin:shapes2 (the model that ships with dgenerate; builtin:shapes "
        "is its first version, kept so that old configs regenerate).")
    add("--model-type", default=AUTO_MODEL_TYPE, choices=(AUTO_MODEL_TYPE, *MODEL_TYPES), help=", ".join(
        f"{each.model_type} ({each.name})" for each in FAMILIES.values()) + ". (default: auto, read from the model's "
        "model_index.json, or from a checkpoint's weights)")
    add("--revision", help='Model revision (git branch / tag) on the Hugging Face hub. (default: "main")')
    add("--variant", help='Load weights from "variant" file names, e.g. "fp16".')
    add("--subfolder", help="Main model subfolder in a repository or folder.")
    add("--auth-token", help="Hugging Face auth token for restricted repositories.")
    add("--vae", help='A VAE: "AutoEncoderClass;(URL or file path)".')
    add("--vae-revision", help="VAE revision on the Hugging Face hub.")
    add("--vae-variant", help="VAE weights variant, defaults to --variant.")
    add("--vae-dtype", choices=DTYPES, help="VAE precision, defaults to --dtype.")
    add("--vae-subfolder", help="VAE subfolder in a repository or folder.")
    add("--lora", nargs="+", action="extend", help='LoRAs and their scales, applied together: "path;scale" (scale '
        'defaults to 1.0), each with ";weight-name=FILE", ";revision=R", ";subfolder=S" where needed.')
    add("--lora-weight-name", help="LoRA file name inside a repository or folder (one --lora).")
    add("--lora-revision", help="LoRA revision on the Hugging Face hub (one --lora).")
    add("--lora-subfolder", help="LoRA subfolder in a repository or folder (one --lora).")
    add("--textual-inversions", nargs="+", action="extend", metavar="PATH", help='Textual inversion embeddings: '
        '"path;token=NAME", AUTOMATIC1111 .pt/.safetensors (SD and SDXL) or diffusers learned_embeds files or '
        "folders, read weights-only. The token defaults to the file's own (an AUTOMATIC1111 file's name).")
    add("--control-nets", nargs="+", action="extend", metavar="PATH", help='ControlNets (SD and SDXL): '
        '"path;scale=S;start=A;end=B" (1, 0 and 1 by default). --image-seeds then give their control images: '
        '"control.png" for text to image, "image.png;control=c.png" and "image.png;mask.png;control=c.png" for img2img '
        'and inpainting; one image per ControlNet, "control=a.png,b.png".')
    add("--prompt-weighting", default="none", choices=PROMPT_WEIGHTINGS, help="a1111: read prompts as AUTOMATIC1111 "
        "does: (word:1.3), (word), [word], BREAK, and prompts longer than 77 tokens (SD and SDXL). (default: none, "
        "prompts as diffusers reads them)")
    add("--scheduler", help=f"A scheduler by name: {', '.join(SCHEDULER_NAMES)}; for {flow_matching_types()}: "
        f"{', '.join(FLOW_SCHEDULER_NAMES)}. (default: the model's own)")
    add("--sdxl-refiner", help=f"Refiner model path, for {supporting(REFINER)}.")
    add("--sdxl-refiner-revision", help="SDXL refiner revision.")
    add("--sdxl-refiner-variant", help="SDXL refiner weights variant, defaults to --variant.")
    add("--sdxl-refiner-subfolder", help="SDXL refiner subfolder.")
    add("--sdxl-refiner-dtype", choices=DTYPES, help="SDXL refiner precision, defaults to --dtype.")
    add("--sdxl-original-size", help="SDXL micro-conditioning original size WIDTHxHEIGHT. (default: --output-size)")
    add("--sdxl-target-size", help="SDXL micro-conditioning target size WIDTHxHEIGHT. (default: --output-size)")
    add("--safety-checker", action="store_true", help="Load the model's safety checker (off by default).")
    add("--vae-tiling", action="store_true", help="Encode and decode with the VAE in overlapping tiles: large "
        "pictures in less memory (the pixels differ slightly from untiled ones, and are recorded as such).")
    add("--vae-slicing", action="store_true", help="Decode a batch with the VAE one image at a time: less memory for "
        "large batches.")
    add("--cache", nargs="+", action="extend", metavar="NAME;KEY=VALUE", help="Step caching to try (a grid axis; "
        "'none' is the same images without it): each step computes part of the denoiser and takes the rest from an "
        f"earlier step. deepcache;interval=3;branch=0;warmup=0 for {supporting(DEEPCACHE)} (after warmup whole "
        "steps, the whole UNet every interval-th step and its outer levels down to branch in between); "
        "first-block;threshold=0.05 for "
        f"{supporting(FIRST_BLOCK_CACHE)} (the blocks after the first skipped while its output changes less than "
        "threshold; each image in a pipeline call of its own); taylorseer;interval=5;warmup=3;order=1 for "
        f"{supporting(TAYLORSEER)} (attention predicted between whole steps). Settings left out are at these "
        "defaults; the images change a little, and each is recorded and replays exactly.")
    add("--frames", nargs="+", metavar="COUNT", help=f"{supporting(VIDEO)}: clip lengths to try, in frames (a grid "
        "axis), each by the model's VAE's rule (Wan: a multiple of 4 plus one, such as 33 or 81; LTX-Video: of 8 "
        "plus one, such as 97). (default: the pipeline's own, 81 for Wan, 161 for LTX-Video)")
    add("--frame-rate", metavar="FPS", help=f"{supporting(VIDEO)}: the clips' frames a second, as written and as the "
        "model is told where it reads it (LTX-Video does). (default: the model's own, 16 for Wan, 25 for LTX-Video)")
    add("--flow-shifts", nargs="+", metavar="SHIFT", help=f"{supporting(FLOW_SHIFT)}: the scheduler's flow shifts to "
        "try (a grid axis): how much of the schedule is spent at high noise; Wan's releases use 3 for 480p and 5 for "
        "720p. (default: the model's scheduler configuration's, recorded)")
    add("--low-noise-guidance-scales", nargs="+", metavar="SCALE", help=f"{supporting(LOW_NOISE_GUIDANCE)} with two "
        "experts (Wan 2.2): guidance scales of the low-noise expert to try (a grid axis), which denoises the end of "
        "the schedule; --guidance-scales is then the high-noise expert's. (default: --guidance-scales for both)")
    add("--ltx-decode-timestep", metavar="T", help=f"{supporting(LTX_DECODE)} whose VAE is timestep-conditioned "
        "(LTX-Video 0.9.1 and later): the timestep the VAE decodes at, 0 to 1 (LTX's examples use 0.03 to 0.05). "
        "(default: the pipeline's 0)")
    add("--ltx-decode-noise-scale", metavar="SCALE", help=f"{supporting(LTX_DECODE)} whose VAE is timestep-"
        "conditioned: how much of the decoder's noise is mixed into the latents, 0 to 1 (LTX's examples use 0.025). "
        "(default: --ltx-decode-timestep)")
    add("--no-t5", action="store_true", help=f"{supporting(NO_T5)}: load the model without its T5 text encoder, "
        "which saves several GB of memory (prompts are read by the CLIP encoders only; the images change).")
    add("--transformer", help=f"{supporting(TRANSFORMER)}: a transformer in place of the model's own, such as a "
        "fine-tune: a diffusers folder (or hub repository) with its config.json, or one .safetensors file in the "
        "diffusers layout or the original Flux/Stability layout (a whole checkpoint gives its transformer), or a .gguf "
        "file (kept quantized, dequantized a layer at a time). It is read with the model's transformer configuration.")
    add("--quantize", metavar="METHOD;parts=...", help="Hold the linear layers of the denoiser and the text "
        "encoders in fewer bits: int8-weight-only, int8-dynamic or float8-weight-only (torchao, any device; pip "
        "install 'dgenerate[quantize]'), bnb-8bit or bnb-4bit (bitsandbytes, NVIDIA GPUs). ';parts=denoiser' or "
        "';parts=text-encoders' quantizes one of them (default: both). Less memory; the pixels change a little, and "
        "are recorded. (default: none)")
    add("--compile", nargs="?", const="default", choices=COMPILE_MODES, help="Compile the denoiser with "
        "torch.compile in this mode (default when given alone) the first time it runs, once per loaded model: "
        "faster steps after a first call that takes from seconds to minutes. Recorded; on the CPU the tests find "
        "the same pixels as without it. (default: not compiled)")
    add("--offload", choices=OFFLOAD_MODES, help="Keep the model in CPU memory and move it to the GPU a model at a "
        "time (model) or a layer at a time (sequential, least memory, slowest): diffusers' CPU offload, for models "
        "larger than the GPU. Needs --device cuda. (default: the whole model on the device)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--version", action="version", version=f"dgenerate {__version__}")
    add("-d", "--device", default="auto", help="cuda / cpu / cuda:N. (default: cuda when available, else cpu)")
    add("-t", "--dtype", default="auto", choices=DTYPES, help="Model precision. (default: auto, which is float32)")
    add("-s", "--output-size", help="Image size WIDTHxHEIGHT, or one number for both. (default: the model's own "
        "size, 512x512 for Stable Diffusion 1.x)")
    add("-o", "--output-path", default="output", help="Output folder, created if missing. (default: ./output)")
    add("-op", "--output-prefix", help="Prefix for every output file name, followed by an underscore.")
    add("--output-configs", action="store_true", help="Write next to each image a config that regenerates it "
        "(dgenerate < file.dgen).")
    add("--output-metadata", action="store_true", help="Write the config into each PNG (text chunk DgenerateConfig) "
        "and AUTOMATIC1111-style 'parameters' text.")
    add("-p", "--prompts", nargs="+", default=[""], help='Prompts to try, "positive; negative". (default: "")')
    add("--dynamic-prompts", action="store_true", help="Expand '{red|green|blue}' in prompts into one prompt per "
        "alternative (nested braces too), and '__name__' into one per line of the wildcard file name.txt (see "
        f"--wildcards): every combination, in order, at most {MAX_EXPANSIONS} per prompt. Configs hold the expanded "
        "prompt.")
    add("--wildcards", metavar="DIR", help="The folder of wildcard files for '__name__' (name.txt, or sub/name.txt "
        "for '__sub/name__'; one entry a line, '#' comments); implies --dynamic-prompts.")
    add("--prompt-matrix", action="store_true", help="AUTOMATIC1111's prompt matrix: 'a|b|c' makes 'a', 'a, b', "
        "'a, c' and 'a, b, c' (every subset of the parts after the first).")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("-se", "--seeds", nargs="+", help="Seeds to try. (default: one random seed)")
    seeds.add_argument("-gse", "--gen-seeds", help="Generate N random seeds to try.")
    add("-af", "--animation-format", default="mp4", choices=ANIMATION_FORMATS,
        help="Animation and clip output format: webp, gif, mp4 or apng (animated PNG, the lossless one: its frames "
        "are the rendered frames byte for byte). (default: mp4)")
    add("-fs", "--frame-start", help="First frame of an animated input to use (inclusive).")
    add("-fe", "--frame-end", help="Last frame of an animated input to use (inclusive).")
    add("-is", "--image-seeds", nargs="*", help="Image seeds: paths or URLs, 'image;mask', 'image;mask;WxH'; "
        f"'image;reference=r.png,s.png' adds reference images ({supporting(REFERENCES)}); 'image;last=l.png' ends a "
        "clip on l.png (Wan's first-and-last-frame models).")
    add("-sip", "--seed-image-processors", nargs="+", action="extend", metavar="PROCESSOR", help="Processors "
        "applied in order to each frame of the image seeds, once fitted to the job's size (see --processors for the "
        "names and settings).")
    add("-mip", "--mask-image-processors", nargs="+", action="extend", metavar="PROCESSOR", help="Processors "
        "applied to each frame of the inpainting masks, once fitted (dilate;size=8 grows the repainted area).")
    add("-cip", "--control-image-processors", nargs="+", action="extend", metavar="PROCESSOR", help="Processors "
        "applied to each frame of the ControlNets' control images, once fitted (canny;low=100;high=200 makes edges).")
    add("-pp", "--post-processors", nargs="+", action="extend", metavar="PROCESSOR", help="Processors applied in "
        "order to each generated image (or frame) before it is written; recorded, so its config makes the processed "
        "image.")
    add("-iss", "--image-seed-strengths", nargs="*", help="Image seed strengths to try. "
        f"(default: {format_number(DEFAULT_STRENGTH)})")
    add("-gs", "--guidance-scales", nargs="*", help="Guidance scales to try. (default: "
        f"{format_number(DEFAULT_GUIDANCE_SCALE)}; builtin:shapes2 uses its own, 1)")
    add("-tgs", "--true-guidance-scales", nargs="*", help=f"{supporting(TRUE_GUIDANCE)}: true classifier-free "
        "guidance scales to try, which make the model read the negative prompt (two model passes a step); 1 turns it "
        "off. --guidance-scales is then the model's embedded (distilled) guidance. (default: 1)")
    add("-igs", "--image-guidance-scales", nargs="*", help=f"{supporting(IMAGE_GUIDANCE)}: image guidance scales to "
        "try, how closely an edit keeps the image seed (1 turns it off). (default: 1.5)")
    add("-unl", "--upscaler-noise-levels", nargs="*", help=f"{supporting(UPSCALER_NOISE)}: noise levels to try, 0 to "
        f"{MAX_NOISE_LEVEL}, added to the image seed before it is upscaled; more lets the model invent more detail. "
        "(default: 20)")
    add("-vse", "--variation-seeds", nargs="+", help=f"{supporting(VARIATION_SEEDS)}, text to image: variation seeds "
        "to try, each one's noise mixed into the seed's by spherical interpolation as AUTOMATIC1111's variation seed "
        "(subseed) is. Needs --variation-strengths.")
    add("-vst", "--variation-strengths", nargs="+", help="Variation strengths to try, 0 (the seed's own image) to 1 "
        "(the variation seed's).")
    add("--resize-seed-from", metavar="WIDTHxHEIGHT", help=f"{supporting(VARIATION_SEEDS)}: draw the seed's noise "
        "as for this size and keep its centre at the output size, so a composition found at one size survives "
        "another (AUTOMATIC1111's 'resize seed from').")
    add("--max-sequence-length", help=f"{supporting(SEQUENCE_LENGTH_OPTION)}: prompt tokens the T5, Qwen or ChatGLM "
        "encoder reads, "
        f"1 to {MAX_SEQUENCE_LENGTH}. (default: the pipeline's, {default_sequence_lengths()})")
    add("-ifs", "--inference-steps", nargs="*", default=[str(DEFAULT_INFERENCE_STEPS)],
        help=f"Inference steps values to try. (default: {DEFAULT_INFERENCE_STEPS})")
    add("-hrs", "--hires-scales", nargs="+", help="A hi-res pass (AUTOMATIC1111's hires fix), text to image with "
        f"{supporting(VARIATION_SEEDS)}: generate at the grid's size, upscale by each of these factors (e.g. 1.5 2), "
        "then denoise again.")
    add("--hires-upscaler", help="How the hi-res pass upscales: latent (the latents, bilinear), lanczos (the "
        "picture), or an upscaling model's weights file (the picture; see the upscale processor). (default: latent)")
    add("-hrst", "--hires-strengths", nargs="+", help="Denoising strengths of the hi-res pass to try, 0 to 1. "
        f"(default: {format_number(DEFAULT_HIRES_STRENGTH)})")
    add("--hires-steps", help="Inference steps of the hi-res pass (its strength runs that share of them). (default: "
        "--inference-steps)")
    add("-hnf", "--sdxl-high-noise-fractions", nargs="*", help="SDXL high noise fractions to try.")
    add("--batch-size", default="1", help=f"Images per pipeline call, 1 to {MAX_BATCH_SIZE}. (default: 1)")
    add("--batch-slot", help="The slot of the image in its batch call; configs of --batch-size runs record it so "
        "that one image of a batch regenerates alone, byte-identical.")
    add("--cpu-threads", help=f"Threads for PyTorch on the CPU, 1 to {MAX_CPU_THREADS}. Results on the CPU can depend "
        "on the thread count, so configs record it. (default: PyTorch's choice, usually the number of cores)")
    add("--dry-run", action="store_true", help="Print the resolved jobs: every file a run would write, its size, job "
        "id and settings. Reads model configurations and image headers, loads no weights.")
    add("--resume", action="store_true", help="Skip every image an earlier run with the same settings already wrote "
        "into the output folder (recognised by the job id its config records: needs --output-configs or "
        "--output-metadata, in both runs) and make the rest, under the names the first run would have used.")
    add("--allow-downloads", action="store_true", help="Let a batch or config read from standard input, or "
        "--from-image, download image seed URLs and hub models (they download nothing otherwise): dgenerate "
        "--allow-downloads < file. A command line typed by hand downloads without it.")
    add("--debug", action="store_true", help="Show tracebacks of errors.")


def _backend_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backend", default="local", choices=BACKENDS, help="Where images are rendered: in this process (local), or "
        "spread over Ray workers, one device each (ray; pip install \"dgenerate[ray]\"). Images are byte-identical "
        "either way. (default: local)")
    add("--ray-address", help="The Ray cluster for --backend ray: auto joins the running cluster (ray start), or "
        "host:port. (default: start a local Ray for this run and stop it at exit)")
    add("--model-cache-memory", help="How much memory loaded models may hold, per device (and per Ray worker): a size "
        "such as 12GB or 1.5GiB, or a share of the device's memory such as 40%%. A batch over many models lets the "
        "least recently used go first. (default: 50%% of the RAM, or of a GPU's memory)")
    add("--workers", help="Ray workers for --backend ray, each with its own device and model cache. (default: one per "
        "GPU the cluster has with --device cuda, else 1)")


def _curation_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--contact-sheet", action="store_true", help="After the run, write contact-sheet.png into the output folder: "
        "the images as a grid labelled with the values of the axes that vary (further axes and large grids give "
        "further sheets, contact-sheet-1.png, -2...).")
    add("--contact-sheet-axes", nargs="+", metavar="AXIS", help="The axis across the contact sheet, then the one "
        f"down: {', '.join(AXES)}, or a slot prompt syntax filled: '__name__' (a wildcard), '{{1}}' (the first brace "
        "group), 'matrix', 'template' (the prompt as given). (default: the fastest varying axes, seed across)")
    add("--gallery", action="store_true", help="Add the run's images to index.html in the output folder: a page to "
        "open from disk that filters and sorts them and copies the command that regenerates each.")
    add("--from-image", metavar="IMAGE", help="Regenerate the image a PNG's metadata (or a .dgen config) records; "
        "options given with it replace the recorded ones. Reads AUTOMATIC1111 'parameters' too (give the model).")
    add("--image-process", nargs="+", metavar="FILE", help="Run --processors alone over images, animations or "
        "videos (frame by frame) and write FILE's result as <stem>_processed.png (or .<--animation-format>) into "
        "--output-path; loads no model.")
    add("--processors", nargs="+", metavar="PROCESSOR", help="With --image-process: processors applied in order, "
        f"'name;key=value;...', name one of {', '.join(PROCESSOR_KINDS)}, e.g. 'canny;low=50;high=150' "
        "'resize;size=512x512'.")
    add("--serve-gallery", metavar="DIR", help="Serve the gallery of a folder (its index.html, made by --gallery) on "
        "this machine only, at http://127.0.0.1:PORT/, so that its page can save star ratings into DIR/ratings.json; "
        "Ctrl-C stops it.")
    add("--gallery-port", default=str(DEFAULT_GALLERY_PORT), help="The port --serve-gallery listens on, 0 for any "
        f"free one. (default: {DEFAULT_GALLERY_PORT})")
    add("--inspect", nargs="+", metavar="IMAGE", help="Print the dgenerate config and AUTOMATIC1111 parameters that "
        "images record, and nothing else; exit 1 when one records neither.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dgenerate", description=DESCRIPTION)
    _model_options(parser)
    _run_options(parser)
    _backend_options(parser)
    _curation_options(parser)
    return parser


def _numbers(values: list[str] | None, option: str, number: type, low: float, high: float | None = None) -> tuple:
    if not values:
        raise UsageError(f"{option} needs at least one value")
    return tuple(parse_number(value, option, number, low, high) for value in values)


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    if args.gen_seeds is not None:
        (count,) = _numbers([args.gen_seeds], "--gen-seeds", int, 1, MAX_GEN_SEEDS)
        return random_seeds(count)
    if args.seeds is None:
        return random_seeds(1)
    return _numbers(args.seeds, "--seeds", int, 0, MAX_SEED_VALUE)


def _vae_spec(args: argparse.Namespace) -> VaeSpec | None:
    if args.vae is None:
        return None
    class_name, path = parse_vae(args.vae)
    return VaeSpec(class_name, path, args.vae_revision, args.vae_variant, args.vae_subfolder, args.vae_dtype)


def _lora_specs(args: argparse.Namespace) -> tuple[LoraSpec, ...]:
    loras = tuple(parse_lora(text) for text in args.lora or ())
    single = {"--lora-weight-name": args.lora_weight_name, "--lora-revision": args.lora_revision,
              "--lora-subfolder": args.lora_subfolder}
    given = {flag: value for flag, value in single.items() if value is not None}
    if not given:
        return loras
    if len(loras) != 1:
        flag = next(iter(given))
        raise UsageError(f"{flag} applies to one --lora, and {len(loras)} are given; write it into each LoRA's value: "
                         "'path;0.5;weight-name=file;revision=r;subfolder=s'")
    lora = loras[0]
    return (replace(lora, weight_name=args.lora_weight_name or lora.weight_name,
                    revision=args.lora_revision or lora.revision, subfolder=args.lora_subfolder or lora.subfolder),)


def _refiner_spec(args: argparse.Namespace) -> RefinerSpec | None:
    if args.sdxl_refiner is None:
        return None
    return RefinerSpec(args.sdxl_refiner, args.sdxl_refiner_revision, args.sdxl_refiner_variant,
                       args.sdxl_refiner_subfolder, args.sdxl_refiner_dtype)


def _model_spec(args: argparse.Namespace) -> ModelSpec:
    if not args.model_path:
        raise UsageError("model_path is missing: give a model folder, a hub slug or builtin:shapes2")
    return ModelSpec(
        path=args.model_path,
        model_type=args.model_type,
        revision=args.revision,
        variant=args.variant,
        subfolder=args.subfolder,
        dtype=args.dtype,
        device=args.device,
        safety_checker=args.safety_checker,
        auth_token=args.auth_token,
        vae=_vae_spec(args),
        loras=_lora_specs(args),
        textual_inversions=tuple(parse_textual_inversion(text) for text in args.textual_inversions or ()),
        refiner=_refiner_spec(args),
        no_t5=args.no_t5,
        offload=args.offload,
        transformer=args.transformer,
        quantize=parse_quantize(args.quantize) if args.quantize else None,
        compile=args.compile,
    )


def request_from_args(args: argparse.Namespace) -> RenderRequest:
    (batch_size,) = _numbers([args.batch_size], "--batch-size", int, 1)
    if batch_size > MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size {batch_size} is too large: use 1 to {MAX_BATCH_SIZE}")
    fractions = args.sdxl_high_noise_fractions
    if fractions is not None and args.sdxl_refiner is None:
        raise UsageError("--sdxl-high-noise-fractions needs an SDXL model and its --sdxl-refiner")
    return RenderRequest(
        model=_model_spec(args),
        seeds=_seeds(args),
        prompts=_prompts(args),
        guidance_scales=_numbers(args.guidance_scales, "--guidance-scales", float, 0.0)
        if args.guidance_scales is not None else None,
        inference_steps=_numbers(args.inference_steps, "--inference-steps", int, 1, MAX_INFERENCE_STEPS),
        output_size=parse_size(args.output_size) if args.output_size else None,
        scheduler=canonical_scheduler_name(args.scheduler) if args.scheduler else None,
        output=OutputSpec(args.output_path, args.output_prefix, args.output_configs, args.output_metadata,
                          args.animation_format),
        **_image_seed_options(args),
        batch_size=batch_size,
        batch_slot=_numbers([args.batch_slot], "--batch-slot", int, 0)[0] if args.batch_slot else None,
        cpu_threads=check_cpu_threads(_numbers([args.cpu_threads], "--cpu-threads", int, 1)[0])
        if args.cpu_threads else None,
        high_noise_fractions=_fractions(fractions) if fractions is not None else None,
        true_guidance_scales=_numbers(args.true_guidance_scales, "--true-guidance-scales", float, 1.0)
        if args.true_guidance_scales is not None else None,
        max_sequence_length=_numbers([args.max_sequence_length], "--max-sequence-length", int, 1,
                                     MAX_SEQUENCE_LENGTH)[0] if args.max_sequence_length else None,
        sdxl_original_size=_optional_size(args.sdxl_original_size, "--sdxl-original-size"),
        sdxl_target_size=_optional_size(args.sdxl_target_size, "--sdxl-target-size"),
        prompt_weighting=None if args.prompt_weighting == "none" else args.prompt_weighting,
        control_nets=tuple(parse_control_net(text) for text in args.control_nets or ()),
        image_guidance_scales=_numbers(args.image_guidance_scales, "--image-guidance-scales", float, 0.0)
        if args.image_guidance_scales is not None else None,
        upscaler_noise_levels=_numbers(args.upscaler_noise_levels, "--upscaler-noise-levels", int, 0, MAX_NOISE_LEVEL)
        if args.upscaler_noise_levels is not None else None,
        **_variation_options(args),
        post_processors=tuple(parse_processor(text, "--post-processors") for text in args.post_processors or ()),
        **_hires_options(args),
        vae_tiling=args.vae_tiling,
        vae_slicing=args.vae_slicing,
        caches=tuple(parse_cache(text) for text in args.cache) if args.cache else None,
        frames=_numbers(args.frames, "--frames", int, 1, MAX_FRAMES) if args.frames is not None else None,
        frame_rate=_numbers([args.frame_rate], "--frame-rate", float, 0.01, 240)[0]
        if args.frame_rate is not None else None,
        flow_shifts=_numbers(args.flow_shifts, "--flow-shifts", float, 0.01, 100)
        if args.flow_shifts is not None else None,
        low_noise_guidance_scales=_numbers(args.low_noise_guidance_scales, "--low-noise-guidance-scales", float, 0.0)
        if args.low_noise_guidance_scales is not None else None,
        ltx_decode_timestep=_numbers([args.ltx_decode_timestep], "--ltx-decode-timestep", float, 0.0, 1.0)[0]
        if args.ltx_decode_timestep is not None else None,
        ltx_decode_noise_scale=_numbers([args.ltx_decode_noise_scale], "--ltx-decode-noise-scale", float, 0.0, 1.0)[0]
        if args.ltx_decode_noise_scale is not None else None,
    )


def _hires_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.hires_scales is None:
        for flag, value in (("--hires-upscaler", args.hires_upscaler), ("--hires-strengths", args.hires_strengths),
                            ("--hires-steps", args.hires_steps)):
            if value is not None:
                raise UsageError(f"{flag} needs --hires-scales (how much the hi-res pass upscales, e.g. 1.5)")
        return {}
    if args.image_seeds is not None:
        raise UsageError("--hires-scales is a pass of text to image; an image seed's img2img already starts from its "
                         "image: leave --hires-scales out or run it without --image-seeds")
    return {"hires_scales": _numbers(args.hires_scales, "--hires-scales", float, 1.0, 8.0),
            "hires_upscaler": parse_hires_upscaler(args.hires_upscaler) if args.hires_upscaler else None,
            "hires_strengths": _numbers(args.hires_strengths, "--hires-strengths", float, 0.0, 1.0)
            if args.hires_strengths else None,
            "hires_steps": _numbers([args.hires_steps], "--hires-steps", int, 1, MAX_INFERENCE_STEPS)[0]
            if args.hires_steps else None}


def _prompts(args: argparse.Namespace) -> tuple[Prompt, ...]:
    """The prompts given, each expanded by the prompt syntax the options turn on (the negative prompt by the
    alternatives and wildcards, not the matrix), positive outer, negative inner."""
    folder = None if args.wildcards is None else Path(args.wildcards).expanduser()
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--wildcards {args.wildcards!r} is not a folder; give the folder of wildcard files")
    syntax = Syntax(args.dynamic_prompts, folder, args.prompt_matrix)
    if not syntax.active:
        return tuple(parse_prompt(text) for text in args.prompts)
    negative_syntax = replace(syntax, matrix=False)
    prompts: list[Prompt] = []
    for text in args.prompts:
        prompt = parse_prompt(text)
        negatives: list[tuple[str | None, Choices]] = [(None, ())] if prompt.negative is None else \
            [(negative, tuple((f"negative {name}", value) for name, value in choices))
             for negative, choices in expand_choices(prompt.negative, negative_syntax)]
        prompts += [Prompt(positive, negative, text, choices + negative_choices)
                    for positive, choices in expand_choices(prompt.positive, syntax)
                    for negative, negative_choices in negatives]
        if len(prompts) > MAX_EXPANSIONS:
            raise UsageError(f"--prompts expand to more than {MAX_EXPANSIONS} prompts; split the grid into several "
                             "runs or batch lines")
    return tuple(prompts)


def _variation_options(args: argparse.Namespace) -> dict[str, Any]:
    if (args.variation_seeds is None) != (args.variation_strengths is None):
        given, missing = (("--variation-seeds", "--variation-strengths") if args.variation_strengths is None
                          else ("--variation-strengths", "--variation-seeds"))
        raise UsageError(f"{given} needs {missing} (a variation seed is mixed in at a strength from 0 to 1)")
    options: dict[str, Any] = {"resize_seed_from": _optional_size(args.resize_seed_from, "--resize-seed-from")}
    if args.variation_seeds is not None:
        options["variation_seeds"] = _numbers(args.variation_seeds, "--variation-seeds", int, 0, MAX_SEED_VALUE)
        options["variation_strengths"] = _numbers(args.variation_strengths, "--variation-strengths", float, 0.0, 1.0)
    return options


def _image_seed_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.image_seeds is None:
        for flag, value in (("--image-seed-strengths", args.image_seed_strengths), ("--frame-start", args.frame_start),
                            ("--frame-end", args.frame_end), ("--control-nets", args.control_nets),
                            ("--seed-image-processors", args.seed_image_processors),
                            ("--mask-image-processors", args.mask_image_processors),
                            ("--control-image-processors", args.control_image_processors)):
            if value is not None:
                raise UsageError(f"{flag} needs --image-seeds")
        return {}
    if not args.image_seeds:
        raise UsageError("--image-seeds needs at least one image path or URL")
    strengths = _numbers(args.image_seed_strengths, "--image-seed-strengths", float, 0.0, 1.0) \
        if args.image_seed_strengths else ()
    start = _numbers([args.frame_start], "--frame-start", int, 0)[0] if args.frame_start is not None else None
    end = _numbers([args.frame_end], "--frame-end", int, 0)[0] if args.frame_end is not None else None
    if start is not None and end is not None and end < start:
        raise UsageError(f"--frame-end {end} is before --frame-start {start}; the slice includes both ends")
    seeds = control_seeds([parse_image_seed(text) for text in args.image_seeds], len(args.control_nets or ()))
    if args.image_seed_strengths is not None and not any(seed.image for seed in seeds):
        raise UsageError("--image-seed-strengths applies to images to change, and these image seeds are control images "
                         "alone (text to image); leave it out")
    return {"image_seeds": seeds, "image_seed_strengths": strengths, "frame_start": start, "frame_end": end,
            **_seed_processors(args, seeds)}


def _seed_processors(args: argparse.Namespace, seeds: Sequence[ImageSeedSpec]) -> dict[str, Any]:
    """The processors of the image seeds, masks and control images, each refused where there is nothing to apply
    it to."""
    given = {"seed_image_processors": (args.seed_image_processors, any(seed.image for seed in seeds),
                                       "--image-seeds with an image to change"),
             "mask_image_processors": (args.mask_image_processors, any(seed.mask for seed in seeds),
                                       "--image-seeds with an inpainting mask ('image;mask')"),
             "control_image_processors": (args.control_image_processors, bool(args.control_nets),
                                          "--control-nets and their control images")}
    made: dict[str, Any] = {}
    for name, (texts, applies, needs) in given.items():
        flag = "--" + name.replace("_", "-")
        if texts is not None and not applies:
            raise UsageError(f"{flag} needs {needs}")
        made[name] = tuple(parse_processor(text, flag) for text in texts or ())
    return made


def _fractions(values: list[str]) -> tuple[float, ...]:
    fractions = _numbers(values, "--sdxl-high-noise-fractions", float, 0.0)
    if any(f >= 1.0 for f in fractions):
        raise UsageError("--sdxl-high-noise-fractions values must be between 0 and 1, e.g. 0.8")
    return fractions


def _optional_size(text: str | None, option: str) -> tuple[int, int] | None:
    return parse_size(text, option) if text else None


def parse_invocation(argv: Sequence[str]) -> tuple[RenderRequest, argparse.Namespace]:
    args = build_parser().parse_args(list(argv))
    note = ""
    if args.from_image is not None:
        from dgenerate.curate.replay import replay

        replayed = replay(build_parser, argv)
        args, note = replayed.args, replayed.note
    if args.contact_sheet_axes is not None:
        if not args.contact_sheet:
            raise UsageError("--contact-sheet-axes needs --contact-sheet")
        if len(args.contact_sheet_axes) > 2:
            raise UsageError("--contact-sheet-axes takes two axes at most: the one across, then the one down")
        check_axes(args.contact_sheet_axes, "--contact-sheet-axes")
    args.replay_note = note
    _check_backend(args)
    args.model_cache_memory = _cache_budget(args.model_cache_memory)
    if args.resume and not (args.output_configs or args.output_metadata):
        raise UsageError("--resume recognises finished images by the job id their config records: add "
                         "--output-configs or --output-metadata (the run being resumed needed one of them too)")
    request = request_from_args(args)
    check_name_lengths(cells(request))
    if request.model.model_type != AUTO_MODEL_TYPE:  # else the model's family is known once it is read
        check_options(next(cells(request)), family(request.model.model_type), f"--model-type {args.model_type}")
    return request, args


def _cache_budget(text: str | None) -> int | float:
    from dgenerate.models.budget import DEFAULT_SHARE, parse_budget

    return DEFAULT_SHARE if text is None else parse_budget(text)


def _check_backend(args: argparse.Namespace) -> None:
    if args.backend != "ray":
        for flag, value in (("--ray-address", args.ray_address), ("--workers", args.workers)):
            if value is not None:
                raise UsageError(f"{flag} needs --backend ray")
        return
    if args.workers is not None:
        (args.workers,) = _numbers([args.workers], "--workers", int, 1, MAX_WORKERS)
    if importlib.util.find_spec("ray") is None:
        raise UsageError('--backend ray needs Ray, which is not installed: pip install "dgenerate[ray]"')


def _with_line(error: DgenerateError, line: int) -> DgenerateError:
    located = type(error)(f"line {line}: {error}")
    located.exit_code = error.exit_code
    return located


def run_batch(invocations: Sequence[Invocation], allow_downloads: bool = False) -> int:
    """Every line is checked before any work starts; models load once and are shared by all lines.

    Each line is resolved just before it runs, so a line may use an image an earlier line wrote as its seed.
    """
    parsed = []
    for invocation in invocations:
        try:
            parsed.append((invocation.line, *parse_invocation(invocation.argv)))
            if parsed[-1][2].allow_downloads:
                raise UsageError("--allow-downloads is the user's to give, on the command line (dgenerate "
                                 "--allow-downloads < file), not a batch's or config's")
        except DgenerateError as error:
            raise _with_line(error, invocation.line) from error
    backends: dict[tuple[Any, ...], Backend] = {}
    try:
        for line, request, args in parsed:
            try:
                with allow(allow_downloads):
                    _execute(request, args, backends)
            except DgenerateError as error:
                raise _with_line(error, line) from error
    finally:
        for backend in backends.values():
            backend.close()
    return 0


def _backend(args: argparse.Namespace, backends: dict[tuple[Any, ...], Backend]) -> Backend:
    """One backend per kind for a whole batch: one model cache, or one Ray session with its workers."""
    key = (args.backend, args.ray_address, args.workers, args.model_cache_memory)
    if key not in backends:
        if args.backend == "ray":
            from dgenerate.backends.ray_cluster import RayBackend

            backends[key] = RayBackend(args.ray_address, args.workers, cache_budget=args.model_cache_memory)
        else:
            from dgenerate.backends import LocalBackend
            from dgenerate.models.cache import ModelCache

            backends[key] = LocalBackend(ModelCache(budget=args.model_cache_memory))
    return backends[key]


def _execute(request: RenderRequest, args: argparse.Namespace, backends: dict[tuple[Any, ...], Backend]) -> None:
    if args.replay_note:
        print(f"dgenerate: {printable(args.replay_note)}", file=sys.stderr)
    if args.dry_run:
        from dgenerate.dry_run import print_dry_run

        print_dry_run(request)
        return
    from dgenerate.render.outputs import check_output_folder

    check_output_folder(Path(request.output.path), create=False)  # a wrong folder is a quick error, before any load
    if args.gallery:  # a page that cannot take this run's images is refused before any work
        from dgenerate.curate.gallery import check_gallery

        check_gallery(Path(request.output.path))
    print(f"dgenerate: {describe_grid(request)}; seeds: {' '.join(map(str, request.seeds))}", file=sys.stderr)
    written = _backend(args, backends).render(request, args.resume)
    if args.contact_sheet:
        from dgenerate.curate.contact_sheet import write_contact_sheets

        for path in write_contact_sheets(written, args.contact_sheet_axes or ()):
            print(f"dgenerate: wrote {path}", file=sys.stderr)
    if args.gallery and written:
        from dgenerate.curate.gallery import update_gallery

        print(f"dgenerate: wrote {update_gallery(Path(request.output.path), written)}", file=sys.stderr)


def _inspect(paths: Sequence[str]) -> int:
    from dgenerate.curate.metadata import describe, read_record

    records = [read_record(Path(path), "--inspect") for path in paths]
    for record in records:
        sys.stdout.write(describe(record))
    return 1 if any(record.empty for record in records) else 0


def _serve(folder: str, port_text: str) -> int:
    from dgenerate.curate.serve import serve_gallery

    (port,) = _numbers([port_text], "--gallery-port", int, 0, 65535)
    serve_gallery(Path(folder).expanduser(), port, lambda url: print(
        f"dgenerate: serving the gallery of '{folder}' at {url} (Ctrl-C stops it)", file=sys.stderr, flush=True))
    return 0


def _image_process(args: argparse.Namespace) -> int:
    if not args.image_process or not args.processors:
        raise UsageError("--image-process FILE... and --processors PROCESSOR... go together: the files, then what to "
                         "do to them")
    from dgenerate.image_process import process_files

    processors = tuple(parse_processor(text, "--processors") for text in args.processors)
    for path in process_files(args.image_process, processors, Path(args.output_path), args.animation_format):
        print(f"dgenerate: wrote {printable(str(path))}", file=sys.stderr)
    return 0


def run_one(argv: Sequence[str]) -> int:
    parsed = build_parser().parse_args(list(argv))
    if parsed.inspect:
        return _inspect(parsed.inspect)
    if parsed.serve_gallery:
        return _serve(parsed.serve_gallery, parsed.gallery_port)
    if parsed.image_process or parsed.processors:
        return _image_process(parsed)
    request, args = parse_invocation(argv)
    backends: dict[tuple[Any, ...], Backend] = {}
    try:
        with allow(args.from_image is None or args.allow_downloads):  # an image from elsewhere is data
            _execute(request, args, backends)
    finally:
        for backend in backends.values():
            backend.close()
    return 0


def _run(argv: list[str]) -> int:
    if set(argv) <= {"--allow-downloads", "--debug"} and not sys.stdin.isatty():
        return run_batch(read_invocations(sys.stdin.read()), "--allow-downloads" in argv)
    return run_one(argv)


def _stopped(stop: KeyboardInterrupt) -> str:
    """The summary line of an interrupted run: what stopped it, how far it got, how to go on."""
    what = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
    done, total = getattr(stop, "images_done", None), getattr(stop, "images_total", None)
    if done is None or total is None:
        return what
    return (f"{what} after {done} of {total} images; every file written is complete. To make the rest, run the same "
            "command again with --resume (it needs --output-configs or --output-metadata)")


def _terminate(_signal: int, _frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("DGENERATE_DEBUG") == "1"
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return _run(argv)
    except DgenerateError as error:
        if debug:
            raise
        print(f"dgenerate: error: {printable(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as stop:
        print(f"dgenerate: {_stopped(stop)}", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except Exception as error:  # a bug or an unmapped library error: one line, the traceback behind --debug
        if debug:
            raise
        print(f"dgenerate: error: {type(error).__name__}: {printable(str(error))} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())

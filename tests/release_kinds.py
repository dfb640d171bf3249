"""The kinds of job of the reproduction contract as plain command lines, and how to run a release's code on them.

scripts/legacy-configs and scripts/compare-release run other releases' dgenerate (a `git archive` of a commit, on
PYTHONPATH) over these commands, so the list is data that any release's command line can take: each kind is the
words of tests/test_reproduction.py's KINDS at 5dc3d22, and of the fourth wave's families since, with `{fixture}`
naming a fixture of tests/release_fixtures.py. A release older than a kind refuses its command in one line (exit code
2 for an unknown option), which the scripts report as skipped.

Not named test_*.py: pytest does not collect it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COMMON = ("--device", "cpu", "--cpu-threads", "1", "--output-configs", "--output-metadata")
SEEDS = ("--seeds", "11", "22", "33", "44")
SCHEDULERS = ("DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
              "HeunDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
              "DPMSolverSinglestepScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
              "DEISMultistepScheduler", "UniPCMultistepScheduler", "DPMSolverSDEScheduler")


@dataclass(frozen=True)
class Kind:
    """A kind of job: its model and options, and whether it batches (text to image) or takes one seed."""

    name: str
    words: tuple[str, ...]
    batches: bool = True
    steps: int = 3
    prompt: str = "a red circle; blue"
    animation: bool = False


@dataclass(frozen=True)
class Command:
    """One command line of a kind; `label` names it in reports and corpus file names."""

    label: str
    kind: Kind
    argv: tuple[str, ...]


SD, SDXL = ("{tiny_model}",), ("{tiny_sdxl}", "--model-type", "torch-sdxl")
SD3, FLUX = ("{tiny_sd3}",), ("{tiny_flux}", "--output-size", "32")  # Flux defaults to 1024x1024 whatever the model
SEED, MASK = "{contract_inputs}/seed.png", "{contract_inputs}/mask.png"
CONTROL, CLIP = "{contract_inputs}/control.png", "{contract_inputs}/clip.mp4"
REFERENCE = "{contract_inputs}/reference.png"
STRENGTH = ("--image-seed-strengths", "0.6")


def _seeded(model: str, seed: str) -> tuple[str, ...]:
    return (model, "--image-seeds", seed, *STRENGTH)


def _controlled(model: str, seed: str, *nets: str) -> tuple[str, ...]:
    strength = STRENGTH if seed.startswith(SEED) else ()  # an image to change
    return (model, "--control-nets", *(f"{{{net}}};scale=1.5;end=0.8" for net in nets), "--image-seeds", seed,
            *strength)


KINDS = (
    Kind("sd", SD),
    Kind("sdxl", SDXL),
    Kind("sdxl-refiner", (*SDXL, "--sdxl-refiner", "{tiny_refiner}", "--sdxl-high-noise-fractions", "0.6")),
    Kind("img2img", _seeded("{tiny_model}", SEED), batches=False),
    Kind("inpainting", _seeded("{tiny_model}", f"{SEED};{MASK}"), batches=False),
    Kind("vae-folder", (*SD, "--vae", "AutoencoderKL;{other_vae}")),
    Kind("vae-file", (*SD, "--vae", "AutoencoderKL;{vae_file}")),
    Kind("lora", (*SD, "--lora", "{tiny_lora};0.7")),
    Kind("two-loras", (*SD, "--lora", "{tiny_lora};0.7", "{second_lora};0.4")),
    Kind("textual-inversion", (*SD, "--textual-inversions", "{sd_embedding}"), prompt="a red circle, tinystyle; blue"),
    Kind("sdxl-textual-inversion", (*SDXL, "--textual-inversions", "{sdxl_embedding}"),
         prompt="a red circle, TinyXLStyle; blue"),
    Kind("weighted-prompt", (*SD, "--prompt-weighting", "a1111"), prompt="a (red:1.4) circle, [square]; (blue)"),
    Kind("sdxl-weighted-prompt", (*SDXL, "--prompt-weighting", "a1111"), prompt="a ((red)) circle BREAK sun; "),
    Kind("controlnet", _controlled("{tiny_model}", CONTROL, "sd_controlnet"), batches=False),
    Kind("two-controlnets", _controlled("{tiny_model}", f"control={CONTROL},{SEED}", "sd_controlnet",
                                        "sd_controlnet_2"), batches=False),
    Kind("controlnet-img2img", _controlled("{tiny_model}", f"{SEED};control={CONTROL}", "sd_controlnet"),
         batches=False),
    Kind("controlnet-inpainting", _controlled("{tiny_model}", f"{SEED};{MASK};control={CONTROL}", "sd_controlnet"),
         batches=False),
    Kind("sdxl-controlnet", _controlled("{tiny_sdxl}", CONTROL, "sdxl_controlnet"), batches=False),
    Kind("sd3-controlnet", _controlled("{tiny_sd3}", CONTROL, "sd3_controlnet"), batches=False),
    Kind("flux-controlnet", _controlled("{tiny_flux}", CONTROL, "flux_controlnet"), batches=False),
    Kind("flux-controlnet-img2img", _controlled("{tiny_flux}", f"{SEED};control={CONTROL}", "flux_controlnet"),
         batches=False, prompt="a red circle"),
    Kind("flux-controlnet-inpainting", _controlled("{tiny_flux}", f"{SEED};{MASK};control={CONTROL}",
                                                   "flux_controlnet"), batches=False, prompt="a red circle"),
    Kind("all-adapters", (*_controlled("{tiny_model}", f"{SEED};{MASK};control={CONTROL}", "sd_controlnet"),
                          "--lora", "{tiny_lora};0.7", "{second_lora};0.4", "--textual-inversions", "{sd_embedding}",
                          "--prompt-weighting", "a1111"),
         batches=False, prompt="a (red:1.3) circle, tinystyle; [blue]"),
    Kind("sdxl-all-adapters", (*_controlled("{tiny_sdxl}", CONTROL, "sdxl_controlnet"), "--lora", "{sdxl_lora};0.6",
                               "--textual-inversions", "{sdxl_embedding}", "--prompt-weighting", "a1111"),
         batches=False, prompt="a ((red)) circle, tinyxlstyle; blue"),
    Kind("single-file", ("{sd_single_file}",)),
    Kind("float16", (*SD, "--dtype", "float16")),
    # PNDM plans its Runge-Kutta warm-up over 4 steps when the model's configuration does not skip it.
    *(Kind(f"scheduler-{name}", (*SD, "--scheduler", name), steps=4 if name == "PNDMScheduler" else 3)
      for name in SCHEDULERS),
    Kind("sd3", SD3),
    Kind("sd3-no-t5", (*SD3, "--no-t5", "--max-sequence-length", "77")),
    Kind("sd3-heun", (*SD3, "--scheduler", "FlowMatchHeunDiscreteScheduler")),
    Kind("sd3-lora", (*SD3, "--lora", "{sd3_lora};0.7")),
    Kind("sd3-vae", (*SD3, "--vae", "AutoencoderKL;{other_flow_vae}")),
    Kind("flux", (*FLUX, "--model-type", "torch-flux")),
    Kind("flux-true-guidance", (*FLUX, "--true-guidance-scales", "3", "--max-sequence-length", "64")),
    Kind("flux-lcm", (*FLUX, "--scheduler", "FlowMatchLCMScheduler")),
    Kind("flux-lora", (*FLUX, "--lora", "{flux_lora};0.7")),
    Kind("flux-bfloat16", (*FLUX, "--dtype", "bfloat16")),
    Kind("flux-transformer", (*FLUX, "--transformer", "{flux_transformer}")),
    Kind("sd3-transformer-file", (*SD3, "--transformer", "{sd3_transformer}.safetensors")),
    Kind("sd3-img2img", _seeded("{tiny_sd3}", SEED), batches=False),
    Kind("sd3-inpainting", _seeded("{tiny_sd3}", f"{SEED};{MASK}"), batches=False),
    Kind("flux-img2img", _seeded("{tiny_flux}", SEED), batches=False),
    Kind("flux-inpainting", _seeded("{tiny_flux}", f"{SEED};{MASK}"), batches=False),
    Kind("flux-fill", _seeded("{tiny_flux_fill}", f"{SEED};{MASK}"), batches=False,
         prompt="a red circle"),  # Flux Fill reads no negative prompt
    Kind("animation", _seeded("{tiny_model}", CLIP), batches=False, animation=True),
    Kind("flux-animation", _seeded("{tiny_flux}", CLIP), batches=False, animation=True),
    # The fourth wave's families (Chroma, Flux Kontext, Flux.2, Z-Image, Qwen-Image, Kolors, InstructPix2Pix, the x4
    # upscaler), as in tests/test_reproduction.py
    Kind("chroma", ("{tiny_chroma}", "--output-size", "32", "--model-type", "torch-chroma")),
    Kind("chroma-lora-transformer", ("{tiny_chroma}", "--output-size", "32", "--lora", "{chroma_lora};0.7",
                                     "--transformer", "{chroma_transformer}", "--max-sequence-length", "64")),
    Kind("chroma-img2img", _seeded("{tiny_chroma}", SEED), batches=False),
    Kind("chroma-inpainting", _seeded("{tiny_chroma}", f"{SEED};{MASK}"), batches=False),
    Kind("flux-kontext", ("{tiny_flux_kontext}", "--output-size", "32x48")),
    Kind("flux-kontext-edit", ("{tiny_flux_kontext}", "--image-seeds", SEED, "--true-guidance-scales", "2"),
         batches=False),
    Kind("flux-kontext-inpainting", _seeded("{tiny_flux_kontext}", f"{SEED};{MASK}"), batches=False),
    Kind("z-image", ("{tiny_z_image}", "--output-size", "48x32")),
    Kind("z-image-lora-transformer", ("{tiny_z_image}", "--output-size", "32", "--lora", "{z_image_lora};0.8",
                                      "--transformer", "{z_image_transformer}.safetensors", "--max-sequence-length",
                                      "100")),
    Kind("z-image-img2img", _seeded("{tiny_z_image}", SEED), batches=False),
    Kind("z-image-inpainting", _seeded("{tiny_z_image}", f"{SEED};{MASK}"), batches=False),
    Kind("qwen-image", ("{tiny_qwen_image}", "--output-size", "48x32")),
    Kind("qwen-image-lora-transformer-cfg", ("{tiny_qwen_image}", "--output-size", "32", "--lora",
                                             "{qwen_image_lora};0.8", "--transformer", "{qwen_image_transformer}",
                                             "--true-guidance-scales", "1.5")),
    Kind("qwen-image-img2img", _seeded("{tiny_qwen_image}", SEED), batches=False),
    Kind("qwen-image-inpainting", _seeded("{tiny_qwen_image}", f"{SEED};{MASK}"), batches=False),
    Kind("qwen-image-edit-lora", ("{tiny_qwen_edit}", "--image-seeds", SEED, "--true-guidance-scales", "2",
                                  "--lora", "{qwen_image_lora};0.8"), batches=False),
    Kind("qwen-image-edit-plus-reference", ("{tiny_qwen_edit_plus}", "--image-seeds", f"{SEED};reference={REFERENCE}"),
         batches=False),
    Kind("flux2", ("{tiny_flux2}", "--output-size", "48x32"), prompt="a red circle"),
    Kind("flux2-dev-lora", ("{tiny_flux2_dev}", "--output-size", "48x32", "--lora", "{flux2_lora};0.8",
                            "--max-sequence-length", "64"), prompt="a red circle"),
    Kind("flux2-dev-edit-references", ("{tiny_flux2_dev}", "--image-seeds", f"{SEED};reference={REFERENCE};96x64",
                                       "--max-sequence-length", "64"), batches=False, prompt="the two as one"),
    Kind("flux2-lora-transformer", ("{tiny_flux2}", "--output-size", "32", "--lora", "{flux2_lora};0.8",
                                    "--transformer", "{flux2_transformer}"), prompt="a red circle"),
    Kind("flux2-edit", ("{tiny_flux2}", "--image-seeds", f"{SEED};96x64"), batches=False, prompt="make it green"),
    Kind("flux2-edit-references", ("{tiny_flux2}", "--image-seeds", f"{SEED};reference={REFERENCE},{REFERENCE};96x64"),
         batches=False, prompt="the two as one"),
    Kind("flux2-inpainting-reference", ("{tiny_flux2}", "--image-seeds", f"{SEED};{MASK};reference={REFERENCE};96x64",
                                        "--image-seed-strengths", "0.7"), batches=False, prompt="a tree"),
    Kind("kolors", ("{tiny_kolors}", "--output-size", "48x64")),
    Kind("kolors-lora", ("{tiny_kolors}", "--lora", "{kolors_lora};0.7", "--max-sequence-length", "32",
                         "--sdxl-original-size", "96x128")),
    Kind("kolors-img2img", _seeded("{tiny_kolors}", SEED), batches=False),
    Kind("pix2pix", ("{tiny_pix2pix}", "--image-seeds", SEED, "--image-guidance-scales", "1.2"), batches=False),
    Kind("sdxl-pix2pix", ("{tiny_sdxl_pix2pix}", "--image-seeds", SEED, "--image-guidance-scales", "2"),
         batches=False),
    Kind("upscaler-x4", ("{tiny_upscaler}", "--image-seeds", SEED, "--upscaler-noise-levels", "50"), batches=False),
    Kind("edit-animation", ("{tiny_flux_kontext}", "--image-seeds", CLIP), batches=False, animation=True),
    # The fifth wave: variation seeds
    Kind("variation-seed-ancestral", (*SD, "--variation-seeds", "99", "--variation-strengths", "0.3", "--scheduler",
                                      "EulerAncestralDiscreteScheduler")),
    Kind("sdxl-variation-resize-seed", (*SDXL, "--variation-seeds", "7", "--variation-strengths", "0.5",
                                        "--resize-seed-from", "96x32")),
    Kind("sd3-variation-seed", (*SD3, "--variation-seeds", "7", "--variation-strengths", "0.4")),
    Kind("vae-tiling-slicing", (*SD, "--output-size", "160x128", "--vae-tiling", "--vae-slicing")),
    Kind("deepcache", (*SD, "--cache", "deepcache;interval=2")),
    Kind("sdxl-deepcache-hires", (*SDXL, "--cache", "deepcache", "--hires-scales", "1.5")),
    Kind("flux-taylorseer", (*FLUX, "--cache", "taylorseer;interval=2;warmup=1")),
    Kind("flux-gguf-transformer", (*FLUX, "--transformer", "{flux_gguf}")),
    Kind("flux-quantize-int8-dynamic", (*FLUX, "--quantize", "int8-dynamic;parts=denoiser")),
    Kind("sdxl-quantize-int8", (*SDXL, "--quantize", "int8-weight-only")),
    Kind("quantize-int8-lora", (*SD, "--lora", "{tiny_lora};0.7", "--quantize", "int8-weight-only")),
    Kind("compile", (*SD, "--compile")),
    Kind("flux-true-guidance-first-block", (*FLUX, "--true-guidance-scales", "3", "--cache",
                                            "first-block;threshold=0.5")),
    Kind("hires-latent", (*SD, "--output-size", "64x48", "--hires-scales", "1.5", "--hires-strengths", "0.4")),
    Kind("sdxl-hires-lanczos", (*SDXL, "--hires-scales", "1.25", "--hires-upscaler", "lanczos", "--hires-steps", "2",
                                "--scheduler", "EulerAncestralDiscreteScheduler")),
    # and image processors
    Kind("seed-and-mask-processors", (*_seeded("{tiny_model}", f"{SEED};{MASK}"), "--seed-image-processors", "invert",
                                      "posterize;bits=4", "--mask-image-processors", "dilate;size=3"), batches=False),
    Kind("control-processors", (*_controlled("{tiny_model}", f"{SEED};control={CONTROL}", "sd_controlnet"),
                                "--control-image-processors",
                                "canny;low=50;high=150", "gaussian-blur;radius=1"), batches=False),
    Kind("control-depth", (*_controlled("{tiny_model}", CONTROL, "sd_controlnet"), "--control-image-processors",
                           "depth;model={tiny_depth}"), batches=False),
    Kind("control-pose", (*_controlled("{tiny_model}", CONTROL, "sd_controlnet"), "--control-image-processors",
                          "pose;model={tiny_pose};threshold=0"), batches=False),
    # and the video families: one config per clip
    Kind("wan", ("{tiny_wan}", "--output-size", "48x32", "--frames", "5", "--flow-shifts", "5")),
    Kind("wan22-low-noise-guidance", ("{tiny_wan22}", "--output-size", "48x32", "--frames", "5",
                                      "--low-noise-guidance-scales", "3")),
    Kind("wan-image-to-video", ("{tiny_wan_i2v}", "--image-seeds", SEED, "--frames", "5"), batches=False),
    Kind("wan-first-last-frame", ("{tiny_wan_flf2v}", "--image-seeds", f"{SEED};last={REFERENCE}", "--frames", "5"),
         batches=False),
    Kind("wan-video-to-video", ("{tiny_wan}", "--image-seeds", CLIP, "--frames", "1", *STRENGTH), batches=False),
    Kind("ltx", ("{tiny_ltx_091}", "--output-size", "64x32", "--frames", "5", "--ltx-decode-timestep", "0.05")),
    Kind("ltx-image-to-video", ("{tiny_ltx}", "--image-seeds", SEED, "--frames", "5"), batches=False),
    Kind("ltx-video-to-video", ("{tiny_ltx}", "--image-seeds", CLIP, "--frames", "1", *STRENGTH), batches=False),
    Kind("ltx2", ("{tiny_ltx2}", "--output-size", "64x32", "--frames", "5", "--max-sequence-length", "32")),
    Kind("ltx2-image-to-video", ("{tiny_ltx2}", "--image-seeds", SEED, "--frames", "5", "--max-sequence-length", "32"),
         batches=False),
)


def _filled(words: tuple[str, ...], fixtures: Callable[[str], Path]) -> tuple[str, ...]:
    """The words with each {fixture} replaced by that fixture's path (built on first use)."""

    class Paths(dict[str, str]):
        def __missing__(self, name: str) -> str:
            return str(fixtures(name))

    return tuple(word.format_map(Paths()) for word in words)


def commands(kind: Kind, fixtures: Callable[[str], Path]) -> list[Command]:
    """The contract's command lines of `kind`, as tests/test_reproduction.py runs them (less -o): batches of 1 and 4
    of four seeds for a kind that batches; one seed at --batch-size 4 for an image seed; one seed for an animation."""
    argv = (*_filled(kind.words, fixtures), *COMMON, "--prompts", kind.prompt, "--inference-steps", str(kind.steps))
    if kind.animation:
        return [Command(kind.name, kind, (*argv, "--seeds", "11"))]
    if not kind.batches:
        return [Command(kind.name, kind, (*argv, "--seeds", "11", "--batch-size", "4"))]
    return [Command(f"{kind.name}-batch{size}", kind, (*argv, *SEEDS, "--batch-size", str(size))) for size in (1, 4)]


def unpack(commit: str, repository: Path, destination: Path) -> Path:
    """`git archive` of `commit` unpacked into `destination`; returns its src folder, for PYTHONPATH."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(repository), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination / "src"


def run_dgenerate(src: Path, argv: tuple[str, ...] | list[str], cwd: Path, hf_home: Path,
                  stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m dgenerate ARGV` of the source tree `src`, offline, with an empty Hugging Face cache."""
    cwd.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": str(src), "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "dgenerate", *argv], cwd=cwd, env=environment, input=stdin,
                          capture_output=True, text=True)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of a failed run's standard error: dgenerate's one-line message, or a traceback's end."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {result.returncode}"


def refused(result: subprocess.CompletedProcess[str]) -> bool:
    """The release turned the command down with one of its own messages (no traceback): an option it lacks, a model
    type it does not know."""
    return result.returncode != 0 and "Traceback (most recent call last)" not in result.stderr


def run_python(src: Path, code: str, stdin: str) -> str:
    """Python `code` run with the source tree `src` first on the path, its standard output returned."""
    environment = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], env=environment, input=stdin, capture_output=True, text=True,
                          check=True).stdout

"""Output file names, as dgenerate 0.18 writes them: [prefix_]s_{seed}[_st_{strength}]_g_{guidance}[_tg_{true
guidance}]_i_{steps}[_hnf_{fraction}]_step_{n} (a variation seed adds _vs_{seed}_vst_{strength} after the seed, a
two-expert model's low-noise guidance _lg_{scale} after the guidance, a hi-res pass _hrs_{scale}_hrst_{strength}
after the steps, a video model's clip _nf_{frames}[_fs_{flow shift}] after the steps), numbers written as Python
writes a float with '-' for the point (`g_7-5`, `g_8-0`, `st_0-9`); the frames of an animation add _frame_{k} (k: the
frame's number in the input).
Every axis a grid can vary but the prompt and the image seed is in the name; those two are told by the step."""

from __future__ import annotations

from collections.abc import Iterable

from dgenerate.errors import UsageError
from dgenerate.jobs import Job

NAME_MAX = 255  # bytes in one file name on ext4, XFS, Btrfs and ZFS (APFS and NTFS count 255 characters)
# What writing may add to a stem: a frame number (image seeds may be animated), a number past a name already taken,
# and the longest suffix.
_FRAME, _TAKEN, _SUFFIX = len("_frame_999999"), len("_999"), len(".webp")


def format_number(value: float) -> str:
    """5.0 -> '5', 7.5 -> '7.5'; floats keep every digit they need to read back exactly."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def name_number(value: float) -> str:
    """7.5 -> '7-5', 8 -> '8-0': the reference's file-name form of a float (its str(), the point written '-')."""
    return repr(float(value)).replace(".", "-")


def image_stem(job: Job) -> str:
    parts = [f"s_{job.seed}"]
    if job.variation_seed is not None:
        parts.append(f"vs_{job.variation_seed}")
    if job.variation_strength is not None:
        parts.append(f"vst_{name_number(job.variation_strength)}")
    if job.strength is not None:
        parts.append(f"st_{name_number(job.strength)}")
    parts.append(f"g_{name_number(job.guidance_scale)}")
    if job.low_noise_guidance_scale is not None:
        parts.append(f"lg_{name_number(job.low_noise_guidance_scale)}")
    if job.true_guidance_scale is not None:
        parts.append(f"tg_{name_number(job.true_guidance_scale)}")
    if job.image_guidance_scale is not None:
        parts.append(f"igs_{name_number(job.image_guidance_scale)}")
    if job.upscaler_noise_level is not None:
        parts.append(f"unl_{job.upscaler_noise_level}")
    parts.append(f"i_{job.inference_steps}")
    if job.frames is not None:
        parts.append(f"nf_{job.frames}")
    if job.flow_shift is not None:
        parts.append(f"fs_{name_number(job.flow_shift)}")
    if job.cache is not None:  # 'deepcache;interval=3;branch=0;warmup=0' -> ca_deepcache-3-0-0
        name, *settings = job.cache.split(";")
        parts.append("ca_" + "-".join([name, *(setting.split("=", 1)[1].replace(".", "-") for setting in settings)]))
    if job.high_noise_fraction is not None:
        parts.append(f"hnf_{name_number(job.high_noise_fraction)}")
    if job.hires_scale is not None and job.hires_strength is not None:
        parts.append(f"hrs_{name_number(job.hires_scale)}_hrst_{name_number(job.hires_strength)}")
    parts.append(f"step_{job.index}")
    if job.output.prefix:
        parts.insert(0, job.output.prefix)
    return "_".join(parts)


def frame_stem(stem: str, frame: int) -> str:
    return f"{stem}_frame_{frame}"


def numbered(stem: str, attempt: int) -> str:
    """The name to try on the attempt-th collision: stem, stem_2, stem_3, ..."""
    return stem if attempt == 1 else f"{stem}_{attempt}"


def check_name_lengths(jobs: Iterable[Job]) -> None:
    """Refuse, when the grid is planned, an --output-prefix that would make a file name longer than file systems allow
    (it would otherwise fail once the images are made)."""
    def size(job: Job) -> int:
        return len(image_stem(job).encode()) + (_FRAME if job.image_seed else 0) + _TAKEN + _SUFFIX

    longest = max(jobs, key=size, default=None)
    if longest is None or size(longest) <= NAME_MAX:
        return
    prefix = longest.output.prefix or ""
    room = NAME_MAX - (size(longest) - len(prefix.encode()))
    raise UsageError(f"--output-prefix {prefix[:40]!r}... ({len(prefix.encode())} bytes) makes file names of up to "
                     f"{size(longest)} bytes with the rest of the name, past the {NAME_MAX} file systems allow; "
                     f"shorten it to at most {max(room, 0)} bytes")

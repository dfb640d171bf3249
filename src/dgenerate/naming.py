"""Output file names. They start with the seed: [prefix_]s_{seed}[_st_{strength}]_g_{guidance}_i_{steps}_step_{n},
and the frames of an animation add _frame_{k} (k: the frame's number in the input)."""

from __future__ import annotations

from dgenerate.jobs import Job


def format_number(value: float) -> str:
    """5.0 -> '5', 7.5 -> '7.5'; floats keep every digit they need to read back exactly."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def image_stem(job: Job) -> str:
    parts = [f"s_{job.seed}"]
    if job.strength is not None:
        parts.append(f"st_{format_number(job.strength)}")
    parts += [f"g_{format_number(job.guidance_scale)}", f"i_{job.inference_steps}", f"step_{job.index}"]
    if job.output.prefix:
        parts.insert(0, job.output.prefix)
    return "_".join(parts)


def frame_stem(stem: str, frame: int) -> str:
    return f"{stem}_frame_{frame}"


def numbered(stem: str, attempt: int) -> str:
    """The name to try on the attempt-th collision: stem, stem_2, stem_3, ..."""
    return stem if attempt == 1 else f"{stem}_{attempt}"

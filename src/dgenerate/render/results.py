"""What the render stage hands the output stage: finished pictures with their jobs, never files.

A text-to-image or still image seed job gives one `Still`; an animated image seed gives `AnimationStart`, a `Frame`
per frame in order, then `AnimationEnd` once every frame is made (an interrupted or failed animation has no end).
A video model's job gives one `Clip`, its frames as the pipeline decoded them (and its sound, for a model with audio).
Each picture carries the environment line its config records (libraries and machine that rendered it), so results
from Ray workers are written as their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dgenerate.jobs import Job
from dgenerate.media.sound import Sound


@dataclass(frozen=True)
class Still:
    job: Job
    image: Any  # a PIL image
    environment: str


@dataclass(frozen=True)
class AnimationStart:
    job: Job
    fps: Fraction
    delays: tuple[Fraction, ...] | None  # each frame's own display time, where the input states them
    frames: int | None  # None: the input does not say its length


@dataclass(frozen=True)
class Frame:
    job: Job  # the animation's job for this one frame (frame_start = frame_end = its number)
    image: Any
    environment: str


@dataclass(frozen=True)
class AnimationEnd:
    job: Job
    environment: str


@dataclass(frozen=True)
class Clip:
    job: Job
    frames: list[Any]  # PIL images, in order
    environment: str
    sound: Sound | None = None  # what a video model with audio made with the frames (LTX-2)


@dataclass(frozen=True)
class Voiced:
    """One clip of a video pipeline that makes sound: its frames and its sound."""

    frames: list[Any]
    sound: Sound


def clip_of(job: Job, made: Any, environment: str) -> Clip:
    """The clip a video pipeline made for `job`: its frames, with their sound where it made one."""
    if isinstance(made, Voiced):
        return Clip(job, made.frames, environment, made.sound)
    return Clip(job, list(made), environment)


Result = Still | AnimationStart | Frame | AnimationEnd | Clip

"""The output stage: the render stage's pictures named, encoded and written (PNGs with their metadata, configs,
animations), on a writer thread behind a small bounded queue, so that the next pipeline call denoises while the last
one's images are encoded.

Naming rule: when `name.png` (or its `name.dgen`) exists, the image is written as `name_2.png`, then `name_3.png`,
and so on; the check and the write are one step (a hard link from a temporary file), so two processes writing into
one folder cannot overwrite each other either. A `name.dgen` whose image is gone and that records the job being
written is the one exception: that job's image and config take the name back. Every file is written atomically. On
a stop (Ctrl-C, SIGTERM) the pictures already queued are written and an animation being written is finished playable;
after an error they are written too, but an unfinished animation leaves no file.
"""

from __future__ import annotations

import errno
import itertools
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from dgenerate.errors import OutputError
from dgenerate.jobs import Job
from dgenerate.media._atomic import discard, publish, refuse_existing, temp_path, why
from dgenerate.naming import frame_stem, image_stem, numbered
from dgenerate.render.progress import Progress
from dgenerate.render.results import AnimationEnd, AnimationStart, Clip, Frame, Result, Still

QUEUE_SIZE = 8  # pictures waiting for the writer at most; the render stage waits for room beyond that


def _create(path: Path, data: bytes) -> bool:
    """Write `data` as a new file at `path`; False, writing nothing, if it exists already."""
    temporary = temp_path(path)
    try:
        temporary.write_bytes(data)
        publish(temporary, path, overwrite=False)
        return True
    except OutputError:
        if path.exists():
            return False
        raise
    finally:
        discard(temporary)


def write_new(directory: Path, stem: str, files: dict[str, bytes]) -> Path:
    """Write files `stem + suffix` under a stem that no existing file uses; returns the path of the first."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output-path {str(directory)!r} cannot be created: {why(error)}") from error
    suffixes = list(files)
    for attempt in itertools.count(1):
        name = numbered(stem, attempt)
        if any((directory / (name + suffix)).exists() for suffix in suffixes[1:]):
            continue
        try:
            if not _create(directory / (name + suffixes[0]), files[suffixes[0]]):
                continue
            for suffix in suffixes[1:]:
                _create(directory / (name + suffix), files[suffix])
        except OSError as error:
            raise OutputError(f"cannot write {directory / name}{suffixes[0]}: {why(error)}") from error
        return directory / (name + suffixes[0])
    raise AssertionError("unreachable")


def check_output_folder(folder: Path, create: bool = True) -> None:
    """Before any work: `folder` is a folder in which a file can be created, or, when it is missing, one that can be
    made (made here unless `create` is False, so that a run that fails before any work leaves no empty folder)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output-path '{folder}' is a file, not a folder: give a folder (it is made when missing)")
    system = _system_file_system(folder)
    if system is not None:
        raise OutputError(f"--output-path '{folder}' is under '{system[0]}', a {system[1]} file system that the system "
                          "keeps and that cannot hold image files; give a folder on a disk, such as ./output")
    if not folder.exists() and not create:
        parent = next(path for path in folder.absolute().parents if path.exists())
        if not parent.is_dir():
            raise OutputError(f"--output-path '{folder}' cannot be created: {why(OSError(errno.ENOTDIR, ''))}")
        if not os.access(parent, os.W_OK | os.X_OK):
            code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
            raise OutputError(f"--output-path '{folder}' cannot be created in '{parent}': {why(OSError(code, ''))}")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output-path '{folder}' cannot be created: {why(error)}") from error
    probe = folder / f".dgenerate-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"--output-path '{folder}' is not writable: {why(error)}") from error


# Linux file systems that show the kernel's state as files: mounted on /proc, /sys, /dev and under them.
_SYSTEM_FILE_SYSTEMS = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                        "pstore", "bpf", "configfs", "fusectl", "efivarfs", "binfmt_misc", "mqueue", "hugetlbfs"}


def _system_file_system(folder: Path) -> tuple[str, str] | None:
    """The mount point and type of the kernel's file system `folder` is on, where it is one (Linux); None otherwise."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(folder)
    best: tuple[str, str] | None = None
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ")
        kind = line.split(" - ", 1)[1].split()[0]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) >= len(best[0])):
            best = (mount, kind)
    return best if best is not None and best[1] in _SYSTEM_FILE_SYSTEMS else None


def check_output_folders(jobs: Sequence[Job]) -> None:
    for folder in dict.fromkeys(job.output.path for job in jobs):
        check_output_folder(Path(folder))


def write_image(job: Job, image: Any, environment: str, stem: str | None = None) -> Path:
    """A PNG (with the config and AUTOMATIC1111 text in its metadata when asked) and its config file, named by
    `stem` (the job's own by default) under the never-overwrite rule."""
    from dgenerate.media.writers import encode_png
    from dgenerate.reproduce import A1111_CHUNK, CONFIG_CHUNK, a1111_parameters, config_text

    chunks: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if job.output.configs or job.output.metadata:
        config = config_text(job, environment)
        if job.output.metadata:
            chunks = {CONFIG_CHUNK: config, A1111_CHUNK: a1111_parameters(job)}
    files[".png"] = encode_png(image, chunks)
    if job.output.configs:
        files[".dgen"] = config.encode()
        if stem is None:
            _replace_orphan(Path(job.output.path), image_stem(job), job)
    return write_new(Path(job.output.path), stem or image_stem(job), files)


def _replace_orphan(folder: Path, stem: str, job: Job) -> None:
    """A config left without its image (the image deleted, its config kept) that records this very job gives its name
    back: the image made now is the one it describes, and its new config says the same, so nothing is lost and a
    resumed folder reads as a run that was never interrupted."""
    from dgenerate.reproduce import recorded_job_id

    config = folder / f"{stem}.dgen"
    if (folder / f"{stem}.png").exists() or not config.is_file():
        return
    try:
        if recorded_job_id(config.read_text(encoding="utf-8", errors="replace")) == job.job_id:
            config.unlink()
    except OSError:
        return  # left as it is: the image is then numbered past it, as before


def animation_stem(job: Job) -> str:
    """The animation's name in its folder: the job's stem, numbered past an animation or config already there."""
    folder, fmt = Path(job.output.path), job.output.animation_format
    stem = image_stem(job)
    attempt = 1
    while any((folder / (numbered(stem, attempt) + suffix)).exists() for suffix in (f".{fmt}", ".dgen")):
        attempt += 1
    return numbered(stem, attempt)


@dataclass
class _Animation:
    """An animation being written: its encoder (made with the first frame, whose size it takes: post-processors may
    change it), its name, and the files written for it so far."""

    open_writer: Callable[[tuple[int, int]], Any]
    stem: str
    paths: list[Path] = field(default_factory=list)
    writer: Any = None


Ending = Literal["done", "stopped", "failed"]


@dataclass(frozen=True)
class _End:
    how: Ending


class OutputStage:
    """Writes results in the order they are put, on its own thread. Use it as a context manager: leaving the block
    normally writes everything queued and raises what writing failed with; leaving it on a stop (KeyboardInterrupt,
    SIGTERM) or an error still writes what is queued, then lets the stop or error go on.

    `written` is every finished job with the files written for it: its image, or its animation then its frames."""

    def __init__(self, progress: Progress, queue_size: int = QUEUE_SIZE) -> None:
        self.progress = progress
        self.written: list[tuple[Job, list[Path]]] = []
        self._queue: queue.Queue[Result | _End] = queue.Queue(maxsize=queue_size)
        self._failure: BaseException | None = None
        self._animation: _Animation | None = None
        self._thread = threading.Thread(target=self._run, name="dgenerate-writer", daemon=True)

    def __enter__(self) -> OutputStage:
        self._thread.start()
        return self

    def put(self, result: Result) -> None:
        """Queue a picture for writing; waits while the queue is full, and raises what writing has failed with (a
        full disk, say) so that no more work is done for nothing."""
        while True:
            self._raise_failure()
            try:
                self._queue.put(result, timeout=0.1)
                return
            except queue.Full:
                continue

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        how: Ending = "done" if error is None else "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
        self._queue.put(_End(how))
        self._thread.join()
        if error is None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                self._end(item.how)
                return
            if self._failure is not None:
                continue  # the failure stops the run; what is still queued is dropped
            try:
                self._write(item)
            except BaseException as failure:
                self._failure = failure
                self._end("failed")

    def _write(self, result: Result) -> None:
        if isinstance(result, Still):
            self._done(result.job, [write_image(result.job, result.image, result.environment)])
        elif isinstance(result, AnimationStart):
            self._start(result)
        elif isinstance(result, Frame):
            self._frame(result)
        elif isinstance(result, Clip):
            self._clip(result)
        else:
            self._finish(result)

    def _done(self, job: Job, paths: list[Path]) -> None:
        self.written.append((job, paths))
        self.progress.image_done(paths[0])

    def _start(self, start: AnimationStart) -> None:
        from dgenerate.media import AnimationFormat, AnimationWriter

        job = start.job
        folder = Path(job.output.path)
        folder.mkdir(parents=True, exist_ok=True)
        stem = animation_stem(job)
        path = folder / f"{stem}.{job.output.animation_format}"
        fmt = cast(AnimationFormat, job.output.animation_format)
        refuse_existing(path, overwrite=False)

        def open_writer(size: tuple[int, int]) -> Any:
            writer = AnimationWriter(path, fmt, start.fps, size, delays=start.delays)
            writer.__enter__()
            return writer

        self._animation = _Animation(open_writer, stem, [path])
        self.progress.add_images((start.frames or 1) - 1)

    def _frame(self, frame: Frame) -> None:
        animation = self._animation
        assert animation is not None and frame.job.frame_start is not None, "frames come between start and end"
        if animation.writer is None:  # opened before the first frame's file, so a failed open leaves no file
            animation.writer = animation.open_writer(frame.image.size)
        path = write_image(frame.job, frame.image, frame.environment, frame_stem(animation.stem, frame.job.frame_start))
        animation.paths.append(path)
        animation.writer.write(frame.image)
        self.progress.image_done(path)

    def _clip(self, clip: Clip) -> None:
        """A video model's clip: its animation file (with its sound, in an MP4), each frame as a PNG (lossless,
        whatever the animation format; with the clip's config in its metadata when asked, so a frame makes its clip
        again), its sound as a WAV file, then the clip's config, written once the rest is whole."""
        from fractions import Fraction

        from dgenerate.media import AnimationFormat, AnimationWriter
        from dgenerate.media.writers import encode_png
        from dgenerate.reproduce import A1111_CHUNK, CONFIG_CHUNK, a1111_parameters, config_text

        job = clip.job
        assert job.frame_rate is not None, "resolved clips record their frame rate"
        folder = Path(job.output.path)
        folder.mkdir(parents=True, exist_ok=True)
        stem = animation_stem(job)
        path = folder / f"{stem}.{job.output.animation_format}"
        fps = Fraction(job.frame_rate).limit_denominator(1001)
        with AnimationWriter(path, cast(AnimationFormat, job.output.animation_format), fps, clip.frames[0].size,
                             sound=clip.sound) as writer:
            for frame in clip.frames:
                writer.write(frame)
        config = config_text(job, clip.environment)
        chunks = {CONFIG_CHUNK: config, A1111_CHUNK: a1111_parameters(job)} if job.output.metadata else {}
        paths = [path] + [write_new(folder, frame_stem(stem, index), {".png": encode_png(frame, chunks)})
                          for index, frame in enumerate(clip.frames)]
        if clip.sound is not None:  # lossless, whatever the animation format
            from dgenerate.media.sound import wav_bytes

            paths.append(write_new(folder, stem, {".wav": wav_bytes(clip.sound)}))
        if job.output.configs:
            write_new(folder, stem, {".dgen": config.encode()})
        self._done(job, paths)

    def _finish(self, end: AnimationEnd) -> None:
        from dgenerate.reproduce import config_text

        animation, self._animation = self._animation, None
        assert animation is not None and animation.writer is not None, "an animation that ends has frames"
        animation.writer.__exit__(None, None, None)
        if end.job.output.configs:  # only a finished animation is what its config makes (an interrupted one has none)
            write_new(Path(end.job.output.path), animation.stem,
                      {".dgen": config_text(end.job, end.environment).encode()})
        self.written.append((end.job, animation.paths))

    def _end(self, how: Ending) -> None:
        """An animation left open is finished playable on a stop, and leaves no file after an error."""
        animation, self._animation = self._animation, None
        if animation is None or animation.writer is None or how == "done":
            return
        stop = KeyboardInterrupt() if how == "stopped" else RuntimeError("stopped by an error")
        try:
            animation.writer.__exit__(type(stop), stop, None)
        except Exception as failure:
            if self._failure is None and how == "stopped":
                self._failure = failure

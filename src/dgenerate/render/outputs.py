"""The output stage: the render stage's pictures named, encoded and written (PNGs with their metadata, configs,
animations), on a writer thread behind a small bounded queue, so that the next pipeline call denoises while the last
one's images are encoded.

Naming rule: when `name.png` (or its `name.dgen`) exists, the image is written as `name_2.png`, then `name_3.png`,
and so on; the check and the write are one step (a hard link from a temporary file), so two processes writing into
one folder cannot overwrite each other either. Every file is written atomically. On a stop (Ctrl-C, SIGTERM) the
pictures already queued are written and an animation being written is finished playable; after an error they are
written too, but an unfinished animation leaves no file.
"""

from __future__ import annotations

import errno
import itertools
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from dgenerate.errors import OutputError
from dgenerate.jobs import Job
from dgenerate.media._atomic import discard, publish, temp_path, why
from dgenerate.naming import frame_stem, image_stem, numbered
from dgenerate.render.progress import Progress
from dgenerate.render.results import AnimationEnd, AnimationStart, Frame, Result, Still

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
    return write_new(Path(job.output.path), stem or image_stem(job), files)


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
    """An animation being written: its encoder, its name, and the files written for it so far."""

    writer: Any
    stem: str
    paths: list[Path] = field(default_factory=list)


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
        else:
            self._finish(result)

    def _done(self, job: Job, paths: list[Path]) -> None:
        self.written.append((job, paths))
        self.progress.image_done(paths[0])

    def _start(self, start: AnimationStart) -> None:
        from dgenerate.media import AnimationFormat, AnimationWriter

        job = start.job
        assert job.width is not None and job.height is not None
        folder = Path(job.output.path)
        folder.mkdir(parents=True, exist_ok=True)
        stem = animation_stem(job)
        path = folder / f"{stem}.{job.output.animation_format}"
        fmt = cast(AnimationFormat, job.output.animation_format)
        writer = AnimationWriter(path, fmt, start.fps, (job.width, job.height), delays=start.delays)
        writer.__enter__()
        self._animation = _Animation(writer, stem, [path])
        self.progress.add_images((start.frames or 1) - 1)

    def _frame(self, frame: Frame) -> None:
        animation = self._animation
        assert animation is not None and frame.job.frame_start is not None, "frames come between start and end"
        path = write_image(frame.job, frame.image, frame.environment, frame_stem(animation.stem, frame.job.frame_start))
        animation.paths.append(path)
        animation.writer.write(frame.image)
        self.progress.image_done(path)

    def _finish(self, end: AnimationEnd) -> None:
        from dgenerate.reproduce import config_text

        animation, self._animation = self._animation, None
        assert animation is not None
        animation.writer.__exit__(None, None, None)
        if end.job.output.configs:  # only a finished animation is what its config makes (an interrupted one has none)
            write_new(Path(end.job.output.path), animation.stem,
                      {".dgen": config_text(end.job, end.environment).encode()})
        self.written.append((end.job, animation.paths))

    def _end(self, how: Ending) -> None:
        """An animation left open is finished playable on a stop, and leaves no file after an error."""
        animation, self._animation = self._animation, None
        if animation is None or how == "done":
            return
        stop = KeyboardInterrupt() if how == "stopped" else RuntimeError("stopped by an error")
        try:
            animation.writer.__exit__(type(stop), stop, None)
        except Exception as failure:
            if self._failure is None and how == "stopped":
                self._failure = failure

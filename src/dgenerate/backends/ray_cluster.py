"""The Ray backend: one grid (or one stdin batch) spread over long-lived actors, one device and one model cache each.

The driver plans and resolves; each pipeline call of the grid (a batch group, or one image seed job) travels to a
worker as data (resolved Jobs, never pipelines) through Ray's ActorPool. The worker renders it with the local render
loop into a staging folder of its own and sends the files back; the driver writes them under the names, and with the
never-overwrite rule, of a local run. So an image is byte-identical to a local one made on the same kind of device
with the same thread count, and a cluster needs no shared file system. Workers that die are restarted by Ray and
their calls retried (``max_restarts``, ``max_task_retries``); the driver writes a call's files once, when its result
arrives, so every image exists exactly once. An animation comes back whole, frames included.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dgenerate.errors import DgenerateError, UsageError, interrupted_after
from dgenerate.jobs import Job
from dgenerate.models.budget import DEFAULT_SHARE
from dgenerate.plan import RenderRequest, batch_groups, plan
from dgenerate.render.calls import Progress

RESTARTS = 3  # a worker process that dies is started again this often, and its calls retried


def require_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise UsageError('--backend ray needs Ray: pip install "dgenerate[ray]" (or pip install ray)') from error
    return ray


@dataclass(frozen=True)
class Staged:
    """What a worker made for one job: its files' names in order (the image, or the animation then its frames)
    and every file's bytes, configs included."""

    index: int
    names: list[str]
    files: dict[str, bytes]


class StepCounter:
    """A Ray actor the workers report denoising steps to, and the driver reads its progress bar from."""

    def __init__(self) -> None:
        self.steps = self.added = 0

    def step(self) -> None:
        self.steps += 1

    def add(self, steps: int) -> None:
        self.added += steps

    def read(self) -> tuple[int, int]:
        return self.steps, self.added


@dataclass
class RemoteProgress(Progress):
    """A worker's progress: steps go to the driver's StepCounter; the worker itself prints nothing."""

    counter: Any = None

    def on_step_end(self, _pipeline: Any, _step: int, _timestep: Any, _outputs: dict[str, Any]) -> dict[str, Any]:
        self.counter.step.remote()
        return {}

    def add_steps(self, steps: int) -> None:
        self.counter.add.remote(steps)

    def add_images(self, count: int) -> None:
        pass

    def image_done(self, path: Path) -> None:
        pass

    def close(self) -> None:
        pass


class RenderWorker:
    """A Ray actor owning one device and a model cache: each model loads once per worker, whatever it is given."""

    def __init__(self, counter: str, cache_budget: int | float) -> None:
        from dgenerate.models.cache import ModelCache

        self.cache = ModelCache(budget=cache_budget)
        self.counter_name = counter  # a name, not a handle: Ray restarts a worker only from arguments kept inline

    def render(self, unit: list[tuple[int, Job]]) -> list[Staged]:
        from dgenerate.render.loop import render_each

        with tempfile.TemporaryDirectory(prefix="dgenerate-worker-") as folder:
            staging = Path(folder) / "out"
            downloads = Path(folder) / "downloads"
            downloads.mkdir()
            jobs = [replace(job, output=replace(job.output, path=str(staging))) for _, job in unit]
            counter = require_ray().get_actor(self.counter_name)
            progress = RemoteProgress(bar=None, images=0, enabled=False, counter=counter)
            written = render_each(jobs, self.cache, progress, downloads)
            return [_staged(index, paths) for (index, _), (_, paths) in zip(unit, written, strict=True)]

    def models_loaded(self) -> int:
        return self.cache.loads


def _staged(index: int, paths: list[Path]) -> Staged:
    files = {kept.name: kept.read_bytes() for path in paths for kept in (path, path.with_suffix(".dgen"))
             if kept.is_file()}
    return Staged(index, [path.name for path in paths], files)


def publish(job: Job, staged: Staged) -> list[Path]:
    """Write what a worker made for `job` into the job's output folder, as a local run names and writes it."""
    from dgenerate.render.image_seeds import animation_stem
    from dgenerate.render.outputs import write_new

    folder = Path(job.output.path)
    first = Path(staged.names[0])
    if len(staged.names) == 1:
        return [write_new(folder, first.stem, _with_config(first, staged))]
    stem = animation_stem(job)
    written = [write_new(folder, stem, {first.suffix: staged.files[first.name]})]
    for name in staged.names[1:]:
        frame = Path(name)
        written.append(write_new(folder, stem + frame.stem[len(first.stem):], _with_config(frame, staged)))
    config = first.with_suffix(".dgen").name
    if config in staged.files:  # as locally, an animation's config is written once the animation is complete
        write_new(folder, stem, {".dgen": staged.files[config]})
    return written


def _with_config(path: Path, staged: Staged) -> dict[str, bytes]:
    files = {path.suffix: staged.files[path.name]}
    if path.with_suffix(".dgen").name in staged.files:
        files[".dgen"] = staged.files[path.with_suffix(".dgen").name]
    return files


class RayBackend:
    """Jobs rendered by `workers` actors on the Ray cluster at `address` (None: a local Ray for this backend's life;
    'auto': the running cluster). A Ray already started in this process is used as it is, and left running."""

    def __init__(self, address: str | None = None, workers: int | None = None, progress: bool = True,
                 cache_budget: int | float = DEFAULT_SHARE) -> None:
        self.ray = require_ray()
        self.address, self.workers, self.progress = address, workers, progress
        self.cache_budget = cache_budget
        self.started = False
        self.counter: Any = None
        self.counter_name = ""
        self.actors: dict[str, list[Any]] = {}

    def connect(self) -> None:
        if self.ray.is_initialized():
            return
        try:
            self.ray.init(address=self.address or "local", include_dashboard=False, log_to_driver=False,
                          logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"at {self.address!r}" if self.address else "on this machine"
            raise DgenerateError(f"--backend ray: cannot start or reach a Ray cluster {where}: {error}; for a "
                                 "cluster, run `ray start --head` and give --ray-address auto") from error
        self.started = self.address is None

    def device(self, request: RenderRequest) -> RenderRequest:
        """`--device auto` means cuda when the cluster has GPUs (the driver may have none)."""
        if request.model.device != "auto":
            return request
        device = "cuda" if self.ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
        return replace(request, model=replace(request.model, device=device))

    def pool(self, device: str) -> list[Any]:
        """The workers for a kind of device, started once: one GPU each, or one CPU each."""
        kind = "gpu" if device.startswith("cuda") else "cpu"
        if kind not in self.actors:
            gpus = int(self.ray.cluster_resources().get("GPU", 0))
            count = self.workers or (gpus if kind == "gpu" and gpus else 1)
            if self.counter is None:
                self.counter_name = f"dgenerate-progress-{uuid.uuid4().hex}"
                self.counter = self.ray.remote(StepCounter).options(num_cpus=0, name=self.counter_name).remote()
            worker = self.ray.remote(RenderWorker).options(
                num_cpus=1, num_gpus=1 if kind == "gpu" else 0, max_restarts=RESTARTS, max_task_retries=RESTARTS)
            self.actors[kind] = [worker.remote(self.counter_name, self.cache_budget) for _ in range(count)]
        return self.actors[kind]

    def render(self, request: RenderRequest, resume: bool = False) -> list[tuple[Job, list[Path]]]:
        from dgenerate.render.loop import resumed
        from dgenerate.render.outputs import check_output_folders
        from dgenerate.resolve import resolve

        self.connect()
        request = self.device(request)
        with tempfile.TemporaryDirectory(prefix="dgenerate-downloads-") as downloads:
            jobs = resolve(plan(request), Path(downloads))
        check_output_folders(jobs)
        if resume:
            jobs = resumed(jobs, self.progress)
        if not jobs:
            return []
        units, position = [], 0
        for group in batch_groups(jobs):
            units.append([(position + offset, job) for offset, job in enumerate(group)])
            position += len(group)
        return self._run(tuple(jobs), units, self.pool(jobs[0].model.device))

    def _run(self, jobs: tuple[Job, ...], units: list[list[tuple[int, Job]]],
             actors: list[Any]) -> list[tuple[Job, list[Path]]]:
        from ray.util import ActorPool

        from dgenerate.render.loop import text_steps

        base_steps = text_steps([[job for _, job in unit] for unit in units])
        bar = Progress.start(base_steps, len(jobs), self.progress)
        pool = ActorPool(actors)
        for unit in units:
            pool.submit(lambda actor, work: actor.render.remote(work), unit)
        results: dict[int, tuple[Job, list[Path]]] = {}
        try:
            while pool.has_next():
                try:
                    staged_jobs = pool.get_next_unordered(timeout=0.25)
                except TimeoutError:
                    self._tick(bar, base_steps)
                    continue
                except self.ray.exceptions.RayTaskError as error:
                    raise _cause(error) from error
                for staged in staged_jobs:
                    results[staged.index] = self._written(jobs[staged.index], staged, bar)
                self._tick(bar, base_steps)
        except KeyboardInterrupt as stop:
            interrupted_after(stop, len(results), len(jobs))
            self.stop_workers()
            raise
        finally:
            bar.close()
        return [results[index] for index in sorted(results)]

    def _written(self, job: Job, staged: Staged, bar: Progress) -> tuple[Job, list[Path]]:
        paths = publish(job, staged)
        bar.add_images(max(0, len(paths) - 2))
        for path in paths[1:] if len(paths) > 1 else paths:
            bar.image_done(path)
        return job, paths

    def _tick(self, bar: Progress, base_steps: int) -> None:
        steps, added = self.ray.get(self.counter.read.remote())
        if base_steps + added != bar.bar.total:
            bar.bar.total = base_steps + added
            bar.bar.refresh()
        done = min(steps, bar.bar.total) - bar.bar.n
        if done > 0:
            bar.bar.update(done)

    def models_loaded(self) -> list[int]:
        """How many models each worker has loaded, workers in order (for tests and benchmarks)."""
        return [self.ray.get(actor.models_loaded.remote()) for kind in self.actors.values() for actor in kind]

    def stop_workers(self) -> None:
        for kind in self.actors.values():
            for actor in kind:
                self.ray.kill(actor, no_restart=True)
        self.actors = {}
        if self.counter is not None:
            self.ray.kill(self.counter, no_restart=True)
            self.counter = None

    def close(self) -> None:
        if self.ray.is_initialized():
            self.stop_workers()
            if self.started:
                self.ray.shutdown()
        self.started = False


def _cause(error: Any) -> BaseException:
    """The worker's own exception (a DgenerateError keeps its one line and exit code), not Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else DgenerateError(f"a Ray worker failed: {error}")

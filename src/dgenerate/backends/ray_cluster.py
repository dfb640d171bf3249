"""The Ray backend: one grid (or one stdin batch) spread over long-lived actors, one device and one model cache each.

The driver plans and resolves; each pipeline call of the grid (a batch group, or one image seed job) travels to a
worker as data (resolved Jobs, never pipelines) through Ray's ActorPool. The worker runs the render stage on it and
sends back its pictures with their jobs (never files); the driver feeds them to the same output stage as a local run,
which names, encodes and writes them. So an image is byte-identical to a local one made on the same kind of device
with the same thread count, and a cluster needs no shared file system. Workers that die are restarted by Ray and
their calls retried (``max_restarts``, ``max_task_retries``); the driver writes a call's pictures once, when its
result arrives, so every image exists exactly once. An animation comes back whole, every frame.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dgenerate.errors import DgenerateError, UsageError, interrupted_after
from dgenerate.jobs import Job
from dgenerate.models.budget import DEFAULT_SHARE
from dgenerate.plan import RenderRequest, batch_groups, plan
from dgenerate.render.progress import Progress
from dgenerate.render.results import Result

if TYPE_CHECKING:
    from dgenerate.render.outputs import OutputStage

RESTARTS = 3  # a worker process that dies is started again this often, and its calls retried


def require_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise UsageError('--backend ray needs Ray: pip install "dgenerate[ray]" (or pip install ray)') from error
    return ray


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

    def render(self, unit: list[Job]) -> list[Result]:
        from dgenerate.render.generate import render_results

        with tempfile.TemporaryDirectory(prefix="dgenerate-worker-") as downloads:
            counter = require_ray().get_actor(self.counter_name)
            progress = RemoteProgress(bar=None, images=0, enabled=False, counter=counter)
            return list(render_results(batch_groups(unit), self.cache, progress, Path(downloads)))

    def models_loaded(self) -> int:
        return self.cache.loads

    def visible_devices(self) -> str | None:
        """The GPUs Ray gave this worker, as CUDA sees them (CUDA_VISIBLE_DEVICES)."""
        import os

        return os.environ.get("CUDA_VISIBLE_DEVICES")


def _check_gpus(gpus: int, workers: int | None, device: str) -> None:
    """Each GPU worker owns one whole GPU: a worker more than the cluster's GPUs would wait for one forever."""
    if gpus == 0:
        raise UsageError(f"--device {device}: the Ray cluster has no GPU; give --device cpu, or start the cluster on "
                         "machines with GPUs")
    if workers is not None and workers > gpus:
        raise UsageError(f"--workers {workers} is more than the {gpus} GPU{'s' if gpus > 1 else ''} of the Ray "
                         f"cluster, and each worker owns one GPU; give --workers {gpus} or fewer (or leave it out: one "
                         "worker per GPU)")


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
        processor = "gpu" if device.startswith("cuda") else "cpu"
        if processor not in self.actors:
            gpus = int(self.ray.cluster_resources().get("GPU", 0))
            if processor == "gpu":
                _check_gpus(gpus, self.workers, device)
            count = self.workers or (gpus if processor == "gpu" else 1)
            if self.counter is None:
                self.counter_name = f"dgenerate-progress-{uuid.uuid4().hex}"
                self.counter = self.ray.remote(StepCounter).options(num_cpus=0, name=self.counter_name).remote()
            worker = self.ray.remote(RenderWorker).options(
                num_cpus=1, num_gpus=1 if processor == "gpu" else 0, max_restarts=RESTARTS, max_task_retries=RESTARTS)
            self.actors[processor] = [worker.remote(self.counter_name, self.cache_budget) for _ in range(count)]
        return self.actors[processor]

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
        return self._run(tuple(jobs), batch_groups(jobs), self.pool(jobs[0].model.device))

    def _run(self, jobs: tuple[Job, ...], units: list[list[Job]], actors: list[Any]) -> list[tuple[Job, list[Path]]]:
        from ray.util import ActorPool

        from dgenerate.render.loop import text_steps
        from dgenerate.render.outputs import OutputStage

        base_steps = text_steps(units)
        bar = Progress.start(base_steps, len(jobs), self.progress)
        pool = ActorPool(actors)
        for unit in units:
            pool.submit(lambda actor, work: actor.render.remote(work), unit)
        outputs = OutputStage(bar)
        try:
            with outputs:
                self._collect(pool, outputs, bar, base_steps)
        except KeyboardInterrupt as stop:
            interrupted_after(stop, len(outputs.written), len(jobs))
            self.stop_workers()
            raise
        finally:
            bar.close()
        position = {job.index: number for number, job in enumerate(jobs)}
        return sorted(outputs.written, key=lambda written: position[written[0].index])

    def _collect(self, pool: Any, outputs: OutputStage, bar: Progress, base_steps: int) -> None:
        """Every call's pictures into the output stage, in the order the calls finish."""
        while pool.has_next():
            try:
                results = pool.get_next_unordered(timeout=0.25)
            except TimeoutError:
                self._tick(bar, base_steps)
                continue
            except self.ray.exceptions.RayTaskError as error:
                raise _cause(error) from error
            for result in results:
                outputs.put(result)
            self._tick(bar, base_steps)

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
        return [self.ray.get(actor.models_loaded.remote()) for pool in self.actors.values() for actor in pool]

    def stop_workers(self) -> None:
        for pool in self.actors.values():
            for actor in pool:
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

"""Ray on several GPUs, tried on the CPU with Ray's logical GPUs: each worker owns one GPU, and asking for more
workers than GPUs is one line instead of a worker waiting forever."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dgenerate.backends.ray_cluster import RayBackend
from dgenerate.errors import UsageError

if os.environ.get("CI") == "true":  # CI installs Ray; its absence there is a failure, not a skip
    import ray
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (scripts/setup --test installs it)")


@pytest.fixture(scope="module")
def two_gpus() -> Iterator[None]:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.usefixtures("two_gpus")
def test_each_worker_owns_one_gpu_of_its_own() -> None:
    backend = RayBackend()  # one worker per GPU when --workers is left out
    try:
        workers = backend.pool("cuda")
        assert sorted(ray.get([worker.visible_devices.remote() for worker in workers])) == ["0", "1"]
    finally:
        backend.close()


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize(("workers", "device", "message"), [
    (3, "cuda", "--workers 3 is more than the 2 GPUs of the Ray cluster, and each worker owns one GPU; give "
                "--workers 2 or fewer"),
    (2, "cuda:1", None),
])
def test_more_workers_than_gpus_is_one_line(workers: int, device: str, message: str | None) -> None:
    backend = RayBackend(workers=workers)
    try:
        if message is None:
            assert len(backend.pool(device)) == workers
            return
        with pytest.raises(UsageError) as caught:
            backend.pool(device)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
        assert backend.actors == {}, "no worker was started"
    finally:
        backend.close()

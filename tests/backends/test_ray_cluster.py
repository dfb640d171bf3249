"""The Ray backend on a real local Ray (2 CPUs, workers at one thread each) against the local backend, on pixels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.backends import LocalBackend
from dgenerate.backends.ray_cluster import RayBackend
from dgenerate.cli import parse_invocation
from tests.conftest import RunCli
from tests.tiny_models import build_tiny_sd

if os.environ.get("CI") == "true":  # CI installs Ray; its absence there is a failure, not a skip
    import ray
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (scripts/setup --test installs it)")

GRID = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--prompts", "a red circle", "a blue square",
        "--seeds", "1", "2", "3")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray for the module: two CPUs, so two workers of one thread each."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sd(tmp_path_factory.mktemp("other-sd") / "model", seed=1)


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a run by name: PNG pixels, and configs as written."""
    found = {}
    for path in sorted(folder.iterdir()):
        found[path.name] = (np.asarray(Image.open(path).convert("RGB")).tobytes() if path.suffix == ".png"
                            else path.read_bytes())
    return found


def local_run(model: Path, folder: Path, *argv: str) -> dict[str, bytes]:
    request, _ = parse_invocation([str(model), *argv, "-o", str(folder)])
    backend = LocalBackend(progress=False)
    backend.render(request)
    return files(folder)


@pytest.mark.usefixtures("cluster")
def test_a_grid_on_two_workers_is_byte_identical_to_local(tiny_model: Path, tmp_path: Path) -> None:
    argv = (*GRID, "--batch-size", "2", "--output-configs", "--output-metadata")
    expected = local_run(tiny_model, tmp_path / "local", *argv)
    backend = RayBackend(workers=2, progress=False)
    try:
        request, _ = parse_invocation([str(tiny_model), *argv, "-o", str(tmp_path / "ray")])
        written = backend.render(request)
        assert [job.index for job, _ in written] == list(range(1, 7)), "results come back in grid order"
        assert backend.models_loaded() == [1, 1], "each worker loads the model once"
        request, _ = parse_invocation([str(tiny_model), *argv, "--seeds", "4", "-o", str(tmp_path / "ray-again")])
        backend.render(request)
        assert backend.models_loaded() == [1, 1], "and not again for the next request"
    finally:
        backend.close()
    assert ray.is_initialized(), "a Ray this process started is left running"
    assert files(tmp_path / "ray") == expected


@pytest.mark.usefixtures("cluster")
def test_a_killed_worker_loses_no_image_and_duplicates_none(tiny_model: Path, tmp_path: Path) -> None:
    argv = (*GRID, "--seeds", *map(str, range(1, 7)))
    expected = local_run(tiny_model, tmp_path / "local", *argv)
    backend = RayBackend(workers=2, progress=False)
    request, _ = parse_invocation([str(tiny_model), *argv, "-o", str(tmp_path / "ray")])
    outcome: dict[str, Any] = {}
    run = threading.Thread(target=lambda: outcome.update(written=backend.render(request)))
    try:
        run.start()
        deadline = time.monotonic() + 240
        while not list((tmp_path / "ray").glob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((tmp_path / "ray").glob("*.png")), "the run got going"
        ray.kill(backend.actors["cpu"][0], no_restart=False)
        run.join(timeout=300)
        assert not run.is_alive() and len(outcome["written"]) == 12
    finally:
        backend.close()
    assert files(tmp_path / "ray") == expected, "every image once, with the names and pixels of a local run"


@pytest.mark.usefixtures("cluster")
def test_a_batch_over_two_models_uses_one_ray_session(run_cli: RunCli, tiny_model: Path,
                                                     other_model: Path, tmp_path: Path) -> None:
    lines = [f"{tiny_model} --device cpu --cpu-threads 1 --inference-steps 2 --seeds 5 6 -o {{out}}/one",
             f"{other_model} --device cpu --cpu-threads 1 --inference-steps 2 --seeds 5 -o {{out}}/two",
             f"{tiny_model} --device cpu --cpu-threads 1 --inference-steps 3 --seeds 7 -o {{out}}/three"]
    local = run_cli(stdin="\n".join(lines).format(out=tmp_path / "local"))
    assert local.code == 0, local.err
    batch = "\n".join(f"{line} --backend ray --workers 2" for line in lines)
    result = run_cli(stdin=batch.format(out=tmp_path / "ray"))
    assert result.code == 0, result.err
    for name in ("one", "two", "three"):
        assert files(tmp_path / "ray" / name) == files(tmp_path / "local" / name)


@pytest.mark.usefixtures("cluster")
def test_image_seeds_and_animations_come_back_whole(run_cli: RunCli, tiny_model: Path,
                                                   tmp_path: Path) -> None:
    from fractions import Fraction

    from tests.media.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", "libx264", Fraction(12), 3)
    argv = [str(tiny_model), "--image-seeds", str(clip), "--device", "cpu", "--cpu-threads", "1",
            "--inference-steps", "4", "--seeds", "3", "--output-configs"]
    assert run_cli(*argv, "-o", str(tmp_path / "local")).code == 0
    result = run_cli(*argv, "--backend", "ray", "--workers", "1", "-o", str(tmp_path / "ray"))
    assert result.code == 0, result.err
    local, remote = files(tmp_path / "local"), files(tmp_path / "ray")
    assert sorted(local) == sorted(remote) and len(local) == 8  # mp4, its config, 3 frames and their configs
    assert all(local[name] == remote[name] for name in local if not name.endswith(".mp4"))


@pytest.mark.parametrize(("argv", "message"), [
    (("--backend", "ray", "--workers", "0"), "--workers '0' is out of range"),
    (("--workers", "2"), "--workers needs --backend ray"),
    (("--ray-address", "auto"), "--ray-address needs --backend ray"),
])
def test_backend_argument_errors(run_cli: RunCli, tiny_model: Path, argv: tuple[str, ...], message: str) -> None:
    result = run_cli(str(tiny_model), *argv)
    assert result.code == 2 and message in result.err


def test_without_ray_the_backend_says_how_to_install_it(run_cli: RunCli, tiny_model: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "ray" else real(name, *rest))
    result = run_cli(str(tiny_model), "--backend", "ray")
    assert result.code == 2 and 'pip install "dgenerate[ray]"' in result.err


def test_a_run_starts_its_own_ray_and_ctrl_c_stops_it_cleanly(tiny_model: Path, tmp_path: Path) -> None:
    """A whole process: Ray started for the run; Ctrl-C after the first image exits 130 with whole files only."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dgenerate", str(tiny_model), "--device", "cpu", "--cpu-threads", "1",
               "--inference-steps", "25", "--seeds", *map(str, range(40)), "--backend", "ray", "--workers", "1",
               "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "RAY_ADDRESS": ""})
    deadline = time.monotonic() + 240
    while not list(out.glob("*.png")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert list(out.glob("*.png")), process.stderr.read() if process.poll() is not None else "no image in time"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    made = sorted(out.iterdir())
    assert 0 < len(made) < 40 and all(path.suffix == ".png" for path in made), "no partial file"
    for path in made:
        Image.open(path).load()


@pytest.mark.usefixtures("cluster")
def test_edits_with_reference_images_and_image_guidance_run_on_workers_as_locally(
        run_cli: RunCli, tiny_flux2: Path, tiny_pix2pix: Path, tmp_path: Path) -> None:
    """The fields the newer families added (reference images in the image seed, image guidance, no strength) travel
    to the workers and back: the same files, byte for byte."""
    photo, reference = tmp_path / "photo.png", tmp_path / "reference.png"
    Image.new("RGB", (96, 64), "teal").save(photo)
    Image.new("RGB", (64, 80), "orange").save(reference)
    runs = [(tiny_flux2, ["--image-seeds", f"{photo};reference={reference}", "--prompts", "as one"]),
            (tiny_pix2pix, ["--image-seeds", str(photo), "--image-guidance-scales", "1.2", "2"])]
    for model, options in runs:
        argv = [str(model), *options, "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds",
                "3", "4", "--output-configs"]
        assert run_cli(*argv, "-o", str(tmp_path / model.parent.name / "local")).code == 0
        result = run_cli(*argv, "--backend", "ray", "--workers", "2", "-o", str(tmp_path / model.parent.name / "ray"))
        assert result.code == 0, result.err
        local, remote = files(tmp_path / model.parent.name / "local"), files(tmp_path / model.parent.name / "ray")
        assert len(local) == 8 if model == tiny_pix2pix else len(local) == 4
        assert local == remote


@pytest.mark.usefixtures("cluster")
def test_variation_seeds_processors_and_the_hires_pass_run_on_workers_as_locally(
        run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    """The fifth wave's pixel settings (variation seeds, image processors before and after, the hi-res pass, VAE
    tiling, step caching) travel to the workers and back: the same files, byte for byte."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), "teal").save(photo)
    runs = {"text": ["--variation-seeds", "9", "--variation-strengths", "0.3", "--hires-scales", "1.5",
                     "--post-processors", "posterize;bits=4", "--vae-tiling", "--cache", "deepcache;interval=2"],
            "seeded": ["--image-seeds", str(photo), "--seed-image-processors", "invert", "gaussian-blur;radius=1",
                       "--post-processors", "mirror"]}
    for name, options in runs.items():
        argv = [str(tiny_model), *options, "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2",
                "--seeds", "3", "4", "--output-configs"]
        assert run_cli(*argv, "-o", str(tmp_path / name / "local")).code == 0
        result = run_cli(*argv, "--backend", "ray", "--workers", "2", "-o", str(tmp_path / name / "ray"))
        assert result.code == 0, result.err
        local, remote = files(tmp_path / name / "local"), files(tmp_path / name / "ray")
        assert len(local) == 4 and local == remote


@pytest.mark.usefixtures("cluster")
@pytest.mark.parametrize(("model", "more", "files_per_clip"), [
    ("tiny_wan", ("--output-size", "48x32"), 1 + 5 + 1),
    ("tiny_ltx2", ("--output-size", "64x32", "--max-sequence-length", "32"), 1 + 5 + 1 + 1),  # and its sound
])
def test_video_clips_run_on_workers_as_locally(run_cli: RunCli, model: str, more: tuple[str, ...],
                                               files_per_clip: int, request: pytest.FixtureRequest,
                                               tmp_path: Path) -> None:
    """A video model's clips come back from the workers whole: the APNG, its frames' PNGs, its sound (LTX-2's WAV)
    and its config, byte for byte as a local run writes them."""
    argv = [str(request.getfixturevalue(model)), *more, "--frames", "5", "--prompts", "a red circle", "--device",
            "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3", "4", "-af", "apng",
            "--output-configs"]
    assert run_cli(*argv, "-o", str(tmp_path / "local")).code == 0
    result = run_cli(*argv, "--backend", "ray", "--workers", "2", "-o", str(tmp_path / "ray"))
    assert result.code == 0, result.err
    local, remote = files(tmp_path / "local"), files(tmp_path / "ray")
    assert len(local) == 2 * files_per_clip and local == remote

"""Hub slugs resolve from the normal Hugging Face cache with no network: --revision, --variant, --subfolder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import RunCli

FAST = ("--inference-steps", "3", "--device", "cpu", "--seeds", "5")


def _cache_repo(hf_home: Path, repo: str, revision: str, commit: str, source: Path, subfolder: str = "") -> None:
    """Lay `source` out as the hub cache does: snapshots/<commit>/ plus refs/<revision> naming the commit."""
    root = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / commit / subfolder
    assert not snapshot.exists(), "each test caches a repository of its own name"
    shutil.copytree(source, snapshot)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / revision).write_text(commit)


@pytest.fixture
def hf_home() -> Path:
    """The cache the libraries read, fixed when they were imported (tests/conftest.py points it at a temp dir)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).parent


def test_slug_from_cache_matches_the_folder(run_cli: RunCli, tiny_model: Path, tmp_path: Path, hf_home: Path) -> None:
    _cache_repo(hf_home, "acme/same", "main", "a" * 40, tiny_model)
    assert run_cli("acme/same", *FAST, "-o", str(tmp_path / "hub")).code == 0
    assert run_cli(str(tiny_model), *FAST, "-o", str(tmp_path / "disk")).code == 0
    (hub,), (disk,) = (tmp_path / "hub").glob("*.png"), (tmp_path / "disk").glob("*.png")
    assert hub.read_bytes() == disk.read_bytes()


def test_revision_and_subfolder_pick_the_cached_files(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                      hf_home: Path) -> None:
    from tests.tiny_models import build_tiny_sd

    other = build_tiny_sd(tmp_path / "other", seed=1)
    _cache_repo(hf_home, "acme/tiny", "main", "a" * 40, tiny_model)
    _cache_repo(hf_home, "acme/tiny", "v2", "b" * 40, other, subfolder="models/sd")
    assert run_cli("acme/tiny", *FAST, "-o", str(tmp_path / "main")).code == 0
    result = run_cli("acme/tiny", "--revision", "v2", "--subfolder", "models/sd", *FAST, "-o", str(tmp_path / "v2"),
                     "--output-configs")
    assert result.code == 0, result.err
    (main,), (v2,) = (tmp_path / "main").glob("*.png"), (tmp_path / "v2").glob("*.png")
    assert not np.array_equal(np.asarray(Image.open(main)), np.asarray(Image.open(v2)))
    config = v2.with_suffix(".dgen").read_text()
    assert "--revision v2" in config and "--subfolder models/sd" in config


def test_variant_loads_the_variant_weights(run_cli: RunCli, tmp_path: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    from tests.tiny_models import build_tiny_sd

    folder = build_tiny_sd(tmp_path / "model", seed=2)
    pipeline = StableDiffusionPipeline.from_pretrained(folder)
    with torch.no_grad():
        for parameter in pipeline.unet.parameters():
            parameter.mul_(0.5)
    pipeline.save_pretrained(folder, variant="half")
    assert run_cli(str(folder), *FAST, "-o", str(tmp_path / "plain")).code == 0
    assert run_cli(str(folder), "--variant", "half", *FAST, "-o", str(tmp_path / "variant")).code == 0
    (plain,), (variant,) = (tmp_path / "plain").glob("*.png"), (tmp_path / "variant").glob("*.png")
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(variant)))


def test_missing_revision_is_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path, hf_home: Path) -> None:
    _cache_repo(hf_home, "acme/norev", "main", "a" * 40, tiny_model)
    result = run_cli("acme/norev", "--revision", "nope", *FAST, "-o", str(tmp_path))
    assert result.code == 1
    assert "hf download acme/norev --revision nope" in result.err.strip().splitlines()[-1]


def test_a_corrupt_cache_says_what_it_is_not_model_not_found(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                             hf_home: Path) -> None:
    """Only "not in the cache" is reported as not found; a cached model that cannot be read says why."""
    _cache_repo(hf_home, "acme/corrupt", "main", "c" * 40, tiny_model)
    (hf_home / "hub" / "models--acme--corrupt" / "snapshots" / ("c" * 40) / "model_index.json").write_text("{oops")
    result = run_cli("acme/corrupt", *FAST, "-o", str(tmp_path))
    assert result.code == 1
    (line,) = result.err.strip().splitlines()[-1:]
    assert line.startswith("dgenerate: error: model_path 'acme/corrupt': its files in the Hugging Face cache cannot "
                           "be read (It looks like the config file at ")
    assert "is not a valid JSON file" in line and "`hf download acme/corrupt --force-download`" in line
    assert "not on disk" not in line and not list(tmp_path.iterdir())


def test_a_repository_that_cannot_be_reached_is_not_called_a_cache_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Libraries report "not cached and no network" as a bare OSError; only an error with an errno is the disk's."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    from dgenerate.errors import ModelError, ModelNotFoundError
    from dgenerate.models.paths import _from_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def fetch(failure: Exception) -> Callable[..., str]:
        def attempt(local_files_only: bool = False) -> str:
            if local_files_only:
                raise LocalEntryNotFoundError("not in the cache")
            raise failure

        return attempt

    with pytest.raises(ModelNotFoundError, match="is not on disk or in the Hugging Face cache"):
        _from_hub(fetch(OSError("Cannot load model x: the model is not fully cached locally")), "model_path", "x/y",
                  None)
    with pytest.raises(ModelError, match="could not be written into the Hugging Face cache"):
        _from_hub(fetch(OSError(28, "No space left on device")), "model_path", "x/y", None)

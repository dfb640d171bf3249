"""Shared fixtures: a tiny random SD pipeline built once per session, and an in-process CLI runner."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dgenerate.cli import main
from tests.tiny_models import build_tiny_sd


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "model")


# No test may reach the network or the user's Hugging Face cache. Set before any test module imports
# huggingface_hub, which reads these once, at import.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="dgenerate-tests-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _remove_test_hub_cache() -> Iterator[None]:
    yield
    shutil.rmtree(os.environ["HF_HOME"], ignore_errors=True)


@dataclass
class Result:
    code: int
    err: str
    out: str


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run dgenerate in this process (argv, or a batch text on standard input) and capture its output."""

    def run(*argv: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.err, captured.out)

    return run

"""Configs written by released code still parse to the same jobs and job ids.

tests/legacy_configs/<commit>/ holds configs as releases wrote them (scripts/legacy-configs makes them) and
expected.json: each one's job id and canonical JSON as the writing release computed them. A field whose default,
name or spelling in the canonical JSON changes fails here for every config it touches. The paths in the configs
need not exist: parsing a config reads no file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dgenerate
from dgenerate.reproduce import config_text, read_config, recorded_job_id

CORPUS = Path(__file__).parent / "legacy_configs"
RELEASES = sorted(folder for folder in CORPUS.iterdir() if (folder / "expected.json").is_file())
EXPECTED = {(folder.name, name): entry for folder in RELEASES
            for name, entry in json.loads((folder / "expected.json").read_text()).items()}


@pytest.mark.parametrize(("release", "name"), sorted(EXPECTED), ids=lambda value: value)
def test_a_released_config_parses_to_the_job_it_recorded(release: str, name: str) -> None:
    text = (CORPUS / release / name).read_text()
    expected = EXPECTED[release, name]
    (job,) = dgenerate.load_config(text)
    assert recorded_job_id(text) == expected["job_id"]
    assert job.canonical_json() == expected["canonical_json"]
    assert job.job_id == expected["job_id"]
    written_again = config_text(job, "x")
    assert read_config(written_again) == [job] and recorded_job_id(written_again) == job.job_id


@pytest.mark.parametrize("release", RELEASES, ids=lambda folder: folder.name)
def test_every_config_of_a_release_has_its_expectation(release: Path) -> None:
    configs = {path.name for path in release.glob("*.dgen")}
    assert configs and configs == {name for folder, name in EXPECTED if folder == release.name}


def test_the_corpus_holds_several_releases() -> None:
    assert len(RELEASES) >= 4

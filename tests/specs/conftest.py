"""Spec-source corpora (climb.corpora.folders), each written and converted once per test session."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

from climb.corpora.folders import WRITERS
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY, pseudonymize


def read_metas(dataset: Path) -> dict[str, dict[str, Any]]:
    """The json member of every written sample, by key."""
    metas = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                if ext == "json":
                    metas[key] = json.loads(tar.extractfile(member).read())
    return metas


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Callable[[str], tuple[dict, dict, dict, list]]:
    """name -> (corpus, manifest, meta by raw sample id, quarantine rows), converted once."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple[dict, dict, dict, list]:
        if name not in cache:
            corpus = WRITERS[name](tmp_path_factory.mktemp(f"raw-{name}"))
            out = tmp_path_factory.mktemp(f"out-{name}")
            manifest = convert(ConvertConfig(source=name, raw_url=corpus["root"], out_url=str(out), workers=1), key=DEMO_KEY)
            by_key = read_metas(out / name)
            metas = {sid: by_key.get(pseudonymize(sid, DEMO_KEY, f"sample:{name}")) for sid in corpus["expected"]}
            quarantine = [json.loads(line) for line in (out / name / "quarantine.jsonl").read_text().splitlines()]
            cache[name] = (corpus, manifest, metas, quarantine)
        return cache[name]

    return get

"""Spec-source corpora (climb.corpora.folders), each written and converted once per test session."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from climb.corpora.folders import WRITERS
from climb.transforms.phi import DEMO_KEY, pseudonymize
from tests.helpers import convert_demo, read_samples


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Callable[[str], tuple[dict, dict, dict, list]]:
    """name -> (corpus, manifest, meta by raw sample id, quarantine rows), converted once."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple[dict, dict, dict, list]:
        if name not in cache:
            corpus = WRITERS[name](tmp_path_factory.mktemp(f"raw-{name}"))
            out = tmp_path_factory.mktemp(f"out-{name}")
            manifest = convert_demo(name, corpus["root"], out, workers=1)
            by_key = {key: sample["meta"] for key, sample in read_samples(out / name).items()}
            metas = {sid: by_key.get(pseudonymize(sid, DEMO_KEY, f"sample:{name}")) for sid in corpus["expected"]}
            quarantine = [json.loads(line) for line in (out / name / "quarantine.jsonl").read_text().splitlines()]
            cache[name] = (corpus, manifest, metas, quarantine)
        return cache[name]

    return get

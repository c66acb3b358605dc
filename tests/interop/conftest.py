"""Converted datasets for the third-party readers, each converted once per session.

`converted(source)` converts the source's corpus (tests/interop/corpora.py: the small real-layout
corpora the other suites use) and returns (dataset folder, manifest). FAMILIES names one dataset per
modality family, read in depth by test_huggingface.py and test_croissant.py: ECG (ptbxl), 2D DICOM
X-ray (vindr-cxr), CT volumes in Zarr (rspect), echo video (echonet), graphs (connectome),
multimodal EHR with tabular and text (mimic-iv), and a DICOM folder whose records mix images, short
cines (video.mp4) and a long cine kept in Zarr (preview.png): the last one is the hardest case for
readers that expect every record to hold the same members. test_every_source.py reads every
registered source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY
from tests.interop.corpora import CORPORA

FAMILIES = ("connectome", "dicom", "echonet", "mimic-iv", "ptbxl", "rspect", "vindr-cxr")


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Callable[[str], tuple[Path, dict[str, Any]]]:
    """source -> (dataset folder, manifest), converted once per session."""
    cache: dict[str, tuple[Path, dict[str, Any]]] = {}
    out = tmp_path_factory.mktemp("converted")

    def get(source: str) -> tuple[Path, dict[str, Any]]:
        if source not in cache:
            write, options = CORPORA[source]
            raw = write(tmp_path_factory.mktemp(f"raw-{source}"))
            config = ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options)
            cache[source] = (out / source, convert(config, DEMO_KEY))
        return cache[source]

    return get


READ = r"""
import json, os, shutil, sys
import mlcroissant as mlc

def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") if len(value) < 200 else f"<{len(value)} bytes>"
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "size") and hasattr(value, "mode"):
        return f"<image {value.size[0]}x{value.size[1]}>"
    return value

for path in sys.argv[1:]:
    shutil.rmtree(os.environ["CROISSANT_CACHE"], ignore_errors=True)
    ds = mlc.Dataset(jsonld=path)
    out = {"license": ds.metadata.license, "cite_as": ds.metadata.cite_as, "url": ds.metadata.url, "records": {}}
    for record_set in ds.metadata.record_sets:
        out["records"][record_set.id] = [{k: plain(v) for k, v in r.items()} for r in ds.records(record_set.id)]
    print("croissant-read " + json.dumps(out), flush=True)
"""


@pytest.fixture(scope="session")
def croissant_read(converted, tmp_path_factory) -> Callable[..., dict[str, dict[str, Any]]]:
    """sources -> {source: what mlcroissant read from its croissant.json: licence, citation, URL and
    every record set's records}. The sources not read yet are read in one process, its
    CROISSANT_CACHE emptied before each dataset (every climb dataset names its shards alike, and
    mlcroissant caches extracted archives by contentUrl)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(*sources: str) -> dict[str, dict[str, Any]]:
        todo = [s for s in sources if s not in cache]
        if todo:
            paths = [str(converted(s)[0] / "croissant.json") for s in todo]
            env = {**os.environ, "CROISSANT_CACHE": str(tmp_path_factory.mktemp("croissant-cache"))}
            done = subprocess.run([sys.executable, "-c", READ, *paths], env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr[-3000:]
            lines = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("croissant-read ")]
            cache.update(zip(todo, map(json.loads, lines)))
        return {s: cache[s] for s in sources}

    return get


def json_members(dataset: Path) -> dict[str, dict[str, Any]]:
    """key -> decoded json member, read with tarfile (independent of the readers under test)."""
    out = {}
    for shard in sorted((dataset / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                if ext == "json":
                    out[key] = json.loads(tar.extractfile(member).read())
    return out


def members_by_key(dataset: Path) -> dict[str, set[str]]:
    """member name -> keys of the records holding it, from the tar listings."""
    out: dict[str, set[str]] = {}
    for shard in (dataset / "shards").glob("*.tar"):
        with tarfile.open(shard) as tar:
            for name in tar.getnames():
                key, _, member = name.partition(".")
                out.setdefault(member, set()).add(key)
    return out

"""mlcroissant reads every climb dataset's records through croissant.json: samples, labels, members.

Each read runs in its own process with its own CROISSANT_CACHE, as docs/converting.md tells users:
mlcroissant caches extracted archives by their contentUrl, and every climb dataset names its shards
alike (shards/train-00000.tar), so a shared cache would serve one dataset's files for another's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from climb.pipelines.sources.provenance import PHYSIONET_CREDENTIALED, provenance
from tests.interop.conftest import DATASETS, json_members

READ = r"""
import json, sys
import mlcroissant as mlc

def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") if len(value) < 200 else f"<{len(value)} bytes>"
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "size") and hasattr(value, "mode"):
        return f"<image {value.size[0]}x{value.size[1]}>"
    return value

ds = mlc.Dataset(jsonld=sys.argv[1])
out = {"license": ds.metadata.license, "cite_as": ds.metadata.cite_as, "url": ds.metadata.url, "records": {}}
for record_set in ds.metadata.record_sets:
    out["records"][record_set.id] = [{k: plain(v) for k, v in r.items()} for r in ds.records(record_set.id)]
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def croissant_read(converted, tmp_path_factory):
    """name -> what mlcroissant read from the dataset's croissant.json (one process per dataset)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in cache:
            dataset, _ = converted(name)
            env = {**os.environ, "CROISSANT_CACHE": str(tmp_path_factory.mktemp(f"croissant-{name}"))}
            done = subprocess.run([sys.executable, "-c", READ, str(dataset / "croissant.json")], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            cache[name] = json.loads(done.stdout.strip().splitlines()[-1])
        return cache[name]

    return get


def members_by_key(dataset: Path) -> dict[str, set[str]]:
    """member name -> keys of the records holding it, from the tar listings."""
    out: dict[str, set[str]] = {}
    for shard in (dataset / "shards").glob("*.tar"):
        with tarfile.open(shard) as tar:
            for name in tar.getnames():
                key, _, member = name.partition(".")
                out.setdefault(member, set()).add(key)
    return out


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_samples_records_are_the_manifests_samples_with_their_labels(converted, croissant_read, name):
    dataset, manifest = converted(name)
    records = croissant_read(name)["records"]["samples"]
    written = json_members(dataset)
    counts: dict[str, int] = {}
    for record in records:
        counts[record["samples/split"]] = counts.get(record["samples/split"], 0) + 1
        meta = written[record["samples/key"]]
        assert record["samples/split"] == meta["split"]
        assert record["samples/subject_id"] == meta["subject_id"]
        for task in manifest["tasks"]:
            assert record[f"samples/labels_{task}"] == meta["labels"][task]
            assert record[f"samples/label_mask_{task}"] == meta["label_mask"][task]
    assert counts == {split: s["num_samples"] for split, s in manifest["splits"].items()}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_member_records_hold_every_member_of_every_sample(converted, croissant_read, name):
    dataset, _ = converted(name)
    records = croissant_read(name)["records"]
    for member, keys in members_by_key(dataset).items():
        rows = records[member.replace(".", "_")]
        assert {r[f"{member.replace('.', '_')}/key"] for r in rows} == keys
        assert all(r[f"{member.replace('.', '_')}/content"] for r in rows)


def test_png_members_read_as_images(converted, croissant_read):
    rows = croissant_read("vindr-cxr")["records"]["image_png"]
    assert rows and all(r["image_png/content"] == "<image 64x64>" for r in rows)


@pytest.mark.parametrize(
    ("name", "license_text"),
    [
        ("mimic-iv", "https://physionet.org/about/licenses/physionet-credentialed-health-data-license-150/"),
        ("ptbxl", "https://creativecommons.org/licenses/by/4.0/"),
        ("echonet", "https://echonet.github.io/dynamic/"),
    ],
)
def test_licence_citation_and_url_come_from_the_sources_registry_entry(converted, croissant_read, name, license_text):
    read = croissant_read(name)
    entry = provenance(DATASETS[name][0])
    assert read["license"] == [license_text]
    assert read["cite_as"] == entry.citation
    assert read["url"] == entry.url


def test_credentialed_sources_never_claim_an_open_licence():
    for source in ("mimic-iv", "mimic-cxr", "vindr-cxr"):
        assert provenance(source).license == PHYSIONET_CREDENTIALED
        assert provenance(source).hf_license == "other"


def test_a_users_own_folder_says_see_source(converted):
    dataset, _ = converted("dicom")
    document = json.loads((dataset / "croissant.json").read_text())
    assert document["license"] == "see source"
    assert document["citeAs"] == "see source"

"""mlcroissant reads every climb dataset's records through croissant.json: samples, labels, members.

The reads run in one process (conftest.croissant_read) whose CROISSANT_CACHE is emptied before each
dataset, as docs/converting.md tells users: mlcroissant caches extracted archives by their contentUrl,
and every climb dataset names its shards alike (shards/train-00000.tar), so a shared cache would
serve one dataset's files for another's.
"""

from __future__ import annotations

import json

import pytest

from climb.pipelines.sources.provenance import PHYSIONET_CREDENTIALED, provenance
from tests.interop.conftest import FAMILIES, json_members, members_by_key


@pytest.mark.parametrize("name", FAMILIES)
def test_samples_records_are_the_manifests_samples_with_their_labels(converted, croissant_read, name):
    dataset, manifest = converted(name)
    records = croissant_read(*FAMILIES)[name]["records"]["samples"]
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


@pytest.mark.parametrize("name", FAMILIES)
def test_member_records_hold_every_member_of_every_sample(converted, croissant_read, name):
    dataset, _ = converted(name)
    records = croissant_read(*FAMILIES)[name]["records"]
    for member, keys in members_by_key(dataset).items():
        rows = records[member.replace(".", "_")]
        assert {r[f"{member.replace('.', '_')}/key"] for r in rows} == keys
        assert all(r[f"{member.replace('.', '_')}/content"] for r in rows)


def test_png_members_read_as_images(converted, croissant_read):
    rows = croissant_read(*FAMILIES)["vindr-cxr"]["records"]["image_png"]
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
    read = croissant_read(*FAMILIES)[name]
    entry = provenance(name)
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

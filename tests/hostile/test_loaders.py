"""Hostile manifests, indexes and shards through the loaders and `climb verify`: refused with a
clear error, never a read outside the dataset folder, never an unbounded allocation."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from climb.loaders import ClimbDataset
from climb.pipelines.verify import verify
from tests.helpers import convert_demo


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("loaders")
    raw = base / "raw"
    raw.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"):
        shutil.copy(get_testdata_file(name), raw / name)
    convert_demo("dicom", raw, base / "out", options={"split_fractions": {"train": 1.0}})
    return base / "out" / "dicom"


@pytest.fixture
def dataset(converted, tmp_path) -> Path:
    copy = tmp_path / "dicom"
    shutil.copytree(converted, copy)
    return copy


def edit_manifest(dataset: Path, change) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    change(manifest)
    (dataset / "manifest.json").write_text(json.dumps(manifest))


def edit_index(dataset: Path, change) -> None:
    idx = next((dataset / "shards").glob("*.idx"))
    index = json.loads(idx.read_text())
    change(index["samples"])
    idx.write_text(json.dumps(index))


@pytest.mark.parametrize("path", ["../outside.tar", "/etc/passwd", "s3://other-bucket/x.tar", "shards/../../x.tar", "shards//x.tar"])
def test_a_manifest_naming_a_shard_outside_the_dataset_is_refused(dataset, path):
    edit_manifest(dataset, lambda m: m["shards"][0].update(path=path))
    with pytest.raises(ValueError, match="not a relative path inside the dataset folder"):
        ClimbDataset(str(dataset))
    problems = [str(p) for p in verify(str(dataset))]
    assert any("not a relative path" in p for p in problems)
    assert not any(p.startswith(path) for p in problems), "verify must not open the unsafe path"


def test_a_manifest_whose_counts_do_not_add_up_is_refused(dataset):
    edit_manifest(dataset, lambda m: m["counts"].update(discovered=m["counts"]["discovered"] + 1))
    with pytest.raises(ValueError, match="counts do not add up"):
        ClimbDataset(str(dataset))


FORGERIES = [
    lambda s: s[0].update(size=10**12),
    lambda s: s[0].update(offset=-512),
    lambda s: s[0]["members"].update(json=[0, 2**40]),
    lambda s: s[0].update(key=None),
]


@pytest.mark.parametrize("forge", FORGERIES)
def test_an_index_forged_after_conversion_is_refused_by_the_manifests_hash(dataset, forge):
    edit_index(dataset, forge)
    with pytest.raises(ValueError, match="index_sha256"):
        list(ClimbDataset(str(dataset), shuffle=False))


@pytest.mark.parametrize("forge", FORGERIES)
def test_an_index_with_forged_ranges_is_refused_before_any_read_even_without_a_pinned_hash(dataset, forge):
    edit_manifest(dataset, lambda m: [shard.pop("index_sha256") for shard in m["shards"]])
    edit_index(dataset, forge)
    with pytest.raises(ValueError, match="outside|no key"):
        list(ClimbDataset(str(dataset), shuffle=False))


def test_a_truncated_shard_fails_with_a_short_read_and_verify_names_it(dataset):
    shard = next((dataset / "shards").glob("*.tar"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    with pytest.raises(Exception, match="ended at byte|short"):
        list(ClimbDataset(str(dataset), shuffle=False))
    assert any("size" in str(p) for p in verify(str(dataset)))


def hostile_tar(original: Path) -> tuple[bytes, dict]:
    """The shard's real members behind tar entries named ../, absolute, non-UTF-8, a symlink to
    /etc/passwd and a character device; the index points at the real members only."""
    buf = io.BytesIO()
    with tarfile.open(original) as src, tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for name, body in (("../../escaped.json", b"{}"), ("/tmp/absolute.json", b"{}"),
                           ("caf\udce9\udcff.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            out.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("passwd.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        out.addfile(link)
        device = tarfile.TarInfo("zero.json")
        device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 5
        out.addfile(device)
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member))
    data = buf.getvalue()
    samples: dict[str, dict] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.isfile() and "." in m.name and "/" not in m.name and not m.name.startswith("caf"):
                key, member = m.name.split(".", 1)
                entry = samples.setdefault(key, {"key": key, "offset": m.offset, "size": 0, "members": {}})
                entry["members"][member] = [m.offset_data, m.size]
                entry["size"] = m.offset_data + m.size + (-m.size % 512) - entry["offset"]
    return data, {"version": 1, "shard": original.name, "samples": list(samples.values())}


def test_tar_entries_with_traversal_links_and_devices_are_never_extracted_or_followed(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shard = next((dataset / "shards").glob("*.tar"))
    data, index = hostile_tar(shard)
    shard.write_bytes(data)
    index_bytes = json.dumps(index).encode()
    shard.with_suffix(".idx").write_bytes(index_bytes)
    edit_manifest(dataset, lambda m: m["shards"][0].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                                                          index_sha256=hashlib.sha256(index_bytes).hexdigest()))
    samples = list(ClimbDataset(str(dataset), shuffle=False))
    assert len(samples) == 3 and all("root:" not in json.dumps(s["meta"]) for s in samples)
    assert verify(str(dataset)) == []
    assert not Path("/tmp/absolute.json").exists()
    assert not [p for p in tmp_path.parent.rglob("escaped.json")]

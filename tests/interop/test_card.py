"""README.md: front matter Hugging Face datasets parses into the declared features; bytes are stable."""

from __future__ import annotations

import datasets
import pytest
import yaml

from climb.pipelines.writers.card import card_bytes, feature
from climb.pipelines.writers.members import json_bytes
from climb.schemas.json_member import Map, Multi
from tests.interop.conftest import json_members


def front_matter(readme: bytes) -> dict:
    _, head, _ = readme.decode("utf-8").split("---\n", 2)
    return yaml.safe_load(head)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("float64", datasets.Value("float64")),
        (["string"], datasets.List(datasets.Value("string"))),
        ([["float64"]], datasets.List(datasets.List(datasets.Value("float64")))),
        ({"a": "int64", "b": ["bool"]}, {"a": datasets.Value("int64"), "b": datasets.List(datasets.Value("bool"))}),
        (Map("float64"), datasets.List({"key": datasets.Value("string"), "value": datasets.Value("float64")})),
        (Multi("float64"), datasets.List(datasets.Value("float64"))),
        ([{"type": "string"}], datasets.List({"type": datasets.Value("string")})),
    ],
)
def test_declared_types_render_as_the_hugging_face_features_they_mean(kind, expected):
    parsed = datasets.Features._from_yaml_list([{"name": "f", **feature(kind)}])
    assert parsed == datasets.Features({"f": expected})


def test_the_card_names_each_splits_shards_and_declares_members(converted):
    dataset, manifest = converted("echonet")
    meta = front_matter((dataset / "README.md").read_bytes())
    files = {f["split"]: f["path"] for f in meta["configs"][0]["data_files"]}
    assert files == {s: sorted(x["path"] for x in manifest["shards"] if x["split"] == s) for s in manifest["splits"]}
    features = {f["name"]: f for f in meta["dataset_info"]["features"]}
    assert features["video.mp4"]["dtype"] == "binary" and features["preview.png"]["dtype"] == "image"


def test_the_card_carries_the_sources_licence_and_citation(converted):
    dataset, _ = converted("mimic-iv")
    readme = (dataset / "README.md").read_bytes()
    meta = front_matter(readme)
    assert meta["license"] == "other" and meta["license_name"] == "physionet-credentialed-health-data-license-1-5-0"
    assert b"MIMIC-IV, a freely accessible electronic health record dataset" in readme


def test_the_card_is_a_function_of_the_manifest(converted):
    dataset, manifest = converted("ptbxl")
    assert card_bytes(manifest) == (dataset / "README.md").read_bytes()


def test_the_manifest_pins_every_document(converted):
    import hashlib

    dataset, manifest = converted("connectome")
    pins = {d["path"]: d for d in manifest["documents"]}
    assert set(pins) == {"README.md", "croissant.json", "quarantine.jsonl", "samples.json"}
    for path, pin in pins.items():
        data = (dataset / path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (pin["sha256"], pin["bytes"])


def test_verify_names_a_changed_card(converted, tmp_path):
    import shutil

    from climb.pipelines.verify import verify

    dataset, _ = converted("connectome")
    copy = tmp_path / "connectome"
    shutil.copytree(dataset, copy)
    assert verify(str(copy)) == []
    (copy / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    assert [(p.path, p.reason) for p in verify(str(copy))] == [("README.md", "sha256 differs from the manifest")]


def test_samples_json_is_every_records_index_in_shard_order(converted):
    dataset, manifest = converted("mimic-iv")
    written = json_members(dataset)
    tasks = sorted(manifest["tasks"])
    rows = [{"key": key, "split": meta["split"], "subject_id": meta["subject_id"],
             "labels": {t: meta["labels"][t] for t in tasks}, "label_mask": {t: meta["label_mask"][t] for t in tasks}}
            for key, meta in written.items()]  # json_members reads shards in path order, records in tar order
    assert (dataset / "samples.json").read_bytes() == json_bytes({"samples": rows})


def _staged_parts(tmp_path, parts: list[bytes]) -> list[dict]:
    import hashlib

    (tmp_path / "_staging" / "samples").mkdir(parents=True)
    shards = []
    for i, data in enumerate(parts):
        name = f"_staging/samples/train-{i:05d}.json"
        (tmp_path / name).write_bytes(data)
        shards.append({"path": f"shards/train-{i:05d}.tar", "samples_part": name,
                       "samples_part_sha256": hashlib.sha256(data).hexdigest()})
    return shards


def test_samples_json_reads_one_staged_part_at_a_time(tmp_path):
    """Finalize holds one shard's rows: a writer's staged part is read only when its chunk is wanted."""
    from climb.pipelines.writers.documents import samples_index_chunks
    from climb.storage import filesystem

    fs, root = filesystem(str(tmp_path))
    read: list[str] = []

    class Recording:
        def cat_file(self, path, *args, **kwargs):
            read.append(path)
            return fs.cat_file(path, *args, **kwargs)

    shards = _staged_parts(tmp_path, [b'{"key":"a"}', b'{"key":"b"},{"key":"c"}'])
    chunks = samples_index_chunks(Recording(), root, shards)
    assert next(chunks) == b'{"samples":[' and read == []
    assert next(chunks) == b'{"key":"a"}' and read == [f"{root}/{shards[0]['samples_part']}"]
    assert b"".join(chunks) == b',{"key":"b"},{"key":"c"}]}' and len(read) == 2


def test_samples_json_refuses_a_part_that_changed_after_its_writer_staged_it(tmp_path):
    from climb.pipelines.writers.documents import CorruptPart, samples_index_chunks
    from climb.storage import filesystem

    fs, root = filesystem(str(tmp_path))
    shards = _staged_parts(tmp_path, [b'{"key":"a"}'])
    (tmp_path / shards[0]["samples_part"]).write_bytes(b'{"key":"z"}')
    with pytest.raises(CorruptPart, match="train-00000"):
        b"".join(samples_index_chunks(fs, root, shards))


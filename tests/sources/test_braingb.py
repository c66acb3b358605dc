"""The braingb-* sources: BrainGB's ABIDE, ABCD and PPMI bundles -> one graph per subject."""

from __future__ import annotations

import io
import os
import pickle
from collections import Counter

import numpy as np
import pytest

from climb.pipelines.sources import braingb
from climb.schemas.manifest import validate_manifest
from tests.helpers import quarantine_lines, read_samples

from .conftest import sample_key

# Hand-written raw label -> class index of each bundle's task.
LABELS = {
    "braingb-abide": {"0": 0, "1": 1},  # connectome_diagnosis: control, patient
    "braingb-abcd": {"M": 0, "F": 1},  # sex: male, female
    "braingb-ppmi": {"-1": 0, "1": 1},  # parkinsons: control, Parkinson's disease
}
TASK = {"braingb-abide": "connectome_diagnosis", "braingb-abcd": "sex", "braingb-ppmi": "parkinsons"}


@pytest.mark.parametrize("name", sorted(LABELS))
def test_counts_add_up_and_broken_matrices_are_quarantined(converted, name):
    _, description, manifest, dataset = converted(name)
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    messages = {line["key"]: line["message"] for line in quarantine_lines(dataset)}
    assert set(messages) == {sample_key(name, sid) for sid in description["quarantined"]}
    for sid, start in description["quarantined"].items():
        assert start in messages[sample_key(name, sid)], messages[sample_key(name, sid)]


@pytest.mark.parametrize("name", sorted(LABELS))
def test_labels_come_from_the_bundle_and_unknown_codes_are_masked(converted, name):
    _, description, _, dataset = converted(name)
    samples = read_samples(dataset)
    for sample_id, raw in description["labels"].items():
        meta = samples[sample_key(name, sample_id)]["meta"]
        expected = None if raw is None else LABELS[name].get(raw)
        assert meta["labels"][TASK[name]] == expected, sample_id
        assert meta["label_mask"][TASK[name]] is (expected is not None)


def test_abcd_rows_are_aligned_by_id_not_by_sheet_order(converted):
    _, description, _, dataset = converted("braingb-abcd")
    samples = read_samples(dataset)
    for i, subject in enumerate(description["ids"]):
        graph = samples[sample_key("braingb-abcd", f"abcd_rest-pearson-HCP2016.npy#{subject}")]["graph"]
        np.testing.assert_array_equal(graph["x"], description["corr"][i].astype(np.float32))


def test_ppmi_uses_view_zero_by_default_and_the_view_option(corpus):
    root, description = corpus("braingb-ppmi")
    record = next(r for r in braingb.SOURCES["braingb-ppmi"].discover(str(root), {}) if r.sample_id == "PPMI.mat#00004")
    for view in (0, 2):
        sample = braingb.read(record, {"view": view})
        np.testing.assert_array_equal(sample.arrays["graph"]["x"], description["views"][4, :, :, view].astype(np.float32))


def test_abide_splits_are_exact_per_site_and_honoured(converted):
    """5 subjects per site cut 70/10/20 by largest remainder: 3.5/0.5/1 -> 4 train, 0 val, 1 test."""
    root, description, _, dataset = converted("braingb-abide")
    records = list(braingb.SOURCES["braingb-abide"].discover(str(root), {}))
    per_site: dict[str, Counter] = {}
    for record in records:
        per_site.setdefault(record.label_row["site"], Counter())[record.official_split] += 1
    assert per_site == {site: Counter(train=4, test=1) for site in ("NYU", "UM_1", "USM")}
    samples = read_samples(dataset)
    for record in records:
        key = sample_key("braingb-abide", record.sample_id)
        if record.sample_id not in description["quarantined"]:
            assert samples[key]["split"] == record.official_split
            assert samples[key]["meta"]["site"] == description["sites"][record.sample_id]


def test_dense_brain_gb_graph_with_threshold_zero(corpus):
    root, description = corpus("braingb-abide")
    record = next(iter(braingb.SOURCES["braingb-abide"].discover(str(root), {})))
    sample = braingb.read(record, {"threshold": 0, "self_loops": True})
    assert sample.meta["graph"]["num_edges"] == 16 * 16
    assert sample.meta["graph"]["edge_rule"] == "|r| > 0"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_that_names_anything_but_numpy_arrays_is_refused():
    buf = io.BytesIO()
    np.save(buf, np.array({"corr": _Exploit()}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="posix.system|os.system|nt.system"):
        braingb.load_pickled_npy(buf.getvalue())
    plain = io.BytesIO()
    np.save(plain, {"corr": np.eye(3), "label": [1, 0]}, allow_pickle=True)
    loaded = braingb.load_pickled_npy(plain.getvalue())
    np.testing.assert_array_equal(loaded["corr"], np.eye(3))
    assert pickle.dumps(loaded["label"]) == pickle.dumps([1, 0])


def test_a_truncated_abcd_array_quarantines_the_rows_it_lost(tmp_path):
    from climb.corpora.braingb import write_abcd_bundle

    description = write_abcd_bundle(tmp_path)
    path = tmp_path / "abcd_rest-pearson-HCP2016.npy"
    path.write_bytes(path.read_bytes()[:-100])
    records = list(braingb.SOURCES["braingb-abcd"].discover(str(tmp_path), {}))
    assert braingb.read(records[0], {}).labels["sex"] is not None
    with pytest.raises(braingb.SourceError, match="truncated: row 9"):
        braingb.read(records[len(description["ids"]) - 1], {})

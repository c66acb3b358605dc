"""proteins source: the TU Dortmund text format (PROTEINS) -> one graph per protein, enzyme or not."""

import json

import numpy as np
import pytest

from climb.pipelines.sources import SourceError, get_source
from tests.helpers import convert_demo, read_samples

SOURCE = get_source("proteins")


@pytest.fixture(scope="module")
def discovered(proteins_corpus):
    root, _ = proteins_corpus
    return {r.sample_id: r for r in SOURCE.discover(str(root), dict(SOURCE.defaults))}


@pytest.fixture(scope="module")
def converted(proteins_corpus, tmp_path_factory):
    root, _ = proteins_corpus
    out = tmp_path_factory.mktemp("proteins-out")
    return convert_demo("proteins", root, out), out / "proteins"


def expected_graph(sse, attr, edges):
    x = np.zeros((len(sse), 4), dtype=np.float32)
    x[np.arange(len(sse)), sse] = 1
    x[:, 3] = attr
    return x, np.array(edges, dtype=np.int64).T


def test_every_graph_label_line_is_a_record_with_its_label(proteins_corpus, discovered):
    _, expected = proteins_corpus
    for g, label in expected["labels"].items():
        assert discovered[f"PROTEINS#{g}"].label_row["label"] == str(label)
    assert len(discovered) == expected["discovered"]


def test_read_builds_the_label_one_hot_attributes_and_local_edges(proteins_corpus, discovered):
    _, expected = proteins_corpus
    for g in (1, 2, 5, 30):
        sample = SOURCE.read(discovered[f"PROTEINS#{g}"], SOURCE.defaults)
        x, edge_index = expected_graph(*expected["graphs"][g])
        np.testing.assert_allclose(sample.arrays["graph"]["x"], x, rtol=1e-6)
        assert np.array_equal(sample.arrays["graph"]["edge_index"], edge_index)
        assert sample.labels == {"protein_enzyme": 1 if expected["labels"][g] == 1 else 0}
        assert sample.meta["graph"]["node_features"] == ["node_label=0", "node_label=1", "node_label=2", "attribute_0"]


def test_hostile_rows_are_quarantined_with_their_line_and_reason(proteins_corpus, discovered):
    _, expected = proteins_corpus
    for sample_id, fragment in expected["quarantined_ids"].items():
        with pytest.raises(SourceError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
            SOURCE.read(discovered[sample_id], SOURCE.defaults)


def test_node_label_lines_that_disagree_with_the_indicator_stop_discovery(tmp_path):
    (tmp_path / "PROTEINS_A.txt").write_text("1, 2\n2, 1\n")
    (tmp_path / "PROTEINS_graph_indicator.txt").write_text("1\n1\n")
    (tmp_path / "PROTEINS_graph_labels.txt").write_text("1\n")
    (tmp_path / "PROTEINS_node_labels.txt").write_text("0\n")
    with pytest.raises(ValueError, match="node_labels.txt has 1 lines but PROTEINS_graph_indicator.txt 2"):
        list(SOURCE.discover(str(tmp_path), dict(SOURCE.defaults)))


def test_a_graph_without_nodes_is_quarantined(tmp_path):
    (tmp_path / "PROTEINS_A.txt").write_text("1, 2\n2, 1\n")
    (tmp_path / "PROTEINS_graph_indicator.txt").write_text("1\n1\n")
    (tmp_path / "PROTEINS_graph_labels.txt").write_text("1\n2\n")
    recs = {r.sample_id: r for r in SOURCE.discover(str(tmp_path), dict(SOURCE.defaults))}
    assert SOURCE.read(recs["PROTEINS#1"], SOURCE.defaults).arrays["graph"]["x"].shape == (2, 0)
    with pytest.raises(SourceError, match="graph 2 has no nodes"):
        SOURCE.read(recs["PROTEINS#2"], SOURCE.defaults)


def test_convert_counts_add_up_and_quarantine_lists_the_hostile_rows(proteins_corpus, converted):
    _, expected = proteins_corpus
    manifest, out = converted
    c = manifest["counts"]
    assert {k: c[k] for k in ("discovered", "written", "quarantined", "excluded")} == {
        k: expected[k] for k in ("discovered", "written", "quarantined", "excluded")}
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == 4 and all(q["stage"] == "read" for q in quarantine)


def test_written_graphs_carry_their_labels_and_every_split_is_used(proteins_corpus, converted):
    _, expected = proteins_corpus
    _, out = converted
    by_x = {}
    for g, parts in expected["graphs"].items():
        x, edge_index = expected_graph(*parts)
        by_x[x.tobytes()] = (g, edge_index)
    samples = list(read_samples(out).values())
    assert len(samples) == expected["written"]
    for s in samples:
        g, edge_index = by_x[np.asarray(s["graph"]["x"], dtype=np.float32).tobytes()]
        assert np.array_equal(s["graph"]["edge_index"], edge_index)
        assert s["meta"]["labels"]["protein_enzyme"] == (1 if expected["labels"][g] == 1 else 0)
    assert {s["split"] for s in samples} == {"train", "val", "test"}


def test_reconversion_with_other_workers_and_batches_is_byte_identical(proteins_corpus, converted, tmp_path):
    root, _ = proteins_corpus
    first, _ = converted
    again = convert_demo("proteins", root, tmp_path, workers=1, batch_size=3)
    assert [(s["path"], s["sha256"]) for s in again["shards"]] == [(s["path"], s["sha256"]) for s in first["shards"]]

"""ogbg-ppa source: OGB's raw CSV layout -> graphs with 7-dim edge features, 37 taxa, species split."""

import gzip
import json

import numpy as np
import pytest

from climb.pipelines.sources import SourceError, get_source
from tests.helpers import convert_demo, read_samples

SOURCE = get_source("ogbg-ppa")
OFFICIAL = {"train": "train", "valid": "val", "test": "test"}


@pytest.fixture(scope="module")
def discovered(ppa_corpus):
    root, _ = ppa_corpus
    return [*SOURCE.discover(str(root), dict(SOURCE.defaults))]


@pytest.fixture(scope="module")
def converted(ppa_corpus, tmp_path_factory):
    root, _ = ppa_corpus
    out = tmp_path_factory.mktemp("ppa-out")
    return convert_demo("ogbg-ppa", root, out), out / "ogbg-ppa"


def test_records_carry_the_label_and_the_official_species_split(ppa_corpus, discovered):
    _, expected = ppa_corpus
    assert len(discovered) == expected["discovered"]
    for rec, (label, split, edges, _, n) in zip(discovered, expected["rows"]):
        assert rec.label_row["label"] == str(label)
        assert rec.label_row["num_nodes"] == n and rec.label_row["edges"][1] == len(edges)
        assert rec.official_split == OFFICIAL[split]


def test_read_slices_the_graphs_edges_and_features(ppa_corpus, discovered):
    _, expected = ppa_corpus
    for g in (0, 1, 17):
        label, _, edges, feats, n = expected["rows"][g]
        sample = SOURCE.read(discovered[g], SOURCE.defaults)
        graph = sample.arrays["graph"]
        assert graph["x"].shape == (n, 0)
        assert np.array_equal(graph["edge_index"], edges.T)
        np.testing.assert_allclose(graph["edge_attr"], feats, rtol=1e-6)
        assert sample.labels == {"ppa_taxon": label}


def test_an_edge_outside_its_graph_is_quarantined(ppa_corpus, discovered):
    _, expected = ppa_corpus
    n = expected["rows"][-1][4]
    with pytest.raises(SourceError, match=rf"edge \[0, {n}\] names a node outside 0..{n - 1}"):
        SOURCE.read(discovered[-1], SOURCE.defaults)


def test_edge_rows_that_disagree_with_num_edge_list_quarantine_every_graph(ppa_corpus, tmp_path):
    import shutil

    root, _ = ppa_corpus
    shutil.copytree(root / "ogbg_ppa", tmp_path / "ogbg_ppa")
    path = tmp_path / "ogbg_ppa/raw/edge.csv.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(lines[:-1]) + "\n").encode()))
    rec = next(iter(SOURCE.discover(str(tmp_path), dict(SOURCE.defaults))))
    with pytest.raises(SourceError, match=f"edge.csv has {len(lines) - 1} rows but num_edge_list sums to {len(lines)}"):
        SOURCE.read(rec, SOURCE.defaults)


def test_a_split_index_listed_twice_stops_discovery(ppa_corpus, tmp_path):
    import shutil

    root, _ = ppa_corpus
    shutil.copytree(root / "ogbg_ppa", tmp_path / "ogbg_ppa")
    (tmp_path / "ogbg_ppa/split/species/test.csv.gz").write_bytes(gzip.compress(b"0\n"))
    with pytest.raises(ValueError, match="graph 0 is already in the train split"):
        list(SOURCE.discover(str(tmp_path), dict(SOURCE.defaults)))


def test_convert_counts_add_up_and_honours_the_species_split(ppa_corpus, converted):
    _, expected = ppa_corpus
    manifest, out = converted
    c = manifest["counts"]
    assert {k: c[k] for k in ("discovered", "written", "quarantined", "excluded")} == {
        k: expected[k] for k in ("discovered", "written", "quarantined", "excluded")}
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == 1 and "names a node outside" in quarantine[0]["message"]
    by_feat = {np.asarray(r[3], dtype=np.float32).tobytes(): r for r in expected["rows"][:-1]}
    samples = list(read_samples(out).values())
    assert len(samples) == expected["written"]
    for s in samples:
        label, split, edges, _, n = by_feat[np.asarray(s["graph"]["edge_attr"], dtype=np.float32).tobytes()]
        assert s["split"] == OFFICIAL[split]
        assert s["meta"]["labels"]["ppa_taxon"] == label
        assert np.array_equal(s["graph"]["edge_index"], edges.T)


def test_reconversion_with_other_workers_and_batches_is_byte_identical(ppa_corpus, converted, tmp_path):
    root, _ = ppa_corpus
    first, _ = converted
    again = convert_demo("ogbg-ppa", root, tmp_path, workers=1, batch_size=3)
    assert [(s["path"], s["sha256"]) for s in again["shards"]] == [(s["path"], s["sha256"]) for s in first["shards"]]


def test_an_empty_edge_feature_field_quarantines_only_its_graph(ppa_corpus, tmp_path):
    import shutil

    root, expected = ppa_corpus
    shutil.copytree(root / "ogbg_ppa", tmp_path / "ogbg_ppa")
    path = tmp_path / "ogbg_ppa/raw/edge_feat.csv.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    lines[0] = "," + lines[0].split(",", 1)[1]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    recs = list(SOURCE.discover(str(tmp_path), dict(SOURCE.defaults)))
    with pytest.raises(SourceError, match="graph 0: edge_feat.csv holds a missing or non-finite value"):
        SOURCE.read(recs[0], SOURCE.defaults)
    np.testing.assert_allclose(SOURCE.read(recs[1], SOURCE.defaults).arrays["graph"]["edge_attr"], expected["rows"][1][3], rtol=1e-6)

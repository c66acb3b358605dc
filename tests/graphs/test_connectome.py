"""connectome source: ABIDE-style matrices + phenotype sheet -> graphs, grouped (and site-stratified) splits."""

import json
from collections import Counter

import numpy as np
import pytest

from climb.pipelines.sources import Excluded, SourceError, get_source
from climb.pipelines.sources.connectome import largest_remainder, site_stratified_splits
from tests.helpers import convert_demo, read_samples

SOURCE = get_source("connectome")


def records(root, **options):
    return list(SOURCE.discover(str(root), {**SOURCE.defaults, **options}))


def expected_top_k(matrix, k):
    """Direct NumPy: for each node, its k strongest |r| other nodes, as sorted (source, target) pairs."""
    n = len(matrix)
    pairs = []
    for target in range(n):
        score = np.abs(matrix[target]).astype(float)
        score[target] = -np.inf
        for source in np.argsort(-score, kind="stable")[:k]:
            pairs.append((int(source), target))
    return sorted(pairs)


def test_discover_yields_one_record_per_scan_file_and_per_sheet_row_without_one(connectome_corpus):
    root, expected = connectome_corpus
    recs = records(root)
    assert len(recs) == expected["discovered"]
    assert sum(1 for r in recs if r.paths and r.label_row) == expected["written"] + 1  # + the NaN matrix
    assert len({r.sample_id for r in recs}) == len(recs)


def test_read_gives_top_k_graph_of_the_matrix_with_the_diagnosis(connectome_corpus):
    root, expected = connectome_corpus
    rec = next(r for r in records(root) if r.sample_id.endswith(".csv"))
    matrix = expected["matrices"][rec.sample_id]
    sample = SOURCE.read(rec, SOURCE.defaults)
    graph = sample.arrays["graph"]
    np.testing.assert_array_equal(graph["x"], matrix.astype(np.float32))
    assert [tuple(e) for e in graph["edge_index"].T.tolist()] == expected_top_k(matrix, 10)
    np.testing.assert_array_equal(graph["edge_attr"][:, 0], matrix[graph["edge_index"][0], graph["edge_index"][1]].astype(np.float32))
    dx = expected["diagnosis"][rec.subject_id]
    assert sample.labels == {"connectome_diagnosis": 1 if dx == 1 else 0}
    assert sample.meta["site"] == expected["site"][rec.subject_id]
    assert sample.meta["graph"]["edge_rule"] == "top 10 by |r| per node"


def test_threshold_option_replaces_top_k(connectome_corpus):
    root, expected = connectome_corpus
    rec = next(r for r in records(root) if r.sample_id.endswith(".npy") and r.label_row)
    matrix = expected["matrices"][rec.sample_id]
    graph = SOURCE.read(rec, {**SOURCE.defaults, "threshold": 0.3}).arrays["graph"]
    src, dst = np.nonzero((np.abs(matrix) > 0.3) & ~np.eye(len(matrix), dtype=bool))
    assert graph["edge_index"].tolist() == [src.tolist(), dst.tolist()]


def test_sym_edge_norm_divides_by_the_root_of_both_degrees(connectome_corpus):
    root, expected = connectome_corpus
    rec = next(r for r in records(root) if r.sample_id.endswith(".npy") and r.label_row)
    matrix = expected["matrices"][rec.sample_id]
    graph = SOURCE.read(rec, {**SOURCE.defaults, "threshold": 0.0, "edge_norm": "sym"}).arrays["graph"]
    a = np.abs(matrix) * ~np.eye(len(matrix), dtype=bool)
    deg = a.sum(axis=0)
    src, dst = graph["edge_index"]
    np.testing.assert_allclose(graph["edge_attr"][:, 0], matrix[src, dst] / np.sqrt(deg[src] * deg[dst]), rtol=1e-5)


@pytest.mark.parametrize(
    "which, error, message",
    [
        (lambda r: r.label_row.get("FILE_ID") == "no_filename", Excluded, "no preprocessed scan"),
        (lambda r: r.label_row.get("missing") and r.label_row.get("FILE_ID") != "no_filename", SourceError, "no matrix file"),
        (lambda r: "0050902" in r.sample_id, SourceError, "NaN/inf"),
        (lambda r: not r.label_row, Excluded, "not in label sheet"),
    ],
)
def test_awkward_rows_are_excluded_or_quarantined_with_their_reason(connectome_corpus, which, error, message):
    root, _ = connectome_corpus
    rec = next(r for r in records(root) if which(r))
    with pytest.raises(error, match=message):
        SOURCE.read(rec, SOURCE.defaults)


def test_largest_remainder_counts_sum_exactly():
    assert largest_remainder(10, {"train": 0.7, "val": 0.1, "test": 0.2}) == {"train": 7, "val": 1, "test": 2}
    assert largest_remainder(3, {"train": 0.7, "val": 0.1, "test": 0.2}) == {"train": 2, "val": 0, "test": 1}
    assert largest_remainder(8, {"train": 0.7, "val": 0.1, "test": 0.2}) == {"train": 6, "val": 1, "test": 1}
    assert sum(largest_remainder(11, {"a": 0.34, "b": 0.33, "c": 0.33}).values()) == 11


def test_site_stratification_gives_every_site_its_exact_share():
    site_of = {f"s{i}": ("A" if i < 10 else "B") for i in range(20)}
    splits = site_stratified_splits(site_of, {"train": 0.7, "val": 0.1, "test": 0.2})
    for site in "AB":
        assert Counter(splits[s] for s in site_of if site_of[s] == site) == {"train": 7, "val": 1, "test": 2}
    assert splits == site_stratified_splits(dict(reversed(site_of.items())), {"train": 0.7, "val": 0.1, "test": 0.2})


def test_convert_writes_exact_counts_and_graphs_equal_to_numpy(connectome_corpus, tmp_path):
    root, expected = connectome_corpus
    manifest = convert_demo("connectome", root, tmp_path)
    counts = manifest["counts"]
    assert (counts["discovered"], counts["written"], counts["quarantined"], counts["excluded"]) == (
        expected["discovered"], expected["written"], expected["quarantined"], expected["excluded"])
    samples = list(read_samples(tmp_path / "connectome").values())
    assert len(samples) == expected["written"]
    matrices = {m.astype(np.float32).tobytes(): m for m in expected["matrices"].values()}
    for s in samples:
        matrix = matrices[s["graph"]["x"].tobytes()]
        assert [tuple(e) for e in s["graph"]["edge_index"].T.tolist()] == expected_top_k(matrix, 10)
        assert s["meta"]["labels"]["connectome_diagnosis"] in (0, 1)
    subjects = Counter((s["meta"]["subject_id"], s["split"]) for s in samples)
    assert len({subject for subject, _ in subjects}) == len(subjects)
    quarantine = [json.loads(line) for line in (tmp_path / "connectome" / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(q["error_type"] for q in quarantine) == ["SourceError", "SourceError"]


def test_stratified_conversion_puts_each_sites_exact_share_in_each_split(connectome_corpus, tmp_path):
    root, expected = connectome_corpus
    convert_demo("connectome", root, tmp_path, options={"stratify_by_site": True})
    per_site = Counter((s["meta"]["site"], s["split"]) for s in read_samples(tmp_path / "connectome").values())
    # subjects with a matrix file: 8 per site, plus UCLA_1's NaN matrix (quarantined after the cut).
    # 8 at 70/10/20 -> 5.6/0.8/1.6 -> largest remainder 6/1/1.
    assert [per_site[("NYU", s)] for s in ("train", "val", "test")] == [6, 1, 1]
    assert [per_site[("PITT", s)] for s in ("train", "val", "test")] == [6, 1, 1]
    # 9 at 70/10/20 -> 6/1/2, less the one quarantined subject
    assert sum(per_site[("UCLA_1", s)] for s in ("train", "val", "test")) == 8

"""molecules source: SMILES CSV (ogbg-molhiv layout), RDKit's NCI .smi and .sdf -> graphs."""

import json
import re

import numpy as np
import pytest
from rdkit import Chem

from climb.pipelines.sources import SourceError, get_source
from climb.pipelines.sources.molecules import rdkit_messages
from climb.schemas.sample import Record
from tests.helpers import convert_demo, located, read_samples

SOURCE = get_source("molecules")


def records(root):
    return list(SOURCE.discover(str(root), dict(SOURCE.defaults)))


@pytest.fixture(scope="module")
def discovered(molecule_corpus):
    root, _ = molecule_corpus
    return records(root)


@pytest.fixture(scope="module")
def nci_converted(molecule_corpus, tmp_path_factory):
    root, _ = molecule_corpus
    out = tmp_path_factory.mktemp("nci-out")
    manifest = convert_demo("molecules", root / "nci", out, batch_size=256)
    return manifest, out / "molecules"


def rdkit_graph(mol):
    """Direct RDKit computation of the documented features, to compare against the source."""
    x = [[a.GetAtomicNum(), a.GetDegree(), a.GetFormalCharge(), str(a.GetHybridization()), a.GetIsAromatic(),
          a.GetTotalNumHs(), a.IsInRing()] for a in mol.GetAtoms()]
    edges, attrs = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        row = [str(b.GetBondType()), b.GetIsConjugated(), b.IsInRing(), str(b.GetStereo())]
        edges += [(i, j), (j, i)]
        attrs += [row, row]
    return x, edges, attrs


def assert_graph_matches(graph, mol):
    from climb.transforms.graph import BOND_STEREO, BOND_TYPES, HYBRIDIZATIONS

    x, edges, attrs = rdkit_graph(mol)
    assert graph["x"][:, [0, 1, 2, 4, 5, 6]].tolist() == [[r[0], r[1], r[2], int(r[4]), r[5], int(r[6])] for r in x]
    assert [HYBRIDIZATIONS[int(h)] for h in graph["x"][:, 3]] == [r[3] if r[3] in HYBRIDIZATIONS else "OTHER" for r in x]
    assert [tuple(e) for e in graph["edge_index"].T.tolist()] == edges
    assert [[BOND_TYPES[int(a[0])], bool(a[1]), bool(a[2]), BOND_STEREO[int(a[3])]] for a in graph["edge_attr"]] == attrs


def test_rdkit_log_lines_lose_their_timestamps_and_repeats():
    log = "[09:13:15] Can't kekulize mol.  Unkekulized atoms: 1 2\n[09:13:15] Can't kekulize mol.  Unkekulized atoms: 1 2\n"
    assert rdkit_messages(log) == "Can't kekulize mol.  Unkekulized atoms: 1 2"


def test_hiv_table_rows_get_the_official_scaffold_split_and_labels(molecule_corpus, discovered):
    _, expected = molecule_corpus
    recs = [r for r in discovered if r.sample_id.startswith("hiv/")]
    assert len(recs) == expected["hiv_counts"]["discovered"]
    by_row = {int(r.sample_id.rsplit("#", 1)[1]): r for r in recs}
    for i, (smiles, label, split) in enumerate(expected["hiv_rows"]):
        assert by_row[i].label_row == {"smiles": smiles, "labels": {"HIV_active": str(label)}}
        assert by_row[i].official_split == split


def test_read_builds_the_rdkit_graph_and_maps_hiv_active(molecule_corpus, discovered):
    _, expected = molecule_corpus
    rec = next(r for r in discovered if r.sample_id == "hiv/mapping/mol.csv.gz#5")
    sample = SOURCE.read(rec, SOURCE.defaults)
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(expected["hiv_rows"][5][0]))
    assert sample.meta["smiles"] == canonical
    assert_graph_matches(sample.arrays["graph"], Chem.MolFromSmiles(canonical))
    assert sample.labels == {"molecule_hiv_active": 1}


@pytest.mark.parametrize("smiles, message", [("C1CC(", "syntax error while parsing: C1CC("), ("CN(C)(C)(C)C", "Explicit valence for atom # 1 N, 5")])
def test_invalid_smiles_fail_with_rdkits_message(smiles, message):
    row = Record(source="molecules", sample_id="x#0", subject_id="x", paths=(), label_row={"smiles": smiles, "labels": {}})
    with pytest.raises(SourceError, match=re.escape(message)) as info:
        SOURCE.read(row, SOURCE.defaults)
    assert "\n" not in str(info.value) and "[0" not in str(info.value)


def test_nci_smi_every_line_is_a_record_and_rdkit_rejects_the_same_ones(molecule_corpus, discovered):
    _, expected = molecule_corpus
    recs = [r for r in discovered if r.sample_id.startswith("nci/first_5K.smi#")]
    lines = expected["nci"]["first_5K.smi"].read_text().splitlines()
    assert len(recs) == len(lines) == 4999
    from rdkit import rdBase

    with rdBase.BlockLogs():
        invalid = {i for i, line in enumerate(lines) if Chem.MolFromSmiles(line.split()[0]) is None}
    failed = set()
    for i, rec in enumerate(sorted(recs, key=lambda r: int(r.sample_id.rsplit("#", 1)[1]))):
        try:
            SOURCE.read(rec, SOURCE.defaults)
        except SourceError:
            failed.add(i)
    assert failed == invalid and len(invalid) == 8


def test_nci_sdf_records_keep_their_properties_and_graphs(molecule_corpus, discovered):
    _, expected = molecule_corpus
    recs = sorted((r for r in discovered if r.sample_id.startswith("nci/first_200")), key=lambda r: int(r.sample_id.rsplit("#", 1)[1]))
    reference = list(Chem.SDMolSupplier(str(expected["nci"]["first_200.props.sdf"])))
    assert len(recs) == len(reference) == 200
    for rec, mol in zip(recs[:20], reference[:20]):
        sample = SOURCE.read(rec, SOURCE.defaults)
        assert sample.meta["smiles"] == Chem.MolToSmiles(mol)
        assert_graph_matches(sample.arrays["graph"], Chem.MolFromSmiles(sample.meta["smiles"]))
        assert sample.labels == {"molecule_hiv_active": None}


def test_sdf_labels_come_from_sd_properties(tmp_path):
    mol = Chem.MolFromSmiles("c1ccccc1O")
    mol.SetProp("HIV_active", "1")
    writer = Chem.SDWriter(str(tmp_path / "one.sdf"))
    writer.write(mol)
    writer.close()
    (rec,) = records(tmp_path)
    assert SOURCE.read(rec, SOURCE.defaults).labels == {"molecule_hiv_active": 1}


def test_the_same_molecule_written_two_ways_shares_one_split_group_and_one_graph(tmp_path):
    (tmp_path / "a.smi").write_text("OCC\nC1CC1\n")
    (tmp_path / "b.csv").write_text("smiles\nCCO\n")
    recs = {r.sample_id: r for r in records(tmp_path)}
    assert recs["a.smi#0"].subject_id == recs["b.csv#0"].subject_id == "CCO"
    a, b = (SOURCE.read(recs[k], SOURCE.defaults).arrays["graph"] for k in ("a.smi#0", "b.csv#0"))
    assert all(np.array_equal(a[k], b[k]) for k in ("x", "edge_index", "edge_attr"))


def test_convert_counts_and_quarantines_invalid_smiles_with_rdkits_message(molecule_corpus, tmp_path):
    root, expected = molecule_corpus
    manifest = convert_demo("molecules", root / "hiv", tmp_path)
    c = manifest["counts"]
    assert {k: c[k] for k in ("discovered", "written", "quarantined", "excluded")} == expected["hiv_counts"]
    out = tmp_path / "molecules"
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(q["message"] for q in quarantine) == [  # quarantine.jsonl is sorted by key, not by row
        "RDKit rejected SMILES 'C1CC(': SMILES Parse Error: syntax error while parsing: C1CC( | SMILES Parse Error: check for mistakes around position 5: | C1CC( | ~~~~^ | SMILES Parse Error: Failed parsing SMILES 'C1CC(' for input: 'C1CC('",
        "RDKit rejected SMILES 'CN(C)(C)(C)C': Explicit valence for atom # 1 N, 5, is greater than permitted",
    ]
    samples = list(read_samples(out).values())
    rows = {Chem.MolToSmiles(Chem.MolFromSmiles(s)): (label, split) for s, label, split in expected["hiv_rows"][: expected["hiv_counts"]["written"]]}
    official = {"train": "train", "valid": "val", "test": "test"}
    for s in samples:
        label, split = rows[s["meta"]["smiles"]]
        assert s["meta"]["labels"]["molecule_hiv_active"] == label
        assert s["split"] == official[split]
        mol = Chem.MolFromSmiles(s["meta"]["smiles"])
        assert s["graph"]["x"].shape == (mol.GetNumAtoms(), 7)
        assert s["graph"]["edge_index"].dtype == np.int64


def test_nci_files_convert_with_exact_counts(nci_converted):
    manifest, _ = nci_converted
    c = manifest["counts"]
    # first_5K.smi: 4999 lines, 8 rejected by RDKit (valence); first_200.props.sdf: 200 valid records
    assert (c["discovered"], c["written"], c["quarantined"], c["excluded"]) == (5199, 5191, 8, 0)


def test_nci_quarantine_carries_rdkits_valence_messages(nci_converted, molecule_corpus):
    _, out = nci_converted
    root, _ = molecule_corpus
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantine) == 8
    assert all(path.startswith("first_5K.smi#") for path, _ in located(out, root / "nci"))
    assert all(q["stage"] == "read" for q in quarantine)
    assert all(re.search(r"Explicit valence for atom # \d+ \w+, \d+, is greater than permitted$", q["message"]) for q in quarantine)


def test_nci_shards_hold_rdkit_graphs_and_a_molecule_in_both_files_lands_in_one_split(nci_converted):
    _, out = nci_converted
    samples = list(read_samples(out).values())
    assert len(samples) == 5191
    for s in samples[::97]:
        assert_graph_matches(s["graph"], Chem.MolFromSmiles(s["meta"]["smiles"]))
    splits_of: dict[str, set] = {}
    for s in samples:
        splits_of.setdefault(s["meta"]["smiles"], set()).add(s["split"])
    assert sum(1 for s in samples) > len(splits_of)  # first_200's molecules are also in first_5K
    assert all(len(v) == 1 for v in splits_of.values())


def test_latin1_sd_files_are_read(tmp_path):
    mol = Chem.MolFromSmiles("CCO")
    block = Chem.MolToMolBlock(mol) + ">  <NAME>\nÉthanol\n\n$$$$\n"
    (tmp_path / "old.sdf").write_bytes(block.encode("latin-1"))
    (rec,) = records(tmp_path)
    assert SOURCE.read(rec, SOURCE.defaults).meta["smiles"] == "CCO"

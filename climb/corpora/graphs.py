"""Graph corpora: ABIDE-style connectomes and molecule files (ogbg-molhiv CSV, RDKit's NCI set).

`write_connectome_corpus` writes per-subject correlation matrices beside an ABIDE phenotype sheet,
with the awkward rows a real release has (a subject without a scan, a scan whose file is missing,
an empty ROI that makes a NaN row, a file the sheet does not list). `write_molecule_corpus` copies
the NCI files that ship with RDKit and writes an ogbg-molhiv layout with its scaffold split and two
SMILES that RDKit rejects. Each returns what a correct conversion must find.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

ABIDE_PHENOTYPE = "Phenotypic_V1_0b_preprocessed1.csv"
ABIDE_SITES = ("NYU", "PITT", "UCLA_1")
MATRIX_SUFFIX = "_rois_cc200_correlation"
INVALID_SMILES = ("C1CC(", "CN(C)(C)(C)C")


def _correlation(rng: np.random.Generator, n_rois: int, n_timepoints: int) -> np.ndarray:
    """A real correlation matrix: Pearson correlation of random ROI time series [n_rois, T]."""
    series = rng.standard_normal((n_rois, n_timepoints))
    series[1:] += 0.5 * series[:-1]  # neighbouring ROIs correlate, so edges are not all alike
    return np.corrcoef(series)


def write_connectome_corpus(root: str | os.PathLike, *, subjects_per_site: int = 8, n_rois: int = 16, seed: int = 0) -> dict[str, Any]:
    """Write an ABIDE-style connectome corpus under `root`.

    Layout: ``Phenotypic_V1_0b_preprocessed1.csv`` (SUB_ID, FILE_ID, SITE_ID, DX_GROUP 1 = autism /
    2 = control, AGE_AT_SCAN, SEX) and ``cc200/<FILE_ID>_rois_cc200_correlation.{npy,csv}``, one
    n_rois x n_rois matrix per scanned subject (every third one as CSV).

    Returns:
        counts (discovered / written / quarantined / excluded), `matrices` {relative path: matrix}
        of the good files, `diagnosis` {SUB_ID: DX_GROUP}, `site` {SUB_ID: SITE_ID}.
    """
    root = Path(root)
    (root / "cc200").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, matrices, diagnosis, site_of = [], {}, {}, {}
    n = 0
    for site in ABIDE_SITES:
        for i in range(subjects_per_site):
            n += 1
            sub_id = 50000 + n
            file_id = f"{site.title()}_{sub_id:07d}"
            dx = 1 + (n % 2)
            rows.append({"SUB_ID": sub_id, "FILE_ID": file_id, "SITE_ID": site, "DX_GROUP": dx,
                         "AGE_AT_SCAN": round(float(rng.uniform(7, 40)), 2), "SEX": 1 + (n % 3 == 0)})
            matrix = _correlation(rng, n_rois, 60)
            rel = f"cc200/{file_id}{MATRIX_SUFFIX}" + (".csv" if n % 3 == 0 else ".npy")
            if rel.endswith(".csv"):
                np.savetxt(root / rel, matrix, delimiter=",", fmt="%.17g")
            else:
                np.save(root / rel, matrix)
            matrices[rel] = matrix
            diagnosis[str(sub_id)] = dx
            site_of[str(sub_id)] = site
    # a subject the release has no scan for: FILE_ID is the literal "no_filename" (excluded)
    rows.append({"SUB_ID": 50900, "FILE_ID": "no_filename", "SITE_ID": "NYU", "DX_GROUP": 2, "AGE_AT_SCAN": 12.5, "SEX": 1})
    # a listed scan whose file is missing (quarantined)
    rows.append({"SUB_ID": 50901, "FILE_ID": "Pitt_0050901", "SITE_ID": "PITT", "DX_GROUP": 1, "AGE_AT_SCAN": 20.0, "SEX": 1})
    # an empty ROI: its row and column are NaN (quarantined)
    broken = _correlation(rng, n_rois, 60)
    broken[3, :] = broken[:, 3] = np.nan
    rows.append({"SUB_ID": 50902, "FILE_ID": "Ucla_1_0050902", "SITE_ID": "UCLA_1", "DX_GROUP": 2, "AGE_AT_SCAN": 15.0, "SEX": 2})
    np.save(root / f"cc200/Ucla_1_0050902{MATRIX_SUFFIX}.npy", broken)
    # a scan the sheet does not list (excluded)
    np.save(root / f"cc200/Usm_0050999{MATRIX_SUFFIX}.npy", _correlation(rng, n_rois, 60))
    with open(root / ABIDE_PHENOTYPE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {
        "discovered": len(rows) + 1,
        "written": len(matrices),
        "quarantined": 2,
        "excluded": 2,
        "matrices": matrices,
        "diagnosis": diagnosis,
        "site": site_of,
    }


def nci_dir() -> Path:
    """RDKit's bundled NCI sample files (first_200.props.sdf, first_5K.smi)."""
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir) / "NCI"


def _gz_csv(path: Path, rows: list[list[Any]], header: list[str] | None) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(text.getvalue().encode("utf-8"))


def write_molecule_corpus(root: str | os.PathLike, *, n_hiv: int = 40, nci: bool = True) -> dict[str, Any]:
    """Write molecule files under `root`.

    Layout:
        ``hiv/mapping/mol.csv.gz`` (HIV_active, smiles, mol_id: the first `n_hiv` SMILES of
        first_5K.smi, every fifth active, then the two INVALID_SMILES) and
        ``hiv/split/scaffold/{train,valid,test}.csv.gz`` (row indices, no header: OGB's layout);
        with `nci`, ``nci/first_200.props.sdf`` and ``nci/first_5K.smi`` copied from RDKit.

    Returns:
        `hiv_counts` (what converting hiv/ alone must give), `hiv_rows` [(smiles, label, split)],
        and `nci` {file name: path} when copied.
    """
    root = Path(root)
    smiles = [line.split()[0] for line in (nci_dir() / "first_5K.smi").read_text().splitlines()[:n_hiv]]
    rows = [[int(i % 5 == 0), s, i] for i, s in enumerate(smiles)]
    rows += [[0, s, n_hiv + j] for j, s in enumerate(INVALID_SMILES)]
    (root / "hiv" / "mapping").mkdir(parents=True, exist_ok=True)
    _gz_csv(root / "hiv/mapping/mol.csv.gz", rows, ["HIV_active", "smiles", "mol_id"])
    split_of = ["train" if i % 10 < 8 else "valid" if i % 10 == 8 else "test" for i in range(len(rows))]
    (root / "hiv/split/scaffold").mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid", "test"):
        _gz_csv(root / f"hiv/split/scaffold/{name}.csv.gz", [[i] for i, s in enumerate(split_of) if s == name], None)
    out: dict[str, Any] = {
        "hiv_rows": [(r[1], r[0], s) for r, s in zip(rows, split_of)],
        "hiv_counts": {"discovered": len(rows), "written": n_hiv, "quarantined": len(INVALID_SMILES), "excluded": 0},
    }
    if nci:
        (root / "nci").mkdir(exist_ok=True)
        for name in ("first_200.props.sdf", "first_5K.smi"):
            shutil.copyfile(nci_dir() / name, root / "nci" / name)
        out["nci"] = {name: root / "nci" / name for name in ("first_200.props.sdf", "first_5K.smi")}
    return out


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def write_proteins_corpus(root: str | os.PathLike, *, n_graphs: int = 30, seed: int = 0) -> dict[str, Any]:
    """Write a PROTEINS corpus in the TU Dortmund text format under ``root/PROTEINS``.

    Small synthetic graphs (4-11 nodes: a ring plus random chords, each undirected edge listed both
    ways as TU does), node labels 0-2 and one node attribute, graph labels 1 (enzyme) / 2. Hostile
    rows: a graph_indicator line naming graph ``n_graphs + 5`` (an extra node of no graph), an A line
    that is not two ids, and an edge joining graphs 3 and 4 (both quarantined).

    Returns:
        counts, ``labels`` {graph id: TU label}, ``graphs`` {graph id: (node labels, attributes,
        local edges)} of the good graphs, and ``quarantined`` {sample id: reason fragment}.
    """
    root = Path(root) / "PROTEINS"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    indicator, node_labels, attributes, edge_lines, labels, graphs = [], [], [], [], {}, {}
    first = 1
    for g in range(1, n_graphs + 1):
        n = int(rng.integers(4, 12))
        pairs = {(i, (i + 1) % n) for i in range(n)} | {tuple(sorted(map(int, rng.choice(n, 2, replace=False)))) for _ in range(2)}
        directed = sorted({(a, b) for a, b in pairs} | {(b, a) for a, b in pairs})
        sse = [int(v) for v in rng.integers(0, 3, n)]
        attr = [round(float(v), 3) for v in rng.uniform(0, 40, n)]
        indicator += [str(g)] * n
        node_labels += [str(v) for v in sse]
        attributes += [f"{v}" for v in attr]
        edge_lines += [f"{first + a}, {first + b}" for a, b in directed]
        labels[g] = 1 + int(g % 3 == 0)
        graphs[g] = (sse, attr, directed)
        first += n
    # hostile rows: a node of graph n_graphs + 5 (out of range), an A line that is not two ids,
    # and an edge from graph 3's first node to graph 4's first node
    indicator.append(str(n_graphs + 5))
    node_labels.append("1")
    attributes.append("1.0")
    edge_lines.insert(5, "7, x")
    start3 = 1 + sum(len(graphs[g][0]) for g in (1, 2))
    edge_lines.append(f"{start3}, {start3 + len(graphs[3][0])}")
    _write_lines(root / "PROTEINS_graph_indicator.txt", indicator)
    _write_lines(root / "PROTEINS_node_labels.txt", node_labels)
    _write_lines(root / "PROTEINS_node_attributes.txt", attributes)
    _write_lines(root / "PROTEINS_A.txt", edge_lines)
    _write_lines(root / "PROTEINS_graph_labels.txt", [str(labels[g]) for g in range(1, n_graphs + 1)])
    quarantined = {
        f"PROTEINS_graph_indicator.txt#{len(indicator)}": f"graph id {n_graphs + 5} is outside 1..{n_graphs}",
        "PROTEINS_A.txt#6": "'7, x' is not two comma-separated node ids",
        "PROTEINS#3": "joins nodes of graphs [3, 4]",
        "PROTEINS#4": "joins nodes of graphs [3, 4]",
    }
    return {
        "discovered": n_graphs + 2, "written": n_graphs - 2, "quarantined": 4, "excluded": 0,
        "labels": labels, "graphs": {g: v for g, v in graphs.items() if g not in (3, 4)}, "quarantined_ids": quarantined,
    }


PPA_TAXA = 37


def write_ppa_corpus(root: str | os.PathLike, *, n_graphs: int = 40, seed: int = 0) -> dict[str, Any]:
    """Write an ogbg-ppa corpus in OGB's raw layout under ``root/ogbg_ppa``.

    ``raw/{num_node_list,num_edge_list,edge,edge_feat,graph-label}.csv.gz`` (headerless, node ids
    local to each graph, 7 scores in [0, 1] per edge) and ``split/species/{train,valid,test}.csv.gz``
    (a species split: graphs cut by a species id, so the split is not a hash of the graph). Hostile
    graph: the last one lists an edge to node ``n`` of an ``n``-node graph (quarantined).

    Returns:
        counts, ``rows`` [(label, split, edges [E, 2], edge_feat [E, 7], num_nodes)] per graph.
    """
    root = Path(root) / "ogbg_ppa"
    (root / "raw").mkdir(parents=True, exist_ok=True)
    (root / "split/species").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, edges_all, feats_all = [], [], []
    for g in range(n_graphs):
        n = int(rng.integers(5, 15))
        e = int(rng.integers(n, 3 * n))
        edges = np.stack([rng.integers(0, n, e), rng.integers(0, n, e)], axis=1)
        if g == n_graphs - 1:
            edges[-1] = (0, n)
        feats = np.round(rng.uniform(0, 1, (e, 7)), 3)
        species = g % 7
        split = "train" if species < 5 else "valid" if species == 5 else "test"
        rows.append((int(g % PPA_TAXA), split, edges, feats, n))
        edges_all += [[int(a), int(b)] for a, b in edges]
        feats_all += [[float(v) for v in f] for f in feats]
    _gz_csv(root / "raw/num_node_list.csv.gz", [[r[4]] for r in rows], None)
    _gz_csv(root / "raw/num_edge_list.csv.gz", [[len(r[2])] for r in rows], None)
    _gz_csv(root / "raw/graph-label.csv.gz", [[r[0]] for r in rows], None)
    _gz_csv(root / "raw/edge.csv.gz", edges_all, None)
    _gz_csv(root / "raw/edge_feat.csv.gz", feats_all, None)
    for name in ("train", "valid", "test"):
        _gz_csv(root / f"split/species/{name}.csv.gz", [[g] for g, r in enumerate(rows) if r[1] == name], None)
    return {"discovered": n_graphs, "written": n_graphs - 1, "quarantined": 1, "excluded": 0, "rows": rows}

"""Brain connectomes: per-subject connectivity matrices + an ABIDE-style phenotype sheet -> graphs.

Raw layout (ABIDE Preprocessed naming)::

    <raw>/Phenotypic_V1_0b_preprocessed1.csv    SUB_ID, FILE_ID, SITE_ID, DX_GROUP (1 autism, 2 control)
    <raw>/**/<FILE_ID or SUB_ID>[_anything].npy  one square matrix per scan (.npy, or numeric .csv)

A matrix file belongs to the sheet row whose FILE_ID (or SUB_ID) is the file name's stem or a
prefix of it ending at "_" (``Pitt_0050003_rois_cc200_correlation.npy`` -> ``Pitt_0050003``).
Rows with FILE_ID ``no_filename`` (ABIDE's marker for subjects without a preprocessed scan) are
excluded; rows whose file is missing are quarantined; files the sheet does not list are excluded.

Graph (transforms.graph.correlation_graph): node features are the matrix rows; edges by option
``top_k`` (default 10 strongest |r| neighbours per node) or ``threshold`` (|r| > t; 0 keeps every
nonzero entry, BrainGB's dense graph; when given it replaces top_k); ``absolute=False`` scores by r; edge_attr is the signed correlation, or its degree-normalised
value with ``edge_norm`` = "sym" | "row". No self loops. Matrices with NaN (empty ROIs) are
quarantined, not patched.

Splits are grouped by subject (SUB_ID). With ``stratify_by_site`` the split is decided here instead of
by the pipeline's hash: within each site, subjects are ordered by sha256(seed, site, SUB_ID) and cut
by largest-remainder counts of ``site_split_fractions`` (default: the source's 70/10/20, the
BrainGB ABIDE split), and the result travels as the record's official split, which the pipeline
honours. Every site then holds its exact share of each split, which a per-subject hash only
approximates. Only subjects with at least one matrix file take part in the cut; a subject listed
under two sites takes the site of its first row.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, read_bytes
from climb.transforms.graph import correlation_graph, normalize_edge_weights

NAME = "connectome"
PHENOTYPE = "Phenotypic_V1_0b_preprocessed1.csv"
NO_FILE = "no_filename"
MATRIX_EXTENSIONS = (".npy", ".csv")
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def _url(raw_url: str, path: str) -> str:
    return raw_url.split("://", 1)[0] + "://" + path if "://" in raw_url else path


def _read_sheet(raw_url: str, name: str, storage: dict[str, Any] | None) -> list[dict[str, str]]:
    text = read_bytes(f"{raw_url.rstrip('/')}/{name}", storage).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    missing = {"SUB_ID", "SITE_ID", "DX_GROUP"} - set(rows[0] if rows else ())
    if missing:
        raise SourceError(f"phenotype sheet {name} lacks columns {sorted(missing)}")
    return rows


def _match(stem: str, lookup: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The sheet row whose id is the stem or a "_"-bounded prefix of it, longest first."""
    parts = stem.split("_")
    for end in range(len(parts), 0, -1):
        row = lookup.get("_".join(parts[:end]))
        if row is not None:
            return row
    return None


def largest_remainder(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split n items into integer counts proportional to fractions, summing to n exactly."""
    exact = {name: n * f for name, f in fractions.items()}
    counts = {name: int(v) for name, v in exact.items()}
    # remainders rounded so float noise (5.6 - 5 < 1.6 - 1) cannot break a tie; ties go to the earlier split
    order = sorted(fractions, key=lambda name: (-round(exact[name] - counts[name], 9), list(fractions).index(name)))
    for name in order[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def site_stratified_splits(site_of: dict[str, str], fractions: dict[str, float], seed: int = 0) -> dict[str, str]:
    """subject -> split, each site cut separately into exact shares (see module docstring)."""
    by_site: dict[str, list[str]] = {}
    for subject, site in site_of.items():
        by_site.setdefault(site, []).append(subject)
    out: dict[str, str] = {}
    for site, subjects in sorted(by_site.items()):
        ordered = sorted(subjects, key=lambda s: hashlib.sha256(f"{seed}\x1f{site}\x1f{s}".encode()).hexdigest())
        start = 0
        for name, count in largest_remainder(len(ordered), fractions).items():
            out.update({s: name for s in ordered[start:start + count]})
            start += count
    return out


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    storage = options.get("storage_options")
    sheet = options.get("phenotype", PHENOTYPE)
    rows = _read_sheet(raw_url, sheet, storage)
    lookup: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.get("FILE_ID", NO_FILE) != NO_FILE:
            lookup[row["FILE_ID"].strip()] = row
        lookup.setdefault(row["SUB_ID"].strip(), row)
    site_of: dict[str, str] = {}
    for row in rows:
        site_of.setdefault(row["SUB_ID"].strip(), row["SITE_ID"].strip())

    fs, root = filesystem(raw_url, storage)
    root = root.rstrip("/")
    files: list[tuple[str, str, dict[str, str] | None]] = []
    for path in sorted(fs.find(root)):
        rel = path[len(root) + 1:]
        if rel != sheet and rel.endswith(MATRIX_EXTENSIONS):
            files.append((path, rel, _match(rel.rsplit("/", 1)[-1].rsplit(".", 1)[0], lookup)))
    matched = {id(row) for _, _, row in files if row is not None}
    official: dict[str, str] = {}
    if options.get("stratify_by_site"):
        scanned = {row["SUB_ID"].strip() for _, _, row in files if row is not None}
        fractions = dict(options.get("site_split_fractions") or FRACTIONS)
        official = site_stratified_splits({s: site_of[s] for s in scanned}, fractions, int(options.get("split_seed", 0)))

    for path, rel, row in files:
        if row is None:
            stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            yield Record(source=NAME, sample_id=rel, subject_id=stem, paths=(_url(raw_url, path),))
            continue
        subject = row["SUB_ID"].strip()
        yield Record(
            source=NAME, sample_id=rel, subject_id=subject, paths=(_url(raw_url, path),),
            label_row={"DX_GROUP": row["DX_GROUP"].strip(), "SITE_ID": site_of[subject]},
            official_split=official.get(subject),
        )
    for row in rows:
        if id(row) in matched:
            continue
        subject, file_id = row["SUB_ID"].strip(), row.get("FILE_ID", NO_FILE).strip()
        # no file for this row: read() excludes it (no scan in the release) or quarantines it (file missing)
        yield Record(
            source=NAME, sample_id=f"{sheet}#{subject}", subject_id=subject, paths=(),
            label_row={"DX_GROUP": row["DX_GROUP"].strip(), "SITE_ID": site_of[subject], "FILE_ID": file_id, "missing": True},
            official_split=official.get(subject),
        )


def load_matrix(data: bytes, name: str) -> np.ndarray:
    """A matrix from .npy bytes (no pickles) or a numeric CSV (an optional header row is skipped)."""
    if name.endswith(".npy"):
        return np.load(io.BytesIO(data), allow_pickle=False)
    text = data.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    try:
        [float(v) for v in first.split(",")]
        skip = 0
    except ValueError:
        skip = 1
    return np.loadtxt(io.StringIO(text), delimiter=",", skiprows=skip, ndmin=2)


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if not row:
        raise Excluded("not in label sheet")
    if row.get("missing"):
        if row.get("FILE_ID") == NO_FILE:
            raise Excluded("no preprocessed scan for this subject (FILE_ID no_filename)")
        raise SourceError("the phenotype sheet lists this scan but no matrix file matches its FILE_ID")
    url = record.paths[0]
    try:
        matrix = load_matrix(read_bytes(url, options.get("storage_options")), url)
    except ValueError as exc:
        raise SourceError(f"unreadable matrix file: {exc}") from exc
    threshold, top_k = options.get("threshold"), options.get("top_k")
    if threshold is not None:
        top_k = None
    try:
        graph = correlation_graph(matrix, threshold=threshold, top_k=top_k, absolute=bool(options.get("absolute", True)))
    except ValueError as exc:
        raise SourceError(str(exc)) from exc
    edge_feature = "correlation"
    norm = options.get("edge_norm")
    if norm:
        weights = normalize_edge_weights(graph["edge_index"], graph["edge_attr"][:, 0], matrix.shape[0], norm)
        graph["edge_attr"] = weights.reshape(-1, 1)
        edge_feature = f"correlation_{norm}_normalised"
    label, _ = get_task("connectome_diagnosis").map_codes(NAME, [row["DX_GROUP"]])
    score = "|r|" if options.get("absolute", True) else "r"
    rule = f"{score} > {threshold}" if threshold is not None else f"top {top_k} by {score} per node"
    return Sample(
        arrays={"graph": graph},
        meta={
            "graph": {
                "num_nodes": int(graph["x"].shape[0]),
                "num_edges": int(graph["edge_index"].shape[1]),
                "node_features": "connectivity matrix row",
                "edge_features": [edge_feature],
                "edge_rule": rule,
            },
            "site": row["SITE_ID"],
        },
        labels={"connectome_diagnosis": label},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="brain connectomes (ABIDE-style per-subject correlation matrices + phenotype sheet) -> graphs",
    modalities=("graph",),
    tasks=("connectome_diagnosis",),
    discover=discover,
    read=read,
    defaults={"top_k": 10, "threshold": None, "absolute": True, "edge_norm": None, "stratify_by_site": False},
    split_fractions=dict(FRACTIONS),
)

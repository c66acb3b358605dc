"""Molecules: SMILES tables and SDF files -> molecular graphs through RDKit.

Raw layout: any mix of these files anywhere under the raw folder::

    *.csv, *.csv.gz     a table with a `smiles` column (any case), one molecule per row, e.g.
                        ogbg-molhiv's mapping/mol.csv.gz (HIV_active, smiles, mol_id)
    *.smi, *.smiles     "SMILES [name]" per line, whitespace separated, no header (RDKit's NCI set);
                        blank lines and lines starting with # are skipped
    *.sdf               $$$$-terminated records; SD properties give the labels

CSV files without a SMILES column (OGB's split index files, descriptor tables) are not molecule
tables and are skipped. Labels come from the columns (or SD properties) named in option
``label_columns`` {column: task}, default {"HIV_active": "molecule_hiv_active"}, mapped through the
task registry; a molecule without the column is masked for that task.

OGB's official split is honoured: beside ``<d>/mapping/<table>`` the row indices in
``<d>/split/<ogb_split>/{train,valid,test}.csv.gz`` (option ``ogb_split``, default "scaffold") set
each row's split. Without an official split, molecules are grouped by canonical SMILES, so the same
molecule listed twice (or in two files) can never sit in two splits.

Each record carries its molecule's text (SMILES or SD record) in ``label_row``, so the engine's
per-sample fingerprint covers exactly that molecule and read() never re-reads a large file. The graph
(transforms.graph.molecule_graph, which documents the atom and bond features) is built from the
canonical SMILES stored in the metadata, so one molecule gives one graph whatever notation or file
it came from, and ``Chem.MolFromSmiles(meta["smiles"])`` reproduces its atom order exactly. A
molecule RDKit rejects is quarantined with RDKit's own log message.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterator

from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem
from climb.transforms.graph import ATOM_FEATURES, BOND_FEATURES, molecule_graph

NAME = "molecules"
TABLES = (".csv", ".csv.gz")
SMILES_FILES = (".smi", ".smiles")
SDF_FILES = (".sdf",)
OGB_SPLITS = ("train", "valid", "test")
DEFAULT_LABELS = {"HIV_active": "molecule_hiv_active"}
_LOG_TIME = re.compile(r"^\[\d{2}:\d{2}:\d{2}\]\s?")


def rdkit_messages(log: str) -> str:
    """RDKit's captured log as one line: timestamps dropped (they would make quarantine files differ
    run to run), repeated lines kept once, lines joined with " | "."""
    lines: list[str] = []
    for raw in log.splitlines():
        line = _LOG_TIME.sub("", raw).rstrip()
        if line.strip() and line not in lines:
            lines.append(line)
    return " | ".join(lines)


def parse_smiles(smiles: str) -> Any:
    """An RDKit Mol, or SourceError carrying RDKit's explanation."""
    from rdkit import Chem, rdBase

    if not smiles.strip():
        raise SourceError("empty SMILES")
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise SourceError(f"RDKit rejected SMILES {smiles!r}: {rdkit_messages(capture.messages) or 'no message'}")
    return mol


def parse_sd_record(block: str) -> Any:
    """An RDKit Mol with its SD properties, or SourceError carrying RDKit's explanation."""
    from rdkit import Chem, rdBase

    supplier = Chem.SDMolSupplier()
    with rdBase.CaptureErrorLog() as capture:
        supplier.SetData(block)
        mol = next(iter(supplier), None)
    if mol is None:
        raise SourceError(f"RDKit rejected the SD record: {rdkit_messages(capture.messages) or 'no message'}")
    return mol


def canonical_smiles(mol: Any) -> str:
    from rdkit import Chem

    return Chem.MolToSmiles(mol)


def _group(text: str, kind: str) -> str | None:
    """Canonical SMILES for split grouping, None when RDKit cannot parse it (read() will say why)."""
    from rdkit import rdBase

    with rdBase.BlockLogs():
        try:
            return canonical_smiles(parse_smiles(text) if kind == "smiles" else parse_sd_record(text))
        except SourceError:
            return None


def _open_text(fs, path: str) -> str:
    """A file's text: UTF-8, else Latin-1 (older SD files carry Latin-1 property values)."""
    with fs.open(path, "rb", compression="infer") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _ogb_split(fs, path: str, name: str) -> dict[int, str]:
    """Row index -> official split, from OGB's split folder beside mapping/ (empty if none)."""
    parent, _, _ = path.rpartition("/")
    if not parent.endswith("/mapping"):
        return {}
    base = f"{parent[: -len('/mapping')]}/split/{name}"
    out: dict[int, str] = {}
    for split in OGB_SPLITS:
        for candidate in (f"{base}/{split}.csv.gz", f"{base}/{split}.csv"):
            if fs.exists(candidate):
                out.update({int(line): split for line in _open_text(fs, candidate).split() if line.strip()})
                break
    return out


def _table_rows(fs, path: str) -> Iterator[tuple[str, dict[str, str]]]:
    text = _open_text(fs, path)
    reader = csv.DictReader(io.StringIO(text))
    column = next((c for c in reader.fieldnames or () if c.strip().lower() == "smiles"), None)
    if column is None:
        return
    for row in reader:
        yield (row.get(column) or "").strip(), row


def _smiles_lines(fs, path: str) -> Iterator[tuple[str, dict[str, str]]]:
    for line in _open_text(fs, path).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.split()[0], {}


def _sd_records(fs, path: str) -> Iterator[str]:
    block: list[str] = []
    for line in _open_text(fs, path).splitlines(keepends=True):
        block.append(line)
        if line.strip() == "$$$$":
            yield "".join(block)
            block = []
    if "".join(block).strip():
        yield "".join(block)


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    root = root.rstrip("/")
    label_columns = dict(options.get("label_columns") or DEFAULT_LABELS)
    for path in sorted(fs.find(root)):
        rel = path[len(root) + 1:]
        lower = rel.lower()
        if lower.endswith(SDF_FILES):
            for i, block in enumerate(_sd_records(fs, path)):
                sample_id = f"{rel}#{i}"
                yield Record(
                    source=NAME, sample_id=sample_id, subject_id=_group(block, "sdf") or sample_id, paths=(),
                    label_row={"sdf": block},
                )
            continue
        if lower.endswith(TABLES):
            rows = _table_rows(fs, path)
            official = _ogb_split(fs, path, options.get("ogb_split", "scaffold"))
        elif lower.endswith(SMILES_FILES):
            rows, official = _smiles_lines(fs, path), {}
        else:
            continue
        for i, (smiles, row) in enumerate(rows):
            sample_id = f"{rel}#{i}"
            split = official.get(i)
            # with an official split each row is its own group, so the split stays exactly OGB's
            subject = sample_id if split else (_group(smiles, "smiles") or smiles or sample_id)
            labels = {col: (row.get(col) or "").strip() for col in label_columns if col in row}
            yield Record(
                source=NAME, sample_id=sample_id, subject_id=subject, paths=(),
                label_row={"smiles": smiles, "labels": labels}, official_split=split,
            )


def read(record: Record, options: dict[str, Any]) -> Sample:
    label_columns = dict(options.get("label_columns") or DEFAULT_LABELS)
    row = record.label_row
    if "sdf" in row:
        mol = parse_sd_record(row["sdf"])
        props = mol.GetPropsAsDict()
        raw = {col: str(props[col]).strip() for col in label_columns if col in props}
    else:
        mol = parse_smiles(row["smiles"])
        raw = row["labels"]
    if mol.GetNumAtoms() == 0:
        raise SourceError("the molecule has no atoms")
    smiles = canonical_smiles(mol)
    graph = molecule_graph(parse_smiles(smiles))
    labels = {}
    for column, task in label_columns.items():
        value = raw.get(column, "")
        labels[task] = get_task(task).map_codes(NAME, [value])[0] if value else None
    return Sample(
        arrays={"graph": graph},
        meta={
            "graph": {
                "num_nodes": int(graph["x"].shape[0]),
                "num_edges": int(graph["edge_index"].shape[1]),
                "node_features": list(ATOM_FEATURES),
                "edge_features": list(BOND_FEATURES),
            },
            "smiles": smiles,
        },
        labels=labels,
    )


SOURCE = SourceInfo(
    name=NAME,
    description="molecules (SMILES CSV ogbg-molhiv style, .smi, SDF) -> RDKit atom/bond graphs",
    modalities=("graph",),
    tasks=tuple(DEFAULT_LABELS.values()),
    discover=discover,
    read=read,
    defaults={"label_columns": dict(DEFAULT_LABELS), "ogb_split": "scaffold"},
)

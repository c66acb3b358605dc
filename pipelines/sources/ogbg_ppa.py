"""ogbg-ppa in OGB's raw CSV layout -> protein-association graphs with edge features, 37 taxa.

Raw layout (as OGB's zip unpacks it, anywhere under the raw folder; .csv.gz or .csv)::

    raw/num_node_list.csv.gz   line g: graph g's number of nodes
    raw/num_edge_list.csv.gz   line g: graph g's number of edges
    raw/edge.csv.gz            "src,dst" per edge, graph after graph, node ids local to the graph (0-based)
    raw/edge_feat.csv.gz       7 comma-separated floats per edge (the STRING association scores)
    raw/graph-label.csv.gz     line g: graph g's class, 0..36 (the species' taxonomic group)
    split/species/{train,valid,test}.csv.gz   graph indices of OGB's species split

Graph g: edges are its rows of edge.csv (offset = sum of the earlier num_edge_list entries), in file
order; edge_attr the same rows of edge_feat.csv; x has no columns ([N, 0]: ogbg-ppa has no node
features, OGB's loaders give every node the same embedding). A label outside 0..36 is masked.

OGB's species split is honoured as each record's official split (valid -> val). A split file that
lists an index twice or outside the graphs stops discovery (the split cannot be trusted); a graph no
split file lists falls to the pipeline's hash split. Discover reads only the per-graph lists and the
split; edge.csv and edge_feat.csv (tens of millions of rows in the full release) are decoded once per
worker process with pyarrow and reused while unchanged. A graph whose edges name a node outside its
own 0..N-1, or whose edge features have an empty field, is quarantined with the reason; if an edge
file holds text that is not a number, or its row count disagrees with num_edge_list, no graph can be
trusted and every graph is quarantined with that reason.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem

NAME = "ogbg-ppa"
TASK = "ppa_taxon"
EDGE_FEATURES = 7
RAW = ("num_node_list", "num_edge_list", "edge", "edge_feat", "graph-label")
OGB_SPLITS = {"train": "train", "valid": "val", "test": "test"}


def _url(raw_url: str, path: str) -> str:
    return raw_url.split("://", 1)[0] + "://" + path if "://" in raw_url else path


def _find(fs, root: str, rel: str) -> str | None:
    """The first file under root ending in /rel(.gz), sorted, so a nested ogbg_ppa/ folder works."""
    for path in sorted(fs.find(root)):
        if path.endswith((f"/{rel}.csv.gz", f"/{rel}.csv")):
            return path
    return None


def _text(fs, path: str) -> str:
    with fs.open(path, "rb", compression="infer") as f:
        return f.read().decode("utf-8-sig")


def _int_lines(fs, path: str) -> list[int]:
    """One non-negative integer per line; anything else stops discovery with the line."""
    out = []
    for n, line in enumerate(_text(fs, path).split("\n")):
        if not line.strip():
            continue
        try:
            value = int(line.strip())
        except ValueError:
            raise ValueError(f"{path} line {n + 1}: {line.strip()!r} is not an integer") from None
        if value < 0:
            raise ValueError(f"{path} line {n + 1}: negative count {value}")
        out.append(value)
    return out


def locate(fs, root: str) -> dict[str, str]:
    paths = {rel: _find(fs, root, f"raw/{rel}") for rel in RAW}
    missing = [f"raw/{rel}.csv.gz" for rel, path in paths.items() if path is None]
    if missing:
        raise ValueError(f"{root}: no {', '.join(missing)} (OGB raw layout of ogbg-ppa)")
    return paths  # type: ignore[return-value]


def official_splits(fs, root: str, n_graphs: int, name: str) -> dict[int, str]:
    """Graph index -> split from split/<name>/{train,valid,test}.csv.gz (empty if the folder is absent)."""
    out: dict[int, str] = {}
    for ogb, split in OGB_SPLITS.items():
        path = _find(fs, root, f"split/{name}/{ogb}")
        if path is None:
            continue
        for index in _int_lines(fs, path):
            if index >= n_graphs:
                raise ValueError(f"{path}: graph index {index} is outside 0..{n_graphs - 1}")
            if index in out:
                raise ValueError(f"{path}: graph {index} is already in the {out[index]} split")
            out[index] = split
    return out


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    root = root.rstrip("/")
    paths = locate(fs, root)
    nodes, edges = _int_lines(fs, paths["num_node_list"]), _int_lines(fs, paths["num_edge_list"])
    labels = [line.strip() for line in _text(fs, paths["graph-label"]).split("\n") if line.strip()]
    if not len(nodes) == len(edges) == len(labels):
        raise ValueError(f"num_node_list ({len(nodes)}), num_edge_list ({len(edges)}) and graph-label ({len(labels)}) "
                         "must have one line per graph")
    split = official_splits(fs, root, len(nodes), options.get("ogb_split", "species"))
    urls = (_url(raw_url, paths["edge"]), _url(raw_url, paths["edge_feat"]))
    offsets = np.concatenate([[0], np.cumsum(edges, dtype=np.int64)])
    for g, (n, e, label) in enumerate(zip(nodes, edges, labels)):
        sample_id = f"ogbg-ppa#{g}"
        # with the official split each graph is its own group, so the split stays exactly OGB's
        yield Record(source=NAME, sample_id=sample_id, subject_id=sample_id, paths=urls, official_split=split.get(g),
                     label_row={"index": g, "num_nodes": n, "edges": [int(offsets[g]), e],
                                "total_edges": int(offsets[-1]), "label": label})


def _csv_columns(f: Any, width: int, dtype: str) -> np.ndarray:
    """A headerless numeric CSV stream as a [rows, width] array of dtype ("int64" or "float32").

    Parsed by pyarrow straight into the target type (the full edge_feat file is 300M values), empty
    fields become -1 (ids, outside every graph) or NaN (features); ValueError for text that is no number.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names = [f"c{k}" for k in range(width)]
    kind = pa.int64() if dtype == "int64" else pa.float32()
    try:
        table = pacsv.read_csv(f, read_options=pacsv.ReadOptions(column_names=names),
                               convert_options=pacsv.ConvertOptions(column_types={c: kind for c in names}))
    except pa.ArrowInvalid as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    out = np.empty((len(table), width), dtype=dtype)
    for k, c in enumerate(names):
        out[:, k] = pc.fill_null(table[c], -1 if dtype == "int64" else float("nan")).to_numpy()
    return out


_LAST: dict[tuple, dict[str, Any]] = {}  # one decoded edge table per process (module docstring)


def edge_tables(urls: tuple[str, ...], options: dict[str, Any]) -> dict[str, Any]:
    """edge [E, 2] and edge_feat [E, 7] (or the error that keeps them from being read), reused while unchanged."""
    key: list[Any] = []
    handles = []
    for url in urls:
        fs, path = filesystem(url, options.get("storage_options"))
        info = fs.info(path)
        key.append((url, info.get("size"), info.get("mtime") or info.get("ETag")))
        handles.append((fs, path))
    if tuple(key) not in _LAST:
        _LAST.clear()
        out: dict[str, Any] = {}
        for name, width, dtype, (fs, path) in zip(("edge", "edge_feat"), (2, EDGE_FEATURES), ("int64", "float32"), handles):
            try:
                with fs.open(path, "rb", compression="infer") as f:
                    out[name] = _csv_columns(f, width, dtype)
            except ValueError as exc:
                out["error"] = f"{path.rsplit('/', 1)[-1]}: {exc}"
                break
        _LAST[tuple(key)] = out
    return _LAST[tuple(key)]


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    tables = edge_tables(record.paths, options)
    if "error" in tables:
        raise SourceError(tables["error"])
    for name in ("edge", "edge_feat"):
        if len(tables[name]) != row["total_edges"]:
            raise SourceError(f"{name}.csv has {len(tables[name])} rows but num_edge_list sums to {row['total_edges']}: graphs cannot be located")
    start, count = row["edges"]
    n = row["num_nodes"]
    pairs = tables["edge"][start:start + count]
    attr = tables["edge_feat"][start:start + count]
    if count and (pairs.min() < 0 or pairs.max() >= n):
        bad = pairs[((pairs < 0) | (pairs >= n)).any(axis=1)][0]
        raise SourceError(f"graph {row['index']}: edge {bad.tolist()} names a node outside 0..{n - 1} (num_node_list says {n} nodes; -1 = empty field)")
    if not np.isfinite(attr).all():
        raise SourceError(f"graph {row['index']}: edge_feat.csv holds a missing or non-finite value")
    graph = {"x": np.zeros((n, 0), dtype=np.float32),
             "edge_index": np.ascontiguousarray(pairs.T).reshape(2, -1),
             "edge_attr": np.ascontiguousarray(attr).reshape(-1, EDGE_FEATURES)}
    label, _ = get_task(TASK).map_codes(NAME, [row["label"]])
    return Sample(
        arrays={"graph": graph},
        meta={"graph": {"num_nodes": n, "num_edges": count, "node_features": [],
                        "edge_features": [f"string_score_{k}" for k in range(EDGE_FEATURES)]}},
        labels={TASK: label},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="ogbg-ppa (OGB raw CSV: edge lists, 7-dim edge features, species split) -> graphs, 37 taxa",
    modalities=("graph",),
    tasks=(TASK,),
    discover=discover,
    read=read,
    defaults={"ogb_split": "species"},
)

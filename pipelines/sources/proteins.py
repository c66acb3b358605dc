"""PROTEINS in the TU Dortmund graph-kernel format -> one graph per protein, enzyme vs non-enzyme.

Raw layout (the TU zip, anywhere under the raw folder; option ``name``, default "PROTEINS")::

    PROTEINS_A.txt                "i, j" per line: a directed edge between global node ids (1-based);
                                  TU lists each undirected edge in both directions
    PROTEINS_graph_indicator.txt  line i: the graph id (1-based) of node i
    PROTEINS_graph_labels.txt     line g: the class of graph g (1 enzyme, 2 non-enzyme (verify against
                                  Borgwardt et al. 2005: 663 of 1,113 graphs are class 1, the enzymes))
    PROTEINS_node_labels.txt      line i: node i's label (secondary-structure element type), optional
    PROTEINS_node_attributes.txt  line i: node i's comma-separated attributes, optional

Graph: x = one-hot of the node label over the labels the whole dataset uses (sorted), then the
node attributes; edge_index = the graph's rows of the A file in file order, renumbered to the
graph's own nodes (0-based, in node order); no edge_attr (PROTEINS has none).

The text files are parsed once per process (discover, then each worker's first read(), reused
while the files are unchanged), never once per sample. Every problem is tied to what it breaks: a
graph_indicator line that is not an integer or names a graph outside 1..G, and an A line that is
not two integers, belong to no graph and become their own record, quarantined with the line and the
reason; an edge to a node outside 1..N or to a node of another graph, a bad node label or attribute
line, and a graph without nodes quarantine the graph. Files whose line counts disagree (node labels
vs graph_indicator) cannot be aligned and stop discovery.

Split: TU has no official split (CLIMB used an unseeded random 80/10/10), so each graph is its own
group in the pipeline's seeded hash split at 80/10/10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem

NAME = "proteins"
TASK = "protein_enzyme"
PARTS = ("A", "graph_indicator", "graph_labels", "node_labels", "node_attributes")
REQUIRED = ("A", "graph_indicator", "graph_labels")


@dataclass
class TUData:
    """A parsed TU dataset: per-node arrays (0-based graph index, -1 for none), per-graph problems,
    and line-level problems that belong to no graph."""

    graph_labels: list[str]
    node_graph: np.ndarray
    edges: np.ndarray  # [E, 2] 0-based global node ids of the well-formed A lines, in file order
    node_labels: np.ndarray | None
    label_vocab: list[int]
    attributes: np.ndarray | None
    problems: dict[int, str] = field(default_factory=dict)
    orphans: list[tuple[str, str]] = field(default_factory=list)


def locate(fs, root: str, name: str) -> dict[str, str]:
    """Paths of the dataset's files by part (absent optional parts are left out)."""
    found: dict[str, str] = {}
    for path in sorted(fs.find(root)):
        for part in PARTS:
            if path.rsplit("/", 1)[-1] == f"{name}_{part}.txt":
                found.setdefault(part, path)
    missing = [f"{name}_{p}.txt" for p in REQUIRED if p not in found]
    if missing:
        raise ValueError(f"{root}: no {', '.join(missing)} (TU layout: {name}_A.txt, {name}_graph_indicator.txt, ...)")
    return found


def _lines(fs, path: str) -> list[str]:
    with fs.open(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _first(problems: dict[int, str], graph: int, reason: str) -> None:
    problems.setdefault(graph, reason)


def parse(files: dict[str, list[str]], name: str) -> TUData:
    """Parse the TU files' lines (see module docstring for how each problem is attributed)."""
    labels = [line.strip() for line in files["graph_labels"]]
    n_graphs = len(labels)
    indicator = files["graph_indicator"]
    n_nodes = len(indicator)
    node_graph = np.full(n_nodes, -1, dtype=np.int64)
    problems: dict[int, str] = {}
    orphans: list[tuple[str, str]] = []
    for i, line in enumerate(indicator):
        g = _int(line)
        if g is None or not 1 <= g <= n_graphs:
            what = f"graph id {line.strip()!r} is not an integer" if g is None else f"graph id {g} is outside 1..{n_graphs}"
            orphans.append((f"{name}_graph_indicator.txt#{i + 1}", f"{name}_graph_indicator.txt line {i + 1} (node {i + 1}): {what}"))
        else:
            node_graph[i] = g - 1

    node_labels, vocab = None, []
    if "node_labels" in files:
        rows = files["node_labels"]
        if len(rows) != n_nodes:
            raise ValueError(f"{name}_node_labels.txt has {len(rows)} lines but {name}_graph_indicator.txt {n_nodes}: nodes cannot be aligned")
        node_labels = np.full(n_nodes, -1, dtype=np.int64)
        for i, line in enumerate(rows):
            value = _int(line)
            if value is None or value < 0:
                if node_graph[i] >= 0:
                    _first(problems, int(node_graph[i]), f"{name}_node_labels.txt line {i + 1}: node label {line.strip()!r} is not a non-negative integer")
            else:
                node_labels[i] = value
        vocab = sorted({int(v) for v in node_labels if v >= 0})

    attributes = None
    if "node_attributes" in files:
        rows = files["node_attributes"]
        if len(rows) != n_nodes:
            raise ValueError(f"{name}_node_attributes.txt has {len(rows)} lines but {name}_graph_indicator.txt {n_nodes}: nodes cannot be aligned")
        width = len(rows[0].split(",")) if rows else 0
        attributes = np.zeros((n_nodes, width), dtype=np.float32)
        for i, line in enumerate(rows):
            try:
                values = [float(v) for v in line.split(",")]
            except ValueError:
                values = []
            if len(values) != width or not np.all(np.isfinite(values)):
                if node_graph[i] >= 0:
                    _first(problems, int(node_graph[i]), f"{name}_node_attributes.txt line {i + 1}: expected {width} finite numbers, got {line.strip()!r}")
            else:
                attributes[i] = values

    edges: list[tuple[int, int]] = []
    for k, line in enumerate(files["A"]):
        where = f"{name}_A.txt line {k + 1}"
        pair = line.split(",")
        ends = [_int(p) for p in pair] if len(pair) == 2 else [None]
        if None in ends:
            orphans.append((f"{name}_A.txt#{k + 1}", f"{where}: {line.strip()!r} is not two comma-separated node ids"))
            continue
        i, j = ends[0] - 1, ends[1] - 1
        inside = [0 <= v < n_nodes for v in (i, j)]
        graphs = {int(node_graph[v]) for v, ok in zip((i, j), inside) if ok and node_graph[v] >= 0}
        if not all(inside):
            bad = ends[0] if not inside[0] else ends[1]
            reason = f"{where}: node {bad} is outside 1..{n_nodes}"
        elif len(graphs) != 1 or min(node_graph[i], node_graph[j]) < 0:
            reason = f"{where}: edge {ends[0]} -> {ends[1]} joins nodes of graphs {sorted(int(node_graph[v]) + 1 for v in (i, j))} (0 = none)"
        else:
            edges.append((i, j))
            continue
        if not graphs:
            orphans.append((f"{name}_A.txt#{k + 1}", reason))
        for g in sorted(graphs):
            _first(problems, g, reason)

    counts = np.bincount(node_graph[node_graph >= 0], minlength=n_graphs)
    for g in np.flatnonzero(counts == 0):
        _first(problems, int(g), f"graph {int(g) + 1} has no nodes in {name}_graph_indicator.txt")
    return TUData(labels, node_graph, np.array(edges, dtype=np.int64).reshape(-1, 2), node_labels, vocab, attributes, problems, orphans)


_LAST: dict[tuple, TUData] = {}  # one parsed dataset per process (module docstring)


def load(urls: tuple[str, ...], options: dict[str, Any]) -> TUData:
    """The parsed dataset of these file urls, reused while the files (size, mtime) are unchanged."""
    name = options.get("name", "PROTEINS")
    parts: dict[str, tuple[Any, str]] = {}
    key: list[Any] = [name]
    for url in urls:
        fs, path = filesystem(url, options.get("storage_options"))
        info = fs.info(path)
        parts[path.rsplit("/", 1)[-1][len(name) + 1: -len(".txt")]] = (fs, path)
        key.append((url, info.get("size"), info.get("mtime") or info.get("ETag")))
    if tuple(key) not in _LAST:
        _LAST.clear()
        _LAST[tuple(key)] = parse({part: _lines(fs, path) for part, (fs, path) in parts.items()}, name)
    return _LAST[tuple(key)]


def _url(raw_url: str, path: str) -> str:
    return raw_url.split("://", 1)[0] + "://" + path if "://" in raw_url else path


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    name = options.get("name", "PROTEINS")
    fs, root = filesystem(raw_url, options.get("storage_options"))
    # the records name every file, so each sample's fingerprint covers the bytes its graph came from
    urls = tuple(_url(raw_url, path) for path in locate(fs, root.rstrip("/"), name).values())
    data = load(urls, options)
    for g, label in enumerate(data.graph_labels):
        sample_id = f"{name}#{g + 1}"
        # no official split: each graph is its own group in the pipeline's hash split
        yield Record(source=NAME, sample_id=sample_id, subject_id=sample_id, paths=urls,
                     label_row={"graph": g, "label": label, "problem": data.problems.get(g)})
    for sample_id, reason in data.orphans:
        yield Record(source=NAME, sample_id=sample_id, subject_id=sample_id, paths=urls, label_row={"problem": reason})


def tu_graph(data: TUData, g: int) -> dict[str, np.ndarray]:
    """Graph g (0-based): x = node-label one-hot then attributes, edge_index renumbered to its nodes."""
    nodes = np.flatnonzero(data.node_graph == g)
    parts = []
    if data.node_labels is not None:
        onehot = np.zeros((len(nodes), len(data.label_vocab)), dtype=np.float32)
        onehot[np.arange(len(nodes)), np.searchsorted(data.label_vocab, data.node_labels[nodes])] = 1.0
        parts.append(onehot)
    if data.attributes is not None:
        parts.append(data.attributes[nodes])
    x = np.concatenate(parts, axis=1) if parts else np.zeros((len(nodes), 0), dtype=np.float32)
    mine = data.edges[data.node_graph[data.edges[:, 0]] == g]
    edge_index = np.searchsorted(nodes, mine).T.astype(np.int64).reshape(2, -1)
    return {"x": x.astype(np.float32), "edge_index": np.ascontiguousarray(edge_index)}


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("problem"):
        raise SourceError(row["problem"])
    data = load(record.paths, options)
    graph = tu_graph(data, row["graph"])
    label, _ = get_task(TASK).map_codes(NAME, [row["label"]])
    features = [f"node_label={v}" for v in (data.label_vocab if data.node_labels is not None else [])]
    features += [f"attribute_{k}" for k in range(0 if data.attributes is None else data.attributes.shape[1])]
    return Sample(
        arrays={"graph": graph},
        meta={"graph": {"num_nodes": int(graph["x"].shape[0]), "num_edges": int(graph["edge_index"].shape[1]),
                        "node_features": features, "edge_features": []}},
        labels={TASK: label},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="PROTEINS (TU Dortmund text format) -> one graph per protein, enzyme vs non-enzyme",
    modalities=("graph",),
    tasks=(TASK,),
    discover=discover,
    read=read,
    defaults={"name": "PROTEINS"},
)

"""BrainGB's preprocessed connectome bundles: ABIDE, ABCD and PPMI, one matrix per subject -> graphs.

Three registered names, one per bundle layout (BrainGB's own files, as CLIMB reads them):

    braingb-abide   abide.npy: a pickled dict {"corr" [N, R, R], "label" [N] (0/1), "site" [N], ...}
    braingb-abcd    abcd_rest-pearson-HCP2016.npy [N, 360, 360] (plain float array),
                    ids_HCP2016.txt (row i's subject id), id2sex.txt ("id sex" rows, M/F)
    braingb-ppmi    PPMI.mat: `X` a cell array of N [84, 84, 3] matrices (3 views; option `view`,
                    default 0 as CLIMB), `label` [N, 1] of -1 (control) / 1 (Parkinson's)

Sample unit: one subject (row i; ABIDE and PPMI carry no subject ids, so the row is the subject).
Labels: ABIDE -> connectome_diagnosis (1 patient, 0 control; (verify) against BrainGB's ABIDE
script, which derives it from DX_GROUP), ABCD -> sex, aligned by id through ids_HCP2016.txt (the
reference brain_datasets.py did not align them), PPMI -> parkinsons. A code outside the map (or an
ABCD id without a sex row) is masked. A matrix with NaN/inf or of the wrong shape is quarantined.

Graph: as the connectome source (transforms.graph.correlation_graph): node features are matrix rows;
edges by `top_k` (default 10 strongest |r| per node) or `threshold` (0 = BrainGB's dense graph of
every nonzero entry; `self_loops` true adds its diagonal). Splits: the pipeline's subject-grouped hash
at BrainGB's 70/10/20; ABIDE by default cut per site in exact shares (connectome.site_stratified_splits,
deterministic, where BrainGB used a seeded stratified split and ABCD/PPMI an unseeded randperm).

abide.npy is a pickle: it is read with an unpickler that admits only numpy arrays, dtypes and
builtin containers, so a hostile file cannot run code. ABCD rows are read by byte range (the .npy
header gives the offset), so a worker reads one subject, not the 4 GB array; abide.npy and PPMI.mat
cannot be read in part, so a worker keeps the last bundle it decoded (one per process).
"""

from __future__ import annotations

import io
import pickle
import re
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceError, SourceInfo
from climb.pipelines.sources.connectome import site_stratified_splits
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import filesystem, read_bytes
from climb.transforms.graph import correlation_graph, normalize_edge_weights

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
ABIDE_FILE = "abide.npy"
ABCD_FILE, ABCD_IDS, ABCD_SEX = "abcd_rest-pearson-HCP2016.npy", "ids_HCP2016.txt", "id2sex.txt"
PPMI_FILE = "PPMI.mat"
GRAPH_DEFAULTS: dict[str, Any] = {"top_k": 10, "threshold": None, "absolute": True, "self_loops": False, "edge_norm": None}
_NUMPY_PICKLE = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, dtypes and builtin containers only; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_PICKLE or (module.startswith("numpy.dtypes") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}; only numpy arrays and builtin containers are read")


def load_pickled_npy(data: bytes) -> Any:
    """The object held by a .npy file, object arrays included, through _ArrayUnpickler.

    Raises:
        ValueError: not a .npy file, or a pickle naming anything but numpy arrays.
    """
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
    if not dtype.hasobject:
        return np.load(io.BytesIO(data), allow_pickle=False)
    try:
        array = _ArrayUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise ValueError(f"unsafe or broken pickle in .npy: {exc}") from exc
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


_LAST: dict[tuple, dict[str, Any]] = {}  # one decoded bundle per process (module docstring)


def _bundle(url: str, kind: str, storage: dict[str, Any] | None) -> dict[str, Any]:
    """The decoded abide.npy dict or PPMI.mat arrays, reused while the file (url, size, mtime) is unchanged."""
    fs, path = filesystem(url, storage)
    info = fs.info(path)
    key = (url, kind, info.get("size"), info.get("mtime") or info.get("LastModified") or info.get("ETag"))
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = _decode(read_bytes(url, storage), kind)
    return _LAST[key]


def _decode(data: bytes, kind: str) -> dict[str, Any]:
    if kind == "abide":
        bundle = load_pickled_npy(data)
        if not isinstance(bundle, dict) or "corr" not in bundle or "label" not in bundle:
            raise ValueError(f"{ABIDE_FILE} is not BrainGB's dict with 'corr' and 'label'")
        return bundle
    from scipy.io import loadmat

    mat = loadmat(io.BytesIO(data))
    if "X" not in mat or "label" not in mat:
        raise ValueError(f"{PPMI_FILE} lacks the variables X and label")
    return {"X": mat["X"].reshape(-1), "label": np.asarray(mat["label"]).reshape(-1)}


def _url(raw_url: str, name: str) -> str:
    return f"{raw_url.rstrip('/')}/{name}"


def _require(raw_url: str, name: str, storage: dict[str, Any] | None) -> str:
    fs, path = filesystem(_url(raw_url, name), storage)
    if not fs.isfile(path):
        raise FileNotFoundError(f"{name} not found in {raw_url}; is this BrainGB's folder for this bundle?")
    return _url(raw_url, name)


# ------------------------------------------------------------------------------------------ discover


def _discover_abide(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    storage = options.get("storage_options")
    url = _require(raw_url, ABIDE_FILE, storage)
    try:
        bundle = _bundle(url, "abide", storage)
    except ValueError as exc:
        raise ValueError(f"{url}: {exc}") from exc
    labels = np.asarray(bundle["label"]).reshape(-1)
    sites = [str(s) for s in np.asarray(bundle.get("site", ["unknown"] * len(labels))).reshape(-1)]
    if len(labels) != len(bundle["corr"]) or len(sites) != len(labels):
        raise ValueError(f"{ABIDE_FILE}: {len(bundle['corr'])} matrices but {len(labels)} labels and {len(sites)} sites")
    subjects = [f"{i:05d}" for i in range(len(labels))]
    official: dict[str, str] = {}
    if options.get("stratify_by_site", True):
        official = site_stratified_splits(dict(zip(subjects, sites)), dict(options.get("site_split_fractions") or FRACTIONS),
                                          int(options.get("split_seed", 0)))
    for i, subject in enumerate(subjects):
        yield Record(source="braingb-abide", sample_id=f"{ABIDE_FILE}#{subject}", subject_id=subject, paths=(url,),
                     label_row={"index": i, "code": _code(labels[i]), "site": sites[i]}, official_split=official.get(subject))


def _code(value: Any) -> str:
    """A label value as the registry's string code ("1", "-1", "M"), floats that are integers included."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value).strip()


def read_sex_sheet(text: str) -> dict[str, str]:
    """id -> sex code from id2sex.txt rows ("id,sex", "id sex" or tab-separated; a header row is skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        fields = [f for f in re.split(r"[,\t ]+", line.strip()) if f]
        if len(fields) >= 2 and fields[0].lower() not in ("id", "subjectkey", "subject"):
            out.setdefault(fields[0], fields[1])
    return out


def npy_layout(head: bytes) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a plain C-order .npy from its first bytes."""
    f = io.BytesIO(head)
    version = np.lib.format.read_magic(f)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
    if fortran or dtype.hasobject:
        raise ValueError("expected a C-order numeric array")
    return shape, dtype, f.tell()


def _discover_abcd(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    storage = options.get("storage_options")
    url = _require(raw_url, ABCD_FILE, storage)
    ids = [line.strip() for line in read_bytes(_require(raw_url, ABCD_IDS, storage), storage).decode().splitlines() if line.strip()]
    sex = read_sex_sheet(read_bytes(_require(raw_url, ABCD_SEX, storage), storage).decode("utf-8-sig"))
    fs, path = filesystem(url, storage)
    with fs.open(path, "rb") as f:
        shape, _, _ = npy_layout(f.read(4096))
    if len(shape) != 3 or shape[0] != len(ids):
        raise ValueError(f"{ABCD_FILE} holds {shape} but {ABCD_IDS} lists {len(ids)} ids: rows cannot be aligned")
    for i, subject in enumerate(ids):
        yield Record(source="braingb-abcd", sample_id=f"{ABCD_FILE}#{subject}", subject_id=subject, paths=(url,),
                     label_row={"index": i, "code": sex.get(subject)})


def _discover_ppmi(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    storage = options.get("storage_options")
    url = _require(raw_url, PPMI_FILE, storage)
    try:
        bundle = _bundle(url, "ppmi", storage)
    except ValueError as exc:
        raise ValueError(f"{url}: {exc}") from exc
    if len(bundle["X"]) != len(bundle["label"]):
        raise ValueError(f"{PPMI_FILE}: {len(bundle['X'])} matrices but {len(bundle['label'])} labels")
    for i, code in enumerate(bundle["label"]):
        subject = f"{i:05d}"
        yield Record(source="braingb-ppmi", sample_id=f"{PPMI_FILE}#{subject}", subject_id=subject, paths=(url,),
                     label_row={"index": i, "code": _code(code)})


# -------------------------------------------------------------------------------------------- read


def _matrix(record: Record, options: dict[str, Any]) -> np.ndarray:
    storage = options.get("storage_options")
    i = record.label_row["index"]
    if record.source == "braingb-abide":
        return np.asarray(_bundle(record.paths[0], "abide", storage)["corr"][i])
    if record.source == "braingb-ppmi":
        views = np.asarray(_bundle(record.paths[0], "ppmi", storage)["X"][i])
        view = int(options.get("view", 0))
        if views.ndim != 3 or not 0 <= view < views.shape[2]:
            raise SourceError(f"PPMI matrix {i} has shape {list(views.shape)}; expected [R, R, views] with view {view}")
        return views[:, :, view]
    fs, path = filesystem(record.paths[0], storage)
    with fs.open(path, "rb") as f:
        shape, dtype, offset = npy_layout(f.read(4096))
        size = shape[1] * shape[2] * dtype.itemsize
        f.seek(offset + i * size)
        data = f.read(size)
    if len(data) != size:
        raise SourceError(f"{ABCD_FILE} is truncated: row {i} is cut short")
    return np.frombuffer(data, dtype=dtype).reshape(shape[1], shape[2])


def read(record: Record, options: dict[str, Any]) -> Sample:
    options = {**GRAPH_DEFAULTS, **options}
    matrix = _matrix(record, options)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise SourceError(f"connectivity matrix has shape {list(matrix.shape)}, not square")
    threshold, top_k = options.get("threshold"), options.get("top_k")
    if threshold is not None:
        top_k = None
    absolute, self_loops = bool(options.get("absolute", True)), bool(options.get("self_loops", False))
    try:
        graph = correlation_graph(matrix.astype(np.float64), threshold=None if threshold is None else float(threshold),
                                  top_k=None if top_k is None else int(top_k), absolute=absolute, self_loops=self_loops)
    except ValueError as exc:
        raise SourceError(str(exc)) from exc
    edge_feature = "correlation"
    if options.get("edge_norm"):
        weights = normalize_edge_weights(graph["edge_index"], graph["edge_attr"][:, 0], matrix.shape[0], options["edge_norm"])
        graph["edge_attr"] = weights.reshape(-1, 1)
        edge_feature = f"correlation_{options['edge_norm']}_normalised"
    task = TASK[record.source]
    code = record.label_row["code"]
    label = None if code is None else get_task(task).map_codes(record.source, [code])[0]
    score = "|r|" if absolute else "r"
    meta: dict[str, Any] = {"graph": {
        "num_nodes": int(graph["x"].shape[0]), "num_edges": int(graph["edge_index"].shape[1]),
        "node_features": "connectivity matrix row", "edge_features": [edge_feature],
        "edge_rule": f"{score} > {threshold}" if threshold is not None else f"top {top_k} by {score} per node",
    }}
    if "site" in record.label_row:
        meta["site"] = record.label_row["site"]
    if record.source == "braingb-ppmi":
        meta["graph"]["view"] = int(options.get("view", 0))
    return Sample(arrays={"graph": graph}, meta=meta, labels={task: label})


TASK = {"braingb-abide": "connectome_diagnosis", "braingb-abcd": "sex", "braingb-ppmi": "parkinsons"}
_DESCRIPTIONS = {
    "braingb-abide": ("BrainGB ABIDE bundle (abide.npy: 200-ROI correlations, diagnosis, site) -> graphs", _discover_abide,
                      {"stratify_by_site": True}),
    "braingb-abcd": ("BrainGB ABCD bundle (HCP-360 Pearson matrices + ids + id2sex) -> graphs, sex", _discover_abcd, {}),
    "braingb-ppmi": ("BrainGB PPMI bundle (PPMI.mat 84-ROI matrices, view 0) -> graphs, Parkinson's", _discover_ppmi,
                     {"view": 0}),
}
SOURCES = {
    name: SourceInfo(name=name, description=text, modalities=("graph",), tasks=(TASK[name],), discover=discover, read=read,
                     defaults={**GRAPH_DEFAULTS, **extra}, split_fractions=dict(FRACTIONS))
    for name, (text, discover, extra) in _DESCRIPTIONS.items()
}
SOURCE = SOURCES["braingb-abide"]

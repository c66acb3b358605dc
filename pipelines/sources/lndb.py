"""LNDb: lung nodule CTs as MetaImage (.mhd + .raw), with radiologists' nodule findings.

Layout: ``data/LNDb-NNNN.mhd`` + ``.raw`` (the release ships them in data0..data5 folders; any
folder depth is accepted), ``trainNodules_gt.csv`` (`LNDbID, RadID, RadFindingID, FindingID, x, y,
z, Nodule, Volume, AgrLevel`, the radiologists' merged findings). One sample per CT: an int16 HU
volume in RAS (pipelines/sources/metaimage.py reads it strictly) and the scan-level multilabel
`lung_nodule_size`: [has a nodule of equivalent diameter <= 3 mm, has one > 3 mm], from findings
with Nodule == 1 (non-nodules are ignored); diameter = (6 * Volume / pi)^(1/3), Volume in mm^3.
CLIMB labels 24-slice windows instead; the whole scan is stored here, so windows can be cut at
load time without the reference code's dropped tail and inclusive-end overlap mistakes.

CTs with no row in the sheet are counted as excluded; sheet rows whose CT is missing are
quarantined. There is no official split: scans (one per patient) are split by subject hash.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from typing import Any, Iterator

import numpy as np

from climb.pipelines.limits import check
from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.metaimage import MetaImageError, decode_data, parse_header, split_local
from climb.pipelines.sources.volumes import VOLUME_DEFAULTS, finish_volume
from climb.schemas.sample import Record, Sample
from climb.storage import filesystem, join, read_bytes
from climb.transforms.volume import ras_layout, to_hu

NAME = "lndb"
SHEET = "trainNodules_gt.csv"
SHEET_COLUMNS = ("LNDbID", "Nodule", "Volume")
SCAN = re.compile(r"LNDb-(\d{4})\.mhd$")
NOT_IN_SHEET = "not in label sheet"
SMALL_NODULE_MM = 3.0


def _scan_name(lndb_id: int) -> str:
    return f"LNDb-{lndb_id:04d}"


def _findings(fs, root: str, raw_url: str) -> dict[int, list[dict[str, str]]]:
    path = f"{root}/{SHEET}"
    if not fs.exists(path):
        raise FileNotFoundError(f"{SHEET} not found under {raw_url}; is this an LNDb folder?")
    with fs.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig"))
        missing = [c for c in SHEET_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{SHEET} has no column(s) {missing}; found {reader.fieldnames}")
        by_scan: dict[int, list[dict[str, str]]] = defaultdict(list)
        for row in reader:
            by_scan[int(row["LNDbID"])].append({"Nodule": row["Nodule"], "Volume": row["Volume"]})
    return by_scan


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    findings = _findings(fs, root, raw_url)
    base = root.rstrip("/")
    files = {path[len(base) + 1:] for path in fs.find(root)}
    scans: dict[int, tuple[str, ...]] = {}
    for rel in sorted(files):
        match = SCAN.search(rel)
        if match:
            raw = rel[: -len(".mhd")] + ".raw"
            # the .raw is listed too so the manifest's source fingerprint covers the voxels
            scans[int(match.group(1))] = (join(raw_url, rel),) + ((join(raw_url, raw),) if raw in files else ())
    for lndb_id in sorted(set(findings) | set(scans)):
        name = _scan_name(lndb_id)
        paths = scans.get(lndb_id, (join(raw_url, "data", f"{name}.mhd"),))
        if lndb_id not in findings:
            yield Record(source=NAME, sample_id=name, subject_id=name, paths=paths, options={"exclude": NOT_IN_SHEET})
            continue
        yield Record(source=NAME, sample_id=name, subject_id=name, paths=paths, label_row={"findings": findings[lndb_id]})


def nodule_size_label(findings: list[dict[str, str]]) -> list[int | None]:
    """[any nodule <= 3 mm, any nodule > 3 mm] over the Nodule == 1 findings; masked if a volume is unreadable."""
    small = large = 0
    for row in findings:
        if row["Nodule"].strip() not in ("1", "1.0"):
            continue
        try:
            volume = float(row["Volume"])
        except ValueError:
            return [None, None]
        diameter = (6.0 * volume / math.pi) ** (1.0 / 3.0) if volume > 0 else 0.0
        if diameter <= SMALL_NODULE_MM:
            small = 1
        else:
            large = 1
    return [small, large]


def read_metaimage(url: str, options: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """A MetaImage CT as int16 HU in the stored RAS layout; DimSize above max_voxels is refused unread."""
    storage_options = options.get("storage_options")
    try:
        blob = read_bytes(url, storage_options)
    except FileNotFoundError as exc:
        raise SourceError(f"{url.rsplit('/', 1)[-1]} is missing") from exc
    try:
        text, local = split_local(blob)
        header = parse_header(text)
        check("max_voxels", int(np.prod(header.dim_size, dtype=np.int64)), options, "MetaImage DimSize voxels")
        if header.data_file.upper() == "LOCAL":
            data = local
        else:
            data_url = url.rsplit("/", 1)[0] + "/" + header.data_file
            try:
                data = read_bytes(data_url, storage_options)
            except FileNotFoundError as exc:
                raise SourceError(f"data file {header.data_file} named by the header is missing") from exc
        voxels = decode_data(header, data)  # [z, y, x]
    except MetaImageError as exc:
        raise SourceError(str(exc)) from exc
    layout = ras_layout(header.dim_size, header.affine_ras())
    volume = np.empty(layout.shape, dtype=np.int16)
    view = layout.source_view(volume)  # indexed [x, y, z]
    for k in range(voxels.shape[0]):
        view[:, :, k] = to_hu(voxels[k]).T
    return volume, layout


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    volume, layout = read_metaimage(record.paths[0], options)
    volume, meta = finish_volume(volume, layout, ct=True, options=options, window="lung")
    return Sample(
        arrays={"volume": volume},
        meta={"volume": meta},
        labels={"lung_nodule_size": nodule_size_label(record.label_row["findings"])},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="LNDb lung CT (MetaImage .mhd/.raw + trainNodules_gt.csv): int16 HU volumes in RAS, nodule size labels",
    modalities=("volume",),
    tasks=("lung_nodule_size",),
    discover=discover,
    read=read,
    defaults=dict(VOLUME_DEFAULTS),
)

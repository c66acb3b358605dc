"""VinDr-CXR (PhysioNet 1.0.0): chest radiograph DICOMs with image-level labels from several readers.

Layout (RAW_URL is the distribution folder):

    train/<image_id>.dicom, test/<image_id>.dicom
    annotations/image_labels_train.csv   image_id, rad_id, then 22 local + 6 global labels (0/1),
                                         one row per reader: 3 of 17 radiologists per image
    annotations/image_labels_test.csv    image_id, then the labels: one consensus row of 5 readers
    (the sheets may also sit in the raw root)

Label columns are read from each sheet's header and matched by name to the vindr_cxr_local,
vindr_cxr_global and cxr_findings tasks (the test sheet spells "Other disease" where train says
"Other diseases"); a column no task knows, or a class no column covers, stops discovery, so a
changed sheet can never shift labels silently. CLIMB's loader paired an unordered glob of files
with CSV rows and so misaligned labels; here each image's rows are found by its image_id.

Reader agreement: a label is 1 when a strict majority of the image's rows say 1, 0 when a strict
majority say 0, and masked (None) on a tie. With three readers that is 2-of-3; the test set's single
consensus row is taken as is. cxr_findings uses the QA export map of datasets.md: a CheXpert class
is 1 if any of its VinDr columns is, 0 if all are 0; Support Devices has no VinDr column and is masked.

Pixels: the file's VOI (window tags) or min-max, MONOCHROME1 inverted (CLIMB did not invert them).
VinDr-CXR publishes no patient id, so each image is its own subject; splits are the official
train/test. DICOMs in train/ or test/ that no sheet lists are counted as excluded.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import DICOM_DEFAULTS, RawTree, read_dicom
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task, norm_code

SHEETS = {"train": "image_labels_train.csv", "test": "image_labels_test.csv"}
SHEET_FOLDERS = ("annotations", "")
ID_COLUMNS = ("image_id", "rad_id")
VINDR_TASKS = ("vindr_cxr_local", "vindr_cxr_global")
TASKS = (*VINDR_TASKS, "cxr_findings")


def label_columns(header: list[str]) -> list[str]:
    """The sheet's label columns in file order, checked against the VinDr tasks' class lists."""
    columns = [c for c in header if c not in ID_COLUMNS]
    known = {}
    for name in VINDR_TASKS:
        task = get_task(name)
        for code, targets in task.lookup("vindr-cxr").items():
            known[code] = (task, targets)
    unknown = [c for c in columns if norm_code(c) not in known]
    if unknown:
        raise SourceError(f"label sheet has columns no VinDr task knows: {unknown}")
    for name in VINDR_TASKS:
        task = get_task(name)
        covered = {t for c in columns for t in known[norm_code(c)][1] if known[norm_code(c)][0] is task}
        missing = [c for c in task.classes if c not in covered]
        if missing:
            raise SourceError(f"label sheet lacks columns for {name} classes {missing}; header is {header}")
    return columns


def majority(readers: list[dict[str, str]], columns: list[str]) -> dict[str, int | None]:
    """Per column: 1 or 0 when a strict majority of reader rows agree on it, else None."""
    agreed: dict[str, int | None] = {}
    for column in columns:
        votes = [int(float(r[column])) for r in readers if r.get(column, "") != ""]
        positive = sum(1 for v in votes if v == 1)
        if any(v not in (0, 1) for v in votes):
            raise SourceError(f"column {column!r} has values {sorted(set(votes))}; expected 0/1")
        if not votes or positive * 2 == len(votes):
            agreed[column] = None
        else:
            agreed[column] = int(positive * 2 > len(votes))
    return agreed


def task_labels(agreed: dict[str, int | None]) -> dict[str, list[int | None]]:
    """Each task's vector: a class is 1 if any of its columns is 1, 0 if all are 0, else None."""
    out = {}
    for name in TASKS:
        task = get_task(name)
        table = task.lookup("vindr-cxr")
        votes: dict[int, list[int | None]] = {}
        for column, value in agreed.items():
            for target in table.get(norm_code(column), ()):
                votes.setdefault(task.class_index(target), []).append(value)
        vector: list[int | None] = []
        for i in range(len(task.classes)):
            values = votes.get(i, [None])
            vector.append(1 if 1 in values else 0 if all(v == 0 for v in values) else None)
        out[name] = vector
    return out


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options)
    for split, sheet in SHEETS.items():
        rel_sheet = tree.require(sheet, SHEET_FOLDERS)
        header, rows = tree.sheet(rel_sheet)
        columns = label_columns(header)
        readers: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            readers.setdefault(row["image_id"], []).append({c: row[c] for c in columns})
        for image_id, image_rows in readers.items():
            yield Record(
                source="vindr-cxr",
                sample_id=f"{split}/{image_id}",
                subject_id=image_id,
                paths=(tree.url(f"{split}/{image_id}.dicom"),),
                label_row={"sheet": rel_sheet, "readers": image_rows},
                official_split=split,
            )
        for rel in tree.files(split, (".dicom", ".dcm")):
            image_id = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if image_id not in readers:
                yield Record(source="vindr-cxr", sample_id=rel, subject_id=image_id, paths=(tree.url(rel),),
                             label_row={"sheet": None})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("sheet") is None:
        raise Excluded("not in label sheet")
    readers = row["readers"]
    agreed = majority(readers, list(readers[0]))
    image, image_meta, tags = read_dicom(record.paths[0], options)
    return Sample(
        arrays={"image": image},
        meta={"image": image_meta, "dicom": tags, "num_readers": len(readers)},
        labels=task_labels(agreed),
    )


SOURCE = SourceInfo(
    name="vindr-cxr",
    description="VinDr-CXR chest X-ray DICOMs + multi-reader image labels (majority of readers)",
    modalities=("image",),
    tasks=TASKS,
    discover=discover,
    read=read,
    defaults=dict(DICOM_DEFAULTS),
)

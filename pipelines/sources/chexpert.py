"""CheXpert v1.0 (Stanford): chest radiograph JPGs labelled with 14 findings by a report labeler.

Layout (the folder that holds the sheets is RAW_URL, CheXpert-v1.0 or CheXpert-v1.0-small, or the
folder directly above it):

    train.csv, valid.csv   Path, Sex, Age, Frontal/Lateral, AP/PA, then the 14 finding columns
    train/patientNNNNN/studyN/viewN_frontal.jpg, valid/...

`Path` starts with the distribution's folder name (CheXpert-v1.0-small/train/...); only the part
from train/ or valid/ on is used. Finding columns are found by name (schemas/task_defs/imaging.py),
never by position. Values are 1 (positive), 0 (negative), -1 (uncertain) or blank (not mentioned).

Label policy (options): `uncertain` = masked (default) | zeros (U-Zeros) | ones (U-Ones);
`blank` = masked (default) | zeros. CLIMB's reference setting is uncertain=zeros, blank=zeros.
Masked labels are None in the sample, so a loss can skip them rather than learn a guess.

Splits: valid.csv is the official validation set (234 images, 200 patients); train.csv is train.
Subjects are the `patientNNNNN` token of Path. JPGs found under train/ or valid/ that no sheet
lists are counted as excluded.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, read_image
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task

SHEETS = {"train.csv": "train", "valid.csv": "val"}
POLICIES = {"uncertain": ("masked", "zeros", "ones"), "blank": ("masked", "zeros")}
_PATIENT = re.compile(r"(patient\d+)")


def finding_columns(source: str, header: list[str]) -> dict[str, int]:
    """Sheet column -> cxr_findings class index, matched by name through the task's source map."""
    task = get_task("cxr_findings")
    table = task.lookup(source)
    columns = {}
    for name in header:
        targets = table.get(name.strip().casefold())
        if targets:
            columns[name] = task.class_index(targets[0])
    missing = set(range(len(task.classes))) - set(columns.values())
    if missing:
        names = ", ".join(task.classes[i] for i in sorted(missing))
        raise SourceError(f"label sheet has no column for {names}; header is {header}")
    return columns


def check_policy(options: dict[str, Any]) -> tuple[str, str]:
    policy = []
    for name, allowed in POLICIES.items():
        value = str(options.get(name, "masked")).strip().lower()
        if value not in allowed:
            raise SourceError(f"option {name}={value!r}: expected one of {', '.join(allowed)}")
        policy.append(value)
    return policy[0], policy[1]


def finding_labels(row: dict[str, str], columns: dict[str, int], uncertain: str, blank: str) -> list[int | None]:
    """One image's cxr_findings vector from its sheet values under the label policy.

    1 -> 1, 0 -> 0; -1 -> None, 0 or 1 (uncertain policy); blank -> None or 0 (blank policy).
    """
    labels: list[int | None] = [None] * len(columns)
    for name, index in columns.items():
        raw = row.get(name, "")
        if raw == "":
            labels[index] = 0 if blank == "zeros" else None
            continue
        value = int(float(raw))
        if value == -1:
            labels[index] = {"masked": None, "zeros": 0, "ones": 1}[uncertain]
        elif value in (0, 1):
            labels[index] = value
        else:
            raise SourceError(f"finding {name!r} has value {raw!r}; expected 1, 0, -1 or blank")
    return labels


def _relative(path: str) -> str:
    """'CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg' -> 'train/patient1/...'."""
    parts = path.strip().split("/")
    for i, part in enumerate(parts):
        if part in ("train", "valid"):
            return "/".join(parts[i:])
    raise SourceError(f"Path {path!r} has no train/ or valid/ component")


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    check_policy(options)
    tree = RawTree(raw_url, options, marker="train.csv")
    listed: set[str] = set()
    for sheet, split in SHEETS.items():
        header, rows = tree.sheet(tree.require(sheet))
        columns = finding_columns("chexpert", header)
        for row in rows:
            rel = _relative(row["Path"])
            listed.add(rel)
            patient = _PATIENT.search(rel)
            if patient is None:
                raise SourceError(f"Path {row['Path']!r} has no patientNNNNN component")
            study = rel.split("/")[2] if rel.count("/") >= 3 else None
            yield Record(
                source="chexpert",
                sample_id=rel,
                subject_id=patient.group(1),
                study_id=f"{patient.group(1)}/{study}" if study else None,
                paths=(tree.url(rel),),
                label_row={"sheet": sheet, **{k: row.get(k, "") for k in ("Sex", "Age", "Frontal/Lateral", "AP/PA", *columns)}},
                official_split=split,
            )
    for folder in ("train", "valid"):
        for rel in tree.files(folder, (".jpg", ".jpeg", ".png")):
            if rel not in listed:
                patient = _PATIENT.search(rel)
                yield Record(source="chexpert", sample_id=rel, subject_id=patient.group(1) if patient else rel,
                             paths=(tree.url(rel),), label_row={"sheet": None})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("sheet") is None:
        raise Excluded("not in label sheet")
    uncertain, blank = check_policy(options)
    columns = finding_columns("chexpert", list(row))
    image, image_meta = read_image(record.paths[0], options, color=False)
    age = row.get("Age", "")
    return Sample(
        arrays={"image": image},
        meta={
            "image": image_meta,
            "view": row.get("Frontal/Lateral") or None,
            "projection": row.get("AP/PA") or None,
            "sex": row.get("Sex") or None,
            "age": int(float(age)) if age else None,
            "label_policy": {"uncertain": uncertain, "blank": blank},
        },
        labels={"cxr_findings": finding_labels(row, columns, uncertain, blank)},
    )


SOURCE = SourceInfo(
    name="chexpert",
    description="CheXpert v1.0 chest X-ray JPGs + train/valid.csv, 14 findings (uncertain masked by default)",
    modalities=("image",),
    tasks=("cxr_findings",),
    discover=discover,
    read=read,
    defaults={**IMAGE_DEFAULTS, "uncertain": "masked", "blank": "masked"},
)

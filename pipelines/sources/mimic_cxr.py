"""MIMIC-CXR-JPG (PhysioNet): chest radiograph JPGs with per-study CheXpert labels and an official split.

Layout (RAW_URL is the distribution folder; the version in the sheet names may be 2.0.0 or 2.1.0):

    files/pXX/p<subject_id>/s<study_id>/<dicom_id>.jpg
    mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split (train/validate/test)
    mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id + the 14 findings (1/0/-1/blank), per study
    mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, ..., ViewPosition (optional)

One sample per image listed in the split sheet. Labels are per study, so every view of a study
(laterals included) carries the study's labels, as in CLIMB; a study without a label row is
masked entirely. The label policy options are chexpert's (`uncertain`, `blank`; default masked).
The split is the official patient-disjoint one (validate -> val). JPGs under files/ that the split
sheet does not list are counted as excluded.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.sources.chexpert import check_policy, finding_columns, finding_labels
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, read_image
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task


def image_path(subject_id: str, study_id: str, dicom_id: str) -> str:
    """The JPG of an image: files/p10/p10000032/s50414267/<dicom_id>.jpg."""
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}/{dicom_id}.jpg"


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    check_policy(options)
    tree = RawTree(raw_url, options, marker="mimic-cxr-*-split.csv*")
    _, splits = tree.sheet(tree.require("mimic-cxr-*-split.csv*"))
    header, label_rows = tree.sheet(tree.require("mimic-cxr-*-chexpert.csv*"))
    columns = finding_columns("mimic-cxr", header)
    labels = {(r["subject_id"], r["study_id"]): {k: r[k] for k in columns} for r in label_rows}
    metadata = tree.find("mimic-cxr-*-metadata.csv*")
    views = {r["dicom_id"]: r.get("ViewPosition", "") for r in tree.sheet(metadata)[1]} if metadata else {}
    listed: set[str] = set()
    for row in splits:
        subject, study, dicom_id = row["subject_id"], row["study_id"], row["dicom_id"]
        rel = image_path(subject, study, dicom_id)
        listed.add(rel)
        yield Record(
            source="mimic-cxr",
            sample_id=dicom_id,
            subject_id=subject,
            study_id=study,
            paths=(tree.url(rel),),
            label_row={"findings": labels.get((subject, study)), "view": views.get(dicom_id) or None},
            official_split=row["split"],
        )
    for rel in tree.files("files", (".jpg",)):
        if rel not in listed:
            yield Record(source="mimic-cxr", sample_id=rel, subject_id=rel.split("/")[2][1:],
                         paths=(tree.url(rel),), label_row={"unlisted": True})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("unlisted"):
        raise Excluded("not in label sheet")
    uncertain, blank = check_policy(options)
    findings = row["findings"]
    if findings is None:
        labels: list[int | None] = [None] * len(get_task("cxr_findings").classes)
    else:
        labels = finding_labels(findings, finding_columns("mimic-cxr", list(findings)), uncertain, blank)
    image, image_meta = read_image(record.paths[0], options, color=False)
    return Sample(
        arrays={"image": image},
        meta={"image": image_meta, "view": row.get("view"), "label_policy": {"uncertain": uncertain, "blank": blank}},
        labels={"cxr_findings": labels},
    )


SOURCE = SourceInfo(
    name="mimic-cxr",
    description="MIMIC-CXR-JPG chest X-rays + per-study CheXpert labels and the official split",
    modalities=("image",),
    tasks=("cxr_findings",),
    discover=discover,
    read=read,
    defaults={**IMAGE_DEFAULTS, "uncertain": "masked", "blank": "masked"},
)

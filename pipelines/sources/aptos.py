"""APTOS 2019 Blindness Detection (Kaggle): colour fundus PNGs graded for diabetic retinopathy.

Layout (RAW_URL is the competition folder):

    train.csv             id_code, diagnosis (ICDR grade 0-4)
    train_images/<id_code>.png

Labels: dr_grade, the diagnosis as given (0 No DR ... 4 Proliferative DR); any other value is
masked. The competition's test_images/ have no public labels and are not read. APTOS publishes no
patient id, so each image is its own subject: both eyes of one patient may land in different
splits, a limit of the data that no split can repair. There is no official split (CLIMB drew a
stratified 80/20 by image). PNGs in train_images/ that train.csv does not list are counted as
excluded; a row whose PNG is absent is quarantined.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, read_image
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task

IMAGES = "train_images"


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options, marker="train.csv")
    _, rows = tree.sheet(tree.require("train.csv"))
    listed = set()
    for row in rows:
        rel = f"{IMAGES}/{row['id_code']}.png"
        listed.add(rel)
        yield Record(source="aptos", sample_id=row["id_code"], subject_id=row["id_code"], paths=(tree.url(rel),),
                     label_row={"diagnosis": row["diagnosis"]})
    for rel in tree.files(IMAGES, (".png",)):
        if rel not in listed:
            stem = rel.rsplit("/", 1)[-1][: -len(".png")]
            yield Record(source="aptos", sample_id=stem, subject_id=stem, paths=(tree.url(rel),),
                         label_row={"unlisted": True})


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.label_row.get("unlisted"):
        raise Excluded("not in label sheet")
    diagnosis = record.label_row["diagnosis"]
    label, unmapped = get_task("dr_grade").map_codes("aptos", [diagnosis])
    image, image_meta = read_image(record.paths[0], options, color=True)
    meta: dict[str, Any] = {"image": image_meta}
    if unmapped:
        meta["unmapped_labels"] = unmapped
    return Sample(arrays={"image": image}, meta=meta, labels={"dr_grade": label})


SOURCE = SourceInfo(
    name="aptos",
    description="APTOS 2019 fundus PNGs + train.csv, diabetic retinopathy grade 0-4",
    modalities=("image",),
    tasks=("dr_grade",),
    discover=discover,
    read=read,
    defaults=dict(IMAGE_DEFAULTS),
)

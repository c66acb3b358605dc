"""HAM10000 (Harvard Dataverse / ISIC 2018 task 3): dermoscopic JPGs with a diagnosis per image.

Layout (RAW_URL is the distribution folder):

    HAM10000_metadata.csv     lesion_id, image_id, dx, dx_type, age, sex, localization
    HAM10000_images_part_1/ISIC_0024306.jpg, HAM10000_images_part_2/... (any folder below the root)

Labels: `dx` mapped to CLIMB's 5 classes (skin_lesion: MEL, NV, BCC, AKIEC, OTHER = bkl+df+vasc);
an unknown dx is masked. HAM10000 has several images of one lesion (10,015 images of about 7,500
lesions) and no patient id, so the split is grouped by lesion_id: all images of a lesion share a
split (CLIMB drew images independently and leaked ~80% of val into train). There is no official
split. JPGs that the metadata sheet does not list are counted as excluded; a sheet row whose JPG is
absent is quarantined.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, read_image
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task

SHEET = "HAM10000_metadata*"


def _stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options, marker=SHEET)
    _, rows = tree.sheet(tree.require(SHEET))
    images = {_stem(rel): rel for rel in tree.files("", (".jpg",))}
    listed = set()
    for row in rows:
        image_id, lesion = row["image_id"], row["lesion_id"]
        listed.add(image_id)
        rel = images.get(image_id)
        yield Record(
            source="ham10000",
            sample_id=image_id,
            subject_id=lesion,
            group_id=lesion,
            paths=(tree.url(rel),) if rel else (),
            label_row={k: row.get(k, "") for k in ("dx", "dx_type", "age", "sex", "localization")},
        )
    for image_id, rel in sorted(images.items()):
        if image_id not in listed:
            yield Record(source="ham10000", sample_id=image_id, subject_id=image_id, paths=(tree.url(rel),),
                         label_row={"unlisted": True})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("unlisted"):
        raise Excluded("not in label sheet")
    if not record.paths:
        raise SourceError(f"image {record.sample_id} is listed in the metadata sheet but no file of that name exists")
    # an unmapped dx is masked; the raw value stays in meta["dx"] (no separate unmapped_labels list:
    # a field null in nearly every record is one a type-guessing reader cannot type)
    label, _ = get_task("skin_lesion").map_codes("ham10000", [row["dx"]])
    image, image_meta = read_image(record.paths[0], options, color=True)
    age = row.get("age", "")
    return Sample(
        arrays={"image": image},
        meta={
            "image": image_meta,
            "dx": row["dx"],
            "dx_type": row.get("dx_type") or None,
            "localization": row.get("localization") or None,
            "sex": row.get("sex") or None,
            "age": float(age) if age else None,
        },
        labels={"skin_lesion": label},
    )


SOURCE = SourceInfo(
    name="ham10000",
    description="HAM10000 dermoscopy JPGs + metadata CSV, 5 lesion classes, split grouped by lesion_id",
    modalities=("image",),
    tasks=("skin_lesion",),
    discover=discover,
    read=read,
    defaults=dict(IMAGE_DEFAULTS),
)

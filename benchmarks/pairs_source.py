"""The benchmark's climb source: one chest X-ray JPG and one 12-lead WFDB ECG per study.

No registered source writes exactly the benchmark sample (a 224x224 grayscale PNG + a 12x5000
float32 ECG + the metadata JSON): mimic-iv always adds a tabular member, the image and ECG sources
carry one modality each. So the benchmark registers this small source for itself
(`register("cxr-ecg-pairs", "benchmarks.pairs_source")`), built from the same library code the
clinical sources use: `image2d.read_image` (MIMIC-CXR-JPG's reader: decode, resize-pad to `size`)
and `wfdb_ecg.read_ecg` (MIMIC-IV-ECG's and PTB-XL's reader: header/data checks, lead order, mV).

Raw layout (a MIMIC-style paired release)::

    pairs.csv                                  subject_id, study_id, label
    files/p<subject>/s<study>/cxr.jpg          frontal chest X-ray
    files/p<subject>/s<study>/ecg.hea, .dat    12-lead ECG, 10 s at 500 Hz, format 16

Label: in_hospital_mortality (0 survived / 1 died) from the sheet's `label` column.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceError, SourceInfo
from climb.schemas.sample import Record, Sample
from climb.storage import filesystem

NAME = "cxr-ecg-pairs"
ECG_RATE = 500
TASK = "in_hospital_mortality"


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    prefix = "" if "://" not in raw_url else raw_url.split("://", 1)[0] + "://"
    root = root.rstrip("/")
    with fs.open(f"{root}/pairs.csv", "rb") as f:
        rows = list(csv.DictReader(io.StringIO(f.read().decode("utf-8"))))
    for row in rows:
        folder = f"{prefix}{root}/files/p{row['subject_id']}/s{row['study_id']}"
        yield Record(source=NAME, sample_id=row["study_id"], subject_id=row["subject_id"],
                     paths=(f"{folder}/cxr.jpg", f"{folder}/ecg.hea", f"{folder}/ecg.dat"),
                     label_row={"label": row["label"]})


def read(record: Record, options: dict[str, Any]) -> Sample:
    from climb.pipelines.sources.image2d import read_image
    from climb.pipelines.sources.wfdb_ecg import read_ecg
    from climb.transforms.signal import ECG_LEADS

    image, image_meta = read_image(record.paths[0], options, color=False)
    ecg = read_ecg(record.paths[1], [record.paths[2]], options, expected_fs=ECG_RATE)
    if not np.isfinite(ecg.signal).all():
        raise SourceError("the ECG has missing (NaN) samples")
    label = record.label_row["label"]
    return Sample(
        arrays={"image": image, "signal": ecg.signal.astype(np.float32)},
        meta={"image": image_meta, "signal": {"sampling_rate": ECG_RATE, "channels": list(ECG_LEADS), "units": "mV"}},
        labels={TASK: int(label) if label in ("0", "1") else None},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="benchmark corpus: a chest X-ray JPG + a 12-lead WFDB ECG per study (MIMIC-style pairs)",
    modalities=("image", "signal"),
    tasks=(TASK,),
    discover=discover,
    read=read,
    defaults={"size": 224},
)

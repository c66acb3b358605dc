"""A tiny multimodal test source ("loadertest") and the raw corpus it reads, for the loader tests.

The raw layout is a folder of per-sample files plus a label sheet: `labels.csv` (sample, subject,
split, fields, labels as JSON) and `<sample>.png` (crops of scikit-image's bundled photos, gray or
RGB, two sizes), `<sample>.npy` (synthetic 12-lead ECG-like signals of varying length),
`<sample>.npz` (small graphs), `<sample>.txt`, `<sample>.frames.npy` (tiny videos) and
`<sample>.vol.npy` (smooth 3D volumes big enough to span several Zarr chunks). Samples differ in
which fields they carry, so missing modalities, padding and label masks all show up in batches.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import SourceInfo, register
from climb.schemas.sample import Record, Sample

NAME = "loadertest"
TASKS = ("eeg_abnormal", "sleep_stage", "ecg_harmonized", "length_of_stay")
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _fields(i: int, volumes: int) -> list[str]:
    if i < volumes:
        return ["volume"]
    pattern = (["image", "signal"], ["signal"], ["image", "graph", "text"], ["image", "signal", "graph", "tabular"])
    fields = list(pattern[i % 4])
    if i % 11 == 5:
        fields.append("video")
    return fields


def _ecg(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.arange(length) / 100.0
    beat = np.exp(-((t % 0.8) - 0.4) ** 2 / 0.0008)
    leads = [beat * rng.uniform(0.5, 1.5) + 0.1 * np.sin(2 * np.pi * 0.3 * t + k) for k in range(12)]
    return np.stack(leads).astype(np.float32)


def _labels(i: int) -> dict[str, Any]:
    multi = [int((i >> k) & 1) for k in range(7)]
    if i % 3 == 0:
        multi[2] = None
    return {
        "eeg_abnormal": None if i % 7 == 3 else i % 2,
        "sleep_stage": None if i % 6 == 1 else i % 5,
        "ecg_harmonized": None if i % 9 == 4 else multi,
        "length_of_stay": None if i % 4 == 2 else round(1.5 + i * 0.25, 3),
    }


def write_corpus(root: Path, n: int = 120, volumes: int = 0, val_every: int = 5, prefix: str = "rec") -> Path:
    """Write the raw corpus: n samples named <prefix><i>, the first `volumes` of them 3D volumes."""
    import cv2
    from skimage import data

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    gray, rgb = data.camera(), data.astronaut()
    rows = []
    for i in range(n):
        sample = f"{prefix}{i:04d}"
        fields = _fields(i, volumes)
        if "image" in fields:
            size = 24 if i % 3 else 32
            y, x = (i * 7) % 400, (i * 13) % 400
            img = rgb[y:y + size, x:x + size] if i % 5 == 0 else gray[y:y + size, x:x + size]
            cv2.imwrite(str(root / f"{sample}.png"), img[..., ::-1] if img.ndim == 3 else img)
        if "signal" in fields:
            np.save(root / f"{sample}.npy", _ecg(rng, 200 + 20 * (i % 6)))
        if "graph" in fields:
            nodes = 3 + i % 4
            edges = np.array([[k, (k + 1) % nodes] for k in range(nodes)], dtype=np.int64).T
            np.savez(root / f"{sample}.npz", x=rng.normal(size=(nodes, 4)).astype(np.float32), edge_index=edges,
                     edge_attr=rng.random((edges.shape[1], 1)).astype(np.float32))
        if "text" in fields:
            (root / f"{sample}.txt").write_text(f"synthetic note {i}: sinus rhythm", encoding="utf-8")
        if "video" in fields:
            frames = np.stack([np.roll(gray[:16, :16], k, axis=1) for k in range(6)]).astype(np.uint8)
            np.save(root / f"{sample}.frames.npy", frames)
        if "volume" in fields:
            z, y, x = np.mgrid[0:96, 0:128, 0:128]
            vol = (z * 3 + y * 2 + x + 100 * i).astype(np.int16)
            np.save(root / f"{sample}.vol.npy", vol)
        split = "val" if i % val_every == val_every - 1 else "train"
        rows.append({"sample": sample, "subject": f"subj{i // 2:04d}", "split": split,
                     "fields": " ".join(fields), "labels": json.dumps(_labels(i))})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    root = Path(raw_url)
    with open(root / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            yield Record(source=NAME, sample_id=row["sample"], subject_id=row["subject"], paths=(str(root / "labels.csv"),),
                         label_row=row, official_split=row["split"])


def read(record: Record, options: dict[str, Any]) -> Sample:
    import cv2

    root = Path(record.paths[0]).parent
    name = record.sample_id
    arrays: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    fields = record.label_row["fields"].split()
    if "image" in fields:
        img = cv2.imread(str(root / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        arrays["image"] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img
        meta["image"] = {"spacing": None}
    if "signal" in fields:
        arrays["signal"] = np.load(root / f"{name}.npy")
        meta["signal"] = {"sampling_rate": 100, "channels": LEADS, "units": "mV"}
    if "graph" in fields:
        with np.load(root / f"{name}.npz") as z:
            arrays["graph"] = {k: z[k] for k in z.files}
    if "text" in fields:
        arrays["text"] = (root / f"{name}.txt").read_text(encoding="utf-8")
    if "tabular" in fields:
        arrays["tabular"] = {"age": 40.0 + int(name[-4:]) % 30, "heart_rate": None}
    if "video" in fields:
        arrays["video"] = np.load(root / f"{name}.frames.npy")
        meta["video"] = {"fps": 10.0}
    if "volume" in fields:
        arrays["volume"] = np.load(root / f"{name}.vol.npy")
        meta["volume"] = {"spacing": [1.0, 1.0, 1.0], "orientation": "RAS"}
    return Sample(arrays=arrays, meta=meta, labels=json.loads(record.label_row["labels"]))


def tabular_fields(options: dict) -> tuple[str, ...]:
    """The features read() writes in a tabular member."""
    return ("age", "heart_rate")


SOURCE = SourceInfo(
    name=NAME,
    description="loader test corpus: images, ECG-like signals, graphs, text, tabular, video, volumes",
    modalities=("image", "signal", "graph", "text", "tabular", "video", "volume"),
    tasks=TASKS,
    discover=discover,
    read=read,
    split_fractions={"train": 0.8, "val": 0.2},
    tabular_fields=tabular_fields,
)

register(NAME, __name__)


def convert_corpus(raw: Path, out: Path, shard_size: int = 150_000) -> Path:
    """Convert the corpus with the real engine; returns the dataset folder (out/loadertest)."""
    from climb.pipelines.convert import ConvertConfig, convert
    from climb.transforms.phi import DEMO_KEY

    convert(ConvertConfig(source=NAME, raw_url=str(raw), out_url=str(out), shard_size=shard_size), DEMO_KEY)
    return out / NAME

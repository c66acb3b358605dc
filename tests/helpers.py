"""What many test files repeat: convert with the demo key, read a converted dataset back, compare trees,
read quarantine.jsonl the way an operator does (keys resolved to raw files with `climb inspect
--locate`'s resolver, since quarantine lines name samples by pseudonymous key only).

The readers use plain WebDataset, numpy and OpenCV, never climb's own loaders, so a test that reads
shards through them checks the written bytes independently of the code that streams them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from climb.pipelines.convert import ConvertConfig, convert
from climb.pipelines.records import relative_path
from climb.report.inspect import locate
from climb.transforms.redact import raw_names, redact
from climb.transforms.phi import DEMO_KEY


def convert_demo(source: str, raw: Path | str, out: Path | str, options: dict[str, Any] | None = None,
                 **config: Any) -> dict[str, Any]:
    """Convert `raw` into `out`/`source` with the demo key and return the manifest.

    Args:
        options: source options (ConvertConfig.options).
        **config: other ConvertConfig fields (shard_size, batch_size, runner, workers, ...).
    """
    cfg = ConvertConfig(source=source, raw_url=str(raw), out_url=str(out), options=options or {}, **config)
    return convert(cfg, DEMO_KEY)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below `root` by relative path: two trees are byte-identical iff these are equal."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def records(dataset: Path) -> list[dict[str, Any]]:
    """Every written sample, in shard order, as plain WebDataset gives it ("__key__", member -> bytes)."""
    import webdataset as wds

    shards = sorted(str(p) for p in (dataset / "shards").glob("*.tar"))
    return list(wds.WebDataset(shards, shardshuffle=False, empty_check=False))


def decode_member(name: str, data: bytes) -> Any:
    """One member's bytes decoded by its extension: json -> dict, npy/npz -> arrays, png -> array
    (RGB order, as climb wrote it), txt -> str; anything else (mp4) stays bytes."""
    ext = name.rsplit(".", 1)[-1]
    if ext == "json":
        return json.loads(data)
    if ext == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if ext == "npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as bundle:
            return {k: bundle[k] for k in bundle.files}
    if ext == "png":
        import cv2

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 and image.shape[2] == 3 else image
    if ext == "txt":
        return data.decode("utf-8")
    return data


def read_samples(dataset: Path) -> dict[str, dict[str, Any]]:
    """Every written sample by key, in shard order, decoded.

    Each sample is {"split", "shard" ("shards/<name>.tar"), "raw": member -> bytes, "meta": the json
    member, and one entry per field named as in the member (``image.png`` -> "image", ``graph.npz``
    -> "graph")}.
    """
    samples: dict[str, dict[str, Any]] = {}
    for record in records(dataset):
        members = {k: v for k, v in record.items() if not k.startswith("__")}
        shard = Path(record["__url__"]).name
        sample: dict[str, Any] = {"split": shard.split("-")[0], "shard": f"shards/{shard}", "raw": members}
        for name, data in members.items():
            sample["meta" if name == "json" else name.split(".")[0]] = decode_member(name, data)
        samples[record["__key__"]] = sample
    return samples


def without_file_names(message: str) -> str:
    """An expected reason as quarantine.jsonl words it: file names (`E00009.mat`) become <name>."""
    return re.sub(r"[^\s'\"]+\.[A-Za-z][A-Za-z0-9]{0,5}\b", "<name>", message)


def as_quarantined(message: str, path: str, source: str = "", ids: tuple[str, ...] = ()) -> str:
    """A corpus's expected reason for the raw file `path` (and raw ids) as quarantine.jsonl words
    it: without the file's folder, file and stem names, nor the ids (transforms/redact.py)."""
    return redact(message, raw_names([path], ids, public=source))


def quarantine_lines(dataset: Path) -> list[dict]:
    """The lines of dataset/quarantine.jsonl."""
    return [json.loads(line) for line in (Path(dataset) / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]


def located(dataset: Path, raw: Path | str, key: bytes = DEMO_KEY) -> list[tuple[str, dict]]:
    """(raw file relative to raw, quarantine line) for every line, resolved through the key."""
    lines = quarantine_lines(dataset)
    rows = locate(str(dataset), str(raw), key, [line["key"] for line in lines])
    paths = {row["key"]: row["raw_path"] for row in rows}
    assert all(paths.values()), f"keys that discovery cannot resolve: {[k for k, p in paths.items() if not p]}"
    return [(relative_path(paths[line["key"]], str(raw)), line) for line in lines]


def by_file(dataset: Path, raw: Path | str, key: bytes = DEMO_KEY) -> dict[str, dict]:
    """raw file (relative to raw) -> its quarantine line, for sources with one sample per file."""
    found = located(dataset, raw, key)
    by_path = dict(found)
    assert len(by_path) == len(found), "a file has several quarantined samples; use located()"
    return by_path

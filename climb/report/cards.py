"""One gallery card per sample: its pictures (written as PNGs) and its caption, labels and details as HTML.

The card shows only structured, non-identifying fields: the pseudonymized key, the labels by class
name, and the technical facts of each field (shape, rate, spacing). Free metadata of the sample is
never printed.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from climb.report import pixels, plots
from climb.report.ecg_plot import render_ecg
from climb.report.samples import ShardSample, open_volume
from climb.transforms.signal import ECG_LEADS, canonical_ecg_lead

TEXT_EXCERPT_CHARS = 480
TABULAR_ROWS = 10
ECG_DPI = 110  # the printout is 270 mm wide: ~1170 px, the width of a two-column card at full size


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class PictureDir:
    """The gallery's png/ folder: saves pictures under stable names and returns <img> tags for them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: list[str] = []

    def img(self, name: str, data: bytes, alt: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".png"
        (self.folder / safe).write_bytes(data)
        rel = f"{self.folder.name}/{safe}"
        self.written.append(rel)
        w, h = png_size(data)
        return f'<a href="{escape(rel)}"><img src="{escape(rel)}" width="{w}" height="{h}" alt="{escape(alt)}" loading="lazy"></a>'


@dataclass(frozen=True)
class Card:
    """A sample's card; `span` is its width in the grid: narrow (a thumbnail), wide (a plot) or full (a row)."""

    span: str
    html: str


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def label_chips(meta: dict[str, Any], tasks: dict[str, Any]) -> str:
    """Each task's label of a sample by class name: positives of multilabel tasks, the class, or the value."""
    rows = []
    for name, task in tasks.items():
        if name not in meta.get("labels", {}):
            continue
        value = meta["labels"][name]
        classes = task.get("classes") or []
        if value is None or (task["type"] == "multilabel" and all(v is None for v in value)):
            chips = '<span class="chip masked">masked</span>'
        elif task["type"] == "multilabel":
            positives = [classes[i] for i, v in enumerate(value) if v == 1]
            unknown = sum(1 for v in value if v is None)
            chips = "".join(f'<span class="chip">{escape(c)}</span>' for c in positives) or '<span class="chip none">none</span>'
            if unknown:
                chips += f'<span class="chip masked">{unknown} masked</span>'
        elif task["type"] == "regression":
            chips = f'<span class="chip">{escape(_fmt(float(value)))}{escape(" " + task["units"] if task.get("units") else "")}</span>'
        else:
            chips = f'<span class="chip">{escape(classes[value] if 0 <= value < len(classes) else str(value))}</span>'
        rows.append(f'<div class="task"><span class="tname">{escape(name)}</span>{chips}</div>')
    return f'<div class="labels">{"".join(rows)}</div>' if rows else ""


def _figure(img: str, caption: str) -> str:
    return f'<figure>{img}<figcaption>{escape(caption)}</figcaption></figure>'


def _image(sample: ShardSample, stem: str, pics: PictureDir) -> tuple[str, str]:
    data, shape = pixels.thumbnail(sample.members["image.png"])
    spacing = (sample.meta.get("image") or {}).get("spacing")
    detail = f"{shape[1]}×{shape[0]} px" + (" RGB" if len(shape) == 3 else "")
    if spacing:
        detail += f" · {_fmt(spacing[0])}×{_fmt(spacing[1])} mm"
    return pics.img(f"{stem}-image", data, "image"), detail


def _signal(sample: ShardSample, stem: str, pics: PictureDir) -> tuple[str, str]:
    signal = np.load(io.BytesIO(sample.members["signal.npy"]), allow_pickle=False)
    sm = sample.meta.get("signal") or {}
    fs = float(sm.get("sampling_rate") or 1.0)
    channels = list(sm.get("channels") or [f"ch{i}" for i in range(signal.shape[0])])
    units = sm.get("units") if isinstance(sm.get("units"), str) else ""
    detail = f"{signal.shape[0]} channels · {fs:g} Hz · {signal.shape[1] / fs:.1f} s" + (f" · {units}" if units else "")
    if {canonical_ecg_lead(c) for c in channels} == set(ECG_LEADS) and len(channels) == len(ECG_LEADS):
        missing = [c for c, m in zip(channels, sm.get("channel_mask") or []) if not m]
        if missing:
            detail += " · not recorded (flat): " + ", ".join(missing)
        data = render_ecg(signal, fs, channels, units=units or "mV", dpi=ECG_DPI)
        return pics.img(f"{stem}-ecg", data, "12-lead ECG"), "12-lead ECG · " + detail
    return pics.img(f"{stem}-signal", plots.traces(signal, fs, channels, units), "signal traces"), detail


def _volume(sample: ShardSample, stem: str, pics: PictureDir, dataset_url: str, storage_options: dict[str, Any] | None) -> tuple[str, str]:
    vm = sample.meta["volume"]
    volume = open_volume(dataset_url, vm["zarr_path"], storage_options)
    window = vm.get("window") if vm.get("units") == "HU" else None
    planes, windowing = pixels.volume_planes(volume, vm["spacing"], window)
    figures = [_figure(pics.img(f"{stem}-{plane}", data, plane), plane) for plane, data in planes]
    z, y, x = volume.shape
    detail = f"{z}×{y}×{x} voxels · {' × '.join(_fmt(s) for s in vm['spacing'])} mm"
    if vm.get("units"):
        detail += f" · {vm['units']}"
    return f'<div class="planes">{"".join(figures)}</div>', f"{detail} · {windowing}"


def _video(sample: ShardSample, stem: str, pics: PictureDir) -> tuple[str, str]:
    data, picks, total = pixels.keyframe_strip(sample.members["video.mp4"])
    fps = float((sample.meta.get("video") or {}).get("fps") or 0)
    detail = f"{total} frames"
    if fps:
        detail += f" · {fps:g} fps · {total / fps:.2f} s; shown at " + ", ".join(f"{i / fps:.2f}" for i in picks) + " s"
    else:
        detail += "; shown: frames " + ", ".join(map(str, picks))
    return pics.img(f"{stem}-video", data, "video keyframes"), detail


def _graph(sample: ShardSample, stem: str, pics: PictureDir) -> tuple[str, str]:
    with np.load(io.BytesIO(sample.members["graph.npz"]), allow_pickle=False) as npz:
        x, edge_index = npz["x"], npz["edge_index"]
        edge_attr = npz["edge_attr"] if "edge_attr" in npz.files else None
    gm = sample.meta.get("graph") or {}
    data = plots.graph_drawing(x, edge_index, edge_attr, gm)
    detail = f"{x.shape[0]} nodes · {edge_index.shape[1]} directed edges"
    if sample.meta.get("smiles"):
        detail += f" · {sample.meta['smiles']}"
    return pics.img(f"{stem}-graph", data, "graph drawing"), detail


def _text(sample: ShardSample) -> tuple[str, str]:
    text = sample.members["text.txt"].decode("utf-8")
    excerpt = text[:TEXT_EXCERPT_CHARS] + ("…" if len(text) > TEXT_EXCERPT_CHARS else "")
    return f'<pre class="text">{escape(excerpt)}</pre>', f"text · {len(text)} characters"


def _tabular(sample: ShardSample) -> tuple[str, str]:
    table = json.loads(sample.members["tabular.json"])
    items = list(table.items()) if isinstance(table, dict) else []
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(json.dumps(v, ensure_ascii=False)[:60])}</td></tr>" for k, v in items[:TABULAR_ROWS]
    )
    more = f'<p class="more">… {len(items) - TABULAR_ROWS} more fields</p>' if len(items) > TABULAR_ROWS else ""
    return f'<table class="kv">{rows}</table>{more}', f"tabular · {len(items)} fields"


def sample_card(
    sample: ShardSample, stem: str, tasks: dict[str, Any], pics: PictureDir,
    dataset_url: str, storage_options: dict[str, Any] | None = None,
) -> Card:
    """The card of one sample: a block per stored field, then its labels.

    Args:
        sample: the record read from its shard.
        stem: picture name prefix, unique in the gallery (e.g. "train-03").
        tasks: manifest["tasks"], for class names and units.
        pics: where pictures go.
        dataset_url, storage_options: where the sample's Zarr volume lives, if it has one.
    """
    blocks: list[tuple[str, str]] = []
    spans = ["narrow"]
    if "image.png" in sample.members:
        blocks.append(_image(sample, stem, pics))
    if "signal.npy" in sample.members:
        blocks.append(_signal(sample, stem, pics))
        spans.append("wide")
    if (sample.meta.get("volume") or {}).get("zarr_path"):
        blocks.append(_volume(sample, stem, pics, dataset_url, storage_options))
        spans.append("full")
    elif "preview.png" in sample.members:
        data, _ = pixels.thumbnail(sample.members["preview.png"], max_side=640)
        blocks.append((pics.img(f"{stem}-preview", data, "preview"), "stored preview"))
    if "video.mp4" in sample.members:
        blocks.append(_video(sample, stem, pics))
        spans.append("full")
    if "graph.npz" in sample.members:
        blocks.append(_graph(sample, stem, pics))
    if "text.txt" in sample.members:
        blocks.append(_text(sample))
    if "tabular.json" in sample.members:
        blocks.append(_tabular(sample))
    body = "".join(f'<div class="visual">{visual}</div><p class="detail">{escape(detail)}</p>' for visual, detail in blocks)
    head = f'<p class="key" title="pseudonymized sample key">{escape(sample.key)}</p>'
    span = max(spans, key=("narrow", "wide", "full").index)
    return Card(span, f'<article class="card {span}">{body}{head}{label_chips(sample.meta, tasks)}</article>')

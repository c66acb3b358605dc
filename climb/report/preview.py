"""`climb preview`: a static HTML gallery of a converted dataset, to look at the data before training on it.

    climb preview OUT_URL/SOURCE [--out DIR] [--per-split N] [--s3-endpoint URL]

The gallery is one folder, `index.html` + `png/`, with no external CSS, scripts or fonts, so it opens
offline and can be copied anywhere. It shows the dataset's counts per split, the first N samples of
each split in shard order (image thumbnails, 12-lead ECG paper plots, EEG traces, volume mid-slices in
three planes, video keyframes, graph drawings, text and tables) with their labels by class name, the
label distribution of every task, and the quarantine summary. The same dataset gives the same folder.
"""

from __future__ import annotations

import argparse
import shutil
from html import escape
from pathlib import Path
from typing import Any

from climb.pipelines.verify import load_manifest
from climb.report import plots
from climb.report.cards import PictureDir, sample_card
from climb.report.inspect import summarize
from climb.report.samples import first_samples
from climb.storage import storage_options as default_storage_options
from climb.version import CODE_VERSION

CSS = """
:root { --ink:#1e293b; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --accent:#2563eb; --chip:#dbeafe; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header { background:#0f172a; color:#f8fafc; padding:22px 32px 18px; }
header h1 { margin:0; font-size:26px; font-weight:650; letter-spacing:-.01em; }
header .sub { margin:4px 0 14px; color:#94a3b8; font-size:13px; word-break:break-all; }
.stats { display:flex; flex-wrap:wrap; gap:10px; }
.stat { background:#1e293b; border-radius:10px; padding:8px 14px; min-width:108px; }
.stat b { display:block; font-size:20px; font-weight:650; }
.stat span { color:#94a3b8; font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.stat.warn b { color:#fbbf24; }
nav { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line); padding:8px 32px; }
a { color:var(--accent); }
nav a { color:var(--accent); text-decoration:none; margin-right:18px; font-weight:550; }
main { padding:8px 32px 40px; max-width:1500px; }
h2 { font-size:19px; margin:28px 0 4px; }
h2 small { color:var(--muted); font-weight:400; font-size:13px; margin-left:8px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(250px,1fr)); gap:14px; margin-top:12px; }
.card { background:#fff; border:1px solid var(--line); border-radius:12px; padding:12px;
  box-shadow:0 1px 2px rgba(15,23,42,.05); min-width:0; }
.grid.wide { grid-template-columns:repeat(auto-fill,minmax(600px,1fr)); }
.visual img { display:block; max-width:100%; height:auto; margin:0 auto; border-radius:6px; background:#000; }
.card.full { grid-column:1 / -1; }
.card.wide .visual img { background:none; }
.planes { display:grid; grid-template-columns:repeat(3,minmax(0,1fr)); gap:12px; align-items:end; }
.planes figure { margin:0; }
.planes img { max-height:320px; width:auto; }
figcaption { text-align:center; color:var(--muted); font-size:12px; margin-top:3px; }
.detail { color:var(--muted); font-size:12px; margin:6px 0 0; word-break:break-word; }
.key { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:11px; color:#94a3b8; margin:6px 0 4px; }
.labels { display:flex; flex-wrap:wrap; gap:5px 16px; }
.card.narrow .labels { flex-direction:column; }
.task { display:flex; flex-wrap:wrap; align-items:center; gap:4px; }
.tname { font-size:11px; color:var(--muted); margin-right:2px; }
.chip { background:var(--chip); color:#1e3a8a; border-radius:999px; padding:1px 9px; font-size:12px; font-weight:550; }
.chip.none { background:#f1f5f9; color:var(--muted); font-weight:400; }
.chip.masked { background:#f1f5f9; color:#94a3b8; font-weight:400; font-style:italic; }
pre.text { white-space:pre-wrap; font-size:12px; background:#f8fafc; border:1px solid var(--line);
  border-radius:6px; padding:8px; max-height:220px; overflow:auto; margin:0; }
table { border-collapse:collapse; background:#fff; border:1px solid var(--line); border-radius:8px; }
th, td { text-align:left; padding:6px 14px; border-bottom:1px solid var(--line); font-size:13px; }
thead th { background:#f1f5f9; font-weight:600; }
td.n { text-align:right; font-variant-numeric:tabular-nums; }
table.kv { width:100%; border:none; }
table.kv th, table.kv td { padding:2px 6px; font-size:12px; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(420px,1fr)); gap:14px; margin-top:12px; }
.chart { background:#fff; border:1px solid var(--line); border-radius:12px; padding:12px; }
.chart h3 { margin:0 0 2px; font-size:15px; }
.chart p { margin:0 0 8px; color:var(--muted); font-size:12px; }
.chart img { max-width:100%; height:auto; }
.empty { color:var(--muted); }
footer { color:var(--muted); font-size:12px; padding:0 32px 28px; }
"""


def _stat(value: Any, label: str, warn: bool = False) -> str:
    return f'<div class="stat{" warn" if warn else ""}"><b>{escape(str(value))}</b><span>{escape(label)}</span></div>'


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _header(summary: dict[str, Any], dataset_url: str) -> str:
    c = summary["counts"]
    subjects = sum(s["num_subjects"] for s in summary["splits"].values())
    stats = [
        _stat(c["written"], "samples"),
        _stat(subjects, "subjects"),
        _stat(len(summary["splits"]), "splits"),
        _stat(c["quarantined"], "quarantined", warn=c["quarantined"] > 0),
        _stat(c["excluded"], "excluded"),
        _stat(c["discovered"], "discovered"),
        _stat(summary["shards"]["count"], "shards"),
        _stat(_size(summary["shards"]["total_bytes"] + summary["volumes"]["total_bytes"]), "stored"),
    ]
    return (
        f'<header><h1>{escape(summary["source"])}</h1>'
        f'<p class="sub">{escape(dataset_url)} · schema {escape(summary["schema_version"])} · '
        f'converted by climb {escape(summary["code_version"])}</p><div class="stats">{"".join(stats)}</div></header>'
    )


def _splits_table(summary: dict[str, Any], shown: dict[str, int]) -> str:
    """Samples and subjects per split, in the order of `shown` (train, val, test first)."""
    splits = summary["splits"]
    rows = "".join(
        f'<tr><th><a href="#split-{escape(name)}">{escape(name)}</a></th><td class="n">{splits[name]["num_samples"]}</td>'
        f'<td class="n">{splits[name]["num_subjects"]}</td><td class="n">{n}</td></tr>'
        for name, n in shown.items() if name in splits
    )
    return (
        '<section id="splits"><h2>Splits <small>subject-grouped: no subject is in two splits</small></h2>'
        '<table><thead><tr><th>split</th><th>samples</th><th>subjects</th><th>shown here</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _labels_section(tasks: dict[str, Any], pics: PictureDir) -> str:
    charts = []
    for name, task in tasks.items():
        head = f'<h3>{escape(name)} <small>({escape(task["type"])})</small></h3><p>{escape(task.get("description") or "")}</p>'
        if task["type"] == "regression":
            s = task.get("summary") or {}
            units = f' {task["units"]}' if task.get("units") else ""
            cells = [("known", task["counts"]["known"]), ("masked", task["counts"]["masked"])] + [
                (k, "—" if s.get(k) is None else f"{s[k]:.4g}{units}") for k in ("mean", "std", "min", "max")
            ]
            body = "<table><tbody>" + "".join(f'<tr><th>{k}</th><td class="n">{escape(str(v))}</td></tr>' for k, v in cells) + "</tbody></table>"
        else:
            body = pics.img(f"labels-{name}", plots.label_bars(task), f"{name} label counts")
        charts.append(f'<div class="chart">{head}{body}</div>')
    inner = "".join(charts) or '<p class="empty">This source labels no task.</p>'
    return f'<section id="labels"><h2>Labels <small>counts over all written samples, from the manifest</small></h2><div class="charts">{inner}</div></section>'


def _quarantine_section(summary: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td class="n">{r["count"]}</td><td>{escape(r["stage"])}</td><td>{escape(r["error_type"])}</td><td>{escape(r["message"])}</td></tr>'
        for r in summary["quarantine"]
    )
    excl = "".join(f'<tr><td class="n">{n}</td><td>{escape(reason)}</td></tr>' for reason, n in summary["exclusions"].items())
    parts = ['<section id="quarantine"><h2>Quarantine and exclusions <small>the source paths are in quarantine.jsonl and <code>climb inspect</code></small></h2>']
    parts.append(
        f"<table><thead><tr><th>samples</th><th>stage</th><th>error</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows else '<p class="empty">No sample was quarantined.</p>'
    )
    if excl:
        parts.append(f'<h2>Excluded <small>left out on purpose</small></h2><table><thead><tr><th>samples</th><th>reason</th></tr></thead><tbody>{excl}</tbody></table>')
    return "".join(parts) + "</section>"


def write_gallery(
    dataset_url: str, out_dir: str | Path, storage_options: dict[str, Any] | None = None, per_split: int = 8
) -> Path:
    """Write the preview gallery of one converted dataset.

    Args:
        dataset_url: OUT_URL/SOURCE, local or any fsspec URL (s3://...).
        out_dir: gallery folder; created if missing. Its png/ subfolder is replaced.
        storage_options: fsspec options for dataset_url (e.g. an S3 endpoint and credentials).
        per_split: samples shown per split, the first ones in shard order.

    Returns:
        The path of index.html.
    """
    if per_split < 0:
        raise ValueError(f"per_split must be >= 0, got {per_split}")
    out = Path(out_dir)
    manifest = load_manifest(dataset_url, storage_options)
    summary = summarize(dataset_url, storage_options)
    samples = first_samples(dataset_url, manifest, per_split, storage_options) if per_split else {s: [] for s in manifest["splits"]}
    if (out / "png").is_dir():
        shutil.rmtree(out / "png")
    pics = PictureDir(out / "png")
    sections = []
    for split, records in samples.items():
        cards = [sample_card(s, f"{split}-{i:02d}", manifest["tasks"], pics, dataset_url, storage_options) for i, s in enumerate(records)]
        wide = " wide" if any(c.span != "narrow" for c in cards) else ""
        total = manifest["splits"].get(split, {}).get("num_samples", 0)
        sections.append(
            f'<section id="split-{escape(split)}"><h2>{escape(split)} <small>first {len(records)} of {total} samples, in shard order</small></h2>'
            f'<div class="grid{wide}">{"".join(c.html for c in cards)}</div></section>'
        )
    nav = "".join(f'<a href="#split-{escape(s)}">{escape(s)}</a>' for s in samples) + '<a href="#labels">labels</a><a href="#quarantine">quarantine</a>'
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(summary['source'])} · climb preview</title><style>{CSS}</style></head><body>"
        f"{_header(summary, dataset_url)}<nav>{nav}</nav><main>"
        f"{_splits_table(summary, {k: len(v) for k, v in samples.items()})}{''.join(sections)}"
        f"{_labels_section(manifest['tasks'], pics)}{_quarantine_section(summary)}</main>"
        f"<footer>climb {escape(CODE_VERSION)} · manifest config sha256 {escape(manifest['config_sha256'][:16])}… · "
        "pictures are for looking, not for training: images are stretched, volumes windowed, videos sampled</footer>"
        "</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def cli_preview(args: argparse.Namespace) -> int:
    from climb.errors import UserError

    if args.per_split < 1:
        raise UserError(f"--per-split must be at least 1, got {args.per_split}")
    url = args.dataset_url.rstrip("/")
    out = Path(args.out) if args.out else Path("climb-preview") / url.rsplit("/", 1)[-1]
    index = write_gallery(url, out, default_storage_options(url, args.s3_endpoint), args.per_split)
    print(f"wrote {index} ({len(list((out / 'png').glob('*.png')))} pictures); open it in a browser: file://{index.resolve()}")
    return 0

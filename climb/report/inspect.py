"""`climb inspect`: what a converted dataset holds, at a glance (or as JSON for scripts)."""

from __future__ import annotations

import json
import statistics
from typing import Any

from climb.pipelines.verify import load_manifest
from climb.storage import filesystem, storage_options


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def summarize(dataset_url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The inspect summary: counts, splits, label distributions, quarantine reasons, shard sizes."""
    manifest = load_manifest(dataset_url, options)
    fs, root = filesystem(dataset_url, options)
    quarantine_path = f"{root.rstrip('/')}/quarantine.jsonl"
    reasons: dict[str, dict[str, Any]] = {}
    if fs.exists(quarantine_path):
        for line in fs.cat_file(quarantine_path).decode("utf-8").splitlines():
            q = json.loads(line)
            key = f"{q['stage']}: {q['error_type']}: {q['message']}"
            entry = reasons.setdefault(key, {"stage": q["stage"], "error_type": q["error_type"], "message": q["message"], "count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < 3:
                entry["examples"].append(q["source_path"])
    sizes = [s["bytes"] for s in manifest["shards"]]
    return {
        "dataset": dataset_url,
        "source": manifest["source"],
        "schema_version": manifest["schema_version"],
        "code_version": manifest["code_version"],
        "counts": manifest["counts"],
        "splits": manifest["splits"],
        "tasks": {name: {"type": t["type"], "classes": t["classes"], "counts": t["counts"], "masked": t.get("masked"),
                         "summary": t.get("summary")} for name, t in manifest["tasks"].items()},
        "quarantine": sorted(reasons.values(), key=lambda r: -r["count"]),
        "exclusions": manifest.get("exclusions", {}),
        "shards": {
            "count": len(sizes),
            "total_bytes": sum(sizes),
            "min_bytes": min(sizes) if sizes else 0,
            "median_bytes": int(statistics.median(sizes)) if sizes else 0,
            "max_bytes": max(sizes) if sizes else 0,
        },
        "volumes": {"count": len(manifest.get("volumes", [])), "total_bytes": sum(v["bytes"] for v in manifest.get("volumes", []))},
    }


def render(summary: dict[str, Any]) -> str:
    """The summary as aligned plain-text tables."""
    c = summary["counts"]
    lines = [
        f"{summary['dataset']}  (source {summary['source']}, schema {summary['schema_version']}, climb {summary['code_version']})",
        "",
        f"samples   discovered {c['discovered']}  =  written {c['written']}  +  quarantined {c['quarantined']}  +  excluded {c['excluded']}",
        "",
        f"{'split':<8} {'samples':>9} {'subjects':>9}",
    ]
    for name, s in summary["splits"].items():
        lines.append(f"{name:<8} {s['num_samples']:>9} {s['num_subjects']:>9}")
    for name, t in summary["tasks"].items():
        lines += ["", f"task {name} ({t['type']})"]
        if t["type"] == "regression":
            s = t["summary"]
            lines.append(f"  known {t['counts']['known']}  masked {t['counts']['masked']}  mean {s['mean']}  std {s['std']}  range [{s['min']}, {s['max']}]")
            continue
        width = max((len(k) for k in t["counts"]), default=5)
        total = max(1, max(t["counts"].values(), default=0))
        for cls, n in t["counts"].items():
            masked = t["masked"][cls] if isinstance(t["masked"], dict) else None
            bar = "#" * round(30 * n / total)
            extra = f"  (masked {masked})" if masked else ""
            lines.append(f"  {cls:<{width}} {n:>7} {bar}{extra}")
        if isinstance(t["masked"], int) and t["masked"]:
            lines.append(f"  {'masked':<{width}} {t['masked']:>7}")
    if summary["quarantine"]:
        lines += ["", "quarantine reasons"]
        for r in summary["quarantine"]:
            lines.append(f"  {r['count']:>5}  {r['stage']}: {r['error_type']}: {r['message']}  e.g. {', '.join(r['examples'])}")
    if summary["exclusions"]:
        lines += ["", "exclusions"]
        for reason, n in summary["exclusions"].items():
            lines.append(f"  {n:>5}  {reason}")
    sh = summary["shards"]
    lines += [
        "",
        f"shards    {sh['count']} files, {_human(sh['total_bytes'])} "
        f"(min {_human(sh['min_bytes'])}, median {_human(sh['median_bytes'])}, max {_human(sh['max_bytes'])})",
    ]
    if summary["volumes"]["count"]:
        lines.append(f"volumes   {summary['volumes']['count']} Zarr arrays, {_human(summary['volumes']['total_bytes'])}")
    return "\n".join(lines)


def cli_inspect(args) -> int:
    summary = summarize(args.dataset_url, storage_options(args.dataset_url, args.s3_endpoint))
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 0

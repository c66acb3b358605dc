"""`climb inspect`: what a converted dataset holds, at a glance (or as JSON for scripts).

Outputs name samples by pseudonymous key only. `--locate RAW_URL` is the operator's way back:
with the dataset's HMAC key it re-runs the source's discovery over the raw tree and prints
key -> raw file for the quarantined samples (or for the keys asked for). Its output names raw
files, so it is printed, never written into the dataset.
"""

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
                entry["examples"].append(q["key"])
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


def quarantined(dataset_url: str, options: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The lines of the dataset's quarantine.jsonl (empty when nothing was quarantined)."""
    fs, root = filesystem(dataset_url, options)
    path = f"{root.rstrip('/')}/quarantine.jsonl"
    if not fs.exists(path):
        return []
    return [json.loads(line) for line in fs.cat_file(path).decode("utf-8").splitlines()]


def locate(
    dataset_url: str,
    raw_url: str,
    hmac_key: bytes,
    keys: list[str] | None = None,
    options: dict[str, Any] | None = None,
    raw_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Resolve sample keys back to raw files by re-running the recorded conversion's discovery.

    Args:
        dataset_url: the converted dataset (its manifest gives source, options and limit).
        raw_url: the raw tree it was converted from.
        hmac_key: the key it was converted with (checked against the manifest's key id).
        keys: keys to resolve; default: every quarantined sample.

    Returns:
        one row per key: key, raw_path (URL under raw_url, or None when discovery no longer finds
        it) and, for quarantined keys, stage and error_type.
    """
    from climb.errors import UserError
    from climb.pipelines.records import locate as key_index
    from climb.pipelines.sources import get_source
    from climb.transforms.phi import key_id

    manifest = load_manifest(dataset_url, options)
    config = manifest["config"]
    if config.get("hmac_key_id") != key_id(hmac_key):
        raise UserError(
            f"this HMAC key (id {key_id(hmac_key)}) is not the one {dataset_url} was converted with "
            f"(id {config.get('hmac_key_id')}): keys cannot be resolved without it"
        )
    info = get_source(manifest["source"])
    discover_options = {**info.defaults, **config.get("options", {}), "storage_options": raw_options or {}}
    index = key_index(info.discover(raw_url, discover_options), key=hmac_key, raw_url=raw_url, limit=config.get("limit"))
    reasons = {q["key"]: q for q in quarantined(dataset_url, options)}
    wanted = keys if keys else sorted(reasons)
    rows = []
    for k in wanted:
        row: dict[str, Any] = {"key": k, "raw_path": index.get(k)}
        if k in reasons:
            row.update(stage=reasons[k]["stage"], error_type=reasons[k]["error_type"])
        rows.append(row)
    return rows


def render_locations(rows: list[dict[str, Any]]) -> str:
    """key, reason and raw file per line; keys discovery did not find say so."""
    if not rows:
        return "no quarantined samples"
    lines = []
    for r in rows:
        reason = f"{r['stage']}:{r['error_type']}" if "stage" in r else "-"
        lines.append(f"{r['key']}  {reason:<28} {r['raw_path'] or '(not found under RAW_URL)'}")
    return "\n".join(lines)


def cli_inspect(args) -> int:
    options = storage_options(args.dataset_url, args.s3_endpoint)
    if args.locate:
        from climb.transforms.phi import load_key

        rows = locate(args.dataset_url, args.locate, load_key(args.hmac_key_file), args.key, options,
                      storage_options(args.locate, args.s3_endpoint))
        print(json.dumps(rows, indent=2) if args.json else render_locations(rows))
        return 1 if any(r["raw_path"] is None for r in rows) else 0
    if args.key:
        from climb.errors import UserError

        raise UserError("--key needs --locate RAW_URL: keys resolve against the raw tree")
    summary = summarize(args.dataset_url, options)
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 0

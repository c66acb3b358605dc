"""The transfer report of `climb evaluate` as files: results.json, results.md (a table) and score_vs_k.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRIC_NAMES = {"auroc": "AUROC", "macro_f1": "macro-F1", "mae": "MAE"}


def primary_metric(report: dict[str, Any]) -> str:
    return "mae" if report["task"]["type"] == "regression" else "auroc"


def _cell(entry: dict[str, Any] | None, key: str = "value") -> str:
    """'0.812 [0.701, 0.905] sd 0.041' (sd: spread over seeds), or 'n/a' for an undefined metric."""
    if not entry or entry.get(key) is None:
        return "n/a"
    low, high = entry.get("low"), entry.get("high")
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    spread = f" sd {entry['seed_std']:.3f}" if entry.get("seed_std") is not None else ""
    return f"{entry[key]:+.3f}{interval}" if key == "difference" else f"{entry[key]:.3f}{interval}{spread}"


def markdown(report: dict[str, Any]) -> str:
    """The results table with the facts a reader needs to trust it (data, splits, intervals, zero-shot map)."""
    names = ["mae"] if report["task"]["type"] == "regression" else ["auroc", "macro_f1"]
    test, train = report["splits"]["test"], report["splits"]["train"]
    boot = report["bootstrap"]
    lines = [
        f"# Transfer of a {report['encoder']['modality']} encoder to {report['task']['name']}",
        "",
        f"Dataset {report['dataset']['source']} (manifest sha256 {report['dataset']['manifest_sha256'][:12]}); "
        f"encoder pretrained on {', '.join(report['encoder']['pretrained_tasks']) or 'nothing'} "
        f"(held out: tasks {report['encoder']['holdout']['tasks'] or '-'}, datasets {report['encoder']['holdout']['datasets'] or '-'}).",
        f"Trained on the {train['split']} split ({train['pool']} labelled samples; {train['left_out_test_subjects']} more left out "
        f"because their subject is in the test split), scored on the {test['split']} split ({test['labelled']} samples, "
        f"{test['subjects']} subjects).",
        f"Values are means over seeds {report['settings']['seeds']} (k <= {report['settings']['small_k']}: at least "
        f"{report['settings']['small_k_seeds']} seeds); sd: standard deviation over seeds (the shot draw); brackets: "
        f"{boot['level']:.0%} bootstrap interval resampling {boot['unit']}s and seeds ({boot['replicates']} replicates).",
        "",
        "| method | k | shots | " + " | ".join(METRIC_NAMES[n] for n in names) + " | n |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for row in report["results"]:
        k = "-" if row["k"] is None else str(row["k"])
        shots = "/".join(str(s) for s in row["shots"])
        cells = " | ".join(_cell(row["metrics"].get(n)) for n in names)
        lines.append(f"| {row['method']} | {k} | {shots} | {cells} | {row['n']} |")
    if "comparison" in report:
        comparison = report["comparison"]
        lines += ["", f"Paired differences against the baseline {comparison['baseline']['path']} "
                      f"({comparison['difference']}; p: share of replicates where the encoder did not beat it):", "",
                  "| method | k | " + " | ".join(METRIC_NAMES[n] for n in names) + " |", "|---|---|" + "---|" * len(names)]
        for row in comparison["rows"]:
            k = "-" if row["k"] is None else str(row["k"])
            cells = " | ".join(_cell(row["metrics"].get(n), "difference") + (
                f" p {row['metrics'][n]['share_not_above_zero']:.2f}" if n in row["metrics"] else "") for n in names)
            lines.append(f"| {row['method']} | {k} | {cells} |")
    zero = report["zero_shot"]
    lines.append("")
    if "classes" in zero:
        mapped = ", ".join(f"{c} <- {src}" for c, src in zero["classes"].items() if src)
        unmapped = [c for c, src in zero["classes"].items() if not src]
        lines.append(f"Zero-shot class map: {mapped}" + (f"; not scored: {', '.join(unmapped)}" if unmapped else "") + ".")
    else:
        lines.append(f"Zero-shot: skipped ({zero['skipped']}).")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Score vs k (log axis) for the k-shot methods with interval bands; probe and zero-shot as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = primary_metric(report)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for method, color in (("kshot-finetune", "tab:blue"), ("kshot-probe", "tab:orange")):
        rows = [r for r in report["results"] if r["method"] == method and r["metrics"].get(metric, {}).get("value") is not None]
        if not rows:
            continue
        ks = [r["k"] for r in rows]
        ax.plot(ks, [r["metrics"][metric]["value"] for r in rows], "o-", color=color, label=method)
        banded = [r for r in rows if r["metrics"][metric]["low"] is not None]
        if banded:
            ax.fill_between([r["k"] for r in banded], [r["metrics"][metric]["low"] for r in banded],
                            [r["metrics"][metric]["high"] for r in banded], color=color, alpha=0.2)
    for method, style in (("probe", "--"), ("zero-shot", ":")):
        for r in report["results"]:
            value = r["metrics"].get(metric, {}).get("value")
            if r["method"] == method and value is not None:
                ax.axhline(value, linestyle=style, color="gray", label=f"{method} ({value:.3f})")
    ax.set_xscale("log")
    ks = sorted({r["k"] for r in report["results"] if r["method"].startswith("kshot")})
    if ks:
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
    ax.set_xlabel("shots per class (k)")
    ax.set_ylabel(METRIC_NAMES[metric] + " on the test split")
    ax.set_title(f"{report['task']['name']} from a {report['encoder']['modality']} encoder", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """results.json, results.md and score_vs_k.png in `out` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "score_vs_k.png"]
    paths[0].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    paths[1].write_text(markdown(report))
    plot(report, paths[2])
    return paths

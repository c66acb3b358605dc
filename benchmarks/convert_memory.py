"""Does conversion memory stay flat as the dataset grows?

Converts N real-layout DICOM files (CT_small / MR_small from pydicom, re-saved with distinct patient
ids) for several N, each in a fresh process, and reports the peak RSS of the converting process and
of its largest decoding worker. The engine stages encoded samples on disk and assembles shards by
streaming, so peak memory should not depend on N.

    python -m benchmarks.convert_memory                 # N = 200, 2000
    python -m benchmarks.convert_memory --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import resource, sys, time, json
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY
t = time.perf_counter()
m = convert(ConvertConfig(source="dicom", raw_url=sys.argv[1], out_url=sys.argv[2], options={"size": 224},
                          shard_size=16_000_000), DEMO_KEY)
print(json.dumps({"seconds": time.perf_counter() - t, "written": m["counts"]["written"],
                  "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def write_corpus(root: Path, n: int) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    templates = [pydicom.dcmread(get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    for i in range(n):
        ds = templates[i % 2]
        ds.PatientID = f"P{i // 4:06d}"
        folder = root / f"{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(folder / f"img{i:06d}.dcm")


def measure(n: int, work: Path) -> dict:
    raw = work / f"raw{n}"
    write_corpus(raw, n)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(raw), str(work / f"out{n}")], check=True,
                         capture_output=True, text=True)
    return {"samples": n, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        rows = [measure(n, Path(tmp)) for n in args.sizes]
    base = rows[0]
    print(json.dumps({
        "benchmark": "convert_memory",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": rows,
        "peak_rss_ratio_largest_vs_smallest": round(rows[-1]["self_kb"] / base["self_kb"], 3),
        "worker_rss_ratio_largest_vs_smallest": round(rows[-1]["children_kb"] / max(1, base["children_kb"]), 3),
    }))


if __name__ == "__main__":
    main()

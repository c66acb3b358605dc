"""CPU per sample of climb's per-sample unit (pipelines/process.py `process_item`), one process.

The 2,000 benchmark DICOMs (benchmarks/convert_memory.write_corpus) -> 224 px PNG fragments:
read, fingerprint, allow-listed tags, display transform, validation, declared json types, encoding.
No staging, shard assembly or Finalize (benchmarks/conversion.py times whole conversions).

    python -m benchmarks.sample_unit --samples 2000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    from benchmarks.convert_memory import write_corpus
    from climb.pipelines.process import Context, process_item
    from climb.pipelines.records import WorkItem
    from climb.pipelines.sources import get_source
    from climb.schemas.sample import Record
    from climb.transforms.phi import DEMO_KEY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        write_corpus(Path(tmp) / "raw", args.samples)
        paths = sorted(str(p) for p in (Path(tmp) / "raw").rglob("*.dcm"))
        ctx = Context(source="dicom", dataset_url=f"{tmp}/out", options={"size": 224, "out_dtype": "uint8"},
                      storage_options={}, hmac_key=DEMO_KEY, salt="", fractions={"train": 0.8, "val": 0.1, "test": 0.1})
        info = get_source("dicom", {})
        items = [WorkItem(record=Record(source="dicom", sample_id=p, subject_id="s", paths=(p,)), key=f"k{i:06d}",
                          subject=f"s{i % 200}", study=None, split="train", order=f"{i:08d}") for i, p in enumerate(paths)]
        for item in items[:50]:
            process_item(ctx, info, item)  # lazy imports and caches, outside the clock
        runs = []
        for _ in range(args.runs):
            cpu = time.process_time()
            for item in items:
                entry, fragment = process_item(ctx, info, item)
                if fragment is None:
                    raise AssertionError(f"sample {item.key} was not written: {entry}")
            runs.append((time.process_time() - cpu) / len(items) * 1000)
    print(json.dumps({"benchmark": "sample_unit", "samples": args.samples, "cpu_ms_per_sample": [round(r, 3) for r in runs],
                      "median_cpu_ms_per_sample": round(statistics.median(runs), 3)}))


if __name__ == "__main__":
    main()

"""CPU per sample of climb's per-sample unit (pipelines/process.py `process_item`), one process.

The 2,000 benchmark DICOMs (benchmarks/convert_memory.write_corpus) -> 224 px PNG fragments:
read, fingerprint, allow-listed tags, display transform, validation, declared json types, encoding.
No staging, shard assembly or Finalize (benchmarks/conversion.py times whole conversions). With
several --png codecs their runs interleave, and the fragment bytes per sample are reported too.

    python -m benchmarks.sample_unit --samples 2000 --runs 3 [--png fast compact]
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
    parser.add_argument("--png", nargs="+", default=["fast"], choices=("fast", "compact"), help="PNG codecs to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        write_corpus(Path(tmp) / "raw", args.samples)
        paths = sorted(str(p) for p in (Path(tmp) / "raw").rglob("*.dcm"))
        contexts = {codec: Context(source="dicom", dataset_url=f"{tmp}/out", options={"size": 224, "out_dtype": "uint8", "png": codec},
                                   storage_options={}, hmac_key=DEMO_KEY, salt="", fractions={"train": 0.8, "val": 0.1, "test": 0.1})
                    for codec in args.png}
        info = get_source("dicom", {})
        items = [WorkItem(record=Record(source="dicom", sample_id=p, subject_id="s", paths=(p,)), key=f"k{i:06d}",
                          subject=f"s{i % 200}", study=None, split="train", order=f"{i:08d}") for i, p in enumerate(paths)]
        for ctx in contexts.values():
            for item in items[:50]:
                process_item(ctx, info, item)  # lazy imports and caches, outside the clock
        runs: dict[str, list[float]] = {codec: [] for codec in contexts}
        sizes: dict[str, int] = {}
        for _ in range(args.runs):
            for codec, ctx in contexts.items():
                cpu, size = time.process_time(), 0
                for item in items:
                    entry, fragment = process_item(ctx, info, item)
                    if fragment is None:
                        raise AssertionError(f"sample {item.key} was not written: {entry}")
                    size += len(fragment.data)
                runs[codec].append((time.process_time() - cpu) / len(items) * 1000)
                sizes[codec] = size
    for codec, times in runs.items():
        print(json.dumps({"benchmark": "sample_unit", "png": codec, "samples": args.samples,
                          "cpu_ms_per_sample": [round(r, 3) for r in times], "median_cpu_ms_per_sample": round(statistics.median(times), 3),
                          "fragment_bytes_per_sample": round(sizes[codec] / len(items))}))


if __name__ == "__main__":
    main()

"""Does selecting 10% of a dataset read about 10% of its bytes?

Builds the benchmark's paired CXR+ECG corpus (benchmarks/corpus.py), converts it with `climb convert`
(which writes the catalog), then reads the train split three ways in one process and counts the bytes
each read through system calls (`rchar` of /proc/self/io: every read and pread, whether or not the page
cache served it; each way runs once untimed first, so module imports are not counted), and the time:

- climb view: ClimbDataset(where=...) reads only the selected samples through the range index;
- climb + filter: ClimbDataset over the whole split, filtered in Python after decoding;
- webdataset + select: the plain webdataset pipeline over the same shards with `.select(...)`.

The filter is `key < "1a"`: keys are keyed hashes, so it takes a uniform ~10% (26/256) of samples.

    python -m benchmarks.views_io [--samples 1000] [--work DIR]

Prints one JSON line: selected share, bytes and seconds of each way, and climb view's bytes as a share
of the whole-split reads.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable

WHERE = 'key < "1a"'


def rchar() -> int:
    """Bytes this process has read through read-like system calls so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no rchar line (Linux only)")


def measure(read: Callable[[], int]) -> dict[str, float]:
    before, start = rchar(), time.perf_counter()
    samples = read()
    return {"samples": samples, "bytes": rchar() - before, "seconds": round(time.perf_counter() - start, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--work", help="folder for the corpus and dataset (default: a temporary one)")
    args = parser.parse_args()

    import webdataset as wds

    from benchmarks.corpus import PAIRS_SOURCE, climb_convert, write_pairs_corpus
    from climb.loaders import ClimbDataset

    with tempfile.TemporaryDirectory(prefix="climb-views-") as tmp:
        work = Path(args.work or tmp)
        raw = write_pairs_corpus(work / "raw", args.samples)
        manifest = climb_convert(PAIRS_SOURCE, raw, work / "out", {}, shard_size=16_000_000)
        dataset = work / "out" / PAIRS_SOURCE
        shards = [str(dataset / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
        total = manifest["splits"]["train"]["num_samples"]

        def view() -> int:
            return sum(1 for _ in ClimbDataset(str(dataset), split="train", where=WHERE, tail="drop"))

        def filtered() -> int:
            return sum(1 for s in ClimbDataset(str(dataset), split="train", tail="drop") if s["__key__"] < "1a")

        def webdataset_select() -> int:
            pipe = wds.WebDataset(shards, shardshuffle=False, empty_check=False).select(lambda s: s["__key__"] < "1a")
            return sum(1 for _ in pipe.decode())

        for warm in (view, filtered, webdataset_select):  # imports read files too: keep them out of the counts
            warm()
        runs = {"climb_view": measure(view), "climb_filter": measure(filtered), "webdataset_select": measure(webdataset_select)}
        if len({r["samples"] for r in runs.values()}) != 1:
            raise RuntimeError(f"the three ways selected different samples: {runs}")
        print(json.dumps({
            "benchmark": "views_io", "python": platform.python_version(), "train_samples": total,
            "selected": runs["climb_view"]["samples"], "selected_share": round(runs["climb_view"]["samples"] / total, 4),
            "where": WHERE, **runs,
            "view_bytes_share_of_filter": round(runs["climb_view"]["bytes"] / runs["climb_filter"]["bytes"], 4),
            "view_bytes_share_of_webdataset": round(runs["climb_view"]["bytes"] / runs["webdataset_select"]["bytes"], 4),
        }))


if __name__ == "__main__":
    main()

"""What a range GET costs the object store and the reader, by its size and where it starts.

The loaders read shards from S3 as range GETs of consecutive samples (loaders/shards.py, pieces),
so the size of a piece sets how many GETs an epoch sends, and its start (between two samples, not
at a round offset) sets how many of the store's own chunks each GET touches. This benchmark uploads
one file of random bytes to a fresh local SeaweedFS server (climb.s3.server) with boto3's
upload_file (multipart, as the benchmarks upload the sets), then reads the whole object once per
pattern, sequentially, on the loaders' presigned GETs (climb.presigned), and reports for each
pattern the store's CPU (the `weed` process, /proc) and the reader's CPU per MB read, the MB/s,
and the store's CPU as a ratio of a whole-object GET measured in the same run. Medians of
--repeats measurements of --passes reads each, after one warm-up measurement; the bytes are checked.

    python -m benchmarks.range_cost                  # 64 MB, 3 passes
    python -m benchmarks.range_cost --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.reading import process_cpu_s

MB = 10**6
MiB = 1 << 20
OFFSET = 1_000_000
"""Where the unaligned patterns start their first full range: as a piece of samples does, at no
round offset."""


def ranges(size: int, step: int | None, offset: int = 0) -> list[tuple[int, int]]:
    """The [start, end) ranges one sequential pass reads: the whole object, or `step` bytes at a
    time from `offset` (the bytes before it as one range of their own)."""
    if step is None:
        return [(0, size)]
    cuts = sorted({0, *range(offset, size, step), size})
    return list(zip(cuts, cuts[1:]))


PATTERNS: dict[str, tuple[int | None, int]] = {
    "whole object": (None, 0),
    "16 MiB ranges": (16 * MiB, 0),
    "8 MiB ranges": (8 * MiB, 0),
    "8 MiB ranges, unaligned": (8 * MiB, OFFSET),
    "4 MiB ranges": (4 * MiB, 0),
    "4 MiB ranges, unaligned": (4 * MiB, OFFSET),
    "1 MiB ranges": (1 * MiB, 0),
}


def measure(read: Callable[[int, int], Any], size: int, expected: bytes, server_pid: int, repeats: int,
            passes: int) -> dict[str, dict[str, float]]:
    """Per pattern: `passes` reads of the whole object timed together (CPU time is counted in
    1/100 s ticks), `repeats` times; medians."""
    out = {}
    for name, (step, offset) in PATTERNS.items():
        spans = ranges(size, step, offset)

        def timed() -> tuple[float, float, float]:
            server, client, wall = process_cpu_s(server_pid), time.process_time(), time.perf_counter()
            for _ in range(passes):
                parts = [read(s, e) for s, e in spans]
            wall, client, server = time.perf_counter() - wall, time.process_time() - client, process_cpu_s(server_pid) - server
            if b"".join(parts) != expected:
                raise AssertionError(f"{name}: read different bytes")
            return server, client, wall

        timed()  # warm-up: connections, the server's caches
        runs = [timed() for _ in range(repeats)]
        server, client, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        read_mb = passes * size / MB
        out[name] = {"gets": len(spans), "server_ms_per_mb": 1e3 * server / read_mb,
                     "client_ms_per_mb": 1e3 * client / read_mb, "mb_per_s": read_mb / wall}
    base = out["whole object"]["server_ms_per_mb"]
    for row in out.values():  # None where too little was read for the store's CPU clock (1/100 s ticks)
        row["server_vs_whole"] = row["server_ms_per_mb"] / base if base else None
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64, help="object size in MB (default 64, a shard's)")
    parser.add_argument("--passes", type=int, default=8, help="reads of the object per measurement (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per pattern (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a table instead of JSON")
    args = parser.parse_args(argv)

    import s3fs

    from climb.presigned import PresignedReader
    from climb.s3.server import S3Server, weed_binary

    size = args.size_mb * MB
    data = np.random.default_rng(args.seed).bytes(size)
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp, S3Server() as server:
        local = Path(tmp) / "shard.tar"
        local.write_bytes(data)
        endpoint = server.endpoint
        endpoint.create_bucket("bench")
        endpoint.client().upload_file(str(local), "bench", "shard.tar")
        options = endpoint.storage_options()
        fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
        reader = PresignedReader.for_filesystem(fs, options)
        try:
            table = measure(lambda s, e: reader.read_range("bench/shard.tar", s, e), size, data, server.pid,
                          args.repeats, args.passes)
        finally:
            reader.close()
        weed = subprocess.run([weed_binary(), "version"], capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "range_cost",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "seaweedfs": weed, "config": vars(args), "patterns": table}
    if args.markdown:
        print(f"{args.size_mb} MB object read {args.passes} times per measurement, medians of {args.repeats} ({weed})\n")
        print("| pattern | GETs | store CPU ms/MB | vs whole object | reader CPU ms/MB | MB/s |")
        print("|---|---|---|---|---|---|")
        for name, row in table.items():
            ratio = "-" if row["server_vs_whole"] is None else f"{row['server_vs_whole']:.2f}x"
            print(f"| {name} | {row['gets']} | {row['server_ms_per_mb']:.2f} | {ratio} "
                  f"| {row['client_ms_per_mb']:.2f} | {row['mb_per_s']:,.0f} |")
    else:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

"""How fast does s3fs read from the local S3 server, compared with the same file on local disk?

Writes one file of random bytes, uploads it to a fresh local SeaweedFS server (climb.s3.server),
then times sequential reads of it: from local disk (page cache, after one warm-up read), through
s3fs file objects (one range GET per block, the loaders' access pattern), through s3fs `cat_file`
(one streaming GET) and through boto3 (one streaming GET, the physical reference). Each figure is
the median of --repeats runs in MB/s (10^6 bytes); every read is checked against the file's sha256.

    python -m benchmarks.s3_throughput                       # 256 MB, 8 MB blocks, 3 runs
    python -m benchmarks.s3_throughput --size-mb 64 --block-mb 4 --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import numpy as np

MB = 10**6


def _timed(read: Callable[[], bytes | bytearray], expected_sha: str) -> float:
    """Seconds one full read takes; raises if the bytes differ from the file's."""
    start = time.perf_counter()
    data = read()
    seconds = time.perf_counter() - start
    if hashlib.sha256(data).hexdigest() != expected_sha:
        raise AssertionError("read returned different bytes")
    return seconds


def _read_blocks(open_file: Callable[[], Any], size: int, block: int) -> bytearray:
    """Sequential reads of `block` bytes into one preallocated buffer (no further copy)."""
    buf = bytearray(size)
    view = memoryview(buf)
    with open_file() as f:
        pos = 0
        while pos < size:
            n = f.readinto(view[pos:pos + block])
            if not n:
                break
            pos += n
    return buf if pos == size else buf[:pos]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="file size in MB (default 256)")
    parser.add_argument("--block-mb", type=int, default=8, help="read block / s3fs block size in MB (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random file contents")
    args = parser.parse_args()

    import s3fs

    from climb.s3.server import S3Server, weed_binary

    size, block = args.size_mb * MB, args.block_mb * MB
    data = np.random.default_rng(args.seed).bytes(size)
    sha = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp, S3Server() as server:
        local = Path(tmp) / "blob.bin"
        local.write_bytes(data)
        endpoint = server.endpoint
        endpoint.create_bucket("bench")
        client = endpoint.client()
        client.put_object(Bucket="bench", Key="blob.bin", Body=data)
        del data
        fs = s3fs.S3FileSystem(**endpoint.storage_options(), skip_instance_cache=True)
        methods: dict[str, Callable[[], bytes | bytearray]] = {
            "local_file": lambda: _read_blocks(lambda: open(local, "rb", buffering=0), size, block),
            "s3fs_open": lambda: _read_blocks(
                lambda: fs.open("bench/blob.bin", "rb", block_size=block, cache_type="none"), size, block),
            "s3fs_cat": lambda: fs.cat_file("bench/blob.bin"),
            "boto3_get": lambda: client.get_object(Bucket="bench", Key="blob.bin")["Body"].read(),
        }
        for read in methods.values():  # warm-up: page cache, connections, server caches
            _timed(read, sha)
        seconds = {name: [_timed(read, sha) for _ in range(args.repeats)] for name, read in methods.items()}
        weed = subprocess.run([weed_binary(), "version"], capture_output=True, text=True).stdout.strip()

    mbps = {name: round(size / MB / statistics.median(s), 1) for name, s in seconds.items()}
    print(json.dumps({
        "benchmark": "s3_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {"s3fs": version("s3fs"), "botocore": version("botocore"), "seaweedfs": weed},
        "config": {"size_mb": args.size_mb, "block_mb": args.block_mb, "repeats": args.repeats, "seed": args.seed},
        "mb_per_s": mbps,
        "ratio_s3fs_open_vs_local": round(mbps["s3fs_open"] / mbps["local_file"], 3),
        "ratio_s3fs_cat_vs_local": round(mbps["s3fs_cat"] / mbps["local_file"], 3),
        "ratio_boto3_vs_local": round(mbps["boto3_get"] / mbps["local_file"], 3),
    }))


if __name__ == "__main__":
    main()

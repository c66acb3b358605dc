"""Does a ClimbDataset's memory stay flat over epochs?

Streams the loader_throughput dataset (PNG + 12x5000 signal per sample) for E epochs through
`ds.loader(batch_size=32)`, in one process and with 2 DataLoader workers, and records the main
process's RSS after each epoch (and the largest worker RSS seen during the epoch). A leak of
buffers, indexes, threads or descriptors would show as growth from epoch 1 to epoch E.

    python -m benchmarks.loader_memory                   # 2000 samples, 10 epochs
    python -m benchmarks.loader_memory --samples 4000 --epochs 10
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import threading
from pathlib import Path

from benchmarks.loader_throughput import write_dataset


def _mb(rss: int) -> float:
    return round(rss / 2**20, 1)


def epochs(root: Path, workers: int, count: int) -> dict:
    import psutil

    from climb.loaders import ClimbDataset

    me = psutil.Process()
    ds = ClimbDataset(str(root), split="train", seed=0, modalities=("image", "signal"))
    loader = ds.loader(batch_size=32, num_workers=workers)
    rss, worker_peak = [], 0
    for epoch in range(count):
        ds.set_epoch(epoch)
        for i, _ in enumerate(loader):
            if workers and i % 16 == 0:
                worker_peak = max([worker_peak] + [c.memory_info().rss for c in me.children()])
        gc.collect()
        rss.append(me.memory_info().rss)
    return {
        "rss_mb_per_epoch": [_mb(r) for r in rss],
        "last_over_first": round(rss[-1] / rss[0], 4),
        "worker_peak_mb": _mb(worker_peak) if workers else None,
        "threads_after": threading.active_count(),
        "open_fds_after": len(os.listdir("/proc/self/fd")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dir", help="reuse or create the dataset here (default: a temp dir)")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        root = Path(args.dir or tmp) / "bench"
        if not (root / "manifest.json").exists():
            write_dataset(root, args.samples)
        result = {name: epochs(root, workers, args.epochs) for name, workers in (("1p", 0), ("2w", 2))}
    print(json.dumps({"benchmark": "loader_memory", "samples": args.samples, "epochs": args.epochs, **result,
                      "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()

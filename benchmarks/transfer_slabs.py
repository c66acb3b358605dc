"""Do the reused shared-memory slabs (loaders/transfer.py) still beat torch's own worker-to-main hand-over?

The same ClimbDataset (loader_throughput's 224 px PNG + 12x5000 ECG samples, ~275 KB each) through
DataLoader(num_workers=2, batch_size=32), two ways, interleaved, median of `--runs`:
    slabs         ds.loader(...): batches cross in reused shared-memory slabs
    torch         DataLoader(ds, collate_fn=climb's collate): a fresh shared-memory segment per tensor
each with pin_memory off and, when this machine has an accelerator for torch to pin for, on (pinning
copies every batch once more in the main process: the case the issue asks about). Each loader runs
two epochs (the second finds the first's slabs allocated). Reports samples/s per epoch and the
main process's CPU seconds per 1,000 samples.

    python -m benchmarks.transfer_slabs                 # 2000 samples, 3 runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def run(root: Path, way: str, pin: bool, epochs: int) -> list[tuple[int, float, float]]:
    """(samples, wall seconds, main-process CPU seconds) of each epoch of one loader."""
    from torch.utils.data import DataLoader

    from climb.loaders import ClimbDataset
    from climb.loaders.collate import collate

    ds = ClimbDataset(str(root), split="train", seed=0, modalities=("image", "signal"))
    out = []
    start, cpu = time.perf_counter(), time.process_time()
    if way == "slabs":
        loader = ds.loader(batch_size=32, num_workers=2, pin_memory=pin)
    else:
        ds.batch_size = 32
        loader = DataLoader(ds, batch_size=32, num_workers=2, collate_fn=collate, pin_memory=pin)
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        count = sum(len(batch["__key__"]) for batch in loader)
        out.append((count, time.perf_counter() - start, time.process_time() - cpu))
        start, cpu = time.perf_counter(), time.process_time()
    return out


def main() -> None:
    import torch

    from benchmarks.loader_throughput import write_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    accelerator = torch.accelerator.is_available()
    pins = (False, True) if accelerator else (False,)
    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        root = write_dataset(Path(tmp) / "bench", args.samples)
        ways = [(way, pin) for pin in pins for way in ("slabs", "torch")]
        walls: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for way, pin in ways:
                for epoch, (count, wall, cpu) in enumerate(run(root, way, pin, 2)):
                    name = f"{way}{', pin_memory' if pin else ''}, epoch {epoch + 1}"
                    if count != args.samples:
                        raise AssertionError(f"{name} delivered {count} of {args.samples} samples")
                    walls.setdefault(name, []).append(wall)
                    cpus.setdefault(name, []).append(cpu)
    rate = {name: round(args.samples / statistics.median(w), 1) for name, w in walls.items()}
    result: dict[str, Any] = {
        "benchmark": "transfer_slabs", "samples": args.samples, "runs": args.runs, "cpus": os.cpu_count(),
        "torch": torch.__version__, "accelerator": accelerator,
        "samples_per_s": rate,
        "main_cpu_s_per_1000": {name: round(statistics.median(c) * 1000 / args.samples, 3) for name, c in cpus.items()},
        "slabs_over_torch": {case: round(rate[f"slabs{case}"] / rate[f"torch{case}"], 2)
                             for pin in ("", ", pin_memory") for case in (f"{pin}, epoch 1", f"{pin}, epoch 2")
                             if f"slabs{case}" in rate},
    }
    if not accelerator:
        result["pin_memory"] = "not measured: torch has no accelerator here, and DataLoader ignores pin_memory without one"
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""How fast does ClimbDataset stream compared with plain webdataset reading the same shards?

Writes N samples in peers.md's benchmark shape (a 224x224 grayscale PNG + a 12x5000 float32 signal +
small JSON, ~275 KB each) with climb's own tar writer (the engine's bytes, .idx and manifest fields),
then times construct-to-last-sample, median of 3 interleaved runs, imports excluded:
    climb 1p / 2w        ClimbDataset (shuffled), in one process / loader(batch 32, 2 workers)
    webdataset 1p / 2w   wds.WebDataset(shards) with the same decode (cv2.imdecode + np.load)
"full" decodes image + signal, "noimg" the signal only (climb then skips the PNG bytes entirely).

    python -m benchmarks.loader_throughput                 # 4000 samples
    python -m benchmarks.loader_throughput --samples 1000 --runs 1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SHARD_BYTES = 64_000_000


def write_dataset(root: Path, n: int, shard_bytes: int = SHARD_BYTES) -> Path:
    """A climb dataset folder (manifest.json + shards/train-*.tar/.idx) of n benchmark samples."""
    import hashlib

    import cv2
    from skimage import data

    from climb.pipelines.writers.manifest import build_manifest
    from climb.pipelines.writers.members import encode_members, json_bytes
    from climb.pipelines.writers.wds_tar import cut_shards, make_fragment, write_shard

    base = cv2.resize(data.camera(), (256, 256))
    rng = np.random.default_rng(0)
    fragments = []
    for i in range(n):
        y, x = i % 32, (i * 7) % 32
        image = np.ascontiguousarray(base[y:y + 224, x:x + 224])
        signal = (np.sin(np.linspace(0, 60, 5000))[None] * rng.uniform(0.5, 1.5, (12, 1))).astype(np.float32)
        signal += rng.normal(0, 0.01, signal.shape).astype(np.float32)
        meta = {"dataset": "bench", "labels": {"eeg_abnormal": i % 2}, "label_mask": {"eeg_abnormal": True},
                "split": "train", "signal": {"sampling_rate": 500}, "image": {"spacing": None}}
        fragments.append(make_fragment(f"s{i:07d}", encode_members({"image": image, "signal": signal}, meta)))
    (root / "shards").mkdir(parents=True, exist_ok=True)
    shards = []
    for index, (start, end) in enumerate(cut_shards([len(f.data) for f in fragments], shard_bytes)):
        name = f"train-{index:05d}.tar"
        with open(root / "shards" / name, "wb") as out:
            idx, digest, size = write_shard(fragments[start:end], out, name)
        (root / "shards" / f"train-{index:05d}.idx").write_bytes(json_bytes(idx))
        shards.append({"path": f"shards/{name}", "split": "train", "sha256": digest, "bytes": size,
                       "num_samples": end - start, "index": f"shards/train-{index:05d}.idx"})
    entries = [{"kind": "written", "key": f.key, "split": "train", "subject": f"p{i // 4}", "labels": {"eeg_abnormal": i % 2},
                "modalities": ["image", "signal"],
                "size": len(f.data), "source_sha256": hashlib.sha256(f.data).hexdigest(), "volume": None}
               for i, f in enumerate(fragments)]
    manifest = build_manifest(source="bench", config={"benchmark": "loader_throughput", "samples": n},
                              task_names=("eeg_abnormal",), entries=entries, shards=shards)
    (root / "manifest.json").write_bytes(json_bytes(manifest))
    return root


def _wds_decode(image: bool):
    import cv2
    import torch

    def decode(rec: dict) -> dict:
        out = {"__key__": rec["__key__"], "meta": json.loads(rec["json"]),
               "signal": torch.from_numpy(np.load(io.BytesIO(rec["signal.npy"])))}
        if image:
            out["image"] = torch.from_numpy(cv2.imdecode(np.frombuffer(rec["image.png"], np.uint8), cv2.IMREAD_UNCHANGED))
        return out

    return decode


def _stack(samples: list[dict]) -> dict:
    """The plain collate a webdataset user writes: keys and metadata as lists, tensors stacked."""
    import torch

    out = {"__key__": [s["__key__"] for s in samples], "meta": [s["meta"] for s in samples]}
    for field in ("image", "signal"):
        if field in samples[0]:
            out[field] = torch.stack([s[field] for s in samples])
    return out


def run_climb(root: Path, image: bool, workers: int) -> int:
    from climb.loaders import ClimbDataset

    ds = ClimbDataset(str(root), split="train", seed=0, modalities=("image", "signal") if image else ("signal",))
    if workers == 0:
        return sum(1 for _ in ds)
    return sum(len(b["__key__"]) for b in ds.loader(batch_size=32, num_workers=workers))


def run_webdataset(root: Path, image: bool, workers: int) -> int:
    import torch
    import webdataset as wds

    urls = sorted(str(p) for p in (root / "shards").glob("*.tar"))
    ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False).map(_wds_decode(image))
    if workers == 0:
        return sum(1 for _ in ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=workers, collate_fn=_stack)
    return sum(len(b["__key__"]) for b in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", help="reuse or create the dataset here (default: a temp dir)")
    args = parser.parse_args()
    import torch
    import webdataset

    import climb.loaders  # noqa: F401 - imports excluded from the timings

    with tempfile.TemporaryDirectory(prefix="climb-bench-") as tmp:
        root = Path(args.dir or tmp) / "bench"
        if not (root / "manifest.json").exists():
            write_dataset(root, args.samples)
        variants = {f"{lib} {kind} {'1p' if w == 0 else f'{w}w'}": (fn, kind == "full", w)
                    for lib, fn in (("climb", run_climb), ("webdataset", run_webdataset))
                    for kind in ("full", "noimg") for w in (0, 2)}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, (fn, image, workers) in variants.items():
                start = time.perf_counter()
                count = fn(root, image, workers)
                times[name].append(time.perf_counter() - start)
                assert count == args.samples, (name, count)
        rate = {name: round(args.samples / statistics.median(t), 1) for name, t in times.items()}
        ratios = {k.replace("climb ", ""): round(rate[k] / rate[k.replace("climb", "webdataset")], 2)
                  for k in rate if k.startswith("climb")}
        print(json.dumps({
            "benchmark": "loader_throughput", "samples": args.samples, "runs": args.runs,
            "shard_bytes": SHARD_BYTES, "samples_per_s": rate, "climb_over_webdataset": ratios,
            "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "webdataset": getattr(webdataset, "__version__", "1.0.2"),
        }))


if __name__ == "__main__":
    main()

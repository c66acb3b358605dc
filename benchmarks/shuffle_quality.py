"""How random is climb's shuffle for object storage, next to a full shuffle, per knob setting?

Pure numpy over the plan alone (plan.epoch_order: no data, no I/O), on a dataset shaped like the
benchmark's: N samples of ~266 KB in shards of 64 MB. For each ordering it reports:
    delta_median     median |stored position difference| of consecutive samples, as a share of N
                     (a full shuffle gives ~0.29; reading in stored order gives 0)
    shards_per_batch distinct shards among the 32 samples of a batch (full shuffle: ~32)
    label_autocorr   lag-1 autocorrelation of a label when shards are homogeneous (labels sorted by
                     stored position: the worst case for any block shuffle, Corgi2's failure mode),
                     and the largest |autocorrelation| over lags 1..32 (inside a batch)
    batch_tv         mean total-variation distance between a batch's label histogram and the
                     dataset's, same sorted labels (10 classes)
    batchmates_kept  share of a sample's batch-mates of epoch 0 that are its batch-mates again in
                     epoch 1 (full shuffle: ~32/N; stored order: 1)
    buffer_mb        what a reader holds for it: (window + buckets x piece) x sample bytes (a bucket's
                     piece arrives when its first sample is due, and each sample's bytes go with it)
Orderings: stored order, a full shuffle (a permutation of everything), climb's default, and climb
with other windows and bucket counts.

    python -m benchmarks.shuffle_quality              # one JSON line
    python -m benchmarks.shuffle_quality --markdown   # the table in docs/training-from-s3.md
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np

from climb.loaders.plan import epoch_order
from climb.loaders.shards import SampleReader
from climb.loaders.stream import ClimbDataset

KEY = 0x5EED
CLASSES = 10
BATCH = 32


def stored_positions(order: np.ndarray, per_shard: int) -> np.ndarray:
    return order[:, 0] * per_shard + order[:, 1]


def metrics(order: np.ndarray, next_epoch: np.ndarray, per_shard: int, n: int) -> dict[str, float]:
    """The module docstring's measures for one order (and the next epoch's), int64 [N, 2] (shard, sample)."""
    stored = stored_positions(order, per_shard)
    delta = np.abs(np.diff(stored)) / n
    labels = stored * CLASSES // n  # sorted labels: each shard holds one or two classes
    centred = labels - labels.mean()
    power = np.dot(centred, centred)
    autocorr = [float(np.dot(centred[:-lag], centred[lag:]) / power) for lag in range(1, BATCH + 1)]
    batches = n // BATCH
    # shape [batches, BATCH]: the order cut into whole batches
    shards = order[: batches * BATCH, 0].reshape(batches, BATCH)
    distinct = np.mean([len(np.unique(row)) for row in shards])
    hist = np.stack([np.bincount(row, minlength=CLASSES) for row in labels[: batches * BATCH].reshape(batches, BATCH)]) / BATCH
    tv = float(np.mean(0.5 * np.abs(hist - 1 / CLASSES).sum(axis=1)))
    # batch number of each stored sample in both epochs; mates = same batch in epoch 0
    batch0, batch1 = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    batch0[stored] = np.arange(n) // BATCH
    batch1[stored_positions(next_epoch, per_shard)] = np.arange(n) // BATCH
    mates = batch1[stored[: batches * BATCH]].reshape(batches, BATCH)
    kept = np.mean([(np.unique(row, return_counts=True)[1] ** 2).sum() - BATCH for row in mates]) / (BATCH * (BATCH - 1))
    return {"delta_median": round(float(np.median(delta)), 3), "shards_per_batch": round(float(distinct), 1),
            "label_autocorr": round(autocorr[0], 3), "label_autocorr_max": round(max(map(abs, autocorr)), 3),
            "batch_tv": round(tv, 3), "batchmates_kept": round(float(kept), 4)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--sample-bytes", type=int, default=266_000)
    p.add_argument("--shard-bytes", type=int, default=64_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    per_shard = args.shard_bytes // args.sample_bytes
    counts = [per_shard] * (args.samples // per_shard)
    n = sum(counts)
    piece = max(1, SampleReader.PIECE_BYTES // args.sample_bytes)
    default_window = ClimbDataset.SHUFFLE_BYTES // args.sample_bytes
    mb = args.sample_bytes / 1e6
    def orders(**kw):
        return [epoch_order(counts, args.seed, epoch, KEY, **kw) for epoch in (0, 1)]

    rows = {"stored order": (orders(shuffle=False), 0.0)}
    full = [np.random.default_rng([args.seed, epoch]).permutation(n) for epoch in (0, 1)]
    rows["full shuffle"] = ([np.stack([f // per_shard, f % per_shard], axis=1) for f in full], n * mb)
    for window, buckets in ((default_window, 8), (default_window, 1), (default_window, 4), (default_window, 16),
                            (4 * default_window, 8), (16 * default_window, 8), (16 * default_window, 32)):
        name = f"climb window {window} ({window * mb:.0f} MB), {buckets} bucket{'s' * (buckets > 1)}"
        if (window, buckets) == (default_window, 8):
            name += " (default, one rank)"
        rows[name] = (orders(window=window, buckets=buckets), (window + buckets * piece) * mb)
    table = {name: {**metrics(*pair, per_shard, n), "buffer_mb": round(buffer)} for name, (pair, buffer) in rows.items()}
    result = {"benchmark": "shuffle_quality", "samples": n, "shards": len(counts), "sample_bytes": args.sample_bytes,
              "piece_samples": piece, "seed": args.seed, "python": platform.python_version(), "numpy": np.__version__,
              "orders": table}
    if args.markdown:
        print("| order | median \\|Δ position\\| / N | shards per batch of 32 | label autocorrelation lag 1 / max lag 1-32 "
              "(sorted labels) | batch label TV distance (sorted labels) | batch-mates kept next epoch | reader buffer |")
        print("|---|---|---|---|---|---|---|")
        for name, m in table.items():
            print(f"| {name} | {m['delta_median']} | {m['shards_per_batch']} | {m['label_autocorr']} / {m['label_autocorr_max']} "
                  f"| {m['batch_tv']} | {m['batchmates_kept']} | {m['buffer_mb']:,} MB |")
    else:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

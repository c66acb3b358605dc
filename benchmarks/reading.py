"""One timed read of one dataset by one reader, in a fresh process; prints one JSON line.

    python -m benchmarks.reading '{"reader": "climb", "where": "local", "workers": 0, "set": "pairs",
                                   "root": "/tmp/work", "bucket": "bench", "batch_size": 32}'

A fresh process per measurement makes peak RSS a fact of that reader alone. S3 credentials and the
endpoint come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL),
never from the command line. The clock starts after imports, just before the dataset object is
constructed, and stops when the last sample has been consumed; "first_s" is the time to the first
sample (1 process) or the first batch (workers).

Every reader walks the set in its stored order (no shuffle), as the peers do by default; "climb
(shuffled)" is climb with its training default (plan.epoch_order: shards permuted, 8 buckets striped
into every batch, each sample moved within a sliding window). litdata and MDS read S3 through their
own caches (`cache_dir`, cold at the start of each measurement); they run in the peers' venv
(benchmarks/peers.py), where nothing of climb is imported.
Every reader decodes the same members into the same tensors: the PNG, the .npy array and the
metadata's json. Peers use `decode_members` (cv2.imdecode, np.load of the .npy bytes); climb uses its
own decoder (climb.loaders.decode: a PNG whose rows are all Up-filtered by one inflate and a
cumulative sum, any other by cv2.imdecode, and the .npy parsed in place instead of copied through
np.load). Batches of peers are stacked with `stack`; climb uses its collate.
Readers also work in other modes:
    "decode"   the decode-only bound: members preloaded in memory, decoded in one process (peers' decode)
    "decode-climb"  the same with climb's decoder (Up-filtered PNG rows inflated and summed, npy in place)
    "read"     the raw read bound: the climb shards read whole (local: page cache; S3: boto3 GETs)
    "epochs"   climb's main-process RSS after each of `epochs` epochs
"""

from __future__ import annotations

import gc
import io
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

DATASETS = {"pairs": "cxr-ecg-pairs", "volumes": "nifti"}


def decode_members(members: dict[str, Any]) -> dict[str, Any]:
    """The peers' decode: {"meta", "image", "signal"} or {"meta", "volume"} as torch tensors."""
    import cv2
    import torch

    out: dict[str, Any] = {"meta": json.loads(bytes(members["json"]))}  # litdata hands some members over as memoryview
    if "image" in members:
        out["image"] = torch.from_numpy(cv2.imdecode(np.frombuffer(members["image"], np.uint8), cv2.IMREAD_UNCHANGED))
    for field in ("signal", "volume"):
        if field in members:
            out[field] = torch.from_numpy(np.load(io.BytesIO(members[field])))
    return out


def stack(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The collate a peer user writes: metadata as a list, tensors stacked."""
    import torch

    out: dict[str, Any] = {"meta": [s["meta"] for s in samples]}
    for field in ("image", "signal", "volume"):
        if field in samples[0]:
            out[field] = torch.stack([s[field] for s in samples])
    return out


def _wds_fields(rec: dict[str, Any]) -> dict[str, Any]:
    return decode_members({k.split(".")[0]: v for k, v in rec.items() if not k.startswith("__")})


def _s3_options() -> dict[str, Any]:
    return {"key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "client_kwargs": {"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "region_name": "us-east-1"}}


def _location(cfg: dict[str, Any], fmt: str) -> str:
    """Where a format's copy of the set lives: a local folder or s3://bucket/<set>/<format>."""
    if cfg["where"] == "s3":
        return f"s3://{cfg['bucket']}/{cfg['set']}/{fmt}"
    return str(Path(cfg["root"]) / cfg["set"] / fmt)


# ------------------------------------------------------------------------------------------ readers


def read_climb(cfg: dict[str, Any]) -> Iterable:
    from climb.loaders import ClimbDataset

    url = f"{_location(cfg, 'climb')}/{DATASETS[cfg['set']]}"
    opts = _s3_options() if cfg["where"] == "s3" else None
    shuffle = cfg["reader"] == "climb (shuffled)"
    if cfg["set"] == "volumes":
        from climb.loaders.zarr_patches import VolumePatches

        shape = tuple(cfg["volume_shape"])
        ds = ClimbDataset(url, split="train", seed=0, shuffle=shuffle, storage_options=opts, modalities=("volume",),
                          transform=VolumePatches(shape, count=1, storage_options=opts))
    else:
        ds = ClimbDataset(url, split="train", seed=0, shuffle=shuffle, storage_options=opts, modalities=("image", "signal"))
    return ds if cfg["workers"] == 0 else ds.loader(batch_size=cfg["batch_size"], num_workers=cfg["workers"])


def read_webdataset(cfg: dict[str, Any]) -> Iterable:
    import torch
    import webdataset as wds

    where = _location(cfg, "webdataset")
    if cfg["where"] == "s3":
        import s3fs

        # webdataset 1.0.2 has no s3:// opener; the dispatch table lives on the module (peers.md). The
        # filesystem is made in the process that opens (s3fs instances are not fork-safe).
        sys.modules["webdataset.gopen"].gopen_schemes["s3"] = (
            lambda url, mode="rb", bufsize=8192, **kw: s3fs.S3FileSystem(**_s3_options()).open(url, "rb"))
        listing = s3fs.S3FileSystem(**_s3_options(), skip_instance_cache=True).ls(where.removeprefix("s3://"))
        urls = sorted(f"s3://{p}" for p in listing if p.endswith(".tar"))
    else:
        urls = sorted(str(p) for p in Path(where).glob("*.tar"))
    ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False).map(_wds_fields)
    if cfg["workers"] == 0:
        return ds
    return torch.utils.data.DataLoader(ds, batch_size=cfg["batch_size"], num_workers=cfg["workers"], collate_fn=stack)


def _litdata_fields(item: dict[str, Any]) -> dict[str, Any]:
    return decode_members({k: v for k, v in item.items() if k != "key"})


def read_litdata(cfg: dict[str, Any]) -> Iterable:
    import litdata

    kwargs: dict[str, Any] = {}
    if cfg["where"] == "s3":
        # litdata 0.2.76's obstore client options replace the environment: plain http needs this (peers.md)
        from litdata.streaming import downloader

        downloader._OBSTORE_CLIENT_OPTIONS["allow_http"] = "true"
        kwargs = {"cache_dir": cfg["cache_dir"], "storage_options": {
            "endpoint_url": os.environ["AWS_ENDPOINT_URL"], "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"], "region_name": "us-east-1"}}
    ds = litdata.StreamingDataset(_location(cfg, "litdata"), transform=_litdata_fields, **kwargs)
    if cfg["workers"] == 0:
        return ds
    return litdata.StreamingDataLoader(ds, batch_size=cfg["batch_size"], num_workers=cfg["workers"], collate_fn=stack)


def read_mds(cfg: dict[str, Any]) -> Iterable:
    import torch

    from benchmarks.formats import import_streaming

    streaming = import_streaming()
    from streaming.base.util import clean_stale_shared_memory

    clean_stale_shared_memory()

    class Decoded(streaming.StreamingDataset):
        def __getitem__(self, index: int) -> dict[str, Any]:
            return decode_members({k: v for k, v in super().__getitem__(index).items() if k != "key"})

    if cfg["where"] == "s3":
        os.environ["S3_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
        ds = Decoded(remote=_location(cfg, "mds"), local=cfg["cache_dir"], batch_size=cfg["batch_size"])
    else:
        ds = Decoded(local=_location(cfg, "mds"), batch_size=cfg["batch_size"])
    if cfg["workers"] == 0:
        return ds
    return torch.utils.data.DataLoader(ds, batch_size=cfg["batch_size"], num_workers=cfg["workers"], collate_fn=stack)


READERS: dict[str, Callable[[dict[str, Any]], Iterable]] = {
    "climb": read_climb, "climb (shuffled)": read_climb, "webdataset": read_webdataset, "litdata": read_litdata, "mds": read_mds,
}


# ---------------------------------------------------------------------------------- measurements


def _count(item: Any, workers: int) -> int:
    if workers == 0:
        return 1
    return len(item["meta"] if "meta" in item else item["__key__"])


def peak_rss_mb() -> dict[str, float]:
    """Peak RSS of this process (VmHWM) and of its largest waited-for child (loader workers), MB."""
    hwm = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return {"rss_main_mb": round(hwm, 1), "rss_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_s() -> float:
    """CPU seconds of this process and of its waited-for children (loader workers) so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds another process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """CPU seconds spent between start and stop by this process (and its reaped workers) and, given
    its pid, by the S3 server that shares the machine's cores."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.mine = cpu_s()
        self.server = process_cpu_s(server_pid) if server_pid else None

    def stop(self) -> dict[str, float]:
        out = {"cpu_s": cpu_s() - self.mine}
        if self.server_pid:
            out["server_cpu_s"] = process_cpu_s(self.server_pid) - self.server
        return out


def measure_read(cfg: dict[str, Any]) -> dict[str, Any]:
    """Construct-to-last-sample of one reader over the whole set."""
    clock = CpuClock(cfg.get("server_pid"))
    start = time.perf_counter()
    first, samples = None, 0
    reader = READERS[cfg["reader"]](cfg)
    for item in reader:
        if first is None:
            first = time.perf_counter() - start
        samples += _count(item, cfg["workers"])
    seconds = time.perf_counter() - start
    if hasattr(reader, "wait_for_workers"):  # climb's workers exit behind the caller: reap them before reading their RSS
        reader.wait_for_workers()
    return {"samples": samples, "seconds": seconds, "first_s": first, **clock.stop(), **peak_rss_mb()}


def measure_epochs(cfg: dict[str, Any]) -> dict[str, Any]:
    """climb's main-process RSS after each epoch (workers are re-made each epoch, as in training)."""
    from climb.loaders import ClimbDataset

    url = f"{_location(cfg, 'climb')}/{DATASETS[cfg['set']]}"
    ds = ClimbDataset(url, split="train", seed=0, modalities=("image", "signal"))
    loader = ds if cfg["workers"] == 0 else ds.loader(batch_size=cfg["batch_size"], num_workers=cfg["workers"])
    rss = []
    for epoch in range(cfg["epochs"]):
        ds.set_epoch(epoch)
        for _ in loader:
            pass
        rss.append(round(current_rss_mb(), 1))
    return {"rss_mb_per_epoch": rss, **peak_rss_mb()}


def _preloaded(cfg: dict[str, Any]) -> list[dict[str, bytes]]:
    """Every climb sample's members by member name ("image.png", "json", ...)."""
    from benchmarks.formats import climb_records, read_members

    dataset = Path(_location({**cfg, "where": "local"}, "climb")) / DATASETS[cfg["set"]]
    return [read_members(r, dataset) for r in climb_records(dataset)]


def measure_decode(cfg: dict[str, Any]) -> dict[str, Any]:
    """The decode-only bound: the decode over members already in memory, one process; the peers'
    decode (mode "decode") or climb's own per-sample decode, `decode_sample` (mode "decode-climb")."""
    if cfg["mode"] == "decode-climb":
        from climb.loaders.decode import decode_sample

        samples = _preloaded(cfg)

        def decode(members: dict[str, Any]) -> dict[str, Any]:
            return decode_sample("", members, {})
    else:
        samples = [{m.split(".")[0]: data for m, data in r.items()} for r in _preloaded(cfg)]
        decode = decode_members
    for s in samples[:8]:
        decode(s)
    start = time.perf_counter()
    for s in samples:
        decode(s)
    seconds = time.perf_counter() - start
    return {"samples": len(samples), "seconds": seconds, "first_s": None, **peak_rss_mb()}


def measure_raw_read(cfg: dict[str, Any]) -> dict[str, Any]:
    """The raw read bound: every file of the climb dataset (shards, indexes, Zarr chunks) read whole,
    one stream (local, from the page cache) or `streams` concurrent boto3 GETs (S3)."""
    from concurrent.futures import ThreadPoolExecutor

    dataset = Path(_location({**cfg, "where": "local"}, "climb")) / DATASETS[cfg["set"]]
    files = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file())
    total = sum((dataset / rel).stat().st_size for rel in files)
    samples = json.loads((dataset / "manifest.json").read_text())["counts"]["written"]
    if cfg["where"] == "local":
        def read(rel: str) -> int:
            with open(dataset / rel, "rb", buffering=0) as f:
                return len(f.read())
    else:
        import boto3

        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
        prefix = f"{cfg['set']}/climb/{DATASETS[cfg['set']]}"

        def read(rel: str) -> int:
            return len(client.get_object(Bucket=cfg["bucket"], Key=f"{prefix}/{rel}")["Body"].read())

    for rel in files:  # warm-up: page cache, connections
        read(rel)
    clock = CpuClock(cfg.get("server_pid"))
    start = time.perf_counter()
    with ThreadPoolExecutor(cfg.get("streams", 1)) as pool:
        got = sum(pool.map(read, files))
    seconds = time.perf_counter() - start
    cpu = clock.stop()
    if got != total:
        raise AssertionError(f"read {got} bytes of {total}")
    return {"samples": samples, "seconds": seconds, "first_s": None, "bytes": total, **cpu, **peak_rss_mb()}


def preimport(cfg: dict[str, Any]) -> None:
    """Import everything a measurement uses before its clock starts, then freeze the imported objects
    out of the garbage collector: otherwise its one full pass over them (~0.2 s) lands inside
    whichever reader happens to allocate first."""
    import cv2  # noqa: F401
    import torch  # noqa: F401

    reader = cfg.get("reader", "")
    if reader.startswith("climb") or cfg.get("mode") in ("decode", "decode-climb", "raw", "epochs"):
        import climb.loaders  # noqa: F401
    if cfg.get("where") == "s3" and reader not in ("litdata", "mds"):
        import boto3  # noqa: F401
        import s3fs  # noqa: F401
    if reader == "webdataset":
        import webdataset  # noqa: F401
    elif reader == "litdata":
        import litdata  # noqa: F401
    elif reader == "mds":
        from benchmarks.formats import import_streaming

        import_streaming()
    elif reader.startswith("climb") and cfg.get("set") == "volumes":
        import zarr  # noqa: F401

        import climb.loaders.zarr_patches  # noqa: F401
    gc.collect()
    gc.freeze()


MODES = {"read": measure_read, "epochs": measure_epochs, "decode": measure_decode, "decode-climb": measure_decode,
         "raw": measure_raw_read}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    preimport(cfg)
    print(json.dumps(MODES[cfg.get("mode", "read")](cfg)))


if __name__ == "__main__":
    main()

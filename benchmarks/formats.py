"""The same samples in each tool's own format: climb's shards are the source of every byte.

Each sample's members (metadata JSON, PNG, npy; for volumes the JSON and the int16 volume as npy)
are taken from the converted climb dataset and written unchanged with the peer's own writer:
webdataset.ShardWriter (tar), litdata.optimize (litdata chunks) and streaming.MDSWriter (MDS). So
every reader decodes byte-identical members; only the container and the reader differ. All four
use the same shard/chunk size target. `upload` copies a written folder to the local S3 server.

mosaicml-streaming 0.13.0's `import streaming` imports torchvision (for its vision datasets); the
torchvision wheel built for torch 2.13+cpu is not on this machine's package index (the only
0.28.0 wheel there is the CUDA build, which cannot load beside torch+cpu), so `import_streaming`
stands an empty module in for `streaming.vision`. MDS reading and writing never touch it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

PAIR_MEMBERS = ("json", "image.png", "signal.npy")
VOLUME_MEMBERS = ("json", "volume.npy")


def import_streaming():
    """mosaicml-streaming without its torchvision-only vision module (module docstring)."""
    if "streaming" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except Exception:  # noqa: BLE001 - absent, or a wheel built for another torch
            sys.modules.setdefault("streaming.vision", types.ModuleType("streaming.vision"))
    import streaming

    return streaming


def climb_records(dataset: Path) -> list[dict[str, Any]]:
    """(key, shard file, {member: (offset, size)}) of every sample, in manifest shard order."""
    from climb.loaders.shards import parse_index

    manifest = json.loads((dataset / "manifest.json").read_text())
    out = []
    for shard in manifest["shards"]:
        index = parse_index((dataset / shard["index"]).read_bytes(), shard)
        for i in range(len(index)):
            key, _, _, members = index.sample(i)
            out.append({"key": key, "shard": str(dataset / shard["path"]), "members": members})
    return out


def tar_records(folder: Path) -> list[dict[str, Any]]:
    """The same records for a webdataset copy (the peers' writers read from it with the standard
    library alone: no climb in the peers' venv). Names split as webdataset does: key, then members."""
    import re
    import tarfile

    out: list[dict[str, Any]] = []
    for shard in sorted(folder.glob("*.tar")):
        with tarfile.open(shard) as tar:
            for info in tar:
                if info.isfile():
                    key, member = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", info.name).groups()
                    if not out or (out[-1]["key"], out[-1]["shard"]) != (key, str(shard)):
                        out.append({"key": key, "shard": str(shard), "members": {}})
                    out[-1]["members"][member] = (info.offset_data, info.size)
    return out


def read_span(record: dict[str, Any]) -> dict[str, bytes]:
    """A record's member bytes, read at their offsets."""
    out = {}
    with open(record["shard"], "rb") as f:
        for member, (offset, size) in record["members"].items():
            f.seek(offset)
            out[member] = f.read(size)
    return out


def read_members(record: dict[str, Any], dataset: Path) -> dict[str, bytes]:
    """A climb sample's member bytes; a volume comes from volumes.zarr as an int16 .npy member."""
    out = read_span(record)
    if "image.png" not in out:
        from climb.loaders.zarr_patches import open_volume
        from climb.pipelines.writers.members import npy_bytes

        meta = json.loads(out["json"])
        out = {"json": out["json"], "volume.npy": npy_bytes(open_volume(str(dataset), meta["volume"]["zarr_path"])[:])}
    return out


def _item(record: dict[str, Any]) -> dict[str, Any]:
    """litdata.optimize's fn: one sample as {key, member: bytes} (module level, so it pickles)."""
    return {"key": record["key"], **{m.split(".")[0]: data for m, data in read_span(record).items()}}


def write_webdataset(records: list[dict[str, Any]], dataset: Path, out: Path, shard_bytes: int) -> float:
    import webdataset as wds

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with wds.ShardWriter(str(out / "shard-%06d.tar"), maxsize=shard_bytes, maxcount=10**9, verbose=0) as sink:
        for r in records:
            sink.write({"__key__": r["key"], **read_members(r, dataset)})
    return time.perf_counter() - start


def write_litdata(records: list[dict[str, Any]], out: Path, shard_bytes: int) -> float:
    import litdata

    start = time.perf_counter()
    litdata.optimize(fn=_item, inputs=records, output_dir=str(out), chunk_bytes=shard_bytes, num_workers=1,
                     verbose=False, mode="overwrite", start_method="fork")
    return time.perf_counter() - start


def write_mds(records: list[dict[str, Any]], out: Path, shard_bytes: int) -> float:
    streaming = import_streaming()

    columns = {"key": "str", **{m.split(".")[0]: "bytes" for m in records[0]["members"]}}
    start = time.perf_counter()
    with streaming.MDSWriter(out=str(out), columns=columns, size_limit=shard_bytes) as sink:
        for r in records:
            sink.write({"key": r["key"], **{m.split(".")[0]: data for m, data in read_span(r).items()}})
    return time.perf_counter() - start


PEER_WRITERS = {"litdata": write_litdata, "mds": write_mds}
FORMATS = ("webdataset", *PEER_WRITERS)


def write_all(dataset: Path, root: Path, shard_bytes: int, formats: list[str], peer_python: Path | None) -> dict[str, Any]:
    """Write the climb dataset's samples in each format under root/<format>: the webdataset copy here
    (it is also the source of the others), litdata and MDS by the peers' interpreter
    (benchmarks/peers.py) in a subprocess. Returns timings and sizes."""
    report = {}
    for name in [f for f in FORMATS if f in formats or (f == "webdataset" and formats)]:
        if (root / name).exists():
            shutil.rmtree(root / name)
        if name == "webdataset":
            seconds = write_webdataset(climb_records(dataset), dataset, root / name, shard_bytes)
        else:
            args = [str(peer_python), "-m", "benchmarks.formats", name, str(root / "webdataset"), str(root / name), str(shard_bytes)]
            done = subprocess.run(args, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True)
            seconds = json.loads(done.stdout.strip().splitlines()[-1])["write_s"]
        report[name] = {"write_s": round(seconds, 2), "bytes": folder_bytes(root / name)}
    return report


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def upload(folder: Path, endpoint: Any, bucket: str, prefix: str) -> int:
    """Copy every file under folder to s3://bucket/prefix/ (boto3, 8 files at once); returns bytes."""
    from concurrent.futures import ThreadPoolExecutor

    client = endpoint.client()
    paths = sorted(p for p in folder.rglob("*") if p.is_file())

    def put(path: Path) -> int:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
        return path.stat().st_size

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(put, paths))


def main(argv: list[str]) -> None:
    """`python -m benchmarks.formats FORMAT WEBDATASET_DIR OUT SHARD_BYTES`, run in the peers' venv."""
    name, source, out, shard_bytes = argv
    seconds = PEER_WRITERS[name](tar_records(Path(source)), Path(out), int(shard_bytes))
    print(json.dumps({"write_s": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])

"""`climb demo`: the whole product in a few minutes, on real files shipped inside installed packages.

    1. write real-layout raw corpora: PTB-XL ECGs (the 12-lead ECG in pydicom's waveform_ecg.dcm),
       VinDr-CXR chest X-ray DICOMs, RSPECT CT series (pydicom's CT_small in HU) and EchoNet echo videos
       (pydicom-data's 120-frame ultrasound cine)
    2. start a local S3 server (SeaweedFS) and upload the raw corpora     (skipped with --local)
    3. convert each source (the conversion graph on its local executor), s3:// in and s3:// out
    4. verify every shard and Zarr array against its manifest
    5. train the reference multimodal model for a few steps, streaming from S3
    6. write a preview gallery and a verified local copy of the datasets, stop the server, and
       print how to open what was made (the copies, or the server restarted from its folder)

Nothing is downloaded. The pseudonymization key is the documented demo key.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from climb.transforms.phi import DEMO_KEY

RAW_BUCKET = "climb-raw"
DATA_BUCKET = "climb-data"
STOP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DemoSource:
    name: str
    what: str
    writer: Callable[[Path], Any]
    options: dict[str, Any]


def demo_sources() -> list[DemoSource]:
    from climb.corpora.ecg import write_ptbxl_corpus
    from climb.corpora.imaging2d import write_vindr_cxr_corpus
    from climb.corpora.imaging3d import write_rspect_corpus
    from climb.corpora.video import write_echonet_corpus

    return [
        DemoSource("ptbxl", "12-lead ECG, PTB-XL layout", write_ptbxl_corpus, {}),
        DemoSource("vindr-cxr", "chest X-ray DICOM, VinDr-CXR layout", lambda root: write_vindr_cxr_corpus(root, train=24, test=8), {"size": 224}),
        DemoSource("rspect", "CT series (DICOM), RSPECT layout", write_rspect_corpus, {}),
        DemoSource("echonet", "echo ultrasound video, EchoNet-Dynamic layout", write_echonet_corpus, {}),
    ]


def _step(n: int, text: str) -> None:
    print(f"\n[{n}/6] {text}", flush=True)


@contextlib.contextmanager
def _storage(out: Path, local: bool, keep_server: bool) -> Iterator[tuple[Any, str | None]]:
    """(endpoint or None, endpoint URL) for the demo's lifetime; the server stops on exit unless kept."""
    if local:
        yield None, None
        return
    from climb.s3.server import S3Server

    # a rerun starts from an empty store, as it rewrites the raw corpora: SeaweedFS will not hand the
    # last run's buckets to this run's fresh credentials (BucketAlreadyExists)
    shutil.rmtree(out / "s3", ignore_errors=True)
    server = S3Server(data_dir=out / "s3", die_with_parent=not keep_server)
    endpoint = server.start()
    try:
        os.environ.update(endpoint.env())
        yield endpoint, endpoint.url
    finally:
        if keep_server:
            pid = server.detach()
            print(f"\nS3 server left running (pid {pid}); stop it with: kill {pid}")
            for k, v in endpoint.env().items():
                print(f"  export {k}={v}")
        else:
            # its folder is what `climb s3 serve --dir` restarts from: let it flush, however long a
            # busy machine makes that (the 10 s default would kill it mid-shutdown)
            print(f"\nstopping the S3 server (its data stays in {out / 's3'})", flush=True)
            server.stop(timeout=STOP_TIMEOUT_S)


def _upload(endpoint, local_dir: Path, url: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**endpoint.storage_options())
    fs.put(str(local_dir), url.removeprefix("s3://"), recursive=True)


def run_demo(out: Path, local: bool = False, keep_server: bool = False, train_steps: int = 30) -> dict[str, Any]:
    """Run every step of the demo; returns what it produced (manifests, training losses, gallery)."""
    from climb.pipelines.convert import ConvertConfig, convert
    from climb.pipelines.verify import verify
    from climb.storage import join, storage_options

    started = time.monotonic()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sources = demo_sources()
    result: dict[str, Any] = {"out": str(out), "datasets": {}}

    _step(1, "writing real-layout raw corpora from files shipped in pydicom, pydicom-data and nibabel")
    for src in sources:
        raw = out / "raw" / src.name
        if raw.exists():
            shutil.rmtree(raw)
        src.writer(raw)
        print(f"  {src.name:<10} {src.what:<44} -> {raw}")

    with _storage(out, local, keep_server) as (endpoint, endpoint_url):
        if endpoint is None:
            _step(2, "local mode: no S3 server, everything stays on disk")
            raw_root, data_root = str(out / "raw"), str(out / "data")
        else:
            _step(2, f"local S3 server (SeaweedFS) at {endpoint_url}; uploading raw corpora")
            endpoint.create_bucket(RAW_BUCKET)
            endpoint.create_bucket(DATA_BUCKET)
            for src in sources:
                _upload(endpoint, out / "raw" / src.name, f"s3://{RAW_BUCKET}/{src.name}")
            raw_root, data_root = f"s3://{RAW_BUCKET}", f"s3://{DATA_BUCKET}"
            print(f"  uploaded to s3://{RAW_BUCKET}/")

        _step(3, f"converting: {raw_root}/SOURCE -> {data_root}/SOURCE")
        for src in sources:
            cfg = ConvertConfig(
                source=src.name, raw_url=join(raw_root, src.name), out_url=data_root, s3_endpoint=endpoint_url,
                options=src.options, overwrite=True, progress=True, shard_size=8_000_000,
            )
            manifest = convert(cfg, DEMO_KEY)
            c = manifest["counts"]
            print(f"  {src.name:<10} {c['written']:>4} written  {c['quarantined']:>3} quarantined  {c['excluded']:>3} excluded"
                  f"  of {c['discovered']} discovered; {len(manifest['shards'])} shards")
            result["datasets"][src.name] = {"url": cfg.dataset_url, "counts": c}

        _step(4, "verifying every shard and Zarr array against its manifest")
        for name, info in result["datasets"].items():
            problems = verify(info["url"], storage_options(info["url"], endpoint_url))
            if problems:
                raise RuntimeError(f"verify failed for {name}: " + "; ".join(map(str, problems)))
            print(f"  {name:<10} OK")

        _step(5, f"training the reference model for {train_steps} steps, streaming from {data_root}")
        result["train"] = _train(out, result, endpoint_url, train_steps)

        _step(6, "writing the preview gallery" + ("" if endpoint is None else f" and a local copy of the datasets in {out / 'data'}"))
        result["gallery"] = _preview(out, result, endpoint_url)
        if endpoint is not None:
            result["copies"] = _copy_datasets(out / "data", result, endpoint_url)

    elapsed = time.monotonic() - started
    _summary(out, result, local, keep_server, elapsed)
    return result


def _train(out: Path, result: dict[str, Any], endpoint_url: str | None, steps: int) -> dict[str, Any]:
    from climb.trainer.config import Config
    from climb.trainer.data import open_data
    from climb.trainer.train import train

    manifests = tuple(f"{info['url']}/manifest.json" for info in result["datasets"].values())
    cfg = Config(
        datasets=manifests, s3_endpoint=endpoint_url or "", steps=steps, batch_size=8, warmup_steps=5,
        eval_every=steps, eval_batches=4, log_every=5, out_dir=str(out / "train"), dim=32,
        encoder_preset="tiny",  # the demo shows the path in a few CPU steps; "base" is the reference, sized for GPUs
    )
    data = open_data(cfg, 0, 1)
    losses = train(cfg, data)
    print(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f}; checkpoint and metrics in {cfg.out_dir}")
    return {"steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1], "out_dir": cfg.out_dir}


def _preview(out: Path, result: dict[str, Any], endpoint_url: str | None) -> str:
    from climb.report.preview import write_gallery
    from climb.storage import storage_options

    gallery = out / "preview"
    for name, info in result["datasets"].items():
        write_gallery(info["url"], gallery / name, storage_options(info["url"], endpoint_url))
    print(f"  open {gallery}/<source>/index.html")
    return str(gallery)


def _copy_datasets(data: Path, result: dict[str, Any], endpoint_url: str) -> dict[str, str]:
    """Download each converted dataset to `data`/SOURCE and verify the copy against its manifest.

    The S3 server stops with the demo; the copies are what a newcomer opens afterwards, with no
    server and no credentials (`climb inspect`, `verify`, `preview`, `train` all take a folder).
    """
    from climb.pipelines.verify import verify
    from climb.storage import filesystem, storage_options

    copies = {}
    for name, info in result["datasets"].items():
        local = data / name
        if local.exists():
            shutil.rmtree(local)
        fs, path = filesystem(info["url"], storage_options(info["url"], endpoint_url))
        fs.get(path.rstrip("/") + "/", str(local) + "/", recursive=True)
        problems = verify(str(local))
        if problems:
            raise RuntimeError(f"the local copy of {name} does not match its manifest: " + "; ".join(map(str, problems)))
        copies[name] = str(local)
    print(f"  {len(copies)} datasets copied to {data} and verified")
    return copies


def _summary(out: Path, result: dict[str, Any], local: bool, keep_server: bool, elapsed: float) -> None:
    urls = [info["url"] for info in result["datasets"].values()]
    print(f"\nDone in {elapsed:.0f} s. Everything is under {out}:")
    print(f"  raw corpora     {out / 'raw'}")
    print("  datasets        " + ", ".join(urls))
    if not local:
        print(f"  local copies    {out / 'data'}/SOURCE")
    print(f"  training        {result['train']['out_dir']}")
    print(f"  preview         {result['gallery']}/SOURCE/index.html")
    first = out / "data" / "ptbxl"
    print("\nOpen what it made:")
    print(f"  climb inspect {first}")
    print(f"  climb verify {first}")
    if local:
        print(f"  climb reproduce {first} {out / 'raw' / 'ptbxl'} {out / 'rebuilt'}")
    elif keep_server:
        print(f"  climb inspect s3://{DATA_BUCKET}/ptbxl   # with the AWS_* variables above exported")
    else:
        print(f"  climb s3 serve --dir {out / 's3'}   # the S3 server again, with the demo's buckets; in another shell,")
        print(f"  climb inspect s3://{DATA_BUCKET}/ptbxl   # with the AWS_* variables it prints exported")
    print("\nTry next:")
    if not local:
        print(f"  climb demo --local --out {out}-local   # the same without S3, everything on disk")
    print("  climb datasets                       # every supported source and task")
    print("  climb convert --help")


def cli_demo(args: argparse.Namespace) -> int:
    run_demo(Path(args.out), local=args.local, keep_server=args.keep_server)
    return 0

"""An S3 outage mid-conversion never changes the dataset: the run either rides it out and writes
exactly the clean conversion, or fails with one clear line and no manifest. Never a manifest with
extra quarantines (issue 18, item 4).

Raw and output both live on the local S3 server behind the fault proxy; the outage window is
placed in the middle of the run by request count (a clean run through the proxy counts them), so
there are no sleeps and the placement does not depend on the machine's speed. `climb convert`
runs as its own process, as a user runs it: its forked decode workers must not inherit the proxy's
sockets (a reset the proxy sends by closing a socket would never reach the client while a forked
copy of that socket stays open).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import s3fs

from climb.s3.faultproxy import FaultProxy, Faults
from climb.transforms.phi import DEMO_KEY, KEY_ENV


@pytest.fixture
def proxied(dicom_corpus, s3_bucket, monkeypatch):
    """(proxy, fs straight to the server, raw URL): six DICOMs uploaded, the proxy faultless."""
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's attempts per call; s3fs retries on top
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    for site in ("site0", "site1"):
        fs.put(str(dicom_corpus / site), f"{s3_bucket.name}/raw/{site}", recursive=True)
    with FaultProxy(s3_bucket.endpoint) as proxy:
        yield proxy, fs, f"{s3_bucket.url}/raw"


def convert(proxy, raw: str, out: str) -> tuple[int, list[str]]:
    """`climb convert` in a subprocess through the proxy: (exit code, stderr lines)."""
    argv = ["convert", "dicom", raw, out, "--s3-endpoint", proxy.url, "--no-progress", "--workers", "2", "--batch-size", "2"]
    proc = subprocess.run([sys.executable, "-m", "climb", *argv], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    return proc.returncode, proc.stderr.strip().splitlines()


def dataset_files(fs, url: str) -> dict[str, bytes]:
    """Every file of a converted dataset (path below it -> bytes), read straight from the server."""
    fs.invalidate_cache()
    root = url.removeprefix("s3://")
    return {p[len(root):]: fs.cat_file(p) for p in fs.find(root) if not p.endswith("/")}


def failed_cleanly(fs, dataset: str, code: int, err: list[str]) -> bool:
    """A failed run: nonzero exit, one line naming the store's failure, no manifest."""
    fs.invalidate_cache()
    assert code != 0 and len(err) == 1, err
    assert err[0].startswith(("climb convert: storage failed, the run stopped and wrote no manifest",
                              "climb convert: cannot reach the S3 endpoint")), err
    assert "quarantine" not in err[0] and "Traceback" not in err[0]
    return not fs.exists(f"{dataset.removeprefix('s3://')}/manifest.json")


def test_an_outage_mid_run_gives_the_clean_result_or_a_failed_run_never_extra_quarantines(proxied, s3_bucket):
    proxy, fs, raw = proxied
    code, err = convert(proxy, raw, f"{s3_bucket.url}/clean")
    assert code == 0, err
    clean, requests = dataset_files(fs, f"{s3_bucket.url}/clean/dicom"), proxy.counts["requests"]
    for mode in ("reset", "503"):
        # a short outage in the middle of the run: retries may ride it out
        proxy.reset_counts()
        proxy.faults = Faults(outage_start=requests // 2, outage_requests=4, outage_mode=mode)
        code, err = convert(proxy, raw, f"{s3_bucket.url}/short-{mode}")
        assert proxy.counts["outage"] == 4, "the outage happened mid-run"
        if code == 0:
            assert dataset_files(fs, f"{s3_bucket.url}/short-{mode}/dicom") == clean, mode
        else:
            assert failed_cleanly(fs, f"{s3_bucket.url}/short-{mode}/dicom", code, err), mode

        # an outage from the middle of the run on: it outlasts every retry and must fail the run
        proxy.reset_counts()
        proxy.faults = Faults(outage_start=requests // 2, outage_mode=mode)
        code, err = convert(proxy, raw, f"{s3_bucket.url}/long-{mode}")
        proxy.faults = Faults()
        assert failed_cleanly(fs, f"{s3_bucket.url}/long-{mode}/dicom", code, err), mode

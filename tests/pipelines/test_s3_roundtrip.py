"""Conversion with s3:// in and out against the real local S3 server (SeaweedFS)."""

from __future__ import annotations

import json
import subprocess
import sys

import s3fs

from climb.cli import main
from climb.pipelines.convert import ConvertConfig, convert
from climb.pipelines.verify import verify
from climb.transforms.phi import DEMO_KEY, KEY_ENV
from tests.helpers import convert_demo


def test_s3_in_s3_out_equals_local_conversion(dicom_corpus, nifti_corpus, tmp_path, s3_bucket):
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dicom_corpus), f"{s3_bucket.name}/raw/dicom", recursive=True)
    endpoint = s3_bucket.endpoint.url
    manifest = convert(ConvertConfig(source="dicom", raw_url=f"{s3_bucket.url}/raw/dicom", out_url=f"{s3_bucket.url}/out",
                                     s3_endpoint=endpoint), DEMO_KEY)
    local = convert_demo("dicom", dicom_corpus, tmp_path)
    assert manifest == local
    remote = json.loads(fs.cat_file(f"{s3_bucket.name}/out/dicom/manifest.json"))
    assert remote["shards"] == local["shards"]
    for shard in local["shards"]:
        assert fs.cat_file(f"{s3_bucket.name}/out/dicom/{shard['path']}") == (tmp_path / "dicom" / shard["path"]).read_bytes()
    fs.invalidate_cache()
    # SeaweedFS may keep an empty folder entry for the prefix; no staged object may remain.
    assert [p for p in fs.find(f"{s3_bucket.name}/out/dicom/_staging") if p.endswith((".bin", ".done"))] == []
    assert verify(f"{s3_bucket.url}/out/dicom", {"client_kwargs": {"endpoint_url": endpoint}}) == []


def test_volumes_go_to_zarr_on_s3(nifti_corpus, s3_bucket):
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(nifti_corpus), f"{s3_bucket.name}/raw/nifti", recursive=True)
    manifest = convert(ConvertConfig(source="nifti", raw_url=f"{s3_bucket.url}/raw/nifti", out_url=f"{s3_bucket.url}/out"), DEMO_KEY)
    assert len(manifest["volumes"]) == 2
    for volume in manifest["volumes"]:
        assert fs.exists(f"{s3_bucket.name}/out/nifti/{volume['path']}/zarr.json")


def test_cli_convert_and_verify_against_s3(dicom_corpus, s3_bucket, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dicom_corpus), f"{s3_bucket.name}/raw", recursive=True)
    url = s3_bucket.endpoint.url
    assert main(["convert", "dicom", f"{s3_bucket.url}/raw", f"{s3_bucket.url}/out", "--s3-endpoint", url, "--no-progress"]) == 0
    assert main(["verify", f"{s3_bucket.url}/out/dicom", "--s3-endpoint", url]) == 0
    assert "9 written" in capsys.readouterr().out


TWO_CONVERSIONS = """
import sys
from climb.pipelines.convert import ConvertConfig, convert
from climb.transforms.phi import DEMO_KEY
bucket, endpoint = sys.argv[1:]
for source in ("dicom", "nifti", "dicom"):
    convert(ConvertConfig(source=source, raw_url=f"{bucket}/raw/{source}", out_url=f"{bucket}/out", s3_endpoint=endpoint,
                          workers=2, batch_size=1, overwrite=True, progress=False), DEMO_KEY)
"""


def test_s3_conversions_one_after_another_with_decode_workers_print_nothing(dicom_corpus, nifti_corpus, s3_bucket):
    # decode workers are forked from a process holding the previous conversion's S3 sessions;
    # finalized in a worker, those sessions used to log "Task exception was never retrieved"
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dicom_corpus), f"{s3_bucket.name}/raw/dicom", recursive=True)
    fs.put(str(nifti_corpus), f"{s3_bucket.name}/raw/nifti", recursive=True)
    proc = subprocess.run([sys.executable, "-c", TWO_CONVERSIONS, s3_bucket.url, s3_bucket.endpoint.url],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "" and proc.stderr == ""


def test_finalize_reads_staged_files_that_a_cached_listing_does_not_show(s3_bucket):
    from climb.pipelines.finalize import _quarantine_entries

    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    root = f"{s3_bucket.name}/out/dicom"
    fs.pipe_file(f"{root}/_staging/batch-000000-a-1.done", b"")
    fs.ls(f"{root}/_staging")  # the progress bar's listing, cached by this filesystem object
    worker = s3fs.S3FileSystem(skip_instance_cache=True, **s3_bucket.storage_options)
    worker.pipe_file(f"{root}/_staging/quarantine-000000-a.jsonl", b'{"kind": "quarantined"}\n')
    assert _quarantine_entries(fs, root, ["_staging/quarantine-000000-a.jsonl"]) == [{"kind": "quarantined"}]

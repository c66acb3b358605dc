"""Credentials: never accepted inside URLs, never written to outputs or logs, objects never public."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fsspec
import pytest
import s3fs
from pydicom.data import get_testdata_file

from climb.cli import main
from climb.report.phi_scan import scan_dataset
from climb.storage import StorageError, check_url
from climb.transforms.phi import pseudonymize

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LEAKY = f"s3://{KEY_ID}:{SECRET.replace('/', '%2F')}@bucket/prefix"
ACL_PARAMETERS = ("ACL", "GrantRead", "GrantReadACP", "GrantWriteACP", "GrantFullControl")


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(raw, dataset, key file) of a small local conversion, for the commands that need one."""
    base = tmp_path_factory.mktemp("creds")
    raw = base / "raw"
    raw.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), raw / "ct.dcm")
    key = base / "key"
    key.write_text("credentials-suite-key-0123456789")
    assert main(["convert", "dicom", str(raw), str(base / "out"), "--hmac-key-file", str(key), "--no-progress"]) == 0
    return raw, base / "out" / "dicom", key


COMMANDS = {
    "convert RAW_URL": lambda raw, ds, key: ["convert", "dicom", LEAKY, str(ds.parent.parent / "x"), "--hmac-key-file", str(key)],
    "convert OUT_URL": lambda raw, ds, key: ["convert", "dicom", str(raw), LEAKY, "--hmac-key-file", str(key)],
    "convert --s3-endpoint": lambda raw, ds, key: ["convert", "dicom", str(raw), "s3://bucket/out", "--hmac-key-file", str(key),
                                                   "--s3-endpoint", f"http://{KEY_ID}:{SECRET.replace('/', '%2F')}@127.0.0.1:9"],
    "verify": lambda raw, ds, key: ["verify", LEAKY],
    "inspect": lambda raw, ds, key: ["inspect", LEAKY],
    "reproduce OUT_URL/SOURCE": lambda raw, ds, key: ["reproduce", LEAKY, str(raw), "/tmp/x", "--hmac-key-file", str(key)],
    "reproduce RAW_URL": lambda raw, ds, key: ["reproduce", str(ds), LEAKY, str(ds.parent.parent / "y"), "--hmac-key-file", str(key)],
    "reproduce NEW_URL": lambda raw, ds, key: ["reproduce", str(ds), str(raw), LEAKY, "--hmac-key-file", str(key)],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_entry_point_refuses_a_url_with_embedded_keys_without_echoing_them(command, local_dataset, capfd):
    code = main(COMMANDS[command](*local_dataset))
    out, err = capfd.readouterr()
    assert code == 2
    assert "embedded credentials" in err and len(err.strip().splitlines()) == 1
    assert KEY_ID not in out + err and "wJalrXUtnFEMI" not in out + err


def test_the_loaders_refuse_a_url_with_embedded_keys():
    from climb.loaders import ClimbDataset

    with pytest.raises(StorageError, match="embedded credentials") as info:
        ClimbDataset(LEAKY)
    assert KEY_ID not in str(info.value) and "wJalrXUtnFEMI" not in str(info.value)


def test_check_url_accepts_plain_urls():
    assert [check_url(u) for u in ("s3://bucket/a", "/data/raw", "file:///data", "gs://b/x")] == ["s3://bucket/a", "/data/raw", "file:///data", "gs://b/x"]


@pytest.fixture
def s3_calls(monkeypatch) -> list[tuple[str, dict]]:
    """Every S3 API call s3fs makes in this process: (operation, parameters without the body)."""
    calls: list[tuple[str, dict]] = []
    original = s3fs.S3FileSystem._get_s3_method_kwargs

    def record(self, method, *akwarglist, **kwargs):
        params = original(self, method, *akwarglist, **kwargs)
        calls.append((method.__name__, {k: v for k, v in params.items() if k != "Body"}))
        return params

    monkeypatch.setattr(s3fs.S3FileSystem, "_get_s3_method_kwargs", record)
    return calls


def test_a_conversion_on_s3_writes_private_objects_and_no_credential_anywhere(s3_bucket, s3_calls, tmp_path, capfd, local_dataset):
    raw_local, _, key = local_dataset
    endpoint = s3_bucket.endpoint
    fs = fsspec.filesystem("s3", **s3_bucket.storage_options)
    fs.put(str(raw_local / "ct.dcm"), f"{s3_bucket.name}/raw/ct.dcm")
    fs.pipe(f"{s3_bucket.name}/raw/broken.dcm", b"not dicom at all")
    code = main(["convert", "dicom", f"{s3_bucket.url}/raw", f"{s3_bucket.url}/out", "--hmac-key-file", str(key),
                 "--workers", "1", "--no-progress"])
    code_verify = main(["verify", f"{s3_bucket.url}/out/dicom"])
    out, err = capfd.readouterr()
    assert code == 0 and code_verify == 0
    puts = [params for name, params in s3_calls if name in ("put_object", "create_multipart_upload", "copy_object")]
    assert len(puts) >= 4, "shards, index, quarantine, croissant and manifest are uploaded"
    assert not [(name, p) for name, p in s3_calls if set(p) & set(ACL_PARAMETERS)], "climb must not set any ACL"
    fs.get(f"{s3_bucket.name}/out/dicom", str(tmp_path / "copy"), recursive=True)
    (line,) = (tmp_path / "copy" / "quarantine.jsonl").read_text().splitlines()
    # quarantine.jsonl names the broken file by its pseudonymous key, never by name
    assert json.loads(line)["key"] == pseudonymize("broken.dcm", key.read_bytes().strip(), "sample:dicom")
    leaks = scan_dataset(tmp_path / "copy", [endpoint.access_key, endpoint.secret_key], logs={"stdout": out, "stderr": err})
    assert leaks == [], leaks


def test_wrong_credentials_fail_clearly_without_echoing_the_secret(s3_bucket, monkeypatch, local_dataset, capfd):
    raw_local, _, key = local_dataset
    wrong = "Wr0ngSecretThatMustNeverBePrinted0000000"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would still hold the right secret
    code = main(["convert", "dicom", str(raw_local), f"{s3_bucket.url}/out", "--hmac-key-file", str(key), "--no-progress"])
    out, err = capfd.readouterr()
    s3fs.S3FileSystem.clear_instance_cache()
    assert code == 2 and "climb convert:" in err and len(err.strip().splitlines()) == 1
    assert wrong not in out + err and "Wr0ngSecret" not in out + err

"""Which failures are a sample's own (quarantined) and which are the store's (the run fails).

A missing raw file, a decoder rejecting bytes, a limit: the sample's problem, quarantined. A reset,
a timeout, a 5xx that outlasted the retries, refused credentials, a disk I/O error: the store's
problem, raised as StorageFailure so the runner retries the bundle or the run fails without a
manifest. Messages of either kind never carry the raw path.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from climb.pipelines.sources import SourceError
from climb.pipelines.writers.zarr_store import write_array
from climb.s3.faultproxy import FaultProxy, Faults
from climb.storage import StorageFailure, describe_failure, is_storage_failure, read_bytes, storage_errors

RAW = "/raw/SURNAME^GIVEN_MRN12345/MRN12345_chest.dcm"


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} for {RAW}"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def wrapped(inner: BaseException) -> SourceError:
    """A source that wraps whatever its reader raised in its own SourceError."""
    try:
        raise inner
    except BaseException as exc:  # noqa: BLE001
        try:
            raise SourceError(f"not a readable DICOM file: {exc}") from exc
        except SourceError as outer:
            return outer


STORAGE = [
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    TimeoutError("timed out"),
    PermissionError(errno.EACCES, "Permission denied", RAW),
    OSError(errno.EIO, "Input/output error", RAW),
    OSError(errno.ENOSPC, "No space left on device"),
    client_error("SlowDown", 503),
    client_error("InternalError", 500),
    client_error("AccessDenied", 403),
    client_error("InvalidAccessKeyId", 403),
    EndpointConnectionError(endpoint_url=f"http://127.0.0.1:1{RAW}"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    wrapped(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
]
CONTENT = [
    FileNotFoundError(errno.ENOENT, "No such file or directory", RAW),
    IsADirectoryError(errno.EISDIR, "Is a directory", RAW),
    client_error("NoSuchKey", 404),
    OSError("image file is truncated (3 bytes not processed)"),  # Pillow: an OSError without errno
    ValueError("The number of bytes of pixel data is less than expected"),
    SourceError("DICOM file has no pixel data"),
    wrapped(ValueError("truncated")),
]


@pytest.mark.parametrize("exc", STORAGE, ids=lambda e: type(e).__name__)
def test_store_failures_are_storage(exc):
    assert is_storage_failure(exc)


@pytest.mark.parametrize("exc", CONTENT, ids=lambda e: type(e).__name__)
def test_the_samples_own_failures_are_content(exc):
    assert not is_storage_failure(exc)


def test_a_missing_output_file_is_the_stores_problem_not_the_samples():
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/out/volumes.zarr/x")
    assert not is_storage_failure(missing) and is_storage_failure(missing, missing_is_content=False)


def test_the_failure_is_described_by_type_and_code_without_paths_or_urls():
    assert describe_failure(client_error("SlowDown", 503)) == "ClientError SlowDown (HTTP 503)"
    described = describe_failure(wrapped(OSError(errno.EIO, "Input/output error", RAW)))
    assert described == "SourceError <- OSError [EIO]"
    with pytest.raises(StorageFailure) as caught:
        with storage_errors("reading a raw file"):
            raise EndpointConnectionError(endpoint_url=f"http://127.0.0.1:1{RAW}")
    message = str(caught.value)
    assert message == "reading a raw file failed: EndpointConnectionError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__, "the original quotes the path"


def test_content_errors_pass_through_the_storage_boundary_unchanged():
    with pytest.raises(ValueError, match="pixel data"):
        with storage_errors("reading a raw file"):
            raise ValueError("pixel data")


def test_a_missing_raw_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bytes(str(tmp_path / "MRN12345_chest.dcm"))


@pytest.fixture
def one_attempt(monkeypatch):
    """botocore makes one attempt per call (s3fs still retries its own way): outages fail fast."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def test_a_raw_read_through_an_outage_is_a_storage_failure(s3_bucket, one_attempt):
    s3_bucket.endpoint.client().put_object(Bucket=s3_bucket.name, Key="SURNAME^GIVEN_MRN12345/MRN12345_chest.dcm", Body=b"x" * 100)
    with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0)) as proxy:
        options = proxy.endpoint.storage_options()
        with pytest.raises(StorageFailure) as caught:
            read_bytes(f"{s3_bucket.url}/SURNAME^GIVEN_MRN12345/MRN12345_chest.dcm", options)
    assert "MRN12345" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_a_zarr_write_through_an_outage_is_a_storage_failure_not_a_quarantine(s3_bucket, one_attempt):
    with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0, outage_mode="503")) as proxy:
        options = proxy.endpoint.storage_options()
        with pytest.raises(StorageFailure, match="writing a Zarr array failed") as caught:
            write_array(f"{s3_bucket.url}/out/volumes.zarr", "MRN12345", np.zeros((4, 4, 4), np.int16), {}, options)
    assert "MRN12345" not in str(caught.value)

"""Fixtures shared by every test area: a real S3 server and fresh buckets on it.

Area-specific fixtures live in tests/<area>/conftest.py. Tests that use `s3_server` or `s3_bucket`
get the `s3` marker automatically, so `pytest -m "not s3"` leaves them out.

Backend: real SeaweedFS by default (one server per test session, about a second to start). Set
CLIMB_S3_BACKEND=moto to use moto's emulator instead, an explicit fallback for platforms where the
`weed` binary cannot run; without that setting such a platform skips the S3 tests with the reason.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from climb.s3.endpoint import S3Endpoint


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the S3 fixtures carries the `s3` marker, declared or not."""
    for item in items:
        if {"s3_server", "s3_bucket"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """The session's S3 endpoint: url, access_key, secret_key, env(), storage_options(), client()."""
    backend = os.environ.get("CLIMB_S3_BACKEND", "seaweedfs")
    if backend == "moto":
        from climb.s3.moto_backend import MotoS3Server

        server: Any = MotoS3Server()
    elif backend == "seaweedfs":
        from climb.s3.endpoint import demo_credentials
        from climb.s3.server import S3Server, S3ServerUnavailable

        key, secret = demo_credentials()  # never the developer's own AWS keys
        server = S3Server(access_key=key, secret_key=secret)
    else:
        raise pytest.UsageError(f"CLIMB_S3_BACKEND={backend!r}: use seaweedfs (default) or moto")
    try:
        endpoint = server.start()
    except Exception as exc:
        if backend == "seaweedfs" and isinstance(exc, S3ServerUnavailable):
            pytest.skip(f"SeaweedFS cannot run here ({exc}); set CLIMB_S3_BACKEND=moto to use the fallback")
        raise
    try:
        yield endpoint
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Bucket:
    """A fresh, empty bucket for one test.

    Attributes:
        name: the bucket name.
        url: "s3://<name>".
        endpoint: the server's S3Endpoint.
        storage_options: fsspec/s3fs options ({"key", "secret", "client_kwargs": {"endpoint_url"}}).
    """

    name: str
    url: str
    endpoint: S3Endpoint
    storage_options: dict[str, Any]


_bucket_numbers = itertools.count()


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A new bucket, deleted afterwards; the test's environment points AWS clients at the server.

    The AWS_* variables are set for this test only (and inherited by subprocesses it starts), so
    `climb.storage.storage_options(url)`, plain s3fs/boto3 and `climb ... --s3-endpoint`-less
    commands all reach the local server with its credentials.
    """
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    name = f"test-{next(_bucket_numbers)}-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(name)
    try:
        yield S3Bucket(name, f"s3://{name}", s3_server, s3_server.storage_options())
    finally:
        s3_server.delete_bucket(name)

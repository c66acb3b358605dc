"""Objects through s3fs on the local server: large uploads, listings, range reads, env credentials."""

from __future__ import annotations

import numpy as np
import pytest
import s3fs

from climb.storage import filesystem, storage_options

SIZE = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def payload() -> bytes:
    return np.random.default_rng(0).bytes(SIZE)


def test_50mb_object_uploads_lists_and_range_reads_through_s3fs(s3_bucket, payload):
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    path = f"{s3_bucket.name}/big/blob.bin"

    fs.pipe_file(path, payload)

    assert fs.ls(f"{s3_bucket.name}/big", detail=False) == [path]
    assert fs.size(path) == SIZE
    for start, end in [(0, 1), (SIZE // 3, SIZE // 3 + 4_000_000), (SIZE - 1000, SIZE)]:
        assert fs.cat_file(path, start=start, end=end) == payload[start:end]
    with fs.open(path, "rb", block_size=1 << 20) as f:
        f.seek(SIZE // 2)
        assert f.read(123_456) == payload[SIZE // 2:SIZE // 2 + 123_456]


def test_bucket_fixture_env_lets_climb_storage_reach_the_server(s3_bucket):
    url = f"{s3_bucket.url}/raw/hello.txt"
    fs, path = filesystem(url, storage_options(url))

    fs.pipe_file(path, b"hello")

    assert s3_bucket.endpoint.client().get_object(Bucket=s3_bucket.name, Key="raw/hello.txt")["Body"].read() == b"hello"


def test_each_test_gets_an_empty_bucket(s3_bucket):
    assert s3_bucket.endpoint.client().list_objects_v2(Bucket=s3_bucket.name).get("KeyCount") == 0

"""Raw files in an object store are fetched ahead of their samples, once each (climb.prefetch).

Without it, every raw file cost six requests in a row (limit check, fingerprint, source read), so a
conversion from a cloud store waited on latency ~40x longer than it computed.
"""

from __future__ import annotations

import hashlib

import pytest
import s3fs

from climb.pipelines.limits import LimitExceeded, check_raw_files
from climb.pipelines.process import file_digest
from climb.prefetch import RawPrefetch
from climb.s3.faultproxy import FaultProxy
from climb.storage import held, local_copy, read_bytes
from tests.helpers import convert_demo, tree_bytes


@pytest.fixture
def raw_on_s3(dicom_corpus, s3_bucket):
    """(bucket, raw URL, number of raw files): the DICOM corpus uploaded."""
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dicom_corpus), f"{s3_bucket.name}/raw", recursive=True)
    files = sum(1 for p in dicom_corpus.rglob("*") if p.is_file())
    return s3_bucket, f"{s3_bucket.url}/raw", files


def test_a_conversion_from_s3_asks_for_each_raw_file_once_and_writes_the_local_bytes(raw_on_s3, dicom_corpus, tmp_path):
    bucket, raw, files = raw_on_s3
    with FaultProxy(bucket.endpoint) as proxy:
        convert_demo("dicom", raw, tmp_path / "from-s3", s3_endpoint=proxy.url, workers=2, batch_size=2)
        methods = proxy.methods
    # one GET per raw file (its Content-Range gives the size); discovery adds a listing and a look at the root
    assert methods["GET"] >= files, methods
    assert sum(methods.values()) - files <= 3, methods
    convert_demo("dicom", dicom_corpus, tmp_path / "local")
    assert tree_bytes(tmp_path / "from-s3") == tree_bytes(tmp_path / "local")


def one_file(raw_on_s3, name: str = "site0/CT_small.dcm"):
    """(bucket, URL, bytes) of one uploaded raw file."""
    bucket, raw, _ = raw_on_s3
    url = f"{raw}/{name}"
    return bucket, url, s3fs.S3FileSystem(**bucket.storage_options).cat_file(url)


def test_held_files_serve_the_limit_check_the_fingerprint_and_the_reads_without_requests(raw_on_s3):
    bucket, url, expected = one_file(raw_on_s3)
    with FaultProxy(bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        with RawPrefetch([[url]], options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
            fetched = dict(proxy.methods)
            check_raw_files([url], {"storage_options": options})
            digest = file_digest(url, options)
            data = read_bytes(url, options)
            with local_copy(url, options, suffix=".dcm") as path, open(path, "rb") as f:
                copied = f.read()
            assert proxy.methods == fetched == {"GET": 1}
        assert held(url) is None, "a sample's files are let go after it"
    assert data == copied == expected
    assert digest == hashlib.sha256(expected).digest()


def test_s3_raw_files_are_fetched_on_presigned_gets_with_their_size_and_etag(raw_on_s3, monkeypatch):
    bucket, url, expected = one_file(raw_on_s3)
    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", lambda *a, **k: pytest.fail("fetched through s3fs"))
    with RawPrefetch([[url]], bucket.storage_options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
        entry = held(url)
    assert entry.data == expected and entry.complete
    assert entry.info["size"] == len(expected) and entry.info["ETag"].strip('"')


def test_a_file_above_the_limit_is_refused_by_its_size_after_at_most_the_limit_was_read(raw_on_s3):
    bucket, url, _ = one_file(raw_on_s3)
    with FaultProxy(bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        with RawPrefetch([[url]], options, max_file_bytes=1000) as ahead, ahead.sample(0):
            assert len(held(url).data) == 1000 and held(url).info["size"] > 1000
            with pytest.raises(LimitExceeded, match="max_file_bytes=1,000"):
                check_raw_files([url], {"storage_options": options, "max_file_bytes": 1000})
        assert proxy.methods == {"GET": 1}


def test_a_file_bigger_than_the_held_head_gets_the_rest_in_one_more_read(raw_on_s3, monkeypatch):
    bucket, url, expected = one_file(raw_on_s3)
    monkeypatch.setattr(RawPrefetch, "MAX_HELD_BYTES", 100)
    with FaultProxy(bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        with RawPrefetch([[url]], options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
            assert held(url).data == expected[:100]
            assert read_bytes(url, options) == expected
            assert file_digest(url, options) == hashlib.sha256(expected).digest()
        assert proxy.methods == {"GET": 2}


def test_a_file_bigger_than_the_held_head_streams_to_disk_and_to_the_digest_never_whole_in_memory(raw_on_s3, monkeypatch):
    bucket, url, expected = one_file(raw_on_s3, "site1/MR_small.dcm")
    monkeypatch.setattr(RawPrefetch, "MAX_HELD_BYTES", 100)
    options = bucket.storage_options
    with RawPrefetch([[url]], options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
        with local_copy(url, options, suffix=".dcm") as path, open(path, "rb") as f:
            assert f.read() == expected
        assert file_digest(url, options) == hashlib.sha256(expected).digest()
        assert len(held(url).data) == 100, "the held head was not completed in memory"


def test_other_remote_stores_are_prefetched_with_their_info_and_one_read():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/prefetch/scan.dcm", b"DICM" * 100)
    url = "memory:///prefetch/scan.dcm"
    with RawPrefetch([[url]], None, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
        assert held(url).data == b"DICM" * 100 and held(url).info["size"] == 400
    fs.rm("/prefetch", recursive=True)


def test_a_missing_file_is_left_to_the_samples_own_read(raw_on_s3):
    bucket, raw, _ = raw_on_s3
    url = f"{raw}/site0/not-there.dcm"
    with RawPrefetch([[url]], bucket.storage_options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
        assert held(url) is None
        with pytest.raises(FileNotFoundError):
            read_bytes(url, bucket.storage_options)


def test_local_files_are_not_prefetched(dicom_corpus):
    url = str(next(dicom_corpus.rglob("*.dcm")))
    with RawPrefetch([[url]], None, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
        assert ahead.pool is None and held(url) is None


def test_the_look_ahead_covers_the_next_sample_and_at_most_AHEAD_files(raw_on_s3):
    bucket, raw, _ = raw_on_s3
    one = [[f"{raw}/site0/CT_small.dcm"]]
    series = [[f"{raw}/site0/CT_small.dcm"] * (RawPrefetch.AHEAD + 1)] * 3  # samples of many files: one ahead
    singles = [[f"{raw}/site{s}/{n}"] for s in (0, 1) for n in ("CT_small.dcm", "MR_small.dcm")] * 4
    for lists, wanted in ((one, 1), (series, 2), (singles, 1 + RawPrefetch.AHEAD)):
        with RawPrefetch(lists, bucket.storage_options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
            assert ahead.submitted == wanted, lists

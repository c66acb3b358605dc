"""loaders/io.py and shards.py: retries, verified cache (corruption, bounds, concurrency), range reads."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import fsspec
import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem

from climb.loaders import ClimbDataset, io
from climb.loaders.io import (
    DatasetFiles,
    IntegrityError,
    RetryPolicy,
    ShardCache,
    default_storage_options,
    is_transient,
    s3_session,
)
from climb.presigned import StatusError
from climb.loaders.shards import SampleReader

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
FAST = RetryPolicy(attempts=6, base=0.001, cap=0.01)


def read_all(ds) -> list[tuple[str, bytes]]:
    """(key, signal bytes or b"") of every sample, in order: enough to tell two reads apart."""
    return [(s["__key__"], s["signal"].numpy().tobytes() if "signal" in s else b"") for s in ds]


def flaky(fn, failures):
    calls = itertools.count()

    def call():
        n = next(calls)
        if n < len(failures):
            raise failures[n]
        return fn()

    return call


def test_throttling_resets_and_timeouts_are_retried_until_they_pass():
    failures = [OSError(errno.EBUSY, "503 SlowDown"), ConnectionResetError(), TimeoutError("read timed out")]
    assert FAST.call(flaky(lambda: "ok", failures), "test") == "ok"


def test_missing_files_are_not_retried_and_exhaustion_raises():
    with pytest.raises(FileNotFoundError):
        FAST.call(flaky(lambda: "ok", [FileNotFoundError("gone"), *[OSError()] * 3]), "test")
    with pytest.raises(ConnectionResetError):
        FAST.call(flaky(lambda: "ok", [ConnectionResetError()] * 6), "test")


def client_error(code: str, status: int) -> OSError:
    """What s3fs raises for an S3 error response: an OSError caused by botocore's ClientError."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    return translate_boto_error(ClientError({"Error": {"Code": code, "Message": code},
                                             "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"))


@pytest.mark.parametrize("code, status", [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503),
                                          ("BadGateway", 502), ("TooManyRequests", 429)])
def test_throttling_and_server_errors_are_transient(code, status):
    assert is_transient(client_error(code, status))
    assert is_transient(StatusError(status, code, "GET bucket/shard.tar"))  # the same answer to a presigned GET


def test_other_answers_to_a_presigned_get_are_not_retried():
    for status, code in ((403, "AccessDenied"), (403, "SignatureDoesNotMatch"), (404, "NoSuchKey"), (301, "PermanentRedirect"),
                         (400, "AuthorizationQueryParametersError"), (0, "ProxyConfigured")):
        assert not is_transient(StatusError(status, code, "GET bucket/shard.tar")), (status, code)


def test_connection_errors_timeouts_and_cut_bodies_are_transient():
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, ResponseStreamingError

    for exc in (EndpointConnectionError(endpoint_url="http://s3"), ConnectionClosedError(endpoint_url="http://s3"),
                ReadTimeoutError(endpoint_url="http://s3"), ResponseStreamingError(error="reset"), ConnectionResetError(),
                TimeoutError(), OSError(errno.ECONNRESET, "reset")):
        assert is_transient(exc), exc


def test_credentials_permissions_missing_objects_and_full_disks_are_not_retried():
    from botocore.exceptions import NoCredentialsError

    for exc in (client_error("AccessDenied", 403), client_error("InvalidAccessKeyId", 403), client_error("NoSuchKey", 404),
                client_error("InvalidRange", 416), NoCredentialsError(), OSError(errno.ENOSPC, "No space left on device"),
                PermissionError("denied"), ValueError("bad request"), IntegrityError("differs")):
        assert not is_transient(exc), exc


def test_the_default_policy_waits_a_bounded_documented_total():
    assert RetryPolicy().max_wait == pytest.approx(12.7)


def test_client_retries_are_switched_off_so_attempts_do_not_multiply():
    opts = default_storage_options("s3://bucket/a", {"key": "k", "secret": "s"})
    assert opts["config_kwargs"]["retries"] == {"total_max_attempts": 1}
    files = DatasetFiles("s3://bucket/a", {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}},
                         RetryPolicy(), cache=None)
    assert files.fs.retries == 1


def test_a_plain_http_endpoint_skips_the_ca_bundle_and_an_https_one_keeps_verification(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    local = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:8333"}}
    assert default_storage_options("s3://bucket/a", local)["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:8333", "verify": False}
    assert "verify" not in default_storage_options("s3://bucket/a", {"endpoint_url": "https://s3.example.org"}).get("client_kwargs", {})
    assert "client_kwargs" not in default_storage_options("s3://bucket/a", None)  # AWS itself: https
    kept = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:8333", "verify": "/etc/ca.pem"}}
    assert default_storage_options("s3://bucket/a", kept)["client_kwargs"]["verify"] == "/etc/ca.pem"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    assert default_storage_options("s3://bucket/a", None)["client_kwargs"] == {"verify": False}


@pytest.fixture
def cached(dataset, tmp_path):
    return lambda **kw: ClimbDataset(str(dataset), split="val", cache_dir=str(tmp_path / "cache"), **kw)


def test_cache_copies_match_the_manifest_and_read_the_same_samples(cached, dataset, tmp_path):
    assert read_all(cached()) == read_all(ClimbDataset(str(dataset), split="val"))
    for path in (tmp_path / "cache").glob("*.tar"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
    assert not list((tmp_path / "cache").glob("*.tmp-*"))


def test_a_corrupted_byte_in_a_cached_shard_is_detected_and_refetched(cached, tmp_path):
    expected = read_all(cached())
    victim = sorted((tmp_path / "cache").glob("*.tar"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0x01
    victim.write_bytes(bytes(data))
    again = cached()
    assert read_all(again) == expected
    assert again.cache.refetched == 1
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim.stem


def test_a_new_process_trusts_a_cached_shard_another_one_verified_unless_it_changed_since(cached, tmp_path, monkeypatch):
    expected = read_all(cached())  # downloads, hashes and records every val shard
    hashed: list[int] = []
    real = ShardCache._hash
    monkeypatch.setattr(ShardCache, "_hash", staticmethod(lambda fd: hashed.append(fd) or real(fd)))
    assert read_all(cached()) == expected  # a new ShardCache, as in a new worker process
    assert hashed == []
    victim = sorted((tmp_path / "cache").glob("*.tar"))[0]
    victim.write_bytes(victim.read_bytes())  # the same bytes written again: a new modification time
    assert read_all(cached()) == expected
    assert len(hashed) == 1


def test_a_cache_that_cannot_write_its_records_still_reads_and_verifies(cached, dataset, tmp_path, monkeypatch):
    expected = read_all(ClimbDataset(str(dataset), split="val"))
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if ShardCache.RECORD + ".tmp-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    assert read_all(cached()) == expected
    assert list((tmp_path / "cache").glob("*.tar")) and not list((tmp_path / "cache").glob("*.ok*"))


def test_a_shard_corrupt_at_the_source_fails_loudly_or_is_skipped_as_masked_placeholders(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shard = sorted((copy / "shards").glob("val-*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        list(ClimbDataset(str(copy), split="val", cache_dir=str(tmp_path / "c1"), retry=FAST))
    samples = list(ClimbDataset(str(copy), split="val", cache_dir=str(tmp_path / "c2"), retry=FAST, on_error="skip"))
    bad = [s for s in samples if "__error__" in s]
    assert len(samples) == 24 and bad
    assert all("IntegrityError" in s["__error__"] and not any(m.any() for m in s["label_mask"].values()) for s in bad)


def test_the_cache_stays_within_its_byte_bound(dataset, tmp_path):
    largest = max(p.stat().st_size for p in (dataset / "shards").glob("*.tar"))
    bound = 2 * largest
    ds = ClimbDataset(str(dataset), split="train", cache_dir=str(tmp_path / "cache"), cache_bytes=bound)
    assert len(read_all(ds)) == 97
    assert sum(p.stat().st_size for p in (tmp_path / "cache").glob("*.tar")) <= bound
    assert {p.name for p in (tmp_path / "cache").glob("*.ok")} == {p.name + ".ok" for p in (tmp_path / "cache").glob("*.tar")}


def test_three_workers_fill_one_cache_concurrently_without_damage(dataset, tmp_path):
    ds = ClimbDataset(str(dataset), split="train", cache_dir=str(tmp_path / "cache"), modalities=("signal",))
    got = [k for b in ds.loader(batch_size=3, num_workers=3) for k in b["__key__"]]
    plain = ClimbDataset(str(dataset), split="train", modalities=("signal",))
    assert got == [k for b in plain.loader(batch_size=3) for k in b["__key__"]]
    tars = list((tmp_path / "cache").glob("*.tar"))
    assert len(tars) == len(list((dataset / "shards").glob("train-*.tar")))
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.stem for p in tars)
    assert not list((tmp_path / "cache").glob("*.tmp-*"))


def test_selecting_modalities_reads_only_their_members(dataset, monkeypatch):
    requested: list[int] = []
    original = DatasetFiles.read_ranges

    def counting(self, requests, *args):
        requested.extend(e - s for _, _, s, e in requests)
        return original(self, requests, *args)

    monkeypatch.setattr(DatasetFiles, "read_ranges", counting)
    samples = list(ClimbDataset(str(dataset), split="val", modalities=("signal",)))
    assert all(set(s) & {"image", "graph", "text", "video", "preview"} == set() for s in samples)
    wanted, whole = 0, 0
    for shard in json.loads((dataset / "manifest.json").read_text())["shards"]:
        if shard["split"] == "val":
            for entry in json.loads((dataset / shard["index"]).read_text())["samples"]:
                whole += entry["size"]
                if set(entry["members"]) <= {"json", "signal.npy"}:
                    wanted += entry["size"]  # every member wanted: one read of the whole record
                else:
                    wanted += sum(n for m, (_, n) in entry["members"].items() if m in ("json", "signal.npy"))
    assert sum(requested) == wanted < whole


class FlakyMemoryFS(MemoryFileSystem):
    """An in-memory object store that fails every third request like a throttled S3."""

    protocol = "flakymem"
    calls = itertools.count()

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.removeprefix("flakymem://"))

    def cat_file(self, path, start=None, end=None, **kwargs):
        if next(self.calls) % 3 == 1:
            raise OSError(errno.EBUSY, "503 SlowDown: please reduce your request rate")
        return super().cat_file(path, start=start, end=end, **kwargs)


def test_remote_range_reads_merge_and_retry_to_the_same_samples(dataset):
    fsspec.register_implementation("flakymem", FlakyMemoryFS, clobber=True)
    mem = MemoryFileSystem()
    for path in Path(dataset).rglob("*"):
        if path.is_file() and "volumes.zarr" not in path.parts:
            mem.pipe_file(f"/remote/{path.relative_to(dataset)}", path.read_bytes())
    try:
        remote = ClimbDataset("flakymem://remote", split="val", retry=FAST)
        local = ClimbDataset(str(dataset), split="val")
        got, expected = list(remote), list(local)
        assert [s["__key__"] for s in got] == [s["__key__"] for s in expected]
        for a, b in zip(got, expected):
            for field in ("signal", "image"):
                assert (field in a) == (field in b)
                if field in a:
                    assert torch.equal(a[field], b[field])
    finally:
        mem.rm("/remote", recursive=True)


def test_local_shards_are_read_one_sample_at_a_time_by_the_iterating_thread(dataset, monkeypatch):
    reads: list[tuple[str, int]] = []
    original = DatasetFiles.read_ranges

    def recording(self, requests, *args):
        reads.append((threading.current_thread().name, len({(r[0], r[2]) for r in requests})))
        return original(self, requests, *args)

    monkeypatch.setattr(DatasetFiles, "read_ranges", recording)
    ds = ClimbDataset(str(dataset), split="train", modalities=None)
    keys = [s["__key__"] for s in ds]
    assert len(keys) == 97 and len(reads) == 97
    assert {name for name, _ in reads} == {threading.current_thread().name}
    assert {n for _, n in reads} == {1}  # every member of the sample in one range


def test_local_reads_announce_each_next_job_to_the_kernel_unless_it_continues_the_last(dataset, monkeypatch):
    """A shuffled reader tells the kernel its ranges a job ahead (a cold disk reads them meanwhile),
    except one continuing the range announced before it in its shard; in stored order the reads are
    sequential, which the kernel's readahead already follows."""
    monkeypatch.setattr(SampleReader, "LOCAL_JOB_SAMPLES", 4)
    events: list[tuple[str, int, int, int]] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, start, n, advice: events.append(("advise", fd, start, start + n)))
    original = io.pread
    monkeypatch.setattr(io, "pread", lambda fd, start, end: events.append(("read", fd, start, end)) or original(fd, start, end))
    for shuffle in (True, False):
        events.clear()
        keys = [s["__key__"] for s in ClimbDataset(str(dataset), split="train", shuffle=shuffle, seed=1)]
        reads = [e[1:] for e in events if e[0] == "read"]
        advised = [e[1:] for e in events if e[0] == "advise"]
        assert len(reads) == len(keys) == 97
        if shuffle:
            for at, (kind, fd, start, end) in enumerate(events):
                if kind == "read" and reads.index((fd, start, end)) >= 4:  # after the first job
                    before = [e[1:] for e in events[:at] if e[0] == "advise" and e[1] == fd]
                    assert (fd, start, end) in before or any(e == start for _, _, e in before)  # or continues one
            assert len(advised) > len(reads) / 2
        else:
            assert len(advised) <= len({fd for fd, _, _ in reads})  # once per shard at most


def test_remote_reads_merge_neighbours_into_requests_of_bounded_size(dataset, monkeypatch):
    fsspec.register_implementation("flakymem", FlakyMemoryFS, clobber=True)
    mem = MemoryFileSystem()
    for path in Path(dataset).rglob("*"):
        if path.is_file() and "volumes.zarr" not in path.parts:
            mem.pipe_file(f"/bounded/{path.relative_to(dataset)}", path.read_bytes())
    sizes: list[int] = []
    original = MemoryFileSystem.cat_ranges

    def recording(self, paths, starts, ends, **kwargs):
        sizes.extend(e - s for s, e in zip(starts, ends) if s is not None)  # None: a whole file (manifest, index)
        return original(self, paths, starts, ends, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "cat_ranges", recording)
    monkeypatch.setattr(DatasetFiles, "MAX_REQUEST", 200_000)
    try:
        got = list(ClimbDataset("flakymem://bounded", split="train", shuffle=False, retry=FAST))
        expected = list(ClimbDataset(str(dataset), split="train", shuffle=False))
        assert [s["__key__"] for s in got] == [s["__key__"] for s in expected]
        largest_sample = max(e["size"] for shard in json.loads((dataset / "manifest.json").read_text())["shards"]
                             for e in json.loads((dataset / shard["index"]).read_text())["samples"])
        assert max(sizes) <= max(200_000, largest_sample)
        assert len(sizes) < len(got)
    finally:
        mem.rm("/bounded", recursive=True)


def test_s3_readers_share_a_botocore_session_per_profile_and_credentials(monkeypatch):
    """Forked workers inherit it with the S3 service model already parsed; a session caches the
    credentials it resolved, so other credentials get another session."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    first = s3_session()
    assert s3_session() is first and s3_session("other") is not first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    assert s3_session() is not first


def test_the_shared_botocore_session_is_made_only_where_botocores_client_presigns(monkeypatch):
    """AWS's own endpoints: s3fs's client presigns, with the shared session. An explicit endpoint:
    climb's Signer presigns, and no session is made (11 ms) unless s3fs is asked for a client."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    aws = DatasetFiles("s3://bucket/a", {"key": "k", "secret": "s"}, RetryPolicy(), None)
    own = DatasetFiles("s3://bucket/b", {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}},
                       RetryPolicy(), None)
    assert aws.fs.session is s3_session() and "session" not in own.options and own.fs.session is None
    given = object()
    assert DatasetFiles("s3://bucket/c", {"session": given}, RetryPolicy(), None).options["session"] is given
    assert "session" not in default_storage_options("s3://bucket/a", None) and "session" not in default_storage_options("/data/a", None)


def test_a_local_in_order_reader_imports_neither_fsspec_nor_numpy_random(dataset):
    # peak RSS is a target (issue 19): these are ~4 MB that reading local shards in order never uses
    code = (
        "import sys\n"
        "from climb.loaders import ClimbDataset\n"
        f"assert sum(1 for _ in ClimbDataset({str(dataset)!r}, split='train', shuffle=False)) > 0\n"
        "print(sorted({'fsspec', 'numpy.random'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("groups, gets", [([0, 0], 1), ([0, 1], 2)])
def test_remote_ranges_merge_into_one_get_only_within_a_group(monkeypatch, groups, gets):
    mem = MemoryFileSystem()
    mem.pipe_file("/groups/shard.tar", bytes(range(256)) * 64)
    calls: list[int] = []
    original = MemoryFileSystem.cat_ranges
    monkeypatch.setattr(MemoryFileSystem, "cat_ranges", lambda self, paths, *a, **k: calls.append(len(paths)) or original(self, paths, *a, **k))
    files = DatasetFiles("memory://groups", None, RetryPolicy(), None)
    try:
        got = files.read_ranges([("shard.tar", "0" * 64, 10, 20), ("shard.tar", "0" * 64, 30, 40)], groups)
    finally:
        mem.rm("/groups", recursive=True)
    assert [bytes(b) for b in got] == [bytes(range(10, 20)), bytes(range(30, 40))]
    assert calls == [gets]


def test_local_reads_need_no_posix_fadvise(dataset, monkeypatch):
    """macOS has no posix_fadvise: the reads go on without announcing anything."""
    expected = read_all(ClimbDataset(str(dataset), split="train", seed=2))
    monkeypatch.delattr(os, "posix_fadvise")
    assert read_all(ClimbDataset(str(dataset), split="train", seed=2)) == expected

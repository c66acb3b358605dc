"""Streaming from a real S3 server, through a proxy that throttles (503 SlowDown) and resets connections."""

from __future__ import annotations

import json
import ssl
from collections import Counter

import fsspec
import pytest
import s3fs
import torch
import trustme
import zarr

from climb.loaders import ClimbDataset
from climb.loaders.decode import decode_sample
from climb.loaders.io import DatasetFiles, RetryPolicy, default_storage_options, is_transient
from climb.loaders.zarr_patches import VolumePatches
from climb.presigned import EXPIRES, PresignedReader, Signer, StatusError
from climb.s3.faultproxy import FaultProxy, Faults

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
FAST = RetryPolicy(attempts=10, base=0.01, cap=0.2)


@pytest.fixture
def remote(s3_bucket, dataset):
    """The converted dataset uploaded to a fresh bucket: its s3:// URL."""
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dataset), f"{s3_bucket.name}/loadertest", recursive=True)
    return f"{s3_bucket.url}/loadertest"


def contents(ds, workers=0):
    """Multiset of (key, signal bytes) of one epoch."""
    out = Counter()
    for batch in ds.loader(batch_size=8, num_workers=workers):
        for i, key in enumerate(batch["__key__"]):
            signal = batch["signal"][i].numpy().tobytes() if "signal" in batch and batch["signal_present"][i] else b""
            out[(key, signal)] += 1
    return out


def no_client_retries(options):
    """Throttling reaches climb's retries: botocore would otherwise absorb most 503s itself (s3fs still
    retries truncated bodies internally)."""
    return {**options, "config_kwargs": {"retries": {"total_max_attempts": 1}}}


def test_an_epoch_from_s3_equals_the_local_epoch(remote, dataset, s3_bucket):
    local = ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal",))
    s3 = ClimbDataset(remote, split="train", seed=5, modalities=("signal",), storage_options=s3_bucket.storage_options)
    assert contents(s3, workers=2) == contents(local)


def test_an_epoch_through_5pct_throttling_and_resets_reads_the_identical_multiset(remote, dataset, s3_bucket):
    expected = contents(ClimbDataset(str(dataset), split="train", seed=5, modalities=("signal", "image")))
    with FaultProxy(s3_bucket.endpoint, Faults(seed=3, slowdown_rate=0.05, reset_rate=0.05)) as proxy:
        options = no_client_retries(proxy.endpoint.storage_options())
        ds = ClimbDataset(remote, split="train", seed=5, modalities=("signal", "image"), storage_options=options, retry=FAST)
        got = contents(ds, workers=2)
        counts = proxy.counts
    assert got == expected
    assert counts["slowdown"] > 0 and counts["reset"] > 0


def test_the_cache_downloads_through_faults_and_verifies_every_shard(remote, dataset, s3_bucket, tmp_path):
    expected = contents(ClimbDataset(str(dataset), split="val", modalities=("signal",)))
    with FaultProxy(s3_bucket.endpoint, Faults(seed=4, slowdown_rate=0.05, reset_rate=0.05)) as proxy:
        options = no_client_retries(proxy.endpoint.storage_options())
        ds = ClimbDataset(remote, split="val", modalities=("signal",), storage_options=options, retry=FAST,
                          cache_dir=str(tmp_path / "cache"))
        got = contents(ds)
    assert got == expected
    assert len(list((tmp_path / "cache").glob("*.tar"))) == len(list(dataset.glob("shards/val-*.tar")))


def test_the_manifest_and_shard_indexes_cost_one_request_each(remote, s3_bucket):
    """No HEAD before a whole-file GET (s3fs asks for an object's size first by default): on S3 each
    request is a round trip on the way to the first batch, and is billed."""
    with FaultProxy(s3_bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        ds = ClimbDataset(remote, split="train", storage_options=options)
        assert proxy.counts["requests"] == 1
        files = DatasetFiles(remote, options, RetryPolicy(), None)
        indexes = files.read_files([shard["index"] for shard in ds.info.shards])
        assert proxy.counts["requests"] == 1 + len(ds.info.shards) and all(indexes)


def test_npy_tensors_view_the_fetched_bytes_only_when_climbs_collate_alone_sees_them(remote, s3_bucket, monkeypatch):
    """A worker's npy tensors may view read-only S3 bytes only when climb's collate copies them next;
    a transform, a user's collate_fn or a caller iterating the dataset gets writable copies."""
    from climb.loaders import stream

    def spy(key, members, tasks, borrow=False):
        return {**decode_sample(key, members, tasks, borrow), "borrowed": borrow}

    monkeypatch.setattr(stream, "decode_sample", spy)

    def flags(**kwargs):
        ds = ClimbDataset(remote, split="train", modalities=("signal",), storage_options=s3_bucket.storage_options,
                          transform=kwargs.pop("transform", None))
        return {flag for batch in ds.loader(batch_size=8, num_workers=1, **kwargs) for flag in batch["borrowed"]}

    assert flags() == {True}
    assert flags(transform=lambda sample, rng: sample) == {False}
    assert flags(collate_fn=lambda samples: {"borrowed": [s["borrowed"] for s in samples]}) == {False}
    one_process = ClimbDataset(remote, split="train", modalities=("signal",), storage_options=s3_bucket.storage_options)
    assert {s["borrowed"] for s in one_process} == {False}


def shard_ranges(dataset, remote):
    """(remote path, sha256, start, end) of a few byte ranges of the first train shard, and their bytes."""
    shard = json.loads((dataset / "manifest.json").read_text())["shards"][0]
    data = (dataset / shard["path"]).read_bytes()
    spans = [(0, 512), (1000, 5000), (len(data) - 700, len(data))]
    return [(shard["path"], shard["sha256"], s, e) for s, e in spans], [data[s:e] for s, e in spans]


def test_ranges_from_s3_are_presigned_http_gets_not_s3fs_calls(remote, dataset, s3_bucket, monkeypatch):
    requests, expected = shard_ranges(dataset, remote)
    monkeypatch.setattr(s3fs.S3FileSystem, "cat_ranges", lambda *a, **k: pytest.fail("read through s3fs"))
    with FaultProxy(s3_bucket.endpoint) as proxy:
        files = DatasetFiles(remote, proxy.endpoint.storage_options(), RetryPolicy(), None)
        try:
            got = files.read_ranges(requests, [0, 1, 2])  # three groups: three GETs, sent together
        finally:
            files.close()
        assert proxy.counts["requests"] == 3
    assert [bytes(b) for b in got] == expected


def test_neighbouring_ranges_share_one_get_but_each_gets_a_buffer_of_its_own(remote, dataset, s3_bucket):
    """A sample's bytes must not keep its whole GET alive: a shuffled reader frees a piece sample by sample."""
    shard = json.loads((dataset / "manifest.json").read_text())["shards"][0]
    data = (dataset / shard["path"]).read_bytes()
    spans = [(0, 512), (512, 3000), (3000, 9000), (20_000, 30_000)]
    with FaultProxy(s3_bucket.endpoint) as proxy:
        files = DatasetFiles(remote, proxy.endpoint.storage_options(), RetryPolicy(), None)
        try:
            got = files.read_ranges([(shard["path"], shard["sha256"], s, e) for s, e in spans])
        finally:
            files.close()
        assert proxy.counts["requests"] == 1
    assert [bytes(b) for b in got] == [data[s:e] for s, e in spans]
    assert [memoryview(b).obj.nbytes for b in got] == [e - s for s, e in spans]


def forge_signatures(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Every presigned URL carries a signature the store refuses."""
    monkeypatch.setattr(Signer, "url", lambda self, path: f"{endpoint}/{path}?X-Amz-Signature=forged")


def test_a_presigned_get_the_store_refuses_sends_the_dataset_through_s3fs(remote, dataset, s3_bucket, monkeypatch, caplog):
    """A permanent refusal (here 403: a signature the store rejects) is s3fs's to report or to get
    round (a region redirect): the same bytes arrive, and later reads skip the presigned GET."""
    requests, expected = shard_ranges(dataset, remote)
    forge_signatures(monkeypatch, s3_bucket.endpoint.url)
    files = DatasetFiles(remote, s3_bucket.storage_options, RetryPolicy(attempts=1), None)
    try:
        with caplog.at_level("INFO", logger="climb.loaders.io"):
            assert [bytes(b) for b in files.read_ranges(requests)] == expected
        assert "HTTP 403" in caplog.text and "reading through s3fs from now on" in caplog.text
        monkeypatch.setattr(Signer, "url", lambda *a, **k: pytest.fail("presigned again"))
        assert [bytes(b) for b in files.read_ranges(requests)] == expected
    finally:
        files.close()


def test_an_outage_of_presigned_gets_is_retried_then_raised_never_sent_around_it(remote, dataset, s3_bucket):
    requests, expected = shard_ranges(dataset, remote)
    for mode in ("reset", "503"):
        with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0, outage_requests=3, outage_mode=mode)) as proxy:
            files = DatasetFiles(remote, proxy.endpoint.storage_options(), FAST, None)
            try:
                assert [bytes(b) for b in files.read_ranges(requests[:1])] == expected[:1]
            finally:
                files.close()
            assert proxy.counts["requests"] == 4
        with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0, outage_mode=mode)) as proxy:
            files = DatasetFiles(remote, proxy.endpoint.storage_options(), RetryPolicy(attempts=3, base=0.01), None)
            try:
                with pytest.raises(ConnectionError if mode == "reset" else StatusError) as raised:
                    files.read_ranges(requests[:1])
            finally:
                files.close()
            assert is_transient(raised.value) and proxy.counts["requests"] == 3


def _same_second(ours, botocores) -> tuple[str, str]:
    """Both URLs signed within one second (X-Amz-Date has whole seconds), so their signatures compare."""
    for _ in range(3):
        a, b = ours(), botocores()
        if a.split("X-Amz-Date=")[1][:16] == b.split("X-Amz-Date=")[1][:16]:
            return a, b
    raise AssertionError("no two signatures within one second")


@pytest.mark.parametrize("key", ["shards/train-000000.tar", "a b/c+d~é%&=?.tar"])
def test_the_signer_presigns_the_url_botocores_client_presigns(s3_bucket, monkeypatch, key):
    options = default_storage_options(s3_bucket.url, s3_bucket.storage_options)
    fs = s3fs.S3FileSystem(**options)
    signer = Signer.for_filesystem(fs)
    path = f"{s3_bucket.name}/{key}"
    ours, botocores = _same_second(lambda: signer.url(path), lambda: fs.url(path, expires=EXPIRES))
    assert ours == botocores
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token/+=")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    from_environment = {"client_kwargs": {"endpoint_url": s3_bucket.endpoint.url}}  # credentials and region from the chain
    fs = s3fs.S3FileSystem(**default_storage_options(s3_bucket.url, from_environment))
    ours, botocores = _same_second(lambda: Signer.for_filesystem(fs).url(path), lambda: fs.url(path, expires=EXPIRES))
    assert "X-Amz-Security-Token=token%2F%2B%3D" in ours and "eu-west-3" in ours and ours == botocores


def test_the_store_serves_the_signers_urls_for_any_key(s3_bucket):
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    keys = ["plain.bin", "a b/c+d~é%&=.bin"]
    for i, key in enumerate(keys):
        fs.pipe_file(f"{s3_bucket.name}/{key}", bytes([i]) * 1000)
    reader = PresignedReader.for_filesystem(fs, default_storage_options(s3_bucket.url, s3_bucket.storage_options))
    try:
        assert reader.read_objects([f"{s3_bucket.name}/{key}" for key in keys]) == [bytes([i]) * 1000 for i in range(len(keys))]
    finally:
        reader.close()


def test_urls_on_aws_rules_or_unusual_requests_are_left_to_botocores_client(s3_bucket, monkeypatch):
    """Where the URL depends on rules botocore's client holds (virtual addressing, AWS endpoints and
    regions), or the request is unusual (anonymous, versioned, requester pays), s3fs presigns."""
    options = default_storage_options(s3_bucket.url, s3_bucket.storage_options)
    assert Signer.for_filesystem(s3fs.S3FileSystem(**options)) is not None
    virtual = {**options, "config_kwargs": {**options["config_kwargs"], "s3": {"addressing_style": "virtual"}}}
    sigv2 = {**options, "config_kwargs": {**options["config_kwargs"], "signature_version": "s3"}}
    for other in (virtual, sigv2, {**options, "anon": True}, {**options, "version_aware": True}, {**options, "requester_pays": True}):
        assert Signer.for_filesystem(s3fs.S3FileSystem(**other)) is None
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    aws = {**options, "client_kwargs": {k: v for k, v in options.get("client_kwargs", {}).items() if k != "endpoint_url"}}
    assert Signer.for_filesystem(s3fs.S3FileSystem(**aws)) is None


def test_presigned_gets_stand_in_for_s3fs_only_where_their_request_is_the_same(s3_bucket):
    plain = s3fs.S3FileSystem(**s3_bucket.storage_options)
    assert PresignedReader.for_filesystem(plain, s3_bucket.storage_options) is not None
    encrypted = {**s3_bucket.storage_options, "s3_additional_kwargs": {"SSECustomerAlgorithm": "AES256"}}
    assert PresignedReader.for_filesystem(s3fs.S3FileSystem(**encrypted), encrypted) is None
    proxied = {**s3_bucket.storage_options, "config_kwargs": {"proxies": {"http": "http://127.0.0.1:9"}}}
    assert PresignedReader.for_filesystem(s3fs.S3FileSystem(**proxied), proxied) is None
    assert PresignedReader.for_filesystem(fsspec.filesystem("memory"), {}) is None


def test_the_cache_downloads_whole_shards_on_presigned_gets(remote, dataset, s3_bucket, monkeypatch, tmp_path):
    monkeypatch.setattr(s3fs.S3FileSystem, "open", lambda *a, **k: pytest.fail("downloaded through s3fs"))
    ds = ClimbDataset(remote, split="val", modalities=("signal",), storage_options=s3_bucket.storage_options,
                      cache_dir=str(tmp_path / "cache"))
    assert contents(ds) == contents(ClimbDataset(str(dataset), split="val", modalities=("signal",)))
    assert len(list((tmp_path / "cache").glob("*.tar"))) == len(list(dataset.glob("shards/val-*.tar")))


@pytest.fixture
def tls(tmp_path):
    """A server-side TLS context for 127.0.0.1 from a CA of the test's own, and that CA's bundle file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, str(bundle)


def test_an_https_endpoint_is_read_with_the_ca_bundle_given_and_refused_with_any_other(remote, dataset, s3_bucket, tls, monkeypatch):
    context, bundle = tls
    requests, expected = shard_ranges(dataset, remote)
    monkeypatch.setattr(s3fs.S3FileSystem, "cat_ranges", lambda *a, **k: pytest.fail("read through s3fs"))
    with FaultProxy(s3_bucket.endpoint, tls=context) as proxy:
        assert proxy.url.startswith("https://")
        options = proxy.endpoint.storage_options()
        for verify in (bundle, False):
            files = DatasetFiles(remote, {**options, "client_kwargs": {**options["client_kwargs"], "verify": verify}}, RetryPolicy(), None)
            try:
                assert [bytes(b) for b in files.read_ranges(requests)] == expected
            finally:
                files.close()
        files = DatasetFiles(remote, options, RetryPolicy(), None)  # the machine's bundle does not know the test's CA
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                files.read_ranges(requests)
        finally:
            files.close()
        assert proxy.counts["requests"] == 2  # one merged GET per trusted read; the refused handshake sent none, nor was retried


def test_volume_patches_from_s3_are_read_on_presigned_gets_and_equal_the_local_ones(remote, dataset, s3_bucket, monkeypatch):
    def patches(url, options):
        ds = ClimbDataset(url, split="train", seed=2, modalities=("preview",), storage_options=options,
                          transform=VolumePatches((32, 32, 32), count=3, storage_options=options))
        return {s["__key__"]: (s["volume_origins"], s["volume_patches"]) for s in ds if "volume_patches" in s}

    local = patches(str(dataset), None)
    monkeypatch.setattr(zarr.storage.FsspecStore, "get", lambda *a, **k: pytest.fail("read through zarr's store"))
    got = patches(remote, s3_bucket.storage_options)
    assert got.keys() == local.keys() and len(got) == 2
    for key, (origins, voxels) in got.items():
        assert torch.equal(origins, local[key][0]) and torch.equal(voxels, local[key][1])


def whole_objects(dataset) -> tuple[list[str], list[bytes | None]]:
    """An existing chunk of the first volume, a missing one and a shard index: paths and bytes."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    volume, index = manifest["volumes"][0]["path"], manifest["shards"][0]["index"]
    rels = [f"{volume}/c/0/0/0", f"{volume}/c/9/9/9", index]
    return rels, [(dataset / rels[0]).read_bytes(), None, (dataset / index).read_bytes()]


def test_whole_objects_from_s3_are_presigned_gets_and_a_missing_one_is_none(remote, dataset, s3_bucket, monkeypatch):
    """A volume's chunks (an absent one is the fill value) and the shard indexes come this way."""
    rels, expected = whole_objects(dataset)
    monkeypatch.setattr(s3fs.S3FileSystem, "cat_ranges", lambda *a, **k: pytest.fail("read through s3fs"))
    files = DatasetFiles(remote, s3_bucket.storage_options, RetryPolicy(), None)
    try:
        assert files.read_objects(rels) == expected
        with pytest.raises(FileNotFoundError, match="c/9/9/9 does not exist"):
            files.read_files(rels)
    finally:
        files.close()


def test_whole_objects_the_store_refuses_on_presigned_gets_come_through_s3fs(remote, dataset, s3_bucket, monkeypatch, caplog):
    rels, expected = whole_objects(dataset)
    forge_signatures(monkeypatch, s3_bucket.endpoint.url)
    files = DatasetFiles(remote, s3_bucket.storage_options, RetryPolicy(attempts=1), None)
    try:
        with caplog.at_level("INFO", logger="climb.loaders.io"):
            assert files.read_objects(rels) == expected
        assert "HTTP 403" in caplog.text and "reading through s3fs from now on" in caplog.text
    finally:
        files.close()


def test_an_outage_of_whole_object_gets_is_raised_at_once_for_the_callers_retry(remote, dataset, s3_bucket):
    """One attempt, no retry of its own (VolumePatches retries the whole read); read_files retries."""
    rels, expected = whole_objects(dataset)
    with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0, outage_mode="503")) as proxy:
        files = DatasetFiles(remote, proxy.endpoint.storage_options(), FAST, None)
        try:
            with pytest.raises(StatusError) as raised:
                files.read_objects(rels[:1])
        finally:
            files.close()
        assert is_transient(raised.value) and proxy.counts["requests"] == 1
    with FaultProxy(s3_bucket.endpoint, Faults(outage_start=0, outage_requests=2, outage_mode="503")) as proxy:
        files = DatasetFiles(remote, proxy.endpoint.storage_options(), FAST, None)
        try:
            assert files.read_files([rels[0], rels[2]]) == [expected[0], expected[2]]
        finally:
            files.close()


def test_persistent_workers_share_pieces_from_s3_epoch_after_epoch(remote, dataset, s3_bucket):
    """Each epoch's pieces folder reaches the same two worker processes through the arena: every
    epoch reads what fresh workers read, with as many GETs give or take two (runs differ by one
    either way, 46 against 47; workers left with the first epoch's folder fetch their own pieces:
    66 against 46)."""
    local = ClimbDataset(str(dataset), split="train", seed=4)
    with FaultProxy(s3_bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        fresh = ClimbDataset(remote, split="train", seed=4, storage_options=options)
        before = proxy.counts["requests"]
        assert contents(fresh, workers=2) == contents(local)
        fresh_gets = proxy.counts["requests"] - before
        ds = ClimbDataset(remote, split="train", seed=4, storage_options=options)
        loader = ds.loader(batch_size=8, num_workers=2, persistent_workers=True)
        for _ in range(2):
            before = proxy.counts["requests"]
            got = Counter()
            for batch in loader:
                for i, key in enumerate(batch["__key__"]):
                    signal = batch["signal"][i].numpy().tobytes() if "signal" in batch and batch["signal_present"][i] else b""
                    got[(key, signal)] += 1
            assert got == contents(local)
            assert abs(proxy.counts["requests"] - before - fresh_gets) <= 2

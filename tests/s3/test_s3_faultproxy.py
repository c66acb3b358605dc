"""The fault proxy injects each fault kind at its configured rate, reproducibly, and s3fs retries
ride through throttling."""

from __future__ import annotations

import time

import boto3
import botocore.exceptions
import numpy as np
import pytest
import s3fs
from botocore.config import Config

from climb.s3.faultproxy import FaultProxy, Faults

REQUESTS = 200
OBJECT = np.random.default_rng(1).bytes(100_000)


@pytest.fixture
def obj(s3_bucket):
    """(bucket fixture, key) of a 100 kB object uploaded straight to the server."""
    s3_bucket.endpoint.client().put_object(Bucket=s3_bucket.name, Key="obj", Body=OBJECT)
    return s3_bucket, "obj"


def _no_retry_client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint.url, aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key, region_name=endpoint.region,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _get_many(proxy, bucket, key, n):
    """Outcome and seconds of n plain GETs through the proxy, one attempt each."""
    client = _no_retry_client(proxy.endpoint)
    results = []
    for _ in range(n):
        start = time.monotonic()
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            outcome = "ok" if body == OBJECT else "corrupt"
        except botocore.exceptions.ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        except botocore.exceptions.BotoCoreError as exc:
            outcome = type(exc).__name__
        results.append((outcome, time.monotonic() - start))
    return results


def test_slowdown_answers_503_with_s3_error_at_the_configured_rate(obj):
    bucket, key = obj
    with FaultProxy(bucket.endpoint, Faults(seed=1, slowdown_rate=0.1)) as proxy:
        results = _get_many(proxy, bucket.name, key, REQUESTS)
        counts = proxy.counts
    throttled = sum(outcome == "SlowDown" for outcome, _ in results)
    assert {outcome for outcome, _ in results} == {"ok", "SlowDown"}
    assert throttled == counts["slowdown"]
    assert abs(throttled / REQUESTS - 0.1) < 0.05


def test_reset_cuts_responses_mid_body_at_the_configured_rate(obj):
    bucket, key = obj
    with FaultProxy(bucket.endpoint, Faults(seed=2, reset_rate=0.1)) as proxy:
        results = _get_many(proxy, bucket.name, key, REQUESTS)
        counts = proxy.counts
    failed = [outcome for outcome, _ in results if outcome != "ok"]
    assert set(failed) == {"ResponseStreamingError"}, "the head arrived, the body broke off"
    assert len(failed) == counts["reset"]
    assert abs(len(failed) / REQUESTS - 0.1) < 0.05


def _seconds_of_faulted_gets(obj, faults: Faults, kind: str, n: int = 60) -> list[float]:
    """Seconds of each of n GETs that the proxy's seeded draw gave `kind`, after checking that all
    succeeded and that the proxy injected `kind` into exactly those, at about 25 %.

    Which requests are faulted is known in advance (Faults.chosen), so nothing is inferred from
    wall-clock times: only lower bounds on time are asserted, which machine load cannot break.
    """
    bucket, key = obj
    with FaultProxy(bucket.endpoint, faults) as proxy:
        results = _get_many(proxy, bucket.name, key, n)
        counts = proxy.counts
    picked = [i for i in range(n) if kind in faults.chosen(i)]
    assert all(outcome == "ok" for outcome, _ in results)
    assert len(picked) == counts[kind]
    assert abs(len(picked) / n - 0.25) < 0.1
    return [results[i][1] for i in picked]


def test_latency_delays_requests_at_the_configured_rate(obj):
    delayed = _seconds_of_faulted_gets(obj, Faults(seed=3, latency=0.05, latency_rate=0.25), "latency")
    assert min(delayed) >= 0.05


def test_bandwidth_cap_paces_bodies_at_the_configured_rate(obj):
    cap = 2_000_000
    capped = _seconds_of_faulted_gets(obj, Faults(seed=4, bandwidth=cap, bandwidth_rate=0.25), "bandwidth")
    assert max(len(OBJECT) / seconds for seconds in capped) < 1.02 * cap


def test_same_seed_injects_the_same_faults(obj):
    bucket, key = obj
    faults = Faults(seed=5, slowdown_rate=0.2, reset_rate=0.2)
    runs = []
    for _ in range(2):
        with FaultProxy(bucket.endpoint, faults) as proxy:
            runs.append([outcome for outcome, _ in _get_many(proxy, bucket.name, key, 30)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 3


def test_s3fs_with_retries_reads_correctly_through_5_percent_slowdowns(s3_bucket):
    block = 32 << 10
    data = np.random.default_rng(2).bytes(64 * block)
    s3_bucket.endpoint.client().put_object(Bucket=s3_bucket.name, Key="data.bin", Body=data)
    with FaultProxy(s3_bucket.endpoint, Faults(seed=3, slowdown_rate=0.05)) as proxy:
        fs = s3fs.S3FileSystem(
            **proxy.endpoint.storage_options(), skip_instance_cache=True,
            config_kwargs={"retries": {"max_attempts": 10, "mode": "standard"}},
        )
        with fs.open(f"{s3_bucket.name}/data.bin", "rb", block_size=block, cache_type="none") as f:
            chunks = [f.read(block) for _ in range(64)]
        counts = proxy.counts
    assert b"".join(chunks) == data
    assert counts["requests"] >= 65 + counts["slowdown"], "one HEAD and 64 range GETs, plus retries"
    assert counts["slowdown"] >= 2, "the read did meet throttling"


@pytest.mark.parametrize("mode, outcome", [("reset", "ConnectionClosedError"), ("503", "ServiceUnavailable")])
def test_an_outage_refuses_exactly_the_requests_of_its_window(obj, mode, outcome):
    bucket, key = obj
    with FaultProxy(bucket.endpoint, Faults(outage_start=5, outage_requests=10, outage_mode=mode)) as proxy:
        results = [o for o, _ in _get_many(proxy, bucket.name, key, 20)]
        counts = proxy.counts
    assert results == ["ok"] * 5 + [outcome] * 10 + ["ok"] * 5
    assert counts["outage"] == 10 and counts["requests"] == 20


def test_an_open_ended_outage_lasts_until_the_faults_change(obj):
    bucket, key = obj
    with FaultProxy(bucket.endpoint, Faults(outage_start=3)) as proxy:
        before = [o for o, _ in _get_many(proxy, bucket.name, key, 8)]
        proxy.faults = Faults()
        after = [o for o, _ in _get_many(proxy, bucket.name, key, 2)]
    assert before == ["ok"] * 3 + ["ConnectionClosedError"] * 5 and after == ["ok", "ok"]


def test_an_outage_window_in_seconds_starts_at_the_clock_of_reset_counts(obj):
    bucket, key = obj
    with FaultProxy(bucket.endpoint, Faults(outage_after=0.0, outage_seconds=3600.0, outage_mode="503")) as proxy:
        assert [o for o, _ in _get_many(proxy, bucket.name, key, 2)] == ["ServiceUnavailable"] * 2
        proxy.faults = Faults(outage_after=3600.0)
        proxy.reset_counts()
        assert [o for o, _ in _get_many(proxy, bucket.name, key, 2)] == ["ok", "ok"]


def test_an_outage_window_is_given_in_requests_or_seconds_not_both():
    with pytest.raises(ValueError, match="not both"):
        Faults(outage_start=1, outage_after=1.0)
    with pytest.raises(ValueError, match="outage_mode"):
        Faults(outage_start=1, outage_mode="drop")

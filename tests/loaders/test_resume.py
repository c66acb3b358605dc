"""Stop after k batches, save the state, rebuild (same or another world), resume: nothing replayed, nothing skipped."""

from __future__ import annotations

import json

import pytest

from climb.loaders import ClimbDataset

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
EPOCH, BATCH, STOP = 1, 4, 3


def make(dataset, rank=0, ranks=2, **kw):
    return ClimbDataset(str(dataset), split="train", seed=7, rank=rank, world_size=ranks, modalities=("signal", "image"), **kw)


def stream(ds, workers, batch=BATCH, stop=None):
    ds.set_epoch(EPOCH)
    keys = []
    loader = iter(ds.loader(batch_size=batch, num_workers=workers))
    for i, b in enumerate(loader):
        keys += b["__key__"]
        if stop is not None and i + 1 == stop:
            break
    loader.close()
    return keys


@pytest.fixture(scope="module")
def uninterrupted(dataset):
    return [stream(make(dataset, r), workers=3) for r in range(2)]


@pytest.fixture(scope="module")
def interrupted(dataset):
    """Both ranks stop after STOP batches; the state dict of rank 0 (equal on every rank) goes to disk as JSON."""
    parts, states = [], []
    for r in range(2):
        ds = make(dataset, r)
        parts.append(stream(ds, workers=3, stop=STOP))
        states.append(ds.state_dict())
    assert states[0] == states[1]
    return parts, json.loads(json.dumps(states[0]))


def test_state_dict_is_small_json_counting_samples_of_all_ranks(interrupted, dataset):
    _, state = interrupted
    assert state["samples_seen"] == STOP * BATCH * 2
    assert state["epoch"] == EPOCH and state["seed"] == 7
    assert len(json.dumps(state)) < 400


def test_resume_on_the_same_world_continues_each_rank_exactly(interrupted, uninterrupted, dataset):
    parts, state = interrupted
    for r in range(2):
        ds = make(dataset, r)
        ds.load_state_dict(state)
        assert parts[r] + stream(ds, workers=3) == uninterrupted[r]


def test_resume_on_one_rank_with_two_workers_continues_the_global_order(interrupted, uninterrupted, dataset):
    parts, state = interrupted
    ds = make(dataset, 0, ranks=1)
    ds.load_state_dict(state)
    rest = stream(ds, workers=2, batch=5)
    # the global order is the ranks' streams interleaved (rank r holds positions r, r + 2, ...)
    global_order = [uninterrupted[i % 2][i // 2] for i in range(97)]
    consumed = [parts[i % 2][i // 2] for i in range(state["samples_seen"])]
    assert consumed == global_order[: state["samples_seen"]]
    assert consumed + rest == global_order


def test_in_process_iteration_tracks_progress_too(uninterrupted, dataset):
    ds = make(dataset, 1)
    ds.set_epoch(EPOCH)
    it = iter(ds)
    first = [next(it)["__key__"] for _ in range(5)]
    state = ds.state_dict()
    assert state["samples_seen"] == 10
    again = make(dataset, 1)
    again.load_state_dict(state)
    assert first + [s["__key__"] for s in again] == uninterrupted[1]


def test_a_new_epoch_starts_from_its_beginning_and_a_rerun_replays(dataset):
    ds = make(dataset, 0, ranks=1)
    ds.set_epoch(0)
    whole = [s["__key__"] for s in ds]
    assert ds.state_dict()["samples_seen"] == 97
    assert [s["__key__"] for s in ds] == whole
    ds.set_epoch(1)
    assert ds.state_dict()["samples_seen"] == 0


def test_a_state_from_another_seed_or_dataset_is_refused(interrupted, dataset, small_dataset):
    _, state = interrupted
    with pytest.raises(ValueError, match="seed"):
        ClimbDataset(str(dataset), split="train", seed=8).load_state_dict(state)
    with pytest.raises(ValueError, match="manifest_sha256"):
        ClimbDataset(str(small_dataset), split="train", seed=7).load_state_dict(state)


def test_a_state_taken_by_a_climb_that_ordered_samples_differently_is_refused(interrupted, dataset):
    _, state = interrupted
    with pytest.raises(ValueError, match="cannot resume exactly"):
        ClimbDataset(str(dataset), split="train", seed=7).load_state_dict({**state, "version": 1})


def test_a_state_brings_the_shuffle_it_was_taken_with_to_another_world(interrupted, dataset):
    _, state = interrupted  # taken on 2 ranks: 16 buckets, twice one rank's window
    one = make(dataset, 0, ranks=1)
    assert one.geometry(1) == (one.window_per_rank, 8)
    one.load_state_dict(state)
    assert state["shuffle"] == [2 * one.window_per_rank, 16] and one.geometry(1) == (2 * one.window_per_rank, 16)


def test_a_state_refuses_a_shuffle_set_otherwise(interrupted, dataset):
    _, state = interrupted
    with pytest.raises(ValueError, match="shuffle_buckets=16, this dataset sets 8"):
        make(dataset, 0, ranks=1, shuffle_buckets=8).load_state_dict(state)


def test_in_stored_order_each_rank_reads_whole_batches_and_a_state_resumes_on_one_rank(dataset):
    """Stored order (evaluation): rank r's k-th batch is batch 2k + r of the order, so from S3 a rank
    reads runs of consecutive samples, not every other one; a state after 3 steps still resumes."""
    order = stream(make(dataset, 0, ranks=1, shuffle=False), workers=0)
    ranks = [stream(make(dataset, r, shuffle=False), workers=2) for r in range(2)]
    for r in range(2):
        assert ranks[r][:48] == [order[(2 * k + r) * BATCH + j] for k in range(12) for j in range(BATCH)]
    first = make(dataset, 0, shuffle=False)
    assert stream(first, workers=2, stop=STOP) == ranks[0][:STOP * BATCH]
    resumed = make(dataset, 0, ranks=1, shuffle=False)
    resumed.load_state_dict(first.state_dict())
    assert stream(resumed, workers=2) == order[STOP * BATCH * 2:]

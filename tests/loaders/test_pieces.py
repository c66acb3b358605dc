"""The DataLoader workers of one rank fetch each shared piece of an object store once (loaders/pieces.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter

import pytest
import s3fs

from climb.loaders import ClimbDataset, pieces
from climb.loaders.pieces import PieceShare
from climb.s3.faultproxy import FaultProxy

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
PIECE = [b"aaaa", b"bb", b"cccccc"]  # three requests laid end to end: offsets 0, 4, 6
MINE_0, MINE_1 = [(0, 4), (6, 6)], [(4, 2)]


class Fetches:
    """A fetch function that counts its calls, can hold until released, and can fail."""

    def __init__(self, hold: bool = False, fail: bool = False):
        self.calls, self.fail = 0, fail
        self.started, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()

    def __call__(self) -> list[bytes]:
        self.calls += 1
        self.started.set()
        self.release.wait(10)
        if self.fail:
            raise OSError("the store is down")
        return list(PIECE)


def test_the_second_worker_takes_its_parts_of_the_piece_the_first_fetched(tmp_path):
    fetch = Fetches()
    first = PieceShare(str(tmp_path), 0).get("0-3-1", (0, 1), fetch, MINE_0)
    second = PieceShare(str(tmp_path), 1).get("0-3-1", (0, 1), fetch, MINE_1)
    assert (first, second, fetch.calls) == ([b"aaaa", b"cccccc"], [b"bb"], 1)


def test_every_published_copy_is_gone_once_each_user_took_its_parts(tmp_path):
    fetch = Fetches()
    PieceShare(str(tmp_path), 0).get("p", (0, 1), fetch, MINE_0)
    assert sorted(os.listdir(tmp_path)) == ["p.w1"]
    PieceShare(str(tmp_path), 1).get("p", (0, 1), fetch, MINE_1)
    assert os.listdir(tmp_path) == []


def test_a_worker_arriving_during_the_fetch_waits_for_it_instead_of_fetching_again(tmp_path):
    fetch = Fetches(hold=True)
    got: dict[int, list[bytes] | None] = {}
    fetcher = threading.Thread(target=lambda: got.update({0: PieceShare(str(tmp_path), 0).get("p", (0, 1), fetch, MINE_0)}))
    fetcher.start()
    assert fetch.started.wait(10)  # the piece is claimed and being fetched
    waiter = threading.Thread(target=lambda: got.update({1: PieceShare(str(tmp_path), 1).get("p", (0, 1), Fetches(), MINE_1)}))
    waiter.start()
    fetch.release.set()
    fetcher.join(10)
    waiter.join(10)
    assert got == {0: [b"aaaa", b"cccccc"], 1: [b"bb"]} and fetch.calls == 1


def test_when_the_fetcher_fails_the_waiter_is_told_to_fetch_its_own(tmp_path):
    fetch = Fetches(hold=True, fail=True)
    got: dict[str, object] = {}

    def fetcher() -> None:
        try:
            PieceShare(str(tmp_path), 0).get("p", (0, 1), fetch, MINE_0)
        except OSError as exc:
            got["fetcher"] = exc

    thread = threading.Thread(target=fetcher)
    thread.start()
    assert fetch.started.wait(10)
    waiter = threading.Thread(target=lambda: got.update(waiter=PieceShare(str(tmp_path), 1).get("p", (0, 1), Fetches(), MINE_1)))
    waiter.start()
    fetch.release.set()
    thread.join(10)
    waiter.join(10)
    assert isinstance(got["fetcher"], OSError) and got["waiter"] is None


def test_a_piece_that_cannot_be_published_is_still_handed_to_its_fetcher_and_the_next_fetches_again(tmp_path, monkeypatch):
    link = os.link

    def full_for_worker_1(src: str, dst: str) -> None:
        if dst.endswith(".w1"):
            raise OSError(28, "No space left on device")
        link(src, dst)

    monkeypatch.setattr(pieces.os, "link", full_for_worker_1)
    first, second = Fetches(), Fetches()
    assert PieceShare(str(tmp_path), 0).get("p", (0, 1), first, MINE_0) == [b"aaaa", b"cccccc"]
    assert PieceShare(str(tmp_path), 1).get("p", (0, 1), second, MINE_1) == [b"bb"]
    assert (first.calls, second.calls) == (1, 1)


def test_a_folder_left_by_a_dead_process_is_removed_by_the_next_iteration():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = os.path.join(pieces.SHM, f"{pieces.PREFIX}{dead.stdout.strip()}-left")
    os.makedirs(stale)
    fresh = pieces.make_folder()
    try:
        assert fresh is not None and not os.path.exists(stale)
    finally:
        pieces.remove_folder(fresh)


@pytest.fixture
def remote(s3_bucket, dataset):
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(dataset), f"{s3_bucket.name}/pieces", recursive=True)
    return f"{s3_bucket.url}/pieces"


def _epoch(url: str, options: dict) -> Counter:
    out: Counter = Counter()
    ds = ClimbDataset(url, split="train", seed=5, modalities=("signal",), storage_options=options)
    for batch in ds.loader(batch_size=4, num_workers=2):
        for i, key in enumerate(batch["__key__"]):
            present = "signal" in batch and batch["signal_present"][i]
            out[(key, batch["signal"][i].numpy().tobytes() if present else b"")] += 1
    return out


def _leftovers() -> list[str]:
    return [n for n in os.listdir(pieces.SHM) if n.startswith(f"{pieces.PREFIX}{os.getpid()}-")]


def test_two_workers_from_s3_read_the_exact_epoch_with_fewer_gets_and_leave_no_shared_memory(remote, dataset, s3_bucket, monkeypatch):
    expected = _epoch(str(dataset), {})
    with FaultProxy(s3_bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        shared = _epoch(remote, options)
        shared_gets = proxy.methods["GET"]
        proxy.reset_counts()
        monkeypatch.setattr(pieces, "make_folder", lambda: None)
        own = _epoch(remote, options)
        own_gets = proxy.methods["GET"]
    assert shared == own == expected
    assert shared_gets < own_gets
    assert _leftovers() == []


def test_an_iteration_stopped_after_its_first_batch_removes_its_folder(remote, s3_bucket):
    ds = ClimbDataset(remote, split="train", seed=5, modalities=("signal",), storage_options=s3_bucket.storage_options)
    batches = iter(ds.loader(batch_size=4, num_workers=2))
    next(batches)
    assert len(_leftovers()) == 1
    batches.close()
    assert _leftovers() == []


_EXIT_WITH_AN_OPEN_ITERATION = """
import json, os, sys
from climb.loaders import ClimbDataset, pieces
ds = ClimbDataset(sys.argv[1], split="train", seed=5, modalities=("signal",), storage_options=json.loads(sys.argv[2]))
batches = iter(ds.loader(batch_size=4, num_workers=2))
next(batches)
print(json.dumps([n for n in os.listdir(pieces.SHM) if n.startswith(f"{pieces.PREFIX}{os.getpid()}-")]))
"""


def test_a_process_that_exits_in_the_middle_of_an_iteration_leaves_no_folder_and_no_traceback(remote, s3_bucket):
    run = subprocess.run([sys.executable, "-c", _EXIT_WITH_AN_OPEN_ITERATION, remote, json.dumps(s3_bucket.storage_options)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (during,) = json.loads(run.stdout.strip().splitlines()[-1])
    assert not os.path.exists(os.path.join(pieces.SHM, during))
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr


def test_the_fetcher_keeps_its_own_parts_and_publishes_only_the_others(tmp_path):
    fetch = Fetches()
    first = PieceShare(str(tmp_path), 0).get("p", (0, 1), fetch, MINE_0, private=frozenset({0, 6}))
    published = (tmp_path / "p.w1").read_bytes()
    assert first == [b"aaaa", b"cccccc"] and published[4:6] == b"bb"
    assert b"a" not in published and b"c" not in published  # the fetcher's own bytes never reach /dev/shm
    assert PieceShare(str(tmp_path), 1).get("p", (0, 1), fetch, MINE_1) == [b"bb"] and os.listdir(tmp_path) == []

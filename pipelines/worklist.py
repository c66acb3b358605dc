"""The work list as files beside the output: the graph carries references to them, never the items.

The driver writes the prepared work items in batches to `_work/batch-<id>.pkl` under the dataset URL
and keeps only what the exactly-once check needs (how many items and batches, and an
order-independent fingerprint of their keys). A Beam element is then `(batch id, path)`: a few
bytes whatever the corpus size, so the pipeline a runner stores and ships stays small and any
worker can pick up any batch.

Work items hold raw paths and label rows, so the files are pickles (exact round trip of whatever a
source put in a Record). A pickle must never come from anyone else: each file carries an HMAC
(with a key derived from the pseudonymization key, which only the driver and the workers have)
over its name and bytes, checked before it is unpickled. The files hold raw identifiers; Finalize
removes `_work/` with the staging area before the manifest is written, and a rerun clears a
crashed run's leftovers first.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from dataclasses import dataclass
from typing import Iterable, Iterator

from climb.pipelines.records import WorkItem
from climb.pipelines.summary import multiset_add
from climb.storage import filesystem

WORK = "_work"
TAG_BYTES = 32
FILES_PER_UPLOAD = 64
"""Work files handed to one fs.pipe call: object stores upload them concurrently (one PUT each)."""


class TamperedWorkFile(RuntimeError):
    """A work file whose authentication tag does not match: not written by this conversion's driver."""


@dataclass(frozen=True)
class WorkList:
    """What the driver keeps after writing the work list: references and the exactly-once evidence."""

    refs: list[tuple[int, str]]
    items: int
    key_fingerprint: int

    @property
    def batches(self) -> int:
        return len(self.refs)


def _tag(key: bytes, path: str, payload: bytes) -> bytes:
    derived = hmac.new(key, b"climb-work-file", hashlib.sha256).digest()
    return hmac.new(derived, path.encode("utf-8") + b"\0" + payload, hashlib.sha256).digest()


def chunked(items: Iterable[WorkItem], size: int) -> Iterator[list[WorkItem]]:
    """Consecutive batches of `size` items (the last may be shorter), without listing them all."""
    batch: list[WorkItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= max(1, size):
            yield batch
            batch = []
    if batch:
        yield batch


def write_worklist(items: Iterable[WorkItem], batch_size: int, dataset_url: str, storage_options: dict, key: bytes) -> WorkList:
    """Write items in batches under `_work/`; return the references and the key-set evidence."""
    fs, root = filesystem(dataset_url, storage_options)
    fs.makedirs(f"{root}/{WORK}", exist_ok=True)
    refs: list[tuple[int, str]] = []
    count, fingerprint = 0, 0
    pending: dict[str, bytes] = {}
    for batch_id, batch in enumerate(chunked(items, batch_size)):
        path = f"{WORK}/batch-{batch_id:06d}.pkl"
        payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        pending[f"{root}/{path}"] = _tag(key, path, payload) + payload
        if len(pending) >= FILES_PER_UPLOAD:
            fs.pipe(pending)
            pending = {}
        refs.append((batch_id, path))
        count += len(batch)
        for item in batch:
            fingerprint = multiset_add(fingerprint, item.key)
    if pending:
        fs.pipe(pending)
    return WorkList(refs=refs, items=count, key_fingerprint=fingerprint)


def read_batch(path: str, dataset_url: str, storage_options: dict, key: bytes) -> list[WorkItem]:
    """The work items of one batch file, after checking its tag.

    Raises:
        TamperedWorkFile: the file was not written by a driver holding this key.
    """
    fs, root = filesystem(dataset_url, storage_options)
    data = fs.cat_file(f"{root}/{path}")
    tag, payload = data[:TAG_BYTES], data[TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, path, payload)):
        raise TamperedWorkFile(f"{dataset_url}/{path} does not carry this conversion's tag; refusing to read it")
    return pickle.loads(payload)

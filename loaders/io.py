"""Bytes of one converted dataset: retries, range reads, and an optional verified shard cache.

Object stores throttle (503 SlowDown), reset connections and time out; a training job must ride
through all three, so every remote call here retries transient failures with exponential backoff and
full jitter (jitter only spreads retries of many workers in time; it never touches data order).
Without a cache, samples are fetched with concurrent range reads of just the members asked for,
nothing is left on disk afterwards. With `cache_dir`, whole shards are downloaded once, checked
against the manifest's sha256 (after download and again the first time a process opens them), and
refetched on mismatch; the cache is content-addressed (`<sha256>.tar`), bounded in bytes (least
recently used shards go first) and safe for many workers at once: one lock file per shard (flock,
released by the kernel if a worker dies), downloads to a temp name then an atomic rename, and
readers hold open descriptors, so an eviction never pulls a file from under a reader.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import random
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from climb.presigned import CREDENTIAL_ENV, PresignedReader, Signer, StatusError
from climb.storage import environment_endpoint, filesystem, is_local, local_path

log = logging.getLogger(__name__)
T = TypeVar("T")

_READ_BLOCK = 8 << 20
# errno values of failures worth retrying: s3fs maps SlowDown/ServiceUnavailable to EBUSY and
# InternalError to EREMOTEIO; the rest are the socket's own. Disk full, permissions, missing files are not.
_TRANSIENT_ERRNOS = {errno.EBUSY, errno.EREMOTEIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET,
                     errno.ECONNABORTED, errno.ECONNREFUSED, errno.EPIPE, errno.ENETUNREACH, errno.EHOSTUNREACH}
_THROTTLING = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
               "ServiceUnavailable", "InternalError", "TooManyRequestsException", "RequestLimitExceeded"}


class IntegrityError(OSError):
    """A shard whose bytes do not match the manifest even after refetching."""


class ShortRead(Exception):
    """A read that returned fewer bytes than the index promised (a truncated response)."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, 5xx, connection resets, timeouts, truncated bodies. Not missing
    files, permissions, credentials, disk full, bad requests or any other client-side error."""
    from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, (ShortRead, ConnectionError, TimeoutError, HTTPClientError, BotoConnectionError, IncompleteReadError)):
        return True
    if isinstance(exc, StatusError):  # a presigned GET's answer
        return _retryable_answer(exc.code, exc.status)
    cause = exc if isinstance(exc, ClientError) else exc.__cause__
    if isinstance(cause, ClientError):  # s3fs translates these to OSError, keeping the original as cause
        error, meta = cause.response.get("Error", {}), cause.response.get("ResponseMetadata", {})
        return _retryable_answer(error.get("Code"), meta.get("HTTPStatusCode") or 0)
    if type(exc).__module__.startswith("aiohttp"):  # payload cut short, server disconnected
        return isinstance(exc, OSError) or type(exc).__name__ in ("ClientPayloadError", "ServerDisconnectedError")
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def _retryable_answer(code: str | None, status: int) -> bool:
    """An S3 error answer worth retrying: throttling codes, 429 and 5xx."""
    return code in _THROTTLING or status == 429 or status >= 500


def permanent_refusal(results: list[Any]) -> StatusError | None:
    """The first of a batch of presigned GETs' results that refuses them for good (an answer that
    is no transient failure: 403, region redirect, ...), if any: the caller then reads through s3fs."""
    return next((r for r in results if isinstance(r, StatusError) and not is_transient(r)), None)


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry layer of every remote read (botocore's and s3fs's own are switched off in
    default_storage_options, so attempts do not multiply): attempt i waits uniform(0, min(cap,
    base * 2**i)) with full jitter, so the defaults wait at most 0.1 + 0.2 + ... + 6.4 = 12.7 s in
    all before the error reaches the caller. It sits above the client so that a body cut short
    mid-stream and a short read are retried like a refused request."""

    attempts: int = 8
    base: float = 0.1
    cap: float = 10.0

    @property
    def max_wait(self) -> float:
        """The longest total time spent waiting between attempts, seconds."""
        return sum(min(self.cap, self.base * 2**i) for i in range(self.attempts - 1))

    def call(self, fn: Callable[[], T], what: str) -> T:
        rand = random.Random()
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified right below
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise
                delay = rand.uniform(0, min(self.cap, self.base * 2**attempt))
                log.warning("%s failed (%s: %s); retry %d/%d in %.2fs", what, type(exc).__name__, exc, attempt + 1, self.attempts - 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")


def default_storage_options(url: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """For S3 unless the caller set them: bounded timeouts (a stalled socket fails and is retried
    instead of hanging a worker), botocore's retries off (RetryPolicy is the one layer), and whole small
    files (manifest, indexes) read in one GET: with s3fs's default `max_concurrency` of 10 every
    whole-file read first asked for the object's size (a HEAD request), which a loader never needs. A
    plain-http endpoint (a server on the machine or in the cluster) is never spoken to over TLS, so its
    client does not load the CA bundle: a forked worker's first request took 0.052-0.067 s of CPU with
    it, 0.026-0.030 s without.
    Signatures are SigV4, presigned URLs (climb.presigned) included: for the local server's endpoint
    botocore presigned SigV2 URLs by default, which AWS regions opened since 2014 refuse."""
    opts = dict(options or {})
    if url.startswith(("s3://", "s3a://")):
        config = {"connect_timeout": 5, "read_timeout": 10, "retries": {"total_max_attempts": 1}, "signature_version": "s3v4",
                  **opts.get("config_kwargs", {})}
        opts["config_kwargs"] = config
        client = dict(opts.get("client_kwargs") or {})
        endpoint = client.get("endpoint_url") or opts.get("endpoint_url") or environment_endpoint() or ""
        if endpoint.startswith("http://") and "verify" not in client:
            opts["client_kwargs"] = {**client, "verify": False}
        opts.setdefault("max_concurrency", 1)
    return opts


_S3_SESSIONS: dict[tuple, Any] = {}


def s3_session(profile: str | None = None):
    """The aiobotocore session for this profile and credential environment, made once per process.

    Made in the main process when the manifest is read (where botocore's client presigns the
    loaders' URLs: DatasetFiles.fs), it is inherited by forked DataLoader
    workers with the S3 service model already parsed: a worker's first request then costs ~0.04 s
    of CPU instead of ~0.19 s (each epoch starts new workers). A session caches the credentials it
    resolved, so another profile or other credentials in the environment get their own session
    (sharing the parsed models); spawned workers make their own.
    """
    key = (profile, *(os.environ.get(name) for name in CREDENTIAL_ENV))
    session = _S3_SESSIONS.get(key)
    if session is None:
        from aiobotocore.session import AioSession

        session = AioSession(profile=profile)
        if _S3_SESSIONS:
            session.register_component("data_loader", next(iter(_S3_SESSIONS.values())).get_component("data_loader"))
        _S3_SESSIONS[key] = session
    return session


def pread(fd: int, start: int, end: int) -> np.ndarray:
    """Bytes [start, end) of an open file into a fresh writable buffer (one copy, no seek): uint8 [n].

    An uninitialised numpy buffer, not a bytearray: bytearray zero-fills its memory first, ~20 us
    for a 256 KB sample.
    Heap memory, not a fresh anonymous mapping per read: a mapping gives its pages back with the
    sample (~1 MB less peak RSS over a pass) but faults in every page again, ~14% of the samples/s
    of one process reading local 266 KB samples (1,100 against 1,280)."""
    buf = np.empty(end - start, dtype=np.uint8)
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = os.preadv(fd, [view[got:]], start + got)
        if n == 0:
            raise ShortRead(f"file ended at byte {start + got}, expected {end}")
        got += n
    return buf


class ShardCache:
    """A bounded, content-addressed local copy of shards, shared safely by concurrent workers.

    A copy is hashed when it is written, and again by a process that opens it unless the copy's
    record (`<sha256>.tar.ok`: inode, size and modification time when a process last hashed it)
    still matches: DataLoader workers are new processes every epoch, and hashing every shard again
    in each of them halved the samples/s of later epochs (2 workers, 1,000 local 266 KB samples
    through the cache, epochs 2-5 of two runs each: 1,442-1,568 samples/s hashing, 2,563-3,423
    with the record). A copy changed by a write has a new modification time and is hashed again;
    damage that leaves the file's metadata untouched is found when the shard is next downloaded,
    or by deleting the cache.
    """

    RECORD = ".ok"

    def __init__(self, directory: str, max_bytes: int | None = None, refetches: int = 2):
        self.directory = directory
        self.max_bytes = max_bytes
        self.refetches = refetches
        self.refetched = 0
        self._verified: dict[str, tuple[int, int, int]] = {}
        os.makedirs(directory, exist_ok=True)

    def open(self, sha256: str, download: Callable[[str], str]) -> int:
        """An open read-only descriptor of a verified copy of the shard with this sha256.

        Args:
            sha256: the manifest's hash of the shard (also its cache file name).
            download: writes the shard to the given temp path and returns the sha256 of what it wrote.
        """
        path = os.path.join(self.directory, f"{sha256}.tar")
        lock = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fd = self._open_verified(path, sha256, download)
        finally:
            os.close(lock)
        try:
            os.utime(path, ns=(time.time_ns(), os.fstat(fd).st_mtime_ns))
        except FileNotFoundError:
            pass
        self._evict(keep=path)
        return fd

    def _open_verified(self, path: str, sha256: str, download: Callable[[str], str]) -> int:
        """A verified descriptor; every open is of a name this thread just saw, so a concurrent
        eviction (another shard's open) can unlink the name but never the file under the descriptor."""
        for attempt in range(self.refetches + 1):
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(path, os.O_RDONLY)
                if self._check(fd, path, sha256):
                    return fd
                os.close(fd)
                log.warning("cached shard %s does not match its sha256; refetching", path)
                self.refetched += 1
                os.unlink(path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + self.RECORD)
            tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                digest = download(tmp)
                if digest != sha256:
                    log.warning("download of %s hashed to %s (attempt %d); refetching", path, digest, attempt + 1)
                    self.refetched += 1
                    continue
                fd = os.open(tmp, os.O_RDONLY)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            self._remember(fd, path)
            return fd
        raise IntegrityError(f"shard {sha256} still differs from the manifest after {self.refetches + 1} downloads")

    def _identity(self, fd: int) -> tuple[int, int, int]:
        st = os.fstat(fd)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _remember(self, fd: int, path: str) -> None:
        """Note that the file under fd hashed to its name, here and in its record beside it. The
        record only saves later processes a hash: a full disk costs them that, not the read."""
        identity = self._identity(fd)
        self._verified[path] = identity
        tmp = f"{path}{self.RECORD}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            with open(tmp, "w") as f:
                f.write(" ".join(map(str, identity)))
            os.replace(tmp, path + self.RECORD)
        except OSError as exc:
            log.warning("could not record the verification of %s (%s); other processes will hash it again", path, exc)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _recorded(self, path: str) -> tuple[int, ...] | None:
        """The identity a process recorded when it last verified this cached file, if any."""
        try:
            with open(path + self.RECORD) as f:
                return tuple(int(v) for v in f.read().split())
        except (FileNotFoundError, ValueError):
            return None

    def _check(self, fd: int, path: str, sha256: str) -> bool:
        """Hash a cached file unless this process, or another through the file's record, already
        hashed the same file (same inode, size and modification time) and found it matches."""
        identity = self._identity(fd)
        if self._verified.get(path) == identity or self._recorded(path) == identity:
            self._verified[path] = identity
            return True
        if self._hash(fd) != sha256:
            return False
        self._remember(fd, path)
        return True

    @staticmethod
    def _hash(fd: int) -> str:
        """The sha256 of a whole open file."""
        digest = hashlib.sha256()
        offset = 0
        while block := os.pread(fd, _READ_BLOCK, offset):
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()

    def _evict(self, keep: str) -> None:
        if self.max_bytes is None:
            return
        entries = []
        with os.scandir(self.directory) as it:
            for e in it:
                if e.name.endswith(".tar") and e.path != keep:
                    try:
                        st = e.stat()
                    except FileNotFoundError:
                        continue
                    entries.append((st.st_atime_ns, st.st_size, e.path))
        total = sum(size for _, size, _ in entries) + (os.path.getsize(keep) if os.path.exists(keep) else 0)
        for _, size, victim in sorted(entries):
            if total <= self.max_bytes:
                break
            try:
                os.unlink(victim)
                self._verified.pop(victim, None)
            except FileNotFoundError:
                pass
            with contextlib.suppress(FileNotFoundError):
                os.unlink(victim + self.RECORD)
            total -= size


class DatasetFiles:
    """Reads one dataset's files under `root_url`: small files whole, shards by byte ranges.

    Created inside each worker (fsspec clients and descriptors do not survive fork), closed by the
    iterator that made it.
    """

    MAX_OPEN = 32
    MERGE_GAP = 1 << 20
    MAX_REQUEST = 32 << 20

    def __init__(self, root_url: str, storage_options: dict[str, Any] | None, retry: RetryPolicy, cache: ShardCache | None):
        self.root_url = root_url
        self.options = default_storage_options(root_url, storage_options)
        self.retry = retry
        self.cache = cache
        self.local = is_local(root_url)
        self._fs = None
        self._root: str | None = None
        self._presigned: PresignedReader | None = None
        self._fds: OrderedDict[str, int] = OrderedDict()
        self._announced: dict[str, int] = {}

    @property
    def fs(self):
        if self._fs is None:
            self._fs, self._root = filesystem(self.root_url, self.options)
            if hasattr(self._fs, "client_kwargs") and "session" not in self.options and Signer.for_filesystem(self._fs) is None:
                # botocore's client presigns here: it gets this process's shared session (s3_session).
                # Where climb's Signer presigns, s3fs builds a client only for a refused GET, and the
                # session (11 ms to make) is not made at all.
                self.options["session"] = s3_session(self.options.pop("profile", None))
                self._fs, self._root = filesystem(self.root_url, self.options)
            if hasattr(self._fs, "retries"):  # s3fs's own retry loop off: RetryPolicy is the one layer
                self._fs.retries = 1
            self._presigned = None if self.local else PresignedReader.for_filesystem(self._fs, self.options)
        return self._fs

    def _remote(self, rel: str) -> str:
        self.fs
        return f"{self._root.rstrip('/')}/{rel}"

    def read_file(self, rel: str) -> bytes:
        return self.read_files([rel])[0]

    def read_files(self, rels: list[str]) -> list[bytes]:
        """Several small files whole; from an object store their GETs go out together."""
        if self.local:
            root = local_path(self.root_url)
            got = []
            for rel in rels:
                with open(os.path.join(root, rel), "rb") as f:
                    got.append(f.read())
            return got

        def attempt() -> list[bytes]:
            got = self.read_objects(rels)
            for rel, data in zip(rels, got):
                if data is None:
                    raise FileNotFoundError(f"{self.root_url.rstrip('/')}/{rel} does not exist")
            return got

        return self.retry.call(attempt, f"read {rels[0]}" if len(rels) == 1 else f"read {len(rels)} files")

    def read_objects(self, rels: list[str]) -> list[bytes | None]:
        """Whole objects of a remote dataset, None where there is no such object, fetched together:
        on presigned GETs where they are served (a refusal sends this dataset through s3fs, as in
        read_ranges), through s3fs otherwise. One attempt: the caller's retry policy wraps it (a
        volume's chunks are read under VolumePatches' retry, with the array's own metadata)."""
        paths = [self._remote(rel) for rel in rels]
        got = self._batch(lambda reader: reader.read_objects(paths), lambda: [
            None if isinstance(item, FileNotFoundError) else item
            for item in self.fs.cat_ranges(paths, [None] * len(paths), [None] * len(paths), on_error="return")])
        for item in got:
            if isinstance(item, BaseException):
                raise item
        return got

    def _fd(self, rel: str, sha256: str) -> int:
        fd = self._fds.pop(rel, None)
        if fd is None:
            if self.cache is not None:
                fd = self.cache.open(sha256, lambda tmp: self.download(rel, tmp))
            else:
                fd = os.open(os.path.join(local_path(self.root_url), rel), os.O_RDONLY)
            while len(self._fds) >= self.MAX_OPEN:
                os.close(self._fds.popitem(last=False)[1])
        self._fds[rel] = fd
        return fd

    def advise(self, requests: list[tuple[str, str, int, int]]) -> None:
        """Tell the kernel these byte ranges of local shards will be read soon (POSIX_FADV_WILLNEED),
        so that from a cold disk they are read in the background while earlier samples decode.

        It stands in for the fetch thread local reads no longer have, for disks with latency
        (network block storage). This machine's disk reads 1.6 GB/s cold, and 6 passes over 1,000
        evicted 266 KB samples each way showed no difference beyond the noise (medians with / without:
        in stored order 2,822 / 3,132 samples/s, shuffled 2,707 / 2,372; spread +-30%).

        A range that starts where the last one announced in its shard ended is left out: reads in
        stored order are sequential, which the kernel's own readahead serves, and each call costs
        ~4 us per 266 KB even when every page is cached. Where the call does not exist (macOS) the
        reads are left to the kernel's readahead alone.
        """
        if not hasattr(os, "posix_fadvise"):
            return
        for rel, sha, start, end in requests:
            if self._announced.get(rel) != start:
                os.posix_fadvise(self._fd(rel, sha), start, end - start, os.POSIX_FADV_WILLNEED)
            self._announced[rel] = end

    def download(self, rel: str, target: str) -> str:
        """Copy a whole shard to a local path, returning the sha256 of the bytes written."""
        path = self._remote(rel) if not self.local else os.path.join(local_path(self.root_url), rel)

        def attempt() -> str:
            digest = hashlib.sha256()
            with open(target, "wb") as dst:
                def write(block: Any) -> None:
                    digest.update(block)
                    dst.write(block)

                if self._presigned_usable(lambda reader: reader.copy(path, write, _READ_BLOCK)):
                    return digest.hexdigest()
                with self.fs.open(path, "rb", block_size=_READ_BLOCK) as src:
                    while block := src.read(_READ_BLOCK):
                        write(block)
            return digest.hexdigest()

        return self.retry.call(attempt, f"download {rel}")

    def read_ranges(self, requests: list[tuple[str, str, int, int]], groups: list[int] | None = None) -> list[Any]:
        """Bytes of each (shard path, shard sha256, start, end) request, bytes-like, in order.

        Local shards (and cached ones) are read with pread; remote ones with concurrent range
        GETs, ranges of one shard and one group (`groups[i]`; all one by default) less than
        MERGE_GAP apart merged into requests of up to MAX_REQUEST bytes
        (fsspec.utils.merge_offset_ranges: an object store answers a few MiB in about the time of a
        tiny read), and only the failed requests of a round retried. A merged GET never spans two
        groups, so a caller can keep it off bytes another request of its own fetches. Each request
        gets a buffer of its own (the GET is read into them in turn), so a sample's bytes are freed
        with the sample, not with the last sample of its GET.
        """
        if self.local or self.cache is not None:
            return [pread(self._fd(rel, sha), s, e) for rel, sha, s, e in requests]
        from fsspec.utils import merge_offset_ranges  # remote reads only: local ones never import fsspec

        # merge_offset_ranges merges ranges of equal "paths" only: (path, group) keys keep groups apart
        keys = [(self._remote(r[0]), g) for r, g in zip(requests, groups or [0] * len(requests))]
        merged, starts, ends = merge_offset_ranges(keys, [r[2] for r in requests], [r[3] for r in requests],
                                                   self.MERGE_GAP, self.MAX_REQUEST)
        blocks = list(zip(merged, starts))
        home = []
        for key, (_, _, s, e) in zip(keys, requests):
            j = bisect.bisect_right(blocks, (key, s)) - 1
            while not (merged[j] == key and starts[j] <= s and e <= ends[j]):  # overlapping blocks
                j -= 1
            home.append((j, s - starts[j], e - s))
        wanted: list[set[tuple[int, int]]] = [set() for _ in merged]
        for j, offset, n in home:
            wanted[j].add((offset, n))
        keeps = []
        for j, spans in enumerate(map(sorted, wanted)):
            disjoint = all(o1 + n1 <= o2 for (o1, n1), (o2, _) in zip(spans, spans[1:]))
            keeps.append(spans if disjoint else [(0, ends[j] - starts[j])])
        paths = [path for path, _ in merged]
        datas: list[Any] = [None] * len(paths)

        def fetch() -> None:
            """One round of GETs for the ranges still missing."""
            todo = [i for i, data in enumerate(datas) if data is None]
            got = self._cat_ranges([paths[i] for i in todo], [starts[i] for i in todo], [ends[i] for i in todo],
                                   [keeps[i] for i in todo])
            errors = []
            for i, data in zip(todo, got):
                if isinstance(data, BaseException):
                    errors.append(data)
                else:
                    datas[i] = dict(zip(keeps[i], data))
            if errors:  # a permanent error wins: it decides whether the round is retried
                raise next((e for e in errors if not is_transient(e)), errors[0])

        self.retry.call(fetch, f"read {len(paths)} ranges")
        out = []
        for j, offset, n in home:
            part = datas[j].get((offset, n))
            out.append(part if part is not None else memoryview(datas[j][keeps[j][0]])[offset:offset + n])
        return out

    def _presigned_usable(self, read: Callable[[PresignedReader], Any]) -> bool:
        """Run `read` on the presigned reader; False (read through s3fs instead) where there is none
        or the store refused its GET with a permanent answer (PresignedReader's docstring), which also
        sends every later read of this dataset through s3fs."""
        self.fs  # made together with its reader
        reader = self._presigned
        if reader is None:
            return False
        try:
            read(reader)
        except StatusError as exc:
            if is_transient(exc):
                raise
            self._refused(exc)
            return False
        return True

    def _refused(self, exc: StatusError) -> None:
        log.info("%s: %s; reading through s3fs from now on", self.root_url, exc)
        reader, self._presigned = self._presigned, None
        if reader is not None:
            reader.close()

    def _cat_ranges(self, paths: list[str], starts: list[int], ends: list[int],
                    keeps: list[list[tuple[int, int]]]) -> list[Any]:
        """Each range's kept parts ((offset, length) inside it, PresignedReader.read_range), or the
        exception that stopped it: on presigned GETs where they are served (climb.presigned: ~5x
        less CPU than s3fs's), through s3fs otherwise (its whole range cut into the parts)."""

        def s3fs() -> list[Any]:
            out = []
            for path, s, e, keep, data in zip(paths, starts, ends, keeps, self.fs.cat_ranges(paths, starts, ends, on_error="return")):
                if not isinstance(data, BaseException) and len(data) != e - s:
                    data = ShortRead(f"{path}: range [{s}, {e}) returned {len(data)} bytes")
                out.append(data if isinstance(data, BaseException) else [memoryview(data)[o:o + n] for o, n in keep])
            return out

        return self._batch(lambda reader: reader.read_ranges(paths, starts, ends, keeps), s3fs)

    def _batch(self, presigned: Callable[[PresignedReader], list[Any]], s3fs: Callable[[], list[Any]]) -> list[Any]:
        """A batch of reads' results (bytes or the exception of each) on presigned GETs; through
        s3fs where there is no reader, or once the store refused one of them for good."""
        reader = self._presigned
        if reader is not None:
            got = presigned(reader)
            refused = permanent_refusal(got)
            if refused is None:
                return got
            self._refused(refused)
        return s3fs()

    def close(self) -> None:
        if self._presigned is not None:
            self._presigned.close()
        while self._fds:
            os.close(self._fds.popitem()[1])

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

from climb.storage import filesystem, is_local, local_path

log = logging.getLogger(__name__)
T = TypeVar("T")

_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_TRANSIENT_MODULES = ("botocore", "aiohttp", "urllib3", "http.client", "s3fs", "aiobotocore")
_READ_BLOCK = 8 << 20


class IntegrityError(OSError):
    """A shard whose bytes do not match the manifest even after refetching."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, resets, timeouts, short reads; not missing files or bad requests."""
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (OSError, ConnectionError, TimeoutError, ShortRead)):
        return True
    return type(exc).__module__.split(".")[0] in _TRANSIENT_MODULES or type(exc).__module__ in _TRANSIENT_MODULES


class ShortRead(Exception):
    """A read that returned fewer bytes than the index promised (a truncated response)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt i sleeps uniform(0, min(cap, base * 2**i))."""

    attempts: int = 8
    base: float = 0.05
    cap: float = 5.0

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
    """Bounded timeouts for S3 unless the caller set them: a stalled socket must fail and be retried,
    not hang a worker for minutes; and this process's shared botocore session (`s3_session`)."""
    opts = dict(options or {})
    if url.startswith(("s3://", "s3a://")):
        config = {"connect_timeout": 10, "read_timeout": 30, **opts.get("config_kwargs", {})}
        opts["config_kwargs"] = config
        if "session" not in opts:
            opts["session"] = s3_session(opts.pop("profile", None))
    return opts


_S3_SESSIONS: dict[tuple, Any] = {}
_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                   "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def s3_session(profile: str | None = None):
    """The aiobotocore session for this profile and credential environment, made once per process.

    Made in the main process when the manifest is read, it is inherited by forked DataLoader
    workers with the S3 service model already parsed: a worker's first request then costs ~0.04 s
    of CPU instead of ~0.19 s (each epoch starts new workers). A session caches the credentials it
    resolved, so another profile or other credentials in the environment get their own session
    (sharing the parsed models); spawned workers make their own.
    """
    key = (profile, *(os.environ.get(name) for name in _CREDENTIAL_ENV))
    session = _S3_SESSIONS.get(key)
    if session is None:
        from aiobotocore.session import AioSession

        session = AioSession(profile=profile)
        if _S3_SESSIONS:
            session.register_component("data_loader", next(iter(_S3_SESSIONS.values())).get_component("data_loader"))
        _S3_SESSIONS[key] = session
    return session


def pread(fd: int, start: int, end: int) -> bytearray:
    """Bytes [start, end) of an open file into a fresh writable buffer (one copy, no seek)."""
    buf = bytearray(end - start)
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = os.preadv(fd, [view[got:]], start + got)
        if n == 0:
            raise ShortRead(f"file ended at byte {start + got}, expected {end}")
        got += n
    return buf


class ShardCache:
    """A bounded, content-addressed local copy of shards, shared safely by concurrent workers."""

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
        for attempt in range(self.refetches + 1):
            if os.path.exists(path):
                fd = os.open(path, os.O_RDONLY)
                if self._check(fd, path, sha256):
                    return fd
                os.close(fd)
                log.warning("cached shard %s does not match its sha256; refetching", path)
                self.refetched += 1
                os.unlink(path)
            tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                digest = download(tmp)
                if digest != sha256:
                    log.warning("download of %s hashed to %s (attempt %d); refetching", path, digest, attempt + 1)
                    self.refetched += 1
                    continue
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            fd = os.open(path, os.O_RDONLY)
            self._remember(fd, path)
            return fd
        raise IntegrityError(f"shard {sha256} still differs from the manifest after {self.refetches + 1} downloads")

    def _identity(self, fd: int) -> tuple[int, int, int]:
        st = os.fstat(fd)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _remember(self, fd: int, path: str) -> None:
        self._verified[path] = self._identity(fd)

    def _check(self, fd: int, path: str, sha256: str) -> bool:
        """Hash a cached file the first time this process opens it (or after it changed on disk)."""
        if self._verified.get(path) == self._identity(fd):
            return True
        digest = hashlib.sha256()
        offset = 0
        while block := os.pread(fd, _READ_BLOCK, offset):
            digest.update(block)
            offset += len(block)
        if digest.hexdigest() != sha256:
            return False
        self._remember(fd, path)
        return True

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
            total -= size


class DatasetFiles:
    """Reads one dataset's files under `root_url`: small files whole, shards by byte ranges.

    Created inside each worker (fsspec clients and descriptors do not survive fork), closed by the
    iterator that made it.
    """

    MAX_OPEN = 32
    MERGE_GAP = 64 << 10
    MAX_REQUEST = 4 << 20

    def __init__(self, root_url: str, storage_options: dict[str, Any] | None, retry: RetryPolicy, cache: ShardCache | None):
        self.root_url = root_url
        self.options = default_storage_options(root_url, storage_options)
        self.retry = retry
        self.cache = cache
        self.local = is_local(root_url)
        self._fs = None
        self._root: str | None = None
        self._fds: OrderedDict[str, int] = OrderedDict()

    @property
    def fs(self):
        if self._fs is None:
            self._fs, self._root = filesystem(self.root_url, self.options)
        return self._fs

    def _remote(self, rel: str) -> str:
        self.fs
        return f"{self._root.rstrip('/')}/{rel}"

    def read_file(self, rel: str) -> bytes:
        if self.local:
            with open(os.path.join(local_path(self.root_url), rel), "rb") as f:
                return f.read()
        path = self._remote(rel)
        return self.retry.call(lambda: self.fs.cat_file(path), f"read {rel}")

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

    def prepare(self, rel: str, sha256: str) -> None:
        """Make a shard ready to read (download into the cache); safe to call from a prefetch thread."""
        if self.cache is not None:
            fd = self.cache.open(sha256, lambda tmp: self.download(rel, tmp))
            os.close(fd)

    def download(self, rel: str, target: str) -> str:
        """Copy a whole shard to a local path, returning the sha256 of the bytes written."""
        path = self._remote(rel) if not self.local else os.path.join(local_path(self.root_url), rel)

        def attempt() -> str:
            digest = hashlib.sha256()
            with self.fs.open(path, "rb", block_size=_READ_BLOCK) as src, open(target, "wb") as dst:
                while block := src.read(_READ_BLOCK):
                    digest.update(block)
                    dst.write(block)
            return digest.hexdigest()

        return self.retry.call(attempt, f"download {rel}")

    def read_ranges(self, requests: list[tuple[str, str, int, int]]) -> list[Any]:
        """Bytes of each (shard path, shard sha256, start, end) request, bytes-like, in order.

        Local shards (and cached ones) are read with pread; remote ones with concurrent range
        GETs, nearby ranges of one shard merged into requests of up to MAX_REQUEST bytes (an
        object store answers a few MiB in about the time of a tiny read, and several such
        requests run at once), failed batches retried.
        """
        if self.local or self.cache is not None:
            return [pread(self._fd(rel, sha), s, e) for rel, sha, s, e in requests]
        order = sorted(range(len(requests)), key=lambda i: (requests[i][0], requests[i][2], requests[i][3]))
        merged: list[list[Any]] = []  # [rel, start, end]
        for i in order:
            rel, _, s, e = requests[i]
            if (merged and merged[-1][0] == rel and s - merged[-1][2] <= self.MERGE_GAP
                    and max(merged[-1][2], e) - merged[-1][1] <= self.MAX_REQUEST):
                merged[-1][2] = max(merged[-1][2], e)
            else:
                merged.append([rel, s, e])
        paths = [self._remote(m[0]) for m in merged]
        datas: list[Any] = [None] * len(merged)
        todo = list(range(len(merged)))

        def fetch() -> None:
            """One round of GETs for the ranges still missing; only failed ones go again."""
            nonlocal todo
            got = self.fs.cat_ranges([paths[i] for i in todo], [merged[i][1] for i in todo], [merged[i][2] for i in todo], on_error="return")
            failed, error = [], None
            for i, data in zip(todo, got):
                rel, s, e = merged[i]
                if not isinstance(data, BaseException) and len(data) != e - s:
                    data = ShortRead(f"{rel}: range [{s}, {e}) returned {len(data)} bytes")
                if isinstance(data, BaseException):
                    failed.append(i)
                    if error is None or not is_transient(data):
                        error = data
                else:
                    datas[i] = data
            todo = failed
            if error is not None:
                raise error

        self.retry.call(fetch, f"read {len(merged)} ranges")
        out: list[Any] = [None] * len(requests)
        j = 0
        for i in order:
            rel, _, s, e = requests[i]
            while not (merged[j][0] == rel and merged[j][1] <= s and e <= merged[j][2]):
                j += 1
            base = merged[j][1]
            out[i] = memoryview(datas[j])[s - base:e - base]
        return out

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])

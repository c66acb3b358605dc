"""Remote raw files fetched a few samples ahead of their use, each with one request.

Read one sample at a time, a raw file in an object store cost six requests in a row: the limit
check's HEAD, the fingerprint's HEAD and GET (through a file object that asked for the size again),
the source's HEAD and GET, and one more HEAD for the size of a whole-file read. At a cloud store's
tens of milliseconds per request, a worker waited about 40x longer than it computed
(benchmarks/convert_from_s3.py). Here the raw files of the next samples are fetched on a few
threads while the current sample is processed; the limit check, the fingerprint and the source's
reads (`storage.read_bytes`, `storage.local_copy`) then find them in `storage.held`.

From S3 a file is one ranged GET (on a presigned URL: climb.presigned) of its first
MAX_HELD_BYTES (capped at the conversion's max_file_bytes), whose Content-Range gives the whole
size: a smaller file is complete, a bigger one gets the rest in one more GET when a reader wants
it, and one above max_file_bytes is refused by the limit check after at most max_file_bytes of it
were read. Other stores take a HEAD, then a GET of files up to the cap.

A prefetch only saves requests: whatever goes wrong in it (a missing file, a store failure) is left
to the sample's own reads, which meet the same failure and report it as they always did (a
quarantine for the sample's own problem, a failed bundle for the store's). Local files are not
touched.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from climb.presigned import PresignedReader
from climb.storage import Held, filesystem, holding, is_local


class RawPrefetch:
    """Fetch the remote raw files of `url_lists[i]` (sample i's files) ahead of `sample(i)`."""

    AHEAD = 8
    """Files fetched ahead of the current sample (whole samples: at least the next one), and the
    threads fetching them: with ~20 ms per request and ~4 ms of work per sample, 8 keep a worker
    busy. Memory: the current and the next samples' files, each at most MAX_HELD_BYTES ahead of use."""
    MAX_HELD_BYTES = 16 << 20

    def __init__(self, url_lists: Sequence[Sequence[str]], storage_options: dict[str, Any] | None, max_file_bytes: int):
        self.urls = [[u for u in urls if not is_local(u)] for urls in url_lists]
        self.options = storage_options
        self.cap = min(max_file_bytes, self.MAX_HELD_BYTES)
        self.last_use = {u: i for i, urls in enumerate(self.urls) for u in urls}
        self.files_before = [0]  # files of samples 0 .. k-1, for k = 0 .. n
        for urls in self.urls:
            self.files_before.append(self.files_before[-1] + len(urls))
        self.futures: dict[str, Future] = {}
        self.submitted = 0
        self.pool: ThreadPoolExecutor | None = None
        self.lock = threading.Lock()
        self.readers: dict[int, PresignedReader | None] = {}

    def __enter__(self) -> RawPrefetch:
        if any(self.urls):
            self.pool = ThreadPoolExecutor(self.AHEAD, thread_name_prefix="climb-prefetch")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.futures.clear()
        for reader in self.readers.values():
            if reader is not None:
                reader.close()
        self.readers.clear()

    def _fetch(self, url: str) -> Held | None:
        """One file's size and first bytes (all of a file up to `cap`); None on any failure."""
        try:
            fs, path = filesystem(url, self.options)
            if type(fs).__name__ == "S3FileSystem":
                reader = self._presigned(fs)
                if reader is not None:
                    data, info = reader.head(path, self.cap)
                    return Held(info, data)
                from fsspec.asyn import sync

                return sync(fs.loop, self._s3_head_bytes, fs, path)
            info = fs.info(path)
            size = int(info.get("size") or 0)
            if (info.get("type") or "file") != "file" or size > self.cap:
                return Held(info, None)
            data = fs.cat_file(path, start=0, end=size) if size else b""
            return Held(info, data if len(data) == size else None)
        except Exception:  # noqa: BLE001 - the sample's own reads meet it again and classify it
            return None

    def _presigned(self, fs: Any) -> PresignedReader | None:
        """This prefetch's reader of presigned GETs for `fs` (climb.presigned: less than half the
        CPU of s3fs's get_object per raw file), or None where it cannot stand in for s3fs."""
        with self.lock:
            if id(fs) not in self.readers:
                self.readers[id(fs)] = PresignedReader.for_filesystem(fs, fs.storage_options)
            return self.readers[id(fs)]

    async def _s3_head_bytes(self, fs: Any, path: str) -> Held:
        """S3 where presigned GETs cannot be used: one GET of the first `cap` bytes through s3fs;
        its Content-Range gives the whole size, so no HEAD.

        s3fs's cat_file hides the response's headers, so the GET goes through its `_call_s3`, which
        s3fs's own reads use (retries, region redirects, error translation; s3fs is pinned). A file
        above `cap` keeps its first bytes: `storage.held_bytes` fetches only the rest when a reader
        wants it, and one above the size limit is refused after at most max_file_bytes were read.
        """
        bucket, key, version = fs.split_path(path)
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key, Range=f"bytes=0-{self.cap - 1}",
                                     **({"VersionId": version} if version else {}))
        try:
            data = await response["Body"].read()
        finally:
            response["Body"].close()
        whole = response.get("ContentRange")
        size = int(whole.rsplit("/", 1)[1]) if whole else len(data)
        return Held({"type": "file", "size": size, "ETag": response.get("ETag"), "LastModified": response.get("LastModified")}, data)

    @contextmanager
    def sample(self, i: int) -> Iterator[None]:
        """Hold sample i's prefetched files while the block processes it; start the next ones."""
        if self.pool is None:
            yield
            return
        while self.submitted < len(self.urls) and (
                self.submitted <= i or self.files_before[self.submitted] - self.files_before[i + 1] < self.AHEAD):
            for url in self.urls[self.submitted]:
                if url not in self.futures:
                    self.futures[url] = self.pool.submit(self._fetch, url)
            self.submitted += 1
        entries = {url: got for url in self.urls[i] for got in [self.futures[url].result()] if got is not None}
        try:
            with holding(entries):
                yield
        finally:
            for url in self.urls[i]:
                if self.last_use[url] == i:
                    self.futures.pop(url, None)

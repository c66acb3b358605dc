"""Where bytes live: fsspec URLs (file://, s3://, gs://, plain paths) and their options.

Every reader and writer in climb goes through these helpers, so an S3-compatible endpoint, AWS
itself or a local folder all work the same way.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import fsspec


class StorageError(ValueError):
    """A URL or storage setting that cannot work; the message says what to do."""


class StorageFailure(Exception):
    """The store failed, not the sample: unreachable, reset, timed out, 5xx, refused credentials.

    A conversion must never quarantine a sample for this (an outage would silently change the
    dataset): the pipeline re-raises it so the runner retries the bundle, and a failure that
    persists fails the run before its manifest is written. The message names the operation and the
    error's type and code, never a path or URL (they carry the raw tree's names).
    """


# a missing raw file is the sample's problem (the label sheet names a file the folder lacks)
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# OSError codes of the storage itself (disk, network, quota, permission), whoever raised them
_STORAGE_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "EIO", "EREMOTEIO", "ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ETIMEDOUT", "ECONNRESET",
        "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ENETDOWN", "ENETUNREACH", "ENETRESET", "EHOSTDOWN",
        "EHOSTUNREACH", "EAGAIN", "EBUSY", "ESTALE", "ENOLINK", "ECOMM", "EPROTO",
    ) if hasattr(errno, name)
)


def _network_error_types() -> tuple[type[BaseException], ...]:
    """Exception types of the HTTP stacks under s3fs/gcsfs (botocore, aiohttp), when installed."""
    types: list[type[BaseException]] = []
    with contextlib.suppress(ImportError):
        from botocore.exceptions import BotoCoreError, ClientError

        types += [BotoCoreError, ClientError]  # ClientError: an HTTP error answer (not a BotoCoreError)
    with contextlib.suppress(ImportError):
        from aiohttp import ClientError as AiohttpClientError

        types.append(AiohttpClientError)
    return tuple(types)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """exc, then its causes and contexts (a source may wrap a store error in its own type)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__context__, e.__cause__]


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return str(response["Error"].get("Code"))
    return None


def is_storage_failure(exc: BaseException, *, missing_is_content: bool = True) -> bool:
    """True when `exc` (or anything it wraps) is a failure of the store rather than of the data.

    Storage: connection resets and refusals, timeouts, HTTP 5xx and throttling that outlasted the
    client's retries, permission and credential refusals, disk I/O errors, any botocore/aiohttp
    error. Content: everything else, and a missing file when `missing_is_content` (raw reads: a
    missing file is the sample's problem; for output writes nothing is missing by the sample's fault).
    """
    network = _network_error_types()
    for e in _chain(exc):
        if isinstance(e, StorageFailure):
            return True
        if isinstance(e, _MISSING) or _client_error_code(e) in _MISSING_CODES:
            if missing_is_content:
                return False
            return True
        if isinstance(e, (ConnectionError, TimeoutError, PermissionError)) or isinstance(e, network):
            return True
        if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
            return True
    return False


def describe_failure(exc: BaseException) -> str:
    """The failure's type and code, without its message (messages quote paths and URLs)."""
    parts = []
    for e in _chain(exc):
        # a worker process's traceback, carried as text by concurrent.futures, is not a failure type
        if isinstance(e, StorageFailure) or type(e).__name__ == "_RemoteTraceback":
            continue
        code = _client_error_code(e)
        label = type(e).__name__
        if code:
            status = (getattr(e, "response", {}).get("ResponseMetadata") or {}).get("HTTPStatusCode")
            label += f" {code}" + (f" (HTTP {status})" if status else "")
        elif isinstance(e, OSError) and e.errno in errno.errorcode:
            label += f" [{errno.errorcode[e.errno]}]"
        if label not in parts:
            parts.append(label)
    return " <- ".join(parts[:3]) or type(exc).__name__


@contextlib.contextmanager
def storage_errors(operation: str, *, missing_is_content: bool = True) -> Iterator[None]:
    """Turn a store failure raised inside the block into StorageFailure("<operation> failed: ...").

    Raw reads keep missing files as they are (the sample's problem); output writes pass
    missing_is_content=False. Anything else propagates unchanged: it is the data's doing.
    """
    try:
        yield
    except StorageFailure:
        raise
    except Exception as exc:
        if is_storage_failure(exc, missing_is_content=missing_is_content):
            # from None: the original message quotes the raw path, and tracebacks reach logs
            raise StorageFailure(f"{operation} failed: {describe_failure(exc)}") from None
        raise


def check_url(url: str) -> str:
    """Reject URLs that carry credentials: keys in URLs end up in logs, manifests and shell history."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise StorageError(
            f"refusing a URL with embedded credentials ({parts.scheme}://***@{parts.hostname}/...): "
            "pass credentials with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile instead"
        )
    return url


def environment_endpoint() -> str | None:
    """The S3 endpoint botocore takes from the environment ($AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def storage_options(url: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """fsspec options for a URL; an explicit endpoint (or $AWS_ENDPOINT_URL) for S3-compatible stores."""
    if url.startswith("s3://") or url.startswith("s3a://"):
        endpoint = endpoint_url or environment_endpoint()
        opts: dict[str, Any] = {}
        if endpoint:
            check_url(endpoint)  # an endpoint URL is logged by botocore's connection errors
            opts["client_kwargs"] = {"endpoint_url": endpoint}
        return opts
    return {}


def filesystem(url: str, options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a URL."""
    import fsspec  # imported on first use: a loader reading local shards never needs it (~1.5 MB)

    check_url(url)
    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, path


_INHERITED: list[fsspec.AbstractFileSystem] = []


@dataclass(frozen=True)
class Held:
    """A remote raw file fetched ahead of its sample (climb.prefetch): the store's `info` for it
    (size, ETag, ...) and its first bytes (all of them, unless the file is bigger than a prefetch
    holds), or None when nothing was fetched."""

    info: dict[str, Any]
    data: bytes | None

    @property
    def complete(self) -> bool:
        """Whether `data` is the whole file (readers that stream big files use only whole ones)."""
        return self.data is not None and len(self.data) == int(self.info.get("size") or 0)


_HELD: dict[str, Held] = {}


def held(url: str) -> Held | None:
    """What a prefetch holds for `url` while its sample is processed in this process, if anything:
    the readers here, the limit check and the fingerprint use it instead of asking the store again."""
    return _HELD.get(url)


def held_bytes(url: str, options: dict[str, Any] | None = None) -> bytes | None:
    """The whole bytes of a held file, for a reader that wants them in memory anyway (None if
    nothing is held): a file bigger than its held head gets the rest in one ranged read, kept for
    the other readers of the same sample."""
    entry = _HELD.get(url)
    if entry is None or entry.data is None:
        return None
    if not entry.complete:
        with storage_errors("reading a raw file"):
            fs, path = filesystem(url, options)
            rest = fs.cat_file(path, start=len(entry.data), end=int(entry.info["size"]))
        entry = _HELD[url] = Held(entry.info, entry.data + rest)
    return entry.data


@contextlib.contextmanager
def open_raw(url: str, options: dict[str, Any] | None = None) -> Iterator[BinaryIO]:
    """A raw file opened for reading, for sources that parse it from a file object: its held bytes
    when a prefetch fetched the whole file, else the store's own file object. Errors pass through
    unchanged (the caller classifies them, as with a plain fs.open)."""
    entry = held(url)
    if entry is not None and entry.complete:
        yield io.BytesIO(entry.data)
        return
    fs, path = filesystem(url, options)
    with fs.open(path, "rb") as f:
        yield f


@contextlib.contextmanager
def holding(entries: dict[str, Held]) -> Iterator[None]:
    """Make `entries` visible to `held` for the duration of the block (one sample's raw files)."""
    _HELD.update(entries)
    try:
        yield
    finally:
        for url in entries:
            _HELD.pop(url, None)


def keep_inherited_filesystems() -> None:
    """Call first in a forked child: never finalize a filesystem the parent opened.

    An s3fs filesystem's session belongs to the fsspec event loop of the process that opened it. A
    forked child gets copies of the parent's instances: the cached ones, which fsspec drops from
    its cache there, and any the parent had let go but not yet garbage-collected. Finalized in the
    child, each would have s3fs schedule its session's close on the child's own fsspec loop, which
    aiohttp refuses ("Task exception was never retrieved ... attached to a different loop"). So the
    cached ones stay referenced, and gc.freeze() takes every inherited object out of the cyclic
    collector's reach; the sockets are copies, the parent still owns the sessions, and the child
    opens its own filesystems on its own loop.
    """
    fsspec = sys.modules.get("fsspec")  # never imported: no filesystem was inherited
    classes: list[type] = [fsspec.AbstractFileSystem] if fsspec else []
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        _INHERITED.extend(cls._cache.values())
        cls.clear_instance_cache()
    gc.freeze()


def join(url: str, *parts: str) -> str:
    out = url.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


@contextlib.contextmanager
def local_copy(url: str, options: dict[str, Any] | None = None, suffix: str = "") -> Iterator[str]:
    """A local file path for a URL: the file itself when local, else a temporary download.

    Format libraries (wfdb, pyedflib, nibabel) want paths, not streams; this gives them one.
    """
    if is_local(url):
        yield local_path(url)
        return
    tmpdir = tempfile.mkdtemp(prefix="climb-")
    try:
        target = os.path.join(tmpdir, "data" + suffix)
        entry = held(url)
        if entry is not None and entry.complete:  # a file above the held head streams to disk below
            with open(target, "wb") as f:
                f.write(entry.data)
        else:
            with storage_errors("reading a raw file"):
                fs, path = filesystem(url, options)
                fs.get(path, target)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def read_bytes(url: str, options: dict[str, Any] | None = None) -> bytes:
    """A raw file's bytes: the one way sources read whole files.

    Raises:
        StorageFailure: the store failed (see is_storage_failure); a missing file stays
            FileNotFoundError, which the source reports as the sample's problem.
    """
    data = held_bytes(url, options)
    if data is not None:
        return data
    with storage_errors("reading a raw file"):
        if is_local(url):
            with open(local_path(url), "rb") as f:
                return f.read()
        fs, path = filesystem(url, options)
        with fs.open(path, "rb") as f:
            return f.read()

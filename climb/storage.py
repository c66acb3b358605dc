"""Where bytes live: fsspec URLs (file://, s3://, gs://, plain paths) and their options.

Every reader and writer in climb goes through these helpers, so an S3-compatible endpoint, AWS
itself or a local folder all work the same way.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
from typing import Any, Iterator
from urllib.parse import urlsplit

import fsspec


class StorageError(ValueError):
    """A URL or storage setting that cannot work; the message says what to do."""


def check_url(url: str) -> str:
    """Reject URLs that carry credentials: keys in URLs end up in logs, manifests and shell history."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise StorageError(
            f"refusing a URL with embedded credentials ({parts.scheme}://***@{parts.hostname}/...): "
            "pass credentials with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile instead"
        )
    return url


def storage_options(url: str, endpoint_url: str | None = None) -> dict[str, Any]:
    """fsspec options for a URL; an explicit endpoint (or $AWS_ENDPOINT_URL) for S3-compatible stores."""
    if url.startswith("s3://") or url.startswith("s3a://"):
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        opts: dict[str, Any] = {}
        if endpoint:
            check_url(endpoint)  # an endpoint URL is logged by botocore's connection errors
            opts["client_kwargs"] = {"endpoint_url": endpoint}
        return opts
    return {}


def filesystem(url: str, options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a URL."""
    check_url(url)
    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, path


_INHERITED: list[fsspec.AbstractFileSystem] = []


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
    classes: list[type] = [fsspec.AbstractFileSystem]
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
    fs, path = filesystem(url, options)
    tmpdir = tempfile.mkdtemp(prefix="climb-")
    try:
        target = os.path.join(tmpdir, "data" + suffix)
        fs.get(path, target)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def read_bytes(url: str, options: dict[str, Any] | None = None) -> bytes:
    fs, path = filesystem(url, options)
    with fs.open(path, "rb") as f:
        return f.read()

"""Reads of S3 objects as plain HTTP GETs on presigned URLs: s3fs signs, http.client reads.

Why: s3fs reads through aiobotocore and aiohttp on fsspec's event-loop thread, and that path costs
more CPU than the bytes' decode on a 2-core trainer or converter. From the local S3 server, 3 runs
in one process: a 4 MiB range GET (the loaders' pieces, 60 GETs) cost 9.7-10.3 ms of CPU through
s3fs, 2.2-4.4 ms through urllib3 and 1.4-1.9 ms through http.client reading straight into the
destination buffer (`readinto`); a 120 KB raw file (the conversion's prefetch, 200 files) 1.8-2.8 ms
through s3fs's get_object and 0.75-1.1 ms presigned and read here, the presigning included.

One presigned URL per object serves every range of that object for URL_TTL seconds (the Range
header is not part of a presigned signature). A presigned URL stays valid while the credentials
that signed it do, and botocore refreshes expiring credentials at least 10 minutes before they
expire, so a URL is never reused past its credentials. Who signs:
- For an explicit endpoint (a store other than AWS, or a gateway) in path-style addressing, which is
  what botocore's rules give such an endpoint unless virtual addressing is asked for, `Signer` signs
  with botocore's own SigV4 query signer and credential chain, without a botocore client. Building
  the client s3fs would presign with parses botocore's service and endpoint models: 58 ms of a
  dataset's 82 ms start-up from the local server (1,000 samples read in ~0.45 s), 13 ms in a forked
  DataLoader worker. The credential chain (a botocore session, 11 ms once per process) is asked
  only for what the storage options leave out.
- Everywhere else (AWS's own endpoints and their region and addressing rules, anonymous access,
  requester pays, versioned paths, other signature settings) s3fs's `fs.url()` signs.

Each thread keeps its own keep-alive connection per host. Answers: 206 (200 for a whole object)
is read; 429, 5xx and throttling codes raise StatusError, resets, timeouts and cut bodies
ConnectionError or TimeoutError, all of which the loaders' retry policy retries
(climb.loaders.io.is_transient); any other answer raises StatusError, and the caller reads through
s3fs instead (which follows region redirects and names missing objects and refused permissions in
its usual errors).
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import SplitResult, quote, urlsplit

import numpy as np

URL_TTL = 300.0
"""Seconds one presigned URL is reused; it is signed for EXPIRES."""
EXPIRES = 3600
_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")


class StatusError(Exception):
    """An HTTP answer other than the one asked for: `status` and the S3 error `code` ('' if none)."""

    def __init__(self, status: int, code: str, what: str):
        super().__init__(f"{what}: HTTP {status} {code}".rstrip())
        self.status = status
        self.code = code


CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                  "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
"""The environment botocore's credential chain reads: a change in it asks for another resolution."""
_CHAINS: dict[tuple, tuple[Any, str | None]] = {}


def _chain(profile: str | None) -> tuple[Any, str | None]:
    """(credentials, configured region) of botocore's credential chain for this profile and
    environment, resolved once per process (forked workers inherit it). None credentials where the
    chain finds none."""
    key = (profile, *(os.environ.get(name) for name in CREDENTIAL_ENV))
    got = _CHAINS.get(key)
    if got is None:
        import botocore.session

        session = botocore.session.Session(profile=profile)
        got = _CHAINS[key] = (session.get_credentials(), session.get_config_variable("region"))
    return got


class Signer:
    """SigV4 presigned GET URLs for `bucket/key` paths on one path-style endpoint, signed by
    botocore's S3SigV4QueryAuth with the credentials s3fs's client would use (module docstring)."""

    def __init__(self, endpoint: str, region: str, credentials: Any):
        self._endpoint = endpoint.rstrip("/")
        self._region = region
        self._credentials = credentials

    @classmethod
    def for_filesystem(cls, fs: Any) -> Signer | None:
        """The signer of s3fs filesystem `fs`, or None where its URLs need botocore's client: no
        explicit endpoint, virtual or accelerated addressing, a signature other than SigV4,
        anonymous access, requester pays, versioned paths, no credentials."""
        from climb.storage import environment_endpoint

        client = getattr(fs, "client_kwargs", None) or {}
        config = getattr(fs, "config_kwargs", None) or {}
        endpoint = client.get("endpoint_url") or getattr(fs, "endpoint_url", None) or environment_endpoint()
        if (not endpoint or getattr(fs, "anon", True) or getattr(fs, "version_aware", True) or getattr(fs, "req_kw", None)
                or config.get("signature_version") != "s3v4"
                or any(k != "addressing_style" or v not in ("auto", "path") for k, v in (config.get("s3") or {}).items())):
            return None
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or url.path not in ("", "/") or url.query or url.fragment:
            return None
        key = client.get("aws_access_key_id") or getattr(fs, "key", None)
        secret = client.get("aws_secret_access_key") or getattr(fs, "secret", None)
        region = client.get("region_name") or config.get("region_name")
        credentials = None
        if key and secret:
            from botocore.credentials import Credentials

            credentials = Credentials(key, secret, client.get("aws_session_token") or getattr(fs, "token", None))
        if credentials is None or region is None:  # what the options do not say, the chain does
            session = getattr(fs, "session", None)
            chained, configured = _chain(session.profile if session is not None else (getattr(fs, "kwargs", None) or {}).get("profile"))
            credentials, region = credentials or chained, region or configured or "us-east-1"
        return None if credentials is None else cls(endpoint, region, credentials)

    def url(self, path: str) -> str:
        """A GET URL for `bucket/key`, valid for EXPIRES seconds; the key quoted as botocore quotes it."""
        from botocore.auth import S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        bucket, _, key = path.partition("/")
        request = AWSRequest(method="GET", url=f"{self._endpoint}/{quote(bucket, safe='')}/{quote(key, safe='/~')}")
        S3SigV4QueryAuth(self._credentials.get_frozen_credentials(), "s3", self._region, expires=EXPIRES).add_auth(request)
        return request.prepare().url


class PresignedReader:
    """Byte ranges and whole objects of one S3 filesystem, read over HTTP on presigned URLs.

    Made inside the process that reads (connections do not survive fork), by each loader's
    DatasetFiles and each raw-file prefetch; threads may share it. `for_filesystem` says when it
    cannot stand in for s3fs.
    """

    def __init__(self, presign: Callable[[str], str], connect_timeout: float, read_timeout: float, verify: bool | str | None):
        self._presign = presign
        self._timeouts = (connect_timeout, read_timeout)
        self._verify = verify
        self._context: ssl.SSLContext | None = None
        self._urls: dict[str, tuple[float, SplitResult]] = {}
        self._here = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        self._pool: ThreadPoolExecutor | None = None
        self._proxies = urllib.request.getproxies()  # read once: it scans the environment, and a prefetch presigns per file

    @classmethod
    def for_filesystem(cls, fs: Any, options: dict[str, Any]) -> PresignedReader | None:
        """A reader for s3fs filesystem `fs` made with storage `options`, or None where a GET of
        ours would not be the request s3fs makes: server-side encryption with customer keys and
        other per-request arguments (headers a presigned URL does not carry) or a proxy in
        botocore's configuration (a proxy from the environment is checked per host, `_url`)."""
        config = options.get("config_kwargs") or {}
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        if "s3" not in protocols or getattr(fs, "s3_additional_kwargs", None) or config.get("proxies"):
            return None
        client = options.get("client_kwargs") or {}
        signer = Signer.for_filesystem(fs)
        if signer is not None:
            presign = signer.url
        else:
            def presign(path: str) -> str:
                return fs.url(path, expires=EXPIRES, **getattr(fs, "req_kw", {}))
        return cls(presign, float(config.get("connect_timeout", 60)), float(config.get("read_timeout", 60)), client.get("verify"))

    def _url(self, path: str) -> SplitResult:
        now = time.monotonic()
        got = self._urls.get(path)
        if got is None or got[0] < now:
            url = urlsplit(self._presign(path))
            if url.scheme in self._proxies and not urllib.request.proxy_bypass(url.hostname or ""):
                raise StatusError(0, "ProxyConfigured", f"GET {path} would go through a proxy")
            got = self._urls[path] = (now + URL_TTL, url)
        return got[1]

    def _ssl(self) -> ssl.SSLContext:
        """The TLS context botocore would use: `verify` False, a CA bundle path, or botocore's default bundle."""
        if self._context is None:
            from botocore.httpsession import get_cert_path

            bundle = self._verify if isinstance(self._verify, str) else os.environ.get("AWS_CA_BUNDLE") or True
            context = ssl.create_default_context(cafile=None if self._verify is False else get_cert_path(bundle))
            if self._verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _connection(self, url: SplitResult, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to the URL's host, and whether it served a request before."""
        mine: dict[tuple[str, str], http.client.HTTPConnection] = self._here.__dict__.setdefault("connections", {})
        key = (url.scheme, url.netloc)
        conn = mine.get(key)
        if conn is not None and not fresh and conn.sock is not None:
            return conn, True
        if conn is not None:
            conn.close()
            with self._lock:
                self._connections.remove(conn)
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.netloc, timeout=self._timeouts[0], context=self._ssl())
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=self._timeouts[0])
        conn.connect()
        conn.sock.settimeout(self._timeouts[1])
        mine[key] = conn
        with self._lock:
            self._connections.append(conn)
        return conn, False

    def _get(self, path: str, headers: dict[str, str], expect: int, read: Callable[[http.client.HTTPResponse], Any]) -> Any:
        """One GET of `path` whose answer must be `expect`; `read` consumes the body.

        A kept-alive connection the server has closed in the meantime is replaced once, at once (a
        GET is safe to repeat); every other failure is raised for the retry policy.
        """
        url = self._url(path)
        target = f"{url.path}?{url.query}" if url.query else url.path
        for fresh in (False, True):
            conn, reused = self._connection(url, fresh)
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and not fresh:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            break
        try:
            if resp.status != expect:
                body = resp.read(1 << 16)
                match = _CODE.search(body)
                raise StatusError(resp.status, match.group(1).decode("ascii", "replace") if match else "", f"GET {path}")
            return read(resp)
        except http.client.HTTPException as exc:
            raise ConnectionError(f"GET {path}: {exc!r}") from exc
        finally:
            if not resp.isclosed():  # body not read to its end: the connection cannot serve another request
                conn.close()

    def read_range(self, path: str, start: int, end: int, keep: list[tuple[int, int]] | None = None) -> Any:
        """Bytes [start, end) of one object read straight into place: uint8 [end - start], or with
        `keep` (sorted, disjoint (offset, length) pairs inside the range) one array per pair, the
        bytes between them read and dropped. One large GET then serves samples that are freed one by
        one, instead of one buffer that lives as long as its last sample."""
        spans = keep if keep is not None else [(0, end - start)]
        parts = [np.empty(n, dtype=np.uint8) for _, n in spans]

        def fill(resp: http.client.HTTPResponse) -> Any:
            at = 0
            for (offset, _), buf in zip(spans, parts):
                at = self._skip(resp, at, offset, end - start, path)
                at = self._fill(resp, memoryview(buf), at, end - start, path)
            self._skip(resp, at, end - start, end - start, path)
            if resp.read(1):
                raise ConnectionError(f"GET {path}: body longer than the {end - start} bytes asked for")
            return parts if keep is not None else parts[0]

        return self._get(path, {"Range": f"bytes={start}-{end - 1}"}, 206, fill)

    @staticmethod
    def _fill(resp: http.client.HTTPResponse, view: memoryview, at: int, total: int, path: str) -> int:
        """Read the body's next len(view) bytes into view; returns the body position after them."""
        got = 0
        while got < len(view):
            n = resp.readinto(view[got:])
            if not n:
                raise ConnectionError(f"GET {path}: body ended after {at + got} of {total} bytes")
            got += n
        return at + got

    @classmethod
    def _skip(cls, resp: http.client.HTTPResponse, at: int, to: int, total: int, path: str) -> int:
        """Read and drop the body's bytes from position `at` up to `to`."""
        if to > at:
            scratch = memoryview(np.empty(min(1 << 20, to - at), dtype=np.uint8))
            while at < to:
                at = cls._fill(resp, scratch[: to - at], at, total, path)
        return at

    def read_ranges(self, paths: list[str], starts: list[int], ends: list[int],
                    keeps: list[list[tuple[int, int]] | None] | None = None) -> list[Any]:
        """Each range's bytes (or its kept parts, read_range) or the exception that stopped it;
        several ranges go out together."""

        def one(i: int) -> Any:
            try:
                return self.read_range(paths[i], starts[i], ends[i], keeps[i] if keeps else None)
            except Exception as exc:  # noqa: BLE001 - returned, like cat_ranges(on_error="return")
                return exc

        return self._map(one, range(len(paths)))

    def _map(self, fn: Callable[[Any], Any], items: Any) -> list[Any]:
        """fn over items, on this reader's small thread pool when there is more than one."""
        items = list(items)
        if len(items) == 1:
            return [fn(items[0])]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="climb-get")
        return list(self._pool.map(fn, items))

    def read_objects(self, paths: list[str]) -> list[Any]:
        """Each whole object's bytes, None where there is no such object (404), or the exception
        that stopped it; several objects go out together (a volume's chunks: absent ones are the
        fill value)."""

        def one(path: str) -> Any:
            try:
                return self._get(path, {}, 200, lambda resp: resp.read())
            except StatusError as exc:
                return None if exc.status == 404 and exc.code in ("NoSuchKey", "") else exc
            except Exception as exc:  # noqa: BLE001 - returned, as read_ranges does
                return exc

        return self._map(one, paths)

    def head(self, path: str, nbytes: int) -> tuple[bytes, dict[str, Any]]:
        """The first `nbytes` of an object (all of a smaller one) and its info (type, size, ETag,
        LastModified) in one GET: the answer's Content-Range gives the whole size, so no HEAD."""

        def take(resp: http.client.HTTPResponse) -> tuple[bytes, dict[str, Any]]:
            data = resp.read()
            whole = resp.getheader("Content-Range")
            size = int(whole.rsplit("/", 1)[1]) if whole else len(data)
            if len(data) != min(nbytes, size):
                raise ConnectionError(f"GET {path}: {len(data)} bytes, expected {min(nbytes, size)}")
            return data, {"type": "file", "size": size, "ETag": resp.getheader("ETag"), "LastModified": resp.getheader("Last-Modified")}

        return self._get(path, {"Range": f"bytes=0-{nbytes - 1}"}, 206, take)

    def copy(self, path: str, write: Callable[[memoryview], Any], block: int) -> None:
        """A whole object, handed to `write` in views of up to `block` bytes (reused: copy before keeping)."""
        buf = memoryview(bytearray(block))

        def stream(resp: http.client.HTTPResponse) -> None:
            while n := resp.readinto(buf):
                write(buf[:n])
            if resp.length:
                raise ConnectionError(f"GET {path}: body ended {resp.length} bytes early")

        self._get(path, {}, 200, stream)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            while self._connections:
                self._connections.pop().close()

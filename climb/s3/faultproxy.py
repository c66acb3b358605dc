"""A fault-injecting HTTP proxy on loopback, in front of an S3 server, for testing retry logic.

Object stores throttle, reset connections and slow down; loaders and writers must ride through all
of it, and their tests need those failures on demand, at a known rate, reproducibly. This proxy
forwards HTTP/1.1 requests to an upstream server and injects, per request:

- latency: `latency` seconds of delay before the request is forwarded (slow first byte);
- slowdown: an HTTP 503 with S3's `SlowDown` XML error body, without forwarding the request;
- reset: the response head and about half of its body reach the client, then a TCP reset
  (a response without a body is reset before its head);
- bandwidth: request and response bodies paced to `bandwidth` bytes per second;
- outage: every request inside a window is refused, by a TCP reset before any response byte
  (`outage_mode="reset"`) or an HTTP 503 ServiceUnavailable (`outage_mode="503"`). The window is
  counted in requests (`outage_start`, `outage_requests`: deterministic, no sleeps) or in seconds
  since start()/reset_counts() (`outage_after`, `outage_seconds`); a length of None never ends.
  It stands for a store that goes away mid-run, which retries may or may not outlast.

Each kind but the outage has its own rate (probability per request). Decisions are deterministic: the n-th request
the proxy receives gets the draw hash(seed, kind, n), whatever its bucket, key or connection. So a
sequential client meets exactly the same faults on every run with the same seed, concurrent clients
meet the same number of faults among the first N requests, and a retried request gets a fresh draw.
Slowdown excludes the others; latency, reset and bandwidth combine.

API:
    from climb.s3.faultproxy import Faults, FaultProxy

    faults = Faults(seed=0, slowdown_rate=0.05, reset_rate=0.02,
                    latency=0.05, latency_rate=0.1, bandwidth=2_000_000, bandwidth_rate=0.2)
    with FaultProxy(endpoint, faults) as proxy:    # endpoint: S3Endpoint or "http://host:port"
        proxy.url                                  # http://127.0.0.1:<port>, point clients here
        proxy.endpoint                             # the S3Endpoint with url replaced (same credentials)
        proxy.faults = Faults()                    # change faults at any time (e.g. none while uploading)
        proxy.faults = Faults(outage_start=100, outage_requests=20)   # requests 100-119 refused
        proxy.counts                               # {"requests", "latency", "slowdown", "reset", "bandwidth", "outage"}
        faults.chosen(n)                           # the kinds the n-th request gets (pure, for tests)
        proxy.reset_counts()                       # zero counts, restart the fault sequence

With `tls` (a server-side ssl.SSLContext) the proxy speaks HTTPS to its clients and plain HTTP
upstream: a TLS endpoint for testing certificate verification, with or without faults.

SigV4 signatures cover the Host header, which the proxy forwards untouched, so signed requests made
to the proxy's URL verify upstream. `Expect: 100-continue` is answered by the proxy itself (that header
is never signed), which keeps request bodies in step with the faults.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from climb.s3.endpoint import S3Endpoint

KINDS = ("latency", "slowdown", "reset", "bandwidth")
OUTAGE_MODES = ("reset", "503")
_MAX_HEAD = 64 * 1024
_BLOCK = 64 * 1024


@dataclass(frozen=True)
class Faults:
    """What to inject, and how often (rates are probabilities per request, 0..1).

    Args:
        seed: makes every decision reproducible.
        latency: seconds added before a request is forwarded; applied at `latency_rate`.
        slowdown_rate: share of requests answered 503 SlowDown.
        reset_rate: share of responses cut by a TCP reset mid-body.
        bandwidth: bytes per second for bodies of capped requests; applied at `bandwidth_rate`.
        outage_start, outage_requests: refuse requests number outage_start .. +outage_requests-1
            (counted from 0 since start()/reset_counts(); outage_requests None: all later ones).
        outage_after, outage_seconds: refuse requests arriving outage_after .. +outage_seconds
            seconds after start()/reset_counts() (outage_seconds None: all later ones).
        outage_mode: "reset" (TCP reset, no response) or "503" (ServiceUnavailable).
    """

    seed: int = 0
    latency: float = 0.0
    latency_rate: float = 0.0
    slowdown_rate: float = 0.0
    reset_rate: float = 0.0
    bandwidth: float = 0.0
    bandwidth_rate: float = 0.0
    outage_start: int | None = None
    outage_requests: int | None = None
    outage_after: float | None = None
    outage_seconds: float | None = None
    outage_mode: str = "reset"

    def __post_init__(self) -> None:
        for name in ("latency_rate", "slowdown_rate", "reset_rate", "bandwidth_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.latency_rate and self.latency <= 0:
            raise ValueError("latency_rate needs latency > 0 seconds")
        if self.bandwidth_rate and self.bandwidth <= 0:
            raise ValueError("bandwidth_rate needs bandwidth > 0 bytes/s")
        if self.outage_mode not in OUTAGE_MODES:
            raise ValueError(f"outage_mode must be one of {OUTAGE_MODES}, got {self.outage_mode!r}")
        if self.outage_start is not None and self.outage_after is not None:
            raise ValueError("give the outage window in requests (outage_start) or in seconds (outage_after), not both")
        for name in ("outage_start", "outage_requests", "outage_after", "outage_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def in_outage(self, n: int, elapsed: float) -> bool:
        """Whether the n-th request, arriving `elapsed` seconds after the start, is refused."""
        if self.outage_start is not None:
            return n >= self.outage_start and (self.outage_requests is None or n < self.outage_start + self.outage_requests)
        if self.outage_after is not None:
            return elapsed >= self.outage_after and (self.outage_seconds is None or elapsed < self.outage_after + self.outage_seconds)
        return False

    def rate(self, kind: str) -> float:
        return getattr(self, f"{kind}_rate")

    def chosen(self, n: int) -> frozenset[str]:
        """The fault kinds the n-th request (counting from 0) gets: a pure function of (seed, n).

        Tests use it to know in advance which requests are delayed, throttled, reset or capped, so
        their assertions need not infer it from wall-clock times.
        """
        kinds = frozenset(k for k in KINDS if self.rate(k) and _uniform(self.seed, k, n) < self.rate(k))
        return frozenset({"slowdown"}) if "slowdown" in kinds else kinds


def _uniform(seed: int, kind: str, n: int) -> float:
    """A deterministic draw in [0, 1) for the n-th request and one fault kind."""
    digest = hashlib.sha256(f"{seed}\0{kind}\0{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class _Head:
    """A parsed HTTP head: first line and headers, with the raw bytes to forward."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw + b"\r\n"
        lines = raw.split(b"\r\n")
        self.first = lines[0].decode("latin-1")
        self.lines = [line for line in lines[1:] if line]
        self.headers: dict[str, str] = {}
        for line in self.lines:
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def get(self, name: str) -> str:
        return self.headers.get(name, "")

    def without(self, name: str) -> bytes:
        """The head bytes with one header removed."""
        kept = [line for line in self.lines if line.split(b":", 1)[0].strip().lower() != name.encode()]
        return b"\r\n".join([self.first.encode("latin-1"), *kept]) + b"\r\n\r\n"

    @property
    def chunked(self) -> bool:
        return "chunked" in self.get("transfer-encoding").lower()

    @property
    def content_length(self) -> int | None:
        value = self.get("content-length")
        return int(value) if value.isdigit() else None

    @property
    def closes(self) -> bool:
        return self.get("connection").lower() == "close"


def _read_head(rfile: BinaryIO) -> bytes | None:
    """Bytes of one HTTP head (without the blank line), or None at a clean end of stream."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(_MAX_HEAD)
        if not line:
            if lines:
                raise ConnectionError("stream ended inside an HTTP head")
            return None
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue
            return b"".join(lines)
        size += len(line)
        if size > _MAX_HEAD:
            raise ConnectionError("HTTP head too large")
        lines.append(line)


class _Pacer:
    """Sleeps before each block so that bytes sent since creation never exceed `rate` per second."""

    def __init__(self, rate: float) -> None:
        self.rate, self.sent, self.start = rate, 0, time.monotonic()

    def block(self) -> int:
        return max(1024, min(_BLOCK, int(self.rate / 50))) if self.rate else _BLOCK

    def pace(self, n: int) -> None:
        """Call before sending n bytes."""
        if not self.rate:
            return
        self.sent += n
        ahead = self.start + self.sent / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def _copy_exact(rfile: BinaryIO, out: socket.socket | None, n: int, pacer: _Pacer) -> None:
    """Copy exactly n bytes (out=None: discard them)."""
    while n > 0:
        data = rfile.read(min(n, pacer.block()))
        if not data:
            raise ConnectionError("stream ended inside an HTTP body")
        if out is not None:
            pacer.pace(len(data))
            out.sendall(data)
        n -= len(data)


def _copy_chunked(rfile: BinaryIO, out: socket.socket | None, pacer: _Pacer) -> None:
    """Copy a chunked body including its trailer, byte for byte."""
    while True:
        size_line = rfile.readline(_MAX_HEAD)
        if not size_line:
            raise ConnectionError("stream ended inside a chunked body")
        if out is not None:
            out.sendall(size_line)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:
                trailer = rfile.readline(_MAX_HEAD)
                if out is not None:
                    out.sendall(trailer)
                if trailer in (b"\r\n", b"\n", b""):
                    return
        _copy_exact(rfile, out, size + 2, pacer)


def _copy_body(head: _Head, rfile: BinaryIO, out: socket.socket | None, pacer: _Pacer,
               has_body: bool, until_close: bool) -> None:
    if not has_body:
        return
    if head.chunked:
        _copy_chunked(rfile, out, pacer)
    elif head.content_length is not None:
        _copy_exact(rfile, out, head.content_length, pacer)
    elif until_close:
        while data := rfile.read1(pacer.block()):
            if out is not None:
                pacer.pace(len(data))
                out.sendall(data)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _slowdown_response(resource: str, request_id: str, with_body: bool,
                       code: str = "SlowDown", message: str = "Please reduce your request rate.") -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    reason = "Slow Down" if code == "SlowDown" else "Service Unavailable"
    head = (
        f"HTTP/1.1 503 {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body) if with_body else 0}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body if with_body else head


class FaultProxy:
    """A threaded loopback proxy that injects `Faults` into traffic to `upstream`.

    Args:
        upstream: an S3Endpoint or an http://host:port URL.
        faults: what to inject; change it later through the `faults` attribute.
        tls: a server-side SSL context: clients then reach the proxy at https://127.0.0.1:<port>.
    """

    def __init__(self, upstream: S3Endpoint | str, faults: Faults | None = None, tls: ssl.SSLContext | None = None) -> None:
        self._upstream_endpoint = upstream if isinstance(upstream, S3Endpoint) else None
        parts = urlsplit(upstream.url if isinstance(upstream, S3Endpoint) else upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the fault proxy forwards plain http:// only, got {parts.geturl()!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self.faults = faults or Faults()
        self._tls = tls
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._sequence = 0
        self._started = time.monotonic()
        self._listener: socket.socket | None = None
        self._stopping = False
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self.url = ""

    @property
    def endpoint(self) -> S3Endpoint:
        """The upstream S3Endpoint with its URL replaced by the proxy's."""
        if self._upstream_endpoint is None:
            raise RuntimeError("this proxy was built from a URL; build it from an S3Endpoint for .endpoint")
        if not self.url:
            raise RuntimeError("the proxy is not running; call start() first")
        return dataclasses.replace(self._upstream_endpoint, url=self.url)

    @property
    def counts(self) -> dict[str, int]:
        """Requests seen and faults injected so far, by kind."""
        with self._lock:
            return {"requests": self._counts["requests"], **{k: self._counts[k] for k in (*KINDS, "outage")}}

    @property
    def methods(self) -> dict[str, int]:
        """Requests seen so far by HTTP method (GET, HEAD, PUT, ...): how a client talks to the store."""
        with self._lock:
            return {k.removeprefix("method "): v for k, v in self._counts.items() if k.startswith("method ")}

    def reset_counts(self) -> None:
        """Zero the counters and restart the fault sequence (and the outage clock) at request 0."""
        with self._lock:
            self._counts.clear()
            self._sequence = 0
            self._started = time.monotonic()

    def start(self) -> str:
        """Listen on a free 127.0.0.1 port; returns the proxy URL."""
        if self._listener is not None:
            return self.url
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        self._stopping = False
        self._started = time.monotonic()
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
        self._spawn(self._accept_loop, listener)
        return self.url

    def stop(self) -> None:
        """Stop listening, cut open connections and wait for the connection threads."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        # closing a listening socket does not wake a thread blocked in accept(); a connection does
        self._stopping = True
        try:
            socket.create_connection(listener.getsockname(), timeout=1).close()
        except OSError:
            pass
        listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(timeout=5)
        self.url = ""

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                target(*args)
            finally:
                self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, daemon=True, name="climb-faultproxy")
        self._threads.add(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._stopping:
                client.close()
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._serve, client)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)

    def _decide(self) -> frozenset[str]:
        """The faults for the next request (and count them)."""
        faults = self.faults
        with self._lock:
            n = self._sequence
            self._sequence += 1
            self._counts["requests"] += 1
            if faults.in_outage(n, time.monotonic() - self._started):
                self._counts["outage"] += 1
                return frozenset({"outage"})
            chosen = faults.chosen(n)
            for kind in chosen:
                self._counts[kind] += 1
            return chosen

    def _serve(self, client: socket.socket) -> None:
        """Relay requests of one client connection until either side closes."""
        self._track(client, True)
        upstream: socket.socket | None = None
        crfile: BinaryIO | None = None
        urfile: BinaryIO | None = None
        try:
            if self._tls is not None:  # the handshake here, off the accept loop: a failed one ends this connection only
                self._track(client, False)
                client = self._tls.wrap_socket(client, server_side=True)
                self._track(client, True)
            crfile = client.makefile("rb", buffering=_BLOCK)
            while True:
                raw = _read_head(crfile)
                if raw is None:
                    return
                request = _Head(raw)
                method, _, rest = request.first.partition(" ")
                chosen = self._decide()
                with self._lock:
                    self._counts[f"method {method}"] += 1
                expects = request.get("expect").lower() == "100-continue"
                if "outage" in chosen and self.faults.outage_mode == "reset":
                    crfile.close()
                    _reset(client)
                    return
                if "outage" in chosen or "slowdown" in chosen:
                    if not expects:
                        _copy_body(request, crfile, None, _Pacer(0), True, False)
                    target = rest.rsplit(" ", 1)[0]
                    request_id = f"climbfault{self._counts['requests']:08d}"
                    code = ("ServiceUnavailable", "The store is unavailable.") if "outage" in chosen else ("SlowDown", "Please reduce your request rate.")
                    client.sendall(_slowdown_response(urlsplit(target).path, request_id, method != "HEAD", *code))
                    return
                if "latency" in chosen:
                    time.sleep(self.faults.latency)
                if upstream is None:
                    upstream = socket.create_connection(self._upstream, timeout=60)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._track(upstream, True)
                    urfile = upstream.makefile("rb", buffering=_BLOCK)
                assert urfile is not None
                pacer = _Pacer(self.faults.bandwidth if "bandwidth" in chosen else 0)
                upstream.sendall(request.without("expect"))
                if expects:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                _copy_body(request, crfile, upstream, pacer, True, False)
                response = self._read_response(urfile)
                status = int(response.first.split(" ", 2)[1])
                has_body = method != "HEAD" and status not in (204, 304)
                until_close = has_body and not response.chunked and response.content_length is None
                if "reset" in chosen:
                    self._send_partial(client, response, urfile, has_body)
                    crfile.close()
                    _reset(client)
                    return
                client.sendall(response.raw)
                _copy_body(response, urfile, client, pacer, has_body, until_close)
                if until_close or response.closes or request.closes:
                    return
        except (OSError, ValueError, ConnectionError):
            return
        finally:
            # a socket's descriptor closes only once its file objects are closed too
            for stream in (crfile, urfile):
                if stream is not None:
                    stream.close()
            for sock in (client, upstream):
                if sock is not None:
                    self._track(sock, False)
                    sock.close()

    @staticmethod
    def _read_response(urfile: BinaryIO) -> _Head:
        """The next final response head from upstream (interim 1xx responses are dropped)."""
        while True:
            raw = _read_head(urfile)
            if raw is None:
                raise ConnectionError("upstream closed before responding")
            response = _Head(raw)
            if not response.first.split(" ", 2)[1].startswith("1"):
                return response

    @staticmethod
    def _send_partial(client: socket.socket, response: _Head, urfile: BinaryIO, has_body: bool) -> None:
        """Send the head and about half the body (nothing at all for a bodiless response)."""
        if not has_body:
            return
        client.sendall(response.raw)
        if response.content_length is not None:
            _copy_exact(urfile, client, response.content_length // 2, _Pacer(0))
        else:
            data = urfile.read1(_BLOCK)
            client.sendall(data[: len(data) // 2])

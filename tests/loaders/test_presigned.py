"""loaders/presigned.py against a plain HTTP server of the test's own: keep-alive, replaced
connections, URL reuse and answers. The S3 behaviour itself is tested on the real server (test_s3.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from climb import presigned
from climb.loaders.io import is_transient
from climb.presigned import PresignedReader, StatusError

BODY = bytes(range(256)) * 64


class Store(BaseHTTPRequestHandler):
    """Serves BODY at any path, honouring one Range; `drop` closes each connection after its answer
    without saying so (as a server whose idle timeout ran out does), `status` answers every request so."""

    protocol_version = "HTTP/1.1"
    drop = False
    status = 206

    def do_GET(self) -> None:
        self.server.connections.add(self.client_address)
        self.server.requests += 1
        if self.status != 206:
            error = f"<Error><Code>Code{self.status}</Code></Error>".encode()
            self.send_response(self.status)
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        start, end = (int(v) for v in self.headers["Range"].removeprefix("bytes=").split("-"))
        self.send_response(206)
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        self.wfile.write(BODY[start:end + 1])
        self.close_connection = self.drop

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def store():
    """A loopback HTTP server (ended by the fixture) and a stand-in for s3fs that presigns to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Store,), {}))
    server.connections, server.requests = set(), 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Signer:
        signed = 0

        def url(self, path: str, expires: int) -> str:
            Signer.signed += 1
            return f"http://127.0.0.1:{server.server_address[1]}/{path}?X-Amz-Signature={Signer.signed}"

    try:
        yield server, PresignedReader(lambda path: Signer().url(path, presigned.EXPIRES), 5, 10, None), Signer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_ranges_of_one_object_share_a_kept_alive_connection_and_one_signature(store):
    server, reader, signer = store
    try:
        got = [bytes(reader.read_range("bucket/shard.tar", s, s + 100)) for s in (0, 1000, 5000)]
    finally:
        reader.close()
    assert got == [BODY[s:s + 100] for s in (0, 1000, 5000)]
    assert len(server.connections) == 1 and signer.signed == 1


def test_one_get_fills_a_buffer_per_kept_part_and_reads_past_the_bytes_between(store):
    server, reader, _ = store
    keep = [(0, 10), (500, 100), (1900, 100)]
    try:
        parts = reader.read_range("bucket/shard.tar", 100, 2100, keep)
        after = bytes(reader.read_range("bucket/shard.tar", 0, 10))  # the body was read to its end
    finally:
        reader.close()
    assert [bytes(p) for p in parts] == [BODY[100 + o:100 + o + n] for o, n in keep]
    assert [len(p) for p in parts] == [10, 100, 100]  # each part is its own buffer, not a view of the range
    assert after == BODY[:10] and server.requests == 2 and len(server.connections) == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(store):
    server, reader, _ = store
    server.RequestHandlerClass.drop = True
    try:
        got = [bytes(reader.read_range("bucket/shard.tar", s, s + 10)) for s in range(0, 50, 10)]
    finally:
        reader.close()
    assert got == [BODY[s:s + 10] for s in range(0, 50, 10)]
    assert server.requests == 5 and len(server.connections) == 5


def test_a_url_is_presigned_again_once_its_reuse_time_is_over(store, monkeypatch):
    _, reader, signer = store
    monkeypatch.setattr(presigned, "URL_TTL", -1.0)
    try:
        for s in (0, 10, 20):
            assert bytes(reader.read_range("bucket/shard.tar", s, s + 10)) == BODY[s:s + 10]
    finally:
        reader.close()
    assert signer.signed == 3


@pytest.mark.parametrize("status, transient", [(503, True), (500, True), (429, True), (403, False), (404, False), (301, False)])
def test_an_answer_other_than_the_range_raises_its_status_and_code(store, status, transient):
    server, reader, _ = store
    server.RequestHandlerClass.status = status
    try:
        with pytest.raises(StatusError) as raised:
            reader.read_range("bucket/shard.tar", 0, 10)
        returned = reader.read_ranges(["bucket/shard.tar"] * 2, [0, 20], [10, 30])  # as cat_ranges(on_error="return")
    finally:
        reader.close()
    assert (raised.value.status, raised.value.code) == (status, f"Code{status}")
    assert "bucket/shard.tar" in str(raised.value) and "Signature" not in str(raised.value)  # a URL is a bearer credential
    assert is_transient(raised.value) is transient
    assert [type(r) for r in returned] == [StatusError, StatusError] and server.requests == 3

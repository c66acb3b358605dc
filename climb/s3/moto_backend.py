"""moto's S3 emulator in a thread: an explicit fallback, never the default.

The tests run against real SeaweedFS (`climb.s3.server`). Set CLIMB_S3_BACKEND=moto only where that
binary cannot run; moto (a dev extra) then serves the same `S3Endpoint` interface on loopback. It
accepts any credentials and differs from real servers in timing and edge cases, so a pass on moto is
weaker evidence than a pass on SeaweedFS.
"""

from __future__ import annotations

from climb.s3.endpoint import S3Endpoint, demo_credentials

LOOPBACK = "127.0.0.1"


class MotoS3Server:
    """moto's server on a free 127.0.0.1 port, with `start()`/`stop()` like `S3Server`."""

    def __init__(self) -> None:
        self._server = None
        self._endpoint: S3Endpoint | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None:
            raise RuntimeError("the moto server is not running; call start() first")
        return self._endpoint

    def start(self) -> S3Endpoint:
        from moto.server import ThreadedMotoServer

        if self._endpoint is not None:
            return self._endpoint
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        key, secret = demo_credentials()
        self._endpoint = S3Endpoint(f"http://{host}:{port}", key, secret)
        return self._endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None
        self._endpoint = None

    def __enter__(self) -> MotoS3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

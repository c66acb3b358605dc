"""The local S3 server: real SeaweedFS on loopback, credentials enforced, stopped without leftovers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import botocore.exceptions
import pytest

from climb.s3.endpoint import S3Endpoint
from climb.s3.server import S3Server, remove_sockets

pytestmark = pytest.mark.s3


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_stop_ends_the_server_process_and_frees_its_port_and_temp_folders():
    server = S3Server()
    endpoint = server.start()
    pid, data_dir, port = server.pid, server.data_dir, int(endpoint.url.rsplit(":", 1)[1])
    assert pid is not None and _alive(pid)
    assert os.getpgid(pid) == pid, "the server leads its own process group"

    server.stop()

    assert not _alive(pid)
    assert not _listening(port)
    assert not os.path.exists(data_dir)
    assert server.pid is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_server_dies_with_a_parent_that_is_killed_outright(tmp_path: Path):
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from climb.s3.server import S3Server; s = S3Server(); s.start(); "
         "print(s.pid, *s.ports, flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)},  # its folders land here
    )
    try:
        pid, *ports = map(int, parent.stdout.readline().split())
        assert _alive(pid)
    finally:
        parent.kill()  # SIGKILL: no atexit, no cleanup code runs
        parent.wait()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    remove_sockets(ports)


def test_server_listens_on_loopback_only():
    with S3Server() as server:
        pid = server.pid
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        listening = [r for r in rows if r[3] == "0A" and f"socket:[{r[9]}]" in inodes]
        assert listening, "the server listens on some ports"
        assert {r[1].split(":")[0] for r in listening} == {"0100007F"}  # 127.0.0.1


def test_server_accepts_its_credentials_and_rejects_others():
    with S3Server(access_key="climb-test", secret_key="right-secret-1234") as server:
        endpoint = server.endpoint
        assert endpoint.create_bucket("creds") == "creds"
        intruder = S3Endpoint(endpoint.url, endpoint.access_key, "wrong-secret-1234")
        with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
            intruder.client().list_buckets()


def test_a_port_taken_between_choice_and_launch_is_retried_on_fresh_ports(monkeypatch):
    import climb.s3.server as server_module

    squatter = socket.create_server(("127.0.0.1", 0))
    real_free_ports = server_module._free_ports
    launches = []

    def free_ports_first_one_taken(count, taken):
        ports = real_free_ports(count, taken)
        if count == 8 and not launches:
            ports[2] = squatter.getsockname()[1]  # the master port
        launches.append(ports)
        return ports

    monkeypatch.setattr(server_module, "_free_ports", free_ports_first_one_taken)
    with squatter, S3Server() as server:
        assert server.endpoint.client().list_buckets()["Buckets"] == []
        assert len([p for p in launches if len(p) == 8]) == 2


def test_objects_survive_a_restart_on_the_same_data_dir(tmp_path: Path):
    with S3Server(data_dir=tmp_path / "s3") as server:
        server.endpoint.create_bucket("keep")
        server.endpoint.client().put_object(Bucket="keep", Key="a/b.txt", Body=b"still here")
    with S3Server(data_dir=tmp_path / "s3") as server:
        body = server.endpoint.client().get_object(Bucket="keep", Key="a/b.txt")["Body"].read()
    assert body == b"still here"
    assert (tmp_path / "s3").is_dir(), "a given data dir is kept"


def _serve(env: dict[str, str], preexec_fn=None) -> tuple[subprocess.Popen, str]:
    """Start `climb s3 serve` and return it with its output up to the Ctrl-C hint."""
    proc = subprocess.Popen([sys.executable, "-m", "climb", "s3", "serve"], env=env, preexec_fn=preexec_fn,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    return proc, "".join(lines)


def _interrupt(proc: subprocess.Popen) -> int:
    try:
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _env_without_aws() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def test_cli_serve_prints_endpoint_and_env_and_ctrl_c_stops_it():
    proc, out = _serve(_env_without_aws())
    try:
        env = dict(re.findall(r"^export (\w+)=(\S+)$", out, re.M))
        assert env["AWS_ENDPOINT_URL"] in out.splitlines()[0]
        endpoint = S3Endpoint(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        assert endpoint.client().list_buckets()["Buckets"] == []
        [weed] = _children(proc.pid)
    finally:
        code = _interrupt(proc)
    assert code == 0
    assert not _alive(weed)
    assert not _listening(int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))


def test_cli_serve_uses_the_shells_credentials_without_echoing_the_secret():
    key, secret = "climb-shell-key", "shell-secret-not-to-print"
    proc, out = _serve({**_env_without_aws(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    try:
        url = re.search(r"^export AWS_ENDPOINT_URL=(\S+)$", out, re.M).group(1)
        assert S3Endpoint(url, key, secret).client().list_buckets()["Buckets"] == []
    finally:
        assert _interrupt(proc) == 0
    assert secret not in out


def _ignore_and_block_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def test_cli_serve_stops_on_ctrl_c_even_when_started_with_sigint_ignored_and_blocked():
    proc, _ = _serve(_env_without_aws(), preexec_fn=_ignore_and_block_sigint)
    [weed] = _children(proc.pid)
    assert _interrupt(proc) == 0
    assert not _alive(weed)

"""The host server in this process: requests, error frames, cut streams, deadlines, stop.

``HostServer.serve`` runs in a thread on a real Unix socket in a short private
directory, so ``test/`` models registered here (slow ones, failing ones) are what it
serves. Clients are real ``HostClient``s or raw frames over a real connection. A
client's ``command`` fails at once, so a call the in-process host did not answer
would show as a missing request in its counts rather than start another host.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import BOUND_S, NO_START, wait_for

from prellm.errors import ProviderError, ProviderTimeoutError
from prellm.host import protocol
from prellm.host.client import HostClient
from prellm.host.paths import SOCKET, START_LOCK, secure_dir
from prellm.host.protocol import HostError, HostMismatch, raise_error, recv, send
from prellm.host.server import HostServer, _closed
from prellm.providers.testing import register_function

MSGS = [{"role": "user", "content": "Deploy the app to production"}]


@dataclass
class Host:
    server: HostServer
    thread: threading.Thread
    client: HostClient

    def idle(self) -> bool:
        with self.server.lock:
            return self.server.active == 0


def _serve(directory: Path) -> tuple[HostServer, threading.Thread]:
    server = HostServer(directory, idle_s=600)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    wait_for(lambda: server.inode is not None, "the host to listen")
    return server, thread


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="pc", dir="/tmp"))  # short: the socket path fits
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host(root):
    server, thread = _serve(root / "host")
    yield Host(server, thread, HostClient(root / "host", serve_test=True, command=NO_START))
    server.stop()
    thread.join(BOUND_S)


def _connect(server: HostServer) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(BOUND_S)
    sock.connect(str(server.path))
    return sock


def _ask(server: HostServer, frame: dict) -> dict | None:
    with _connect(server) as sock:
        send(sock, frame)
        return recv(sock)


# --- requests and their answers -----------------------------------------------------------


def test_status_reports_this_process_and_its_counts(host):
    out = host.client.complete("test/echo", {"messages": MSGS})
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    st = host.client.status()
    assert st["pid"] == os.getpid() and st["requests"] == 1 and st["active"] == 0
    assert st["protocol"] == protocol.PROTOCOL and st["identity"] == host.client.identity
    assert st["models"] == [] and st["idle_timeout_s"] == 600
    assert st["rss_bytes"] and st["rss_bytes"] > 0


def test_a_stream_crosses_the_socket_and_ends(host):
    chunks: list[dict] = []
    host.client.stream("test/echo", {"messages": MSGS}, lambda c: chunks.append(c) and False)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == MSGS[0]["content"]
    assert chunks[-1]["usage"]["prompt_tokens"] == len(MSGS[0]["content"].split())
    assert host.client.status()["requests"] == 1


def test_a_stream_that_fails_raises_the_same_provider_error(host):
    chunks: list[dict] = []
    with pytest.raises(ProviderError) as info:
        host.client.stream("test/fail", {"messages": MSGS}, lambda c: chunks.append(c) and False)
    assert info.value.status_code == 503 and "configured to fail" in info.value.cause
    assert chunks == []
    assert host.client.status()["requests"] == 1  # the host lives on


def test_a_bug_in_a_model_reaches_the_client_as_a_provider_error(host):
    def broken(messages, params):
        raise RuntimeError("boom in the model")

    model = register_function("host_broken", broken)
    frame = _ask(
        host.server,
        {"op": "complete", "identity": host.server.identity, "model": model, "request": {}},
    )
    assert frame is not None and frame["error"]["type"] == "internal"
    with pytest.raises(ProviderError, match="boom in the model") as info:
        host.client.complete(model, {"messages": MSGS})
    assert info.value.model == model
    assert host.client.complete("test/echo", {"messages": MSGS})["choices"]  # still serving


def test_an_unknown_operation_is_answered_with_an_error_frame(host):
    frame = _ask(host.server, {"op": "reload", "identity": host.server.identity})
    assert frame == {"error": {"type": "HostError", "message": "unknown host operation 'reload'"}}
    with pytest.raises(ProviderError, match="unknown host operation"):
        raise_error(frame, "test/echo")


def test_a_request_of_another_build_is_refused_as_a_mismatch(host):
    frame = _ask(host.server, {"op": "complete", "identity": "0.0.1+old", "model": "test/echo"})
    assert frame is not None and frame["error"]["type"] == "HostMismatch"
    with pytest.raises(HostMismatch, match="another preLLM build"):
        raise_error(frame, "test/echo")


def test_broken_requests_get_no_answer_and_the_host_lives_on(host):
    for raw in (
        struct.pack(">I", 9) + b"{not json",  # not JSON
        struct.pack(">I", protocol.MAX_FRAME + 1),  # announced over the limit
        struct.pack(">I", 2) + b"[]",  # not an object
        b"",  # connected, then gone without a word
    ):
        with _connect(host.server) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1) == b""  # closed without an answer
    st = host.client.status()
    assert st is not None and st["requests"] == 0


def test_a_request_too_large_for_a_frame_fails_before_reaching_the_host(host, monkeypatch):
    big = [{"role": "user", "content": "x" * 2000}]
    with monkeypatch.context() as m:
        m.setattr(protocol, "MAX_FRAME", 1024)  # the limit, not the behaviour
        with pytest.raises(HostError, match="too large"):
            host.client.complete("test/echo", {"messages": big})
    assert host.client.status()["requests"] == 0


# --- clients that go away -------------------------------------------------------------------


def test_a_client_that_stops_reading_a_stream_ends_it_and_the_host_serves_on(host):
    words = 50_000  # far more chunks than a socket buffer holds: the host blocks sending
    model = register_function("host_long", lambda m, p: " ".join(["word"] * words))
    got: list[dict] = []

    def first_only(chunk: dict) -> bool:
        got.append(chunk)
        return True  # enough: closing the connection stops the host's stream

    host.client.stream(model, {"messages": MSGS}, first_only)
    assert len(got) == 1 and got[0]["choices"][0]["delta"]["content"] == "word"
    wait_for(host.idle, "the host to drop the abandoned stream")
    out = host.client.complete("test/echo", {"messages": MSGS})
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    assert host.client.status()["requests"] == 2


@pytest.mark.parametrize("op", ["complete", "stream"])
def test_a_call_past_its_timeout_is_a_provider_timeout_and_the_host_serves_on(host, op):
    gate = threading.Event()

    def held(messages, params):
        gate.wait(BOUND_S)
        return "too late"

    model = register_function(f"host_held_{op}", held)
    try:
        with pytest.raises(ProviderTimeoutError) as info:
            if op == "complete":
                host.client.complete(model, {"messages": MSGS}, timeout=0.2)
            else:
                host.client.stream(model, {"messages": MSGS}, lambda c: False, timeout=0.2)
        assert info.value.status_code == 504 and info.value.model == model
    finally:
        gate.set()  # the host's answer now goes to a closed connection
    wait_for(host.idle, "the host to finish the abandoned call")
    assert host.client.complete("test/echo", {"messages": MSGS})["choices"]
    assert host.client.status()["requests"] == 2


def test_closed_tells_a_client_that_hung_up_from_one_still_waiting():
    a, b = socket.socketpair()
    with a:
        assert not _closed(a)  # waiting for its answer
        b.sendall(b"x")
        assert not _closed(a)  # sent more: still there
        a.recv(1)
        b.close()
        assert _closed(a)
    c, d = socket.socketpair()
    with c:
        c.sendall(b"answer the client never read")
        d.close()  # gone with unread data: a reset
        assert _closed(c)


# --- stopping ---------------------------------------------------------------------------------


def _in(thread: threading.Thread, function: str) -> bool:
    """Is ``thread`` running ``function`` now (anywhere in its stack)?"""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def test_stop_frees_the_socket_at_once_and_lets_calls_in_flight_finish(host):
    gate, entered = threading.Event(), threading.Event()

    def held(messages, params):
        entered.set()
        gate.wait(BOUND_S)
        return "finished after stop"

    model = register_function("host_draining", held)
    result: dict = {}
    caller = threading.Thread(
        target=lambda: result.update(out=host.client.complete(model, {"messages": MSGS}))
    )
    caller.start()
    try:
        assert entered.wait(BOUND_S)
        host.server.stop()
        assert not host.server.path.exists()  # a new host could bind now
        wait_for(lambda: _in(host.thread, "_drain"), "serve() to wait for the call")
    finally:
        gate.set()
    caller.join(BOUND_S)
    assert result["out"]["choices"][0]["message"]["content"] == "finished after stop"
    host.thread.join(BOUND_S)
    assert not host.thread.is_alive()


def test_a_second_host_process_for_the_same_directory_exits_with_1(host):
    out = subprocess.run(
        [sys.executable, "-m", "prellm.host", "--dir", str(host.server.dir), "--idle", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert "another host already listens" in out.stderr
    assert host.client.status()["pid"] == os.getpid()  # the running host was not disturbed


def test_main_reports_a_second_host_and_exits_with_1(host, monkeypatch, caplog):
    from prellm.host.server import main
    from prellm.providers import embedded

    monkeypatch.setattr(embedded, "_cache_ram_mib", embedded._cache_ram_mib)  # restored after
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with caplog.at_level("INFO", logger="prellm.host"):
            code = main(["--dir", str(host.server.dir), "--preload", "/nonexistent/m.gguf"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 1
    assert "preloading m.gguf failed" in caplog.text and "already listens" in caplog.text
    assert embedded._cache_ram_mib == 512  # a host bounds llama.cpp's prompt cache
    assert host.client.status()["pid"] == os.getpid()


def test_a_host_started_while_waiting_for_the_start_lock_is_used(root):
    d = secure_dir(root / "host")
    lock = os.open(d / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another CLI call is starting a host
    client = HostClient(d, serve_test=True, command=NO_START)
    got: dict = {}
    waiter = threading.Thread(target=lambda: got.update(sock=client.ensure()), daemon=True)
    waiter.start()
    inode = os.fstat(lock).st_ino
    wait_for(
        lambda: any(
            "->" in line and f":{inode} " in line
            for line in Path("/proc/locks").read_text().splitlines()
        ),
        "the client to wait for the start lock",
    )
    server, thread = _serve(d)  # the other call's host comes up
    try:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
        waiter.join(BOUND_S)
        with got["sock"] as sock:
            send(sock, {"op": "status"})
            assert recv(sock)["pid"] == os.getpid()  # that host, not a second one
        assert (d / SOCKET).exists() and not client.unusable
    finally:
        server.stop()
        thread.join(BOUND_S)


def test_a_model_file_that_cannot_be_preloaded_is_logged_and_the_host_serves(host, caplog):
    with caplog.at_level("ERROR", logger="prellm.host"):
        host.server.preload(Path("/nonexistent/prellm-test/model.gguf"))
    assert "preloading model.gguf failed: GGUF file not found" in caplog.text
    st = host.client.status()
    assert st["preloaded"] == {} and st["models"] == []
    assert host.client.complete("test/echo", {"messages": MSGS})["choices"]

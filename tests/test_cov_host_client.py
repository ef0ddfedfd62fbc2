"""The CLI's side of the host when things go wrong: hosts that die or stop mid-answer,
sockets that cannot be reached, hosts that never come up.

A misbehaving host is a real Unix listener in a thread speaking the real frames; a
host that does not start is a real process that does something else.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from support import BOUND_S, NO_START

from prellm.errors import ConfigError
from prellm.host import client as host_client
from prellm.host.client import HostClient, idle_timeout, use_host
from prellm.host.paths import LOG, SOCKET, secure_dir
from prellm.host.protocol import HostError, HostGone, HostStartError, recv, send
from prellm.providers import direct

MSGS = [{"role": "user", "content": "Deploy the app to production"}]


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="pk", dir="/tmp"))  # short: the socket path fits
    yield path
    for pid in _processes_with(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


def _processes_with(directory: Path) -> list[int]:
    """Processes started for ``directory`` (its path is in their arguments)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.fsencode(str(directory / "host")) in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _fake_host(path: Path, answer: Callable[[socket.socket], None], connections: int = 1) -> list:
    """A listener at ``path`` that reads each request and ``answer``s it its own way."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(connections)
    served: list[int] = []

    def run() -> None:
        with listener:
            for _ in range(connections):
                conn, _ = listener.accept()
                with conn:
                    answer(conn)
                    served.append(1)  # before the close the client sees: counted in time

    threading.Thread(target=run, daemon=True).start()
    return served


def _read_request(conn: socket.socket) -> dict | None:
    conn.settimeout(BOUND_S)
    return recv(conn)


def _client(root: Path) -> HostClient:
    return HostClient(secure_dir(root / "host"), serve_test=True, command=NO_START)


# --- hosts that fail mid-call -------------------------------------------------------------------


def test_a_host_closing_without_an_answer_is_a_host_error(root):
    c = _client(root)
    _fake_host(c.directory / SOCKET, _read_request)
    with pytest.raises(HostError, match="closed the connection without an answer"):
        c.complete("test/echo", {"messages": MSGS})


def test_a_host_closing_a_stream_before_its_end_is_a_host_error(root):
    c = _client(root)

    def one_chunk(conn: socket.socket) -> None:
        _read_request(conn)
        send(conn, {"chunk": {"choices": [{"index": 0, "delta": {"content": "Half"}}]}})

    _fake_host(c.directory / SOCKET, one_chunk)
    got: list[dict] = []
    with pytest.raises(HostError, match="closed the stream before its end"):
        c.stream("test/echo", {"messages": MSGS}, lambda chunk: got.append(chunk) and False)
    assert [g["choices"][0]["delta"]["content"] for g in got] == ["Half"]


def test_a_host_that_keeps_dying_before_answering_is_given_up_after_three_tries(root):
    c = _client(root)

    def drop_unread(conn: socket.socket) -> None:
        # Like a host killed as it accepts: the request arrives, is never read, and the
        # connection goes (the client sees a reset).
        select.select([conn], [], [], BOUND_S)

    served = _fake_host(c.directory / SOCKET, drop_unread, connections=host_client.GONE_RETRIES)
    with pytest.raises(HostGone, match="reset the connection"):
        c.complete("test/echo", {"messages": MSGS})
    assert len(served) == host_client.GONE_RETRIES
    assert not c.unusable  # a host may come back: later calls try again


def test_a_host_reset_after_part_of_a_stream_is_not_called_again(root):
    c = _client(root)

    def chunk_then_reset(conn: socket.socket) -> None:
        conn.settimeout(BOUND_S)
        conn.recv(4)  # the request's header only: the rest stays unread, closing resets
        send(conn, {"chunk": {"choices": [{"index": 0, "delta": {"content": "Half"}}]}})

    served = _fake_host(c.directory / SOCKET, chunk_then_reset, connections=2)
    got: list[dict] = []
    with pytest.raises(HostError, match="closed the stream before its end"):
        c.stream("test/echo", {"messages": MSGS}, lambda chunk: got.append(chunk) and False)
    assert len(got) == 1  # delivered once: calling again would repeat it
    assert len(served) == 1


# --- no host can be used: calls run in this process ----------------------------------------------


def test_an_unreachable_socket_path_runs_calls_in_process(root):
    d = secure_dir(root / "host")
    (d / SOCKET).symlink_to(d / SOCKET)  # a loop: connecting fails with ELOOP
    c = HostClient(d, serve_test=True, command=NO_START)
    with pytest.raises(HostStartError, match="cannot reach the model host"):
        c.connect()
    out = c.complete("test/echo", {"messages": MSGS})
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    assert c.unusable


def test_a_host_directory_that_cannot_be_made_runs_calls_in_process(root):
    (root / "file").write_text("not a directory")
    c = HostClient(root / "file" / "host", serve_test=True, command=NO_START)
    assert c.connect() is None  # nothing listens there
    with pytest.raises(HostStartError):
        c.ensure()
    chunks: list[dict] = []
    c.stream("test/echo", {"messages": MSGS}, lambda chunk: chunks.append(chunk) and False)
    assert chunks[-1]["usage"]["completion_tokens"] == len(MSGS[0]["content"].split())
    assert c.unusable


def test_a_host_that_never_listens_is_given_up_after_the_start_timeout(root, monkeypatch):
    monkeypatch.setattr(host_client, "START_TIMEOUT_S", 0.5)  # the limit, not the behaviour
    c = HostClient(
        secure_dir(root / "host"),
        serve_test=True,
        command=[sys.executable, "-c", "import time; time.sleep(600)"],
    )
    with pytest.raises(HostStartError, match="did not start within"):
        c.ensure()
    assert _processes_with(root)  # still running (the root fixture ends it)


def test_a_start_failure_is_reported_even_when_its_log_is_gone(root):
    remove_log = "import os, sys; os.remove(sys.argv[sys.argv.index('--dir') + 1] + '/host.log')"
    c = HostClient(
        secure_dir(root / "host"), serve_test=True, command=[sys.executable, "-c", remove_log]
    )
    with pytest.raises(HostStartError, match="exited at start") as info:
        c.ensure()
    assert str(info.value).endswith(": ") and not (c.directory / LOG).exists()


def test_a_start_failure_shows_the_end_of_the_hosts_log(root):
    c = HostClient(
        secure_dir(root / "host"),
        serve_test=True,
        command=[sys.executable, "-c", "import sys; sys.exit('no GPU here\\nand no luck')"],
    )
    with pytest.raises(HostStartError, match="exited at start") as info:
        c.ensure()
    assert str(info.value).endswith("no GPU here and no luck")


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["0", "-5"])
def test_an_idle_timeout_of_zero_or_less_is_a_config_error(monkeypatch, raw):
    monkeypatch.setenv("PRELLM_HOST_IDLE_S", raw)
    with pytest.raises(ConfigError, match="must be above 0") as info:
        idle_timeout()
    assert info.value.exit_code == 2


def test_idle_timeout_reads_seconds_and_defaults_to_ten_minutes(monkeypatch):
    monkeypatch.setenv("PRELLM_HOST_IDLE_S", " 90.5 ")
    assert idle_timeout() == 90.5
    monkeypatch.setenv("PRELLM_HOST_IDLE_S", "")
    assert idle_timeout() == 600.0


def test_outside_a_cli_command_use_host_stays_on_for_the_process(monkeypatch):
    for key, value in list(direct._state.items()):
        monkeypatch.setitem(direct._state, key, value)  # restored after the test
    monkeypatch.setenv("PRELLM_NO_HOST", "yes")
    assert not direct.active("test/echo")
    use_host()
    assert direct.active("test/echo") and direct._state["backend"] is None
    assert not direct.active("openai/gpt-4o-mini")

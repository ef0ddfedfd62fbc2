"""The background model host (prellm.host) and the CLI's direct path to our models.

Most tests use the ``test/`` model through the host (``serve_test``): the host
process, socket, lifecycle and protocol are the same as for the embedded model,
without loading a GGUF. One test uses the embedded model. Every test has its own
short socket directory; the fixture stops its hosts (and kills any survivor it
started, found by that directory) so no process outlives a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import BOUND_S, wait_for

from prellm.errors import ConfigError, ProviderError
from prellm.host import client as host_client
from prellm.host.client import HostClient, use_host
from prellm.host.paths import SOCKET, host_dir, secure_dir
from prellm.host.protocol import HostError
from prellm.host.server import HostServer
from prellm.providers import direct

MSGS = [{"role": "user", "content": "Deploy the app to production"}]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our child, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _hosts_of(directory: Path) -> list[int]:
    """Host processes serving ``directory`` (ours: the directory is this test's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"prellm.host" in args and os.fsencode(str(directory)) in args:
            found.append(int(entry.name))
    return found


@pytest.fixture
def home(monkeypatch):
    """A short private data dir (so the socket path is short), its hosts stopped after."""
    root = Path(tempfile.mkdtemp(prefix="ph", dir="/tmp"))
    monkeypatch.setenv("PRELLM_DATA_DIR", str(root))
    monkeypatch.delenv("PRELLM_NO_HOST", raising=False)
    monkeypatch.delenv("PRELLM_HOST_IDLE_S", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield root
    with contextlib.suppress(Exception):
        HostClient(root / "host").stop()
    for pid in _hosts_of(root / "host"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def client(home):
    return HostClient(serve_test=True)


def _complete(c: HostClient, model: str = "test/echo", **params) -> dict:
    return c.complete(model, {"messages": MSGS, **params})


def test_first_call_starts_a_private_host_that_answers(home, client):
    assert client.status() is None
    out = _complete(client)
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    st = client.status()
    assert st is not None and _alive(st["pid"]) and st["pid"] != os.getpid()
    assert st["identity"] == client.identity and st["requests"] == 1
    assert client.directory == home / "host" == host_dir()
    assert stat.S_IMODE(os.stat(home / "host").st_mode) == 0o700
    sock = os.stat(home / "host" / SOCKET)
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600


def test_later_calls_reuse_the_host(client):
    _complete(client)
    first = client.status()
    schema = {"type": "object", "properties": {"intent": {"enum": ["explain", "deploy"]}}}
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    out = HostClient(serve_test=True).complete(
        "test/echo", {"messages": MSGS, "response_format": rf, "max_tokens": 20}
    )
    assert json.loads(out["choices"][0]["message"]["content"]) == {"intent": "deploy"}
    again = client.status()
    assert again["pid"] == first["pid"] and again["requests"] == 2


def test_streams_and_tool_calls_cross_the_socket(client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_pods",
                "parameters": {"type": "object", "properties": {"ns": {"type": "string"}}},
            },
        }
    ]
    chunks: list[dict] = []
    client.stream(
        "test/tools", {"messages": MSGS, "tools": tools}, lambda c: chunks.append(c) and False
    )
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    calls = [tc for d in deltas for tc in d.get("tool_calls") or []]
    assert calls[0]["function"] == {"name": "get_pods", "arguments": '{"ns": "ns"}'}
    assert chunks[-1]["usage"]["prompt_tokens"] > 0
    words: list[dict] = []
    client.stream("test/echo", {"messages": MSGS}, lambda c: words.append(c) and False)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in words if c["choices"])
    assert text == MSGS[0]["content"]


def test_provider_errors_keep_their_type_across_the_socket(client):
    with pytest.raises(ProviderError) as info:
        _complete(client, "test/fail")
    assert info.value.status_code == 503 and "configured to fail" in str(info.value)
    assert client.status()["requests"] == 1  # the host lives on


def test_idle_host_exits_and_removes_its_socket(home, monkeypatch):
    monkeypatch.setenv("PRELLM_HOST_IDLE_S", "0.3")
    c = HostClient(serve_test=True)
    _complete(c)
    pid = c.status()["pid"]
    wait_for(lambda: not _alive(pid), "the idle host to exit")
    assert not (home / "host" / SOCKET).exists()
    assert c.status() is None
    _complete(c)  # and the next call starts a new one
    assert c.status()["pid"] != pid


def test_a_stale_socket_is_replaced(home, client):
    # A socket file nobody listens on: its host died.
    d = secure_dir(home / "host")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(d / SOCKET))
    dead.close()
    assert (d / SOCKET).exists() and client.status() is None
    _complete(client)
    pid = client.status()["pid"]
    # A host killed outright leaves its socket behind too.
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), "the killed host to go")
    assert (d / SOCKET).exists()
    _complete(client)
    assert client.status()["pid"] != pid


def _dying_host(path: Path, calls: list[int]) -> socket.socket:
    """A listener that, like a host killed mid-exit, takes one connection and drops it
    unread (the client sees a reset), then is gone with its socket file."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def drop_one() -> None:
        conn, _ = listener.accept()
        wait_for(lambda: select.select([conn], [], [], 0)[0], "the request to arrive")
        calls.append(1)
        path.unlink()
        listener.close()
        conn.close()  # unread data: the client's next read is a reset

    threading.Thread(target=drop_one, daemon=True).start()
    return listener


@pytest.mark.parametrize("op", ["complete", "stream"])
def test_a_host_dying_before_it_answers_is_replaced_and_the_call_made_again(home, client, op):
    d = secure_dir(home / "host")
    calls: list[int] = []
    _dying_host(d / SOCKET, calls)
    if op == "complete":
        out = _complete(client)
        assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    else:
        chunks: list[dict] = []
        client.stream("test/echo", {"messages": MSGS}, lambda c: chunks.append(c) and False)
        text = "".join(
            (c["choices"][0].get("delta") or {}).get("content") or ""
            for c in chunks
            if c["choices"]
        )
        assert text == MSGS[0]["content"]
    assert calls == [1]  # the dying one got the first try
    st = client.status()
    assert st is not None and st["requests"] == 1 and st["pid"] != os.getpid()


def test_a_host_of_another_build_is_replaced_not_reused(home, client):
    old = HostClient(
        serve_test=True, command=[sys.executable, "-m", "prellm.host", "--identity", "0.0.1+old"]
    )
    old.ensure().close()
    before = client.status()
    assert before["identity"] == "0.0.1+old" != client.identity
    out = _complete(client)
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    after = client.status()
    assert after["identity"] == client.identity and after["pid"] != before["pid"]
    wait_for(lambda: not _alive(before["pid"]), "the old host to exit")


def test_another_model_file_at_the_same_path_replaces_the_host(home, client):
    d = secure_dir(home / "host")
    server = HostServer(d, idle_s=60)
    server.files["/models/m.gguf"] = (10, 1)
    server._check_file("local//models/m.gguf", {"size": 10, "mtime_ns": 1})
    from prellm.host.protocol import HostMismatch

    with pytest.raises(HostMismatch):
        server._check_file("local//models/m.gguf", {"size": 11, "mtime_ns": 2})


def test_only_one_host_listens_per_directory(home, client):
    _complete(client)
    with pytest.raises(HostError, match="already listens"):
        HostServer(client.directory, idle_s=60).bind()
    assert client.status() is not None  # the running host was not disturbed


def test_a_long_socket_path_works(monkeypatch, home):
    deep = home / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("PRELLM_DATA_DIR", str(deep))
    c = HostClient(serve_test=True)
    assert len(str(c.directory / SOCKET)) > 108
    try:
        _complete(c)
        assert c.status()["requests"] == 1
    finally:
        c.stop()


def test_directory_permissions(home):
    d = home / "loose"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o777)
    secure_dir(d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    if os.getuid() != 0:
        pytest.skip("checking another user's directory needs root")
    theirs = home / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ConfigError, match="another user"):
        secure_dir(theirs)


@pytest.mark.skipif(os.getuid() != 0, reason="switching to a second user needs root")
def test_another_user_cannot_reach_the_host(home, client):
    _complete(client)
    path = str(client.directory / SOCKET)
    probe = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('refused')\n"
        "else:\n    print('connected')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, path], capture_output=True, text=True, timeout=BOUND_S
    )
    assert out.stdout.strip() == "refused", out.stderr
    # Without PRELLM_DATA_DIR, each user's host lives in their own runtime or data dir.
    env = {"HOME": "/home/other", "XDG_RUNTIME_DIR": "/run/user/65534"}
    other = subprocess.run(
        [sys.executable, "-c", "from prellm.host.paths import host_dir; print(host_dir())"],
        capture_output=True,
        text=True,
        env={**env, "PATH": os.environ.get("PATH", "")},
        timeout=BOUND_S,
    )
    assert other.stdout.strip() == "/run/user/65534/prellm" != str(client.directory)


def test_off_switch_and_the_cli_run_scope(monkeypatch, home):
    import click

    seen = {}

    @click.command()
    def probe() -> None:
        use_host()
        seen["on"] = direct.active("test/echo") and not direct.active("gpt-4o-mini")
        seen["backend"] = direct._state["backend"]

    assert CliRunner().invoke(probe, []).exit_code == 0
    assert seen["on"] and isinstance(seen["backend"], HostClient)
    assert not direct.active("test/echo")  # undone when the command ended
    monkeypatch.setenv("PRELLM_NO_HOST", "1")
    assert CliRunner().invoke(probe, []).exit_code == 0
    assert seen["on"] and seen["backend"] is None  # in-process, still without litellm


def test_bad_idle_setting_is_a_config_error(monkeypatch):
    monkeypatch.setenv("PRELLM_HOST_IDLE_S", "soon")
    with pytest.raises(ConfigError, match="PRELLM_HOST_IDLE_S"):
        host_client.idle_timeout()


def test_cli_with_only_our_models_never_imports_litellm(home):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from prellm.cli import cli\n"
        "r = CliRunner().invoke(cli, ['Deploy app to prod', '--strategy', 'classify',"
        " '--small', 'test/echo', '--large', 'test/echo', '-q'])\n"
        "print(r.exit_code, 'litellm' in sys.modules)\n"
    )
    env = {**os.environ, "PRELLM_NO_LEDGER": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stdout + out.stderr


def test_cli_calls_reach_one_host_and_host_status_stop(home, monkeypatch):
    from prellm.cli import cli

    monkeypatch.setattr(host_client, "SERVE_TEST_MODELS", True)
    runner = CliRunner()
    status = runner.invoke(cli, ["host", "status"])
    assert status.exit_code == 1 and "no model host running" in status.output
    args = ["Deploy app to prod", "--strategy", "classify", "--small", "test/echo"]
    args += ["--large", "test/echo", "--no-stream", "-q"]
    assert runner.invoke(cli, args).exit_code == 0
    first = json.loads(runner.invoke(cli, ["host", "status", "--json"]).output)
    assert first["running"] and first["requests"] == 2  # the small and the large call
    assert runner.invoke(cli, args).exit_code == 0
    second = runner.invoke(cli, ["host", "status"])
    assert second.exit_code == 0 and f"host pid {first['pid']}" in second.output
    again = json.loads(runner.invoke(cli, ["host", "status", "--json"]).output)
    assert again["pid"] == first["pid"] and again["requests"] > first["requests"]
    stop = runner.invoke(cli, ["host", "stop"])
    assert stop.exit_code == 0 and f"stopped model host pid {first['pid']}" in stop.output
    wait_for(lambda: not _alive(first["pid"]), "the stopped host to exit")
    assert runner.invoke(cli, ["host", "stop"]).output.strip() == "no model host running"


def _run(coro):
    return asyncio.run(coro)


def test_direct_calls_return_what_litellm_returns(home):
    """The same Completion through litellm, directly in process, and through the host."""
    from prellm import providers

    schema = {"type": "object", "properties": {"intent": {"enum": ["explain", "deploy"]}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    cases = [
        ("test/echo", {"max_tokens": 9, "temperature": 0}),
        (
            "test/echo",
            {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}},
        ),
        ("test/tools", {"tools": tools, "tool_choice": "auto"}),
    ]

    def strip(c):
        return {k: v for k, v in vars(c).items() if k != "ms"}

    async def stream(model, params):
        pieces = [p async for p in providers.astream(model, MSGS, **params)]
        return pieces[:-1], strip(pieces[-1])

    for model, params in cases:
        via_litellm = strip(_run(providers.acomplete(model, MSGS, **params)))
        streamed_litellm = _run(stream(model, params))
        for backend in (None, HostClient(serve_test=True)):
            restore = direct.enable(backend)
            try:
                assert strip(_run(providers.acomplete(model, MSGS, **params))) == via_litellm
                assert _run(stream(model, params)) == streamed_litellm
            finally:
                restore()


def test_a_deadline_bounds_a_direct_call(client):
    from prellm import providers
    from prellm.errors import ProviderTimeoutError
    from prellm.providers.testing import register_function

    def slow(messages, params):
        time.sleep(2)
        return "late"

    model = register_function("slow_host_test", slow)
    restore = direct.enable(None)
    try:
        with pytest.raises(ProviderTimeoutError):
            _run(providers.acomplete(model, MSGS, deadline=time.monotonic() + 0.05))
    finally:
        restore()


def test_embedded_model_through_the_host(home):
    from prellm.providers.resolve import embedded_installed

    if not embedded_installed():
        pytest.skip("the embedded model is not installed")
    c = HostClient()
    req = {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 2}
    first = c.complete("local/qwen2.5-coder-1.5b", req)
    assert first["choices"][0]["message"]["content"]
    st = c.status()
    assert len(st["models"]) == 1 and st["models"][0].endswith(".gguf")
    # The host started for that call loaded the model before it listened.
    assert list(st["preloaded"]) == st["models"] and st["preloaded"][st["models"][0]] > 0
    # A schema-constrained reply through the host is one-line JSON, as in process.
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    rf = {"type": "json_schema", "json_schema": {"name": "ok", "schema": schema}}
    out = c.complete("local/qwen2.5-coder-1.5b", {**req, "max_tokens": 12, "response_format": rf})
    assert re.fullmatch(r'\{"ok": (true|false)\}', out["choices"][0]["message"]["content"])
    again = c.status()
    assert again["pid"] == st["pid"] and again["requests"] == 2 and again["models"] == st["models"]
    assert again["rss_bytes"] and again["rss_bytes"] > 500 * 2**20  # the model is held


def test_when_no_host_can_start_calls_run_in_process(home):
    broken = HostClient(serve_test=True, command=[sys.executable, "-c", "raise SystemExit(3)"])
    out = _complete(broken)
    assert out["choices"][0]["message"]["content"] == MSGS[0]["content"]
    assert broken.unusable and broken.status() is None
    assert _complete(broken)["choices"]  # later calls too, without trying again


def test_common_call_options_are_checked_without_litellm():
    from prellm.providers import COMMON_PARAMS, completion_params

    code = (
        "import sys\n"
        "from prellm.request.options import check_llm_kwargs\n"
        "check_llm_kwargs({'max_tokens': 5, 'temperature': 0.2})\n"
        "print('litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr
    assert set(completion_params()) >= COMMON_PARAMS  # every shortcut is a real parameter


def test_a_model_that_fails_to_preload_leaves_the_host_serving(home, client):
    # The host logs why and answers; a request for that model would report the cause.
    bogus = home / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF but not really")
    client.ensure(preload=bogus).close()
    st = client.status()
    assert st is not None and st["preloaded"] == {}
    assert _complete(client)["choices"][0]["message"]["content"] == MSGS[0]["content"]
    log = (home / "host" / "host.log").read_text()
    assert "preloading not-a-model.gguf failed" in log

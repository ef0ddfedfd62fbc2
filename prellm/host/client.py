"""The CLI's side of the model host: find it, start it, replace it, call it.

``HostClient`` is a ``providers.direct.LocalBackend``: ``local/`` models (and
``test/`` ones when ``serve_test`` is set, for tests) are answered by the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ProviderTimeoutError
from ..observability.logging import get_logger
from ..providers.direct import serve_complete, serve_stream
from ..providers.resolve import LOCAL_PREFIX, TEST_PREFIX, is_embedded
from .paths import LOG, SOCKET, START_LOCK, address, host_dir, secure_dir
from .protocol import (
    HostError,
    HostGone,
    HostMismatch,
    HostStartError,
    identity,
    peer_uid,
    raise_error,
    recv,
    send,
)

log = get_logger("prellm.host")
OnChunk = Callable[[dict[str, Any]], bool]
SERVE_TEST_MODELS = False  # tests send test/ models to the host too
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 180.0  # up in seconds (model load included); a slow disk, a loaded machine
STOP_TIMEOUT_S = 10.0
GONE_RETRIES = 3  # a host dying as we connect: its socket lingers for a moment


def host_disabled() -> bool:
    """``PRELLM_NO_HOST=1``: every CLI call loads the model in its own process."""
    return os.environ.get("PRELLM_NO_HOST", "").strip().lower() in ("1", "true", "yes", "on")


def idle_timeout() -> float:
    raw = os.environ.get("PRELLM_HOST_IDLE_S", "").strip()
    if not raw:
        return DEFAULT_IDLE_S
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"PRELLM_HOST_IDLE_S: expected seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(
            "PRELLM_HOST_IDLE_S must be above 0 (PRELLM_NO_HOST=1 turns the host off)"
        )
    return value


def use_host() -> None:
    """The CLI's warm path, for the running command: preLLM's own models are called
    without litellm, ``local/`` ones in the host unless ``PRELLM_NO_HOST=1``. Undone
    when the command's click context closes (a test's CliRunner runs many commands)."""
    import click

    from ..providers import direct

    usable = sys.platform.startswith("linux") and not host_disabled()  # SO_PEERCRED, /proc
    restore = direct.enable(HostClient() if usable else None)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(restore)


class HostClient:
    """Talks to the host in ``directory`` (default ``paths.host_dir()``)."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        serve_test: bool | None = None,
        command: list[str] | None = None,
    ) -> None:
        self._dir = directory
        self.serve_test = SERVE_TEST_MODELS if serve_test is None else serve_test
        self.command = command  # what starts a host (tests start other builds)
        self._identity: str | None = None
        self.unusable = False  # no host could be started: calls run in this process

    @property
    def directory(self) -> Path:
        return self._dir or host_dir()

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = identity()
        return self._identity

    # --- LocalBackend -----------------------------------------------------------------

    def serves(self, model: str) -> bool:
        return is_embedded(model) or (self.serve_test and model.startswith(TEST_PREFIX))

    def complete(
        self, model: str, request: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        return dict(
            self._retrying(
                lambda: self._complete(model, request, timeout),
                lambda: serve_complete(model, request),
            )
        )

    def stream(
        self, model: str, request: dict[str, Any], on_chunk: OnChunk, timeout: float | None = None
    ) -> None:
        self._retrying(
            lambda: self._stream(model, request, on_chunk, timeout),
            lambda: serve_stream(model, request, on_chunk),
        )

    def _retrying(self, call: Callable[[], Any], in_process: Callable[[], Any]) -> Any:
        """``call()``; a host of another build (or holding another model file) answers
        before anything else, so it is replaced and the call made once more. When no
        host can be started, the call runs in this process (and later ones too)."""
        if self.unusable:
            return in_process()
        try:
            try:
                return self._past_dying_hosts(call)
            except HostMismatch:
                self.replace()
                return self._past_dying_hosts(call)
        except HostStartError as exc:
            log.warning("model host unavailable, loading the model in this process: %s", exc)
            self.unusable = True
            return in_process()

    @staticmethod
    def _past_dying_hosts(call: Callable[[], Any]) -> Any:
        """A host killed as we connect resets the connection before any answer: nothing
        was delivered, so the call is made again (and starts a new host)."""
        for attempt in range(GONE_RETRIES - 1):
            try:
                return call()
            except HostGone:
                log.info("the model host went away before answering; calling again")
                time.sleep(0.05 * (attempt + 1))
        return call()  # the last try: its HostGone reaches the caller

    def _complete(
        self, model: str, request: dict[str, Any], timeout: float | None
    ) -> dict[str, Any]:
        try:
            with self._send("complete", model, request, timeout) as sock:
                frame = _recv(sock, model)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise HostGone(f"the model host reset the connection: {exc}") from None
        if frame is None:
            raise HostError("the model host closed the connection without an answer")
        if "error" in frame:
            raise_error(frame, model)
        return dict(frame["out"])

    def _stream(
        self, model: str, request: dict[str, Any], on_chunk: OnChunk, timeout: float | None
    ) -> None:
        answered = False
        try:
            with self._send("stream", model, request, timeout) as sock:
                while (frame := _recv(sock, model)) is not None:
                    answered = True
                    if "error" in frame:
                        raise_error(frame, model)
                    if frame.get("end"):
                        return
                    if on_chunk(frame["chunk"]):
                        return  # closing the connection stops the host's generation
        except (ConnectionResetError, BrokenPipeError) as exc:
            if not answered:  # no chunk delivered yet: safe to call again
                raise HostGone(f"the model host reset the connection: {exc}") from None
        raise HostError("the model host closed the stream before its end")

    def _send(
        self, op: str, model: str, request: dict[str, Any], timeout: float | None
    ) -> socket.socket:
        msg: dict[str, Any] = {"op": op, "identity": self.identity, "request": request}
        path: Path | None = None
        if is_embedded(model):
            from ..providers.model_files import resolve_gguf

            path = resolve_gguf(model.removeprefix(LOCAL_PREFIX)).resolve()
            st = path.stat()
            msg["model"] = f"{LOCAL_PREFIX}{path}"
            msg["gguf"] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        else:
            msg["model"] = model
        # A host started for this call loads the model before it listens: the load is
        # start-up time, not the request's (its deadline starts below).
        sock = self.ensure(preload=path)
        try:
            sock.settimeout(timeout)  # past it the connection closes: the host stops generating
            send(sock, msg)
        except BaseException:
            sock.close()
            raise
        return sock

    # --- lifecycle --------------------------------------------------------------------

    def connect(self) -> socket.socket | None:
        """A connection to the running host, or None when none listens (no socket, or a
        stale one whose host died)."""
        path = self.directory / SOCKET
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with address(path) as a:
                sock.connect(a)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            sock.close()
            return None
        except OSError as exc:
            sock.close()
            raise HostStartError(
                f"cannot reach the model host at {path}: {exc.strerror or exc}"
            ) from None
        if peer_uid(sock) != os.getuid():
            sock.close()
            raise HostStartError(f"{path} is served by another user's process: not using it")
        return sock

    def status(self) -> dict[str, Any] | None:
        """What the running host reports, or None when no host runs."""
        sock = self.connect()
        if sock is None:
            return None
        with sock:
            send(sock, {"op": "status"})
            return recv(sock)

    def ensure(self, preload: Path | None = None) -> socket.socket:
        """A connection to a running host, starting one first if none runs (one that
        loads the GGUF ``preload`` before it listens, when given)."""
        sock = self.connect()
        if sock is not None:
            return sock
        try:
            directory = secure_dir(self.directory)
        except (ConfigError, OSError) as exc:
            raise HostStartError(str(exc)) from None
        with _locked(directory / START_LOCK):
            sock = self.connect()  # another CLI call may have started it meanwhile
            if sock is None:
                sock = self._start(directory, preload)
        return sock

    def _start(self, directory: Path, preload: Path | None = None) -> socket.socket:
        (directory / SOCKET).unlink(missing_ok=True)  # stale: nobody listens on it
        cmd = self.command or [sys.executable, "-m", "prellm.host"]
        if preload is not None:
            cmd = [*cmd, "--preload", str(preload)]
        log_path = directory / LOG
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                [*cmd, "--dir", str(directory), "--idle", str(idle_timeout())],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                cwd="/",
                start_new_session=True,  # detached: outlives this CLI call, not its signals
                close_fds=True,
            )
        finally:
            os.close(fd)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if (sock := self.connect()) is not None:
                return sock
            if proc.poll() is not None:
                raise HostStartError(
                    f"the model host exited at start (see {log_path}): {_tail(log_path)}"
                )
            time.sleep(0.02)
        raise HostStartError(
            f"the model host did not start within {START_TIMEOUT_S:.0f} s (see {log_path})"
        )

    def stop(self) -> int | None:
        """Stop the running host; its pid, or None when none ran."""
        sock = self.connect()
        if sock is None:
            return None
        with sock:
            send(sock, {"op": "stop"})
            answer = recv(sock) or {}
        pid = answer.get("pid")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and (self.directory / SOCKET).exists():
            time.sleep(0.02)
        return int(pid) if pid else None

    def replace(self) -> None:
        """Stop a host of another build; the next call starts one of this build."""
        self.stop()


def _recv(sock: socket.socket, model: str) -> dict[str, Any] | None:
    try:
        return recv(sock)
    except TimeoutError:
        raise ProviderTimeoutError(
            model, "timed out (the request's deadline)", status_code=504
        ) from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _tail(path: Path, chars: int = 300) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-chars:].split())

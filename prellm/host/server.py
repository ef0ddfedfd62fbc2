"""The host process: loads our models once and answers over a Unix socket.

    python -m prellm.host --dir DIR --idle SECONDS

Started detached by ``client.HostClient``; exits after ``--idle`` seconds without
a request, on ``stop``, on SIGTERM, or when its socket was replaced by another
host's. It logs its lifecycle only (never prompts or answers).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import PreLLMError
from ..providers.direct import serve_complete_stoppable, serve_stream
from ..providers.resolve import LOCAL_PREFIX, is_embedded
from .paths import SOCKET, address, secure_dir
from .protocol import (
    PROTOCOL,
    HostError,
    HostMismatch,
    error_frame,
    identity,
    peer_uid,
    recv,
    send,
)

log = logging.getLogger("prellm.host")
PROMPT_CACHE_MIB = 512  # RAM for earlier prompts' KV cache (llama.cpp's default is 8 GiB)
DRAIN_S = 300.0  # after stop: how long requests in flight may still take


def rss_bytes() -> int | None:
    """This process's resident memory (Linux), else None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class HostServer:
    def __init__(self, directory: Path, idle_s: float, ident: str | None = None) -> None:
        self.dir, self.path = directory, directory / SOCKET
        self.idle_s = idle_s
        self.identity = ident or identity()
        self.started = time.time()
        self.last = time.monotonic()
        self.active = self.requests = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.files: dict[str, tuple[int, int]] = {}  # GGUF path -> (size, mtime_ns) when loaded
        self.inode: int | None = None
        self.preloaded: dict[str, float] = {}  # GGUF path -> load ms, loaded before listening

    def preload(self, path: Path) -> None:
        """Load a GGUF before listening, so the first request does not pay for the load.
        A file that does not load is logged; the request that needs it reports why."""
        from ..providers.embedded import get_runtime

        try:
            rt = get_runtime(str(path))
        except PreLLMError as exc:
            log.error("preloading %s failed: %s", path.name, exc)
            return
        self.preloaded[str(path)] = round(rt.load_ms, 1)

    # --- socket lifecycle ---------------------------------------------------------

    def _someone_listens(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with address(self.path) as a:
                probe.connect(a)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def bind(self) -> socket.socket:
        secure_dir(self.dir)
        if self._someone_listens():
            raise HostError(f"another host already listens on {self.path}")
        self.path.unlink(missing_ok=True)  # a stale socket: its host died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600
        try:
            with address(self.path) as a:
                sock.bind(a)
        finally:
            os.umask(old)
        sock.listen(16)
        sock.settimeout(0.5)
        self.inode = os.stat(self.path).st_ino
        return sock

    def _ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _release(self) -> None:
        """Remove the socket if it is still ours, so that a new host can bind at once."""
        if self._ours():
            self.path.unlink(missing_ok=True)

    def _idle(self) -> bool:
        with self.lock:
            return self.active == 0 and time.monotonic() - self.last > self.idle_s

    def serve(self) -> int:
        sock = self.bind()
        log.info("host %s pid %d listening on %s", self.identity, os.getpid(), self.path)
        try:
            while not self.stopping.is_set() and self._ours() and not self._idle():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        finally:
            self._release()
            sock.close()
        self._drain()
        log.info("host pid %d exiting after %d requests", os.getpid(), self.requests)
        return 0

    def _drain(self) -> None:
        end = time.monotonic() + DRAIN_S
        while time.monotonic() < end:
            with self.lock:
                if self.active == 0:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self._release()

    # --- requests -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        from .. import __version__

        with self.lock:
            idle = time.monotonic() - self.last if self.active == 0 else 0.0
            return {
                "pid": os.getpid(),
                "identity": self.identity,
                "version": __version__,
                "protocol": PROTOCOL,
                "started": self.started,
                "uptime_s": round(time.time() - self.started, 1),
                "idle_timeout_s": self.idle_s,
                "idle_s": round(idle, 1),
                "active": self.active,
                "requests": self.requests,
                "models": sorted(self.files),
                "preloaded": dict(self.preloaded),
                "rss_bytes": rss_bytes(),
            }

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                if peer_uid(conn) != os.getuid():
                    return  # another user: no answer at all
                req = recv(conn)
            except (OSError, ValueError, PreLLMError):
                return
            if req is None:
                return
            op = req.get("op")
            try:
                if op == "status":
                    send(conn, self.status())
                elif op == "stop":
                    send(conn, {"ok": True, "pid": os.getpid()})
                    self.stop()
                else:
                    self._call(conn, op, req)
            except OSError:
                pass  # the client went away

    def _call(self, conn: socket.socket, op: Any, req: dict[str, Any]) -> None:
        with self.lock:
            self.active += 1
            self.requests += 1
        try:
            if req.get("identity") != self.identity:
                raise HostMismatch(f"host {self.identity} is another preLLM build")
            model, request = str(req.get("model") or ""), req.get("request") or {}
            self._check_file(model, req.get("gguf"))
            t0 = time.perf_counter()
            if op == "complete":
                out = serve_complete_stoppable(model, request, lambda: _closed(conn))
                send(conn, {"out": out})
                usage = out.get("usage")
            elif op == "stream":
                usage = self._stream(conn, model, request)
            else:
                raise HostError(f"unknown host operation {op!r}")
            _log_call(op, model, usage, t0)
        except OSError:
            raise
        except Exception as exc:
            if not isinstance(exc, PreLLMError):
                log.exception("request failed")
            send(conn, error_frame(exc))
        finally:
            with self.lock:
                self.active -= 1
                self.last = time.monotonic()

    def _check_file(self, model: str, gguf: Any) -> None:
        """The same GGUF path must be the same file it was when this host loaded it."""
        if not is_embedded(model) or not isinstance(gguf, dict):
            return
        path = model.removeprefix(LOCAL_PREFIX)
        seen = (int(gguf.get("size") or 0), int(gguf.get("mtime_ns") or 0))
        with self.lock:
            known = self.files.setdefault(path, seen)
        if known != seen:
            raise HostMismatch(f"host holds another file at {path}")

    def _stream(
        self, conn: socket.socket, model: str, request: dict[str, Any]
    ) -> dict[str, Any] | None:
        gone = threading.Event()
        usage: dict[str, Any] = {}

        def on_chunk(chunk: dict[str, Any]) -> bool:
            usage.update(chunk.get("usage") or {})
            try:
                send(conn, {"chunk": chunk})
            except OSError:
                gone.set()  # the client went away: stop generating
            return gone.is_set()

        serve_stream(model, request, on_chunk)
        if not gone.is_set():
            send(conn, {"end": True})
        return usage


def _log_call(op: str, model: str, usage: Any, t0: float) -> None:
    """Counts and time only: never a prompt or an answer."""
    u = usage if isinstance(usage, dict) else {}
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
    log.info(
        "%s %s: %s prompt tokens (%s from the KV cache), %s generated, %.0f ms",
        op,
        os.path.basename(model),
        u.get("prompt_tokens", "?"),
        "?" if cached is None else cached,
        u.get("completion_tokens", "?"),
        (time.perf_counter() - t0) * 1000,
    )


def _closed(conn: socket.socket) -> bool:
    """Has the client closed its end (it sends nothing after its request)?"""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prellm.host")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--idle", type=float, default=600.0)
    parser.add_argument("--identity", default=None, help=argparse.SUPPRESS)  # tests
    parser.add_argument("--preload", type=Path, default=None, help="a GGUF to load first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from ..providers.embedded import set_prompt_cache

    set_prompt_cache(PROMPT_CACHE_MIB)
    server = HostServer(args.dir, args.idle, args.identity)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    if args.preload is not None:
        server.preload(args.preload)
    try:
        return server.serve()
    except HostError as exc:
        log.error("%s", exc)
        return 1

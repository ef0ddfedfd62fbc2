"""The host's wire format: one request per connection, length-prefixed JSON frames.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. The
client sends one request frame ``{"op": ..., "identity": ...}``; the host
answers with one frame (``status``, ``stop``, ``complete``) or a sequence of
``{"chunk": ...}`` frames ended by ``{"end": true}`` (``stream``). A failure is a
frame ``{"error": {"type", "message", ...}}``.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from ..errors import ConfigError, PreLLMError, ProviderError, ProviderTimeoutError

PROTOCOL = 1
MAX_FRAME = 64 * 1024 * 1024  # a request with a long chat and tools is well below this
_HEADER = struct.Struct(">I")


class HostError(PreLLMError):
    """The background model host could not be started or reached."""


class HostStartError(HostError):
    """No host could be started or used here; the call can run in this process instead."""


class HostMismatch(HostError):
    """The running host is another preLLM build or holds another model file."""


class HostGone(HostError):
    """The host closed the connection before answering anything (it was dying)."""


def send(sock: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) > MAX_FRAME:
        raise HostError(f"host message too large ({len(data)} bytes)")
    sock.sendall(_HEADER.pack(len(data)) + data)


def _exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(n - len(buf), 1 << 20))
        if not part:
            if not buf:
                return None
            raise HostError("the host connection closed in the middle of a message")
        buf += part
    return bytes(buf)


def recv(sock: socket.socket) -> dict[str, Any] | None:
    """The next frame, or None when the other side closed the connection cleanly."""
    header = _exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise HostError(f"host message too large ({size} bytes)")
    body = _exact(sock, size)
    if body is None:
        raise HostError("the host connection closed in the middle of a message")
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise HostError("malformed host message")
    return obj


def error_frame(exc: BaseException) -> dict[str, Any]:
    """A failure as it crosses the socket (typed, one line, no traceback)."""
    err: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)[:2000]}
    if isinstance(exc, ProviderError):
        err.update(model=exc.model, cause=exc.cause, status_code=exc.status_code)
    elif isinstance(exc, ConfigError):
        err["type"] = "ConfigError"
    elif not isinstance(exc, PreLLMError):
        err["type"] = "internal"
    return {"error": err}


def raise_error(frame: dict[str, Any], model: str) -> None:
    """Raise what an error frame carries as the same preLLM error type."""
    err = frame.get("error") or {}
    kind, message = err.get("type"), str(err.get("message") or "the host failed")
    if kind == "HostMismatch":
        raise HostMismatch(message)
    if kind == "ConfigError":
        raise ConfigError(message)
    if "cause" in err:
        cls = ProviderTimeoutError if kind == "ProviderTimeoutError" else ProviderError
        raise cls(err.get("model") or model, str(err["cause"]), status_code=err.get("status_code"))
    raise ProviderError(model, message)


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def identity() -> str:
    """This build of the host: preLLM's version, the protocol, the host's and the
    embedded runtime's source files, and the runtime's settings. A host whose
    identity differs from the client's is replaced, not reused."""
    import hashlib
    import os
    from pathlib import Path

    from .. import __version__

    here = Path(__file__).resolve().parent
    providers = here.parent / "providers"
    files = sorted(here.glob("*.py")) + [
        providers / "embedded.py",
        providers / "direct.py",
        providers / "testing.py",
    ]
    h = hashlib.sha256(f"{__version__}/{PROTOCOL}".encode())
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    for var in ("PRELLM_LOCAL_CTX", "PRELLM_LOCAL_THREADS"):
        h.update(f"{var}={os.environ.get(var, '')};".encode())
    return f"{__version__}+{h.hexdigest()[:12]}"

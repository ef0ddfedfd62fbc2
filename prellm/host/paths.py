"""Where the host's socket lives, created so that only this user can open it.

``$PRELLM_DATA_DIR/host`` when ``PRELLM_DATA_DIR`` is set (each data directory
has its own host), else ``$XDG_RUNTIME_DIR/prellm``, else
``~/.local/share/prellm/host``. The directory is 0700 and must belong to this
user; the socket in it is 0600, and both ends also check the peer's user id.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError

SOCKET = "host.sock"
START_LOCK = "start.lock"
LOG = "host.log"
_MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; keep a margin


def host_dir() -> Path:
    if env := os.environ.get("PRELLM_DATA_DIR"):
        return Path(env).expanduser() / "host"
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / "prellm"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "prellm" / "host"


def secure_dir(path: Path) -> Path:
    """``path`` as a 0700 directory of this user; a ConfigError if another user owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{path} is not a directory (the model host's socket goes there)")
    if st.st_uid != os.getuid():
        raise ConfigError(
            f"{path} belongs to another user: the model host will not use it "
            "(set PRELLM_DATA_DIR or PRELLM_NO_HOST=1)"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


@contextmanager
def address(sock_path: Path) -> Iterator[str]:
    """An address ``bind``/``connect`` accept for ``sock_path``, however long the path:
    a long one is reached through a descriptor of its directory (Linux)."""
    if len(os.fsencode(sock_path)) < _MAX_SUN_PATH:
        yield str(sock_path)
        return
    fd = os.open(sock_path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{sock_path.name}"
    finally:
        os.close(fd)

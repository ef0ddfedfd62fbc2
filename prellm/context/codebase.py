"""FolderCompressor: a compact, query-ranked summary of a project that fits a token budget.

The summary is one line per module (the ``.toon`` style): path, then its top-level
symbols; key config files get a short extract (name, dependencies, base image,
Kubernetes kinds). Files come from ``git ls-files`` where the folder is a git
checkout (so ``.gitignore`` is honoured exactly), else from a walk that applies
the ``.gitignore`` patterns it finds. Binaries and secrets files are never read.
When the summary is over budget, the lines least relevant to the query go first.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import math
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".jsx": "javascript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cpp": "c++",
    ".hpp": "c++",
    ".cs": "c#",
    ".rb": "ruby",
    ".php": "php",
    ".sh": "shell",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".json": "json",
    ".md": "markdown",
    ".sql": "sql",
    ".tf": "terraform",
}
SECRET_FILES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    "*.keystore",
    "credentials*",
    "secrets.*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "*.kdbx",
)
ALWAYS_SKIPPED_DIRS = {
    ".git",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "build",
    ".prellm",
}
MAX_FILE_BYTES = 512_000


def estimate_tokens(text: str) -> int:
    """About 4 characters a token for code and English (a conservative 3.5 is used)."""
    return math.ceil(len(text) / 3.5)


@dataclass
class CodebaseSummary:
    text: str
    tokens: int
    files_seen: int
    files_listed: int
    dropped: int
    ms: float
    languages: dict[str, int] = field(default_factory=dict)


def _is_secret_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in SECRET_FILES)


def _git_files(root: Path) -> list[str] | None:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [
        p for p in out.stdout.decode("utf-8", "replace").split("\0") if p and (root / p).is_file()
    ]


def _ignore_patterns(root: Path) -> list[str]:
    path = root / ".gitignore"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [
        ln.strip()
        for ln in lines
        if ln.strip() and not ln.startswith("#") and not ln.startswith("!")
    ]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for p in patterns:
        anchored = p.startswith("/")
        p = p.strip("/")
        if anchored or "/" in p:
            if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*"):
                return True
        elif any(fnmatch.fnmatch(part, p) for part in parts):
            return True
    return False


def _walk_files(root: Path) -> list[str]:
    patterns = _ignore_patterns(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_SKIPPED_DIRS
            and not _ignored(f"{rel_dir}/{d}".lstrip("./"), patterns)
        )
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}".lstrip("./") if rel_dir != "." else f
            if not _ignored(rel, patterns):
                out.append(rel)
    return out


def _read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


_SYMBOL_PATTERNS = {
    "javascript": re.compile(
        r"^(?:export\s+(?:default\s+)?)?(?:async\s+)?(?:function\*?|class)\s+([A-Za-z_$][\w$]*)|^export\s+(?:const|let)\s+([A-Za-z_$][\w$]*)",
        re.M,
    ),
    "go": re.compile(r"^(?:func(?:\s+\([^)]*\))?|type)\s+([A-Za-z_]\w*)", re.M),
    "rust": re.compile(
        r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:fn|struct|enum|trait|mod)\s+([A-Za-z_]\w*)",
        re.M,
    ),
    "java": re.compile(
        r"^\s*(?:public|protected|private)?\s*(?:static\s+)?(?:final\s+)?(?:class|interface|enum|record)\s+([A-Za-z_]\w*)",
        re.M,
    ),
}
_SYMBOL_PATTERNS["typescript"] = _SYMBOL_PATTERNS["javascript"]


def _symbols(lang: str | None, text: str) -> list[str]:
    if lang == "python":
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return []
        return [
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
    pattern = _SYMBOL_PATTERNS.get(lang or "")
    if pattern is None:
        return []
    return [next(g for g in m.groups() if g) for m in pattern.finditer(text)]


def _config_extract(rel: str, text: str) -> str | None:
    name = Path(rel).name
    if name == "pyproject.toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return "pyproject (unparsable)"
        project = data.get("project", {})
        deps = ", ".join(
            re.split(r"[<>=!~ \[;]", d)[0] for d in project.get("dependencies", [])[:12]
        )
        return f"python project {project.get('name', '?')} (requires {project.get('requires-python', '?')}); deps: {deps or 'none'}"
    if name == "package.json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return "package.json (unparsable)"
        deps = ", ".join(list(data.get("dependencies", {}))[:12])
        scripts = ", ".join(list(data.get("scripts", {}))[:8])
        return f"node package {data.get('name', '?')}; scripts: {scripts or 'none'}; deps: {deps or 'none'}"
    if name.startswith("Dockerfile") or name.endswith(".Dockerfile"):
        bases = re.findall(r"^FROM\s+(\S+)", text, re.M | re.I)
        ports = re.findall(r"^EXPOSE\s+(.+)$", text, re.M | re.I)
        return f"docker image from {', '.join(bases) or '?'}" + (
            f"; exposes {', '.join(ports)}" if ports else ""
        )
    if name.startswith(("docker-compose", "compose.")):
        services = re.findall(r"^  ([A-Za-z0-9_.-]+):\s*$", text, re.M)
        return f"compose services: {', '.join(services[:12]) or '?'}"
    if (
        name.endswith((".yaml", ".yml"))
        and re.search(r"^apiVersion:", text, re.M)
        and re.search(r"^kind:", text, re.M)
    ):
        kinds = re.findall(r"^kind:\s*(\S+)", text, re.M)
        names = re.findall(r"^  name:\s*(\S+)", text, re.M)
        return f"k8s {', '.join(kinds)}: {', '.join(names[:6])}"
    if name in ("go.mod", "Cargo.toml", "requirements.txt", "Makefile"):
        first = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")][
            :6
        ]
        if name == "Makefile":
            first = re.findall(r"^([A-Za-z0-9_.-]+):", text, re.M)[:10]
        return "; ".join(first) or "(empty)"  # the line already starts with the file's path
    return None


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}


class FolderCompressor:
    """Summarise ``root`` for a query within ``token_budget`` tokens."""

    def __init__(self, root: str | Path, token_budget: int = 2000) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(f"codebase path is not a directory: {self.root}")
        if token_budget < 50:
            raise ConfigError("the codebase token budget must be at least 50")
        self.token_budget = token_budget

    def summarize(self, query: str = "") -> CodebaseSummary:
        t0 = time.perf_counter()
        files = _git_files(self.root)
        files = files if files is not None else _walk_files(self.root)
        files = [
            f
            for f in files
            if not _is_secret_file(Path(f).name) and not set(Path(f).parts) & ALWAYS_SKIPPED_DIRS
        ]
        langs: Counter[str] = Counter()
        lines: list[tuple[float, str]] = []  # (relevance, line)
        query_words = _words(query)
        for rel in files:
            lang = LANGUAGES.get(Path(rel).suffix.lower())
            text = _read_text(self.root / rel)
            if text is None:
                continue
            if lang:
                langs[lang] += 1
            extract = _config_extract(rel, text)
            symbols = _symbols(lang, text)
            if extract:
                line, base = f"{rel}: {extract}", 2.0
            elif symbols:
                line, base = (
                    f"{rel}: {', '.join(symbols[:15])}{' …' if len(symbols) > 15 else ''}",
                    1.0,
                )
            else:
                line, base = rel, 0.2
            # Relevance: the query's words in the path count most, in symbols a little;
            # tests and deep paths a little less. Longer lines cost more of the budget.
            in_path = len(query_words & _words(rel))
            in_symbols = min(2, len(query_words & _words(" ".join(symbols))))
            is_test = "test" in rel.lower()
            score = base + 3 * in_path + in_symbols - 0.5 * is_test - 0.05 * rel.count("/")
            lines.append((score - len(line) / 2000, line))
        header = f"project {self.root.name}: {len(files)} files; " + ", ".join(
            f"{lang} {n}" for lang, n in langs.most_common(6)
        )
        kept = sorted(lines, key=lambda t: -t[0])
        dropped = 0
        text = self._render(header, kept)
        while kept and estimate_tokens(text) > self.token_budget:
            # Drop the least relevant quarter of what is left (at least one line) and re-check.
            cut = max(1, len(kept) // 4) if estimate_tokens(text) > 2 * self.token_budget else 1
            kept, dropped = kept[:-cut], dropped + cut
            text = self._render(header, kept, dropped)
        return CodebaseSummary(
            text=text,
            tokens=estimate_tokens(text),
            files_seen=len(files),
            files_listed=len(kept),
            dropped=dropped,
            ms=(time.perf_counter() - t0) * 1000,
            languages=dict(langs),
        )

    @staticmethod
    def _render(header: str, kept: list[tuple[float, str]], dropped: int = 0) -> str:
        body = "\n".join(sorted(line for _, line in kept))  # path order reads like a tree
        more = f"\n(+{dropped} less relevant files not shown)" if dropped else ""
        return f"{header}\n{body}{more}"

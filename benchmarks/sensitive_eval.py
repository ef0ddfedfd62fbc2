"""Inputs for measuring the SensitiveDataFilter: ordinary text, adversarial text, clean files.

Used by benchmarks/bench_sensitive.py and tests/test_safety_*.py. Nothing here is
copied into the repository: the clean files are read at run time from the
installed packages' sources (the venv's site-packages and the standard library).
"""

from __future__ import annotations

import random
import re
import sys
import sysconfig
from pathlib import Path

MB = 1_000_000

# Each unit repeated to the requested size: characters every rule's classes contain,
# prefixes and keywords the rules start at, so a backtracking pattern would show it.
ADVERSARIAL_UNITS: dict[str, str] = {
    "a.": "a.",
    "a": "a",
    "=": "=",
    ":": ":",
    "@": "@",
    "-": "-",
    "/": "/",
    ".": ".",
    "_": "_",
    "+": "+",
    "~": "~",
    "digits": "1234567890",
    "digits+spaces": "1 2 3 4 5 6 7 8 9 0 ",
    "digits+dashes": "12-34-56-",
    "spaces": " ",
    "tabs+newlines": "\t\n \n",
    "newlines": "\n",
    "base64": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw",
    "hex": "0123456789abcdef",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nested []": "[[[[[[[[]]]]]]]]",
    "nested {}": "{{{{{{}}}}}}",
    "nested ()": "((((((()))))))",
    "quotes": "\"'`",
    "backslashes": "\\",
    "escaped newlines": "\\n",
    "a@": "a@",
    "a@b.": "a@b.",
    "a:b@": "a:b@",
    "a=": "a=",
    "a:": "a:",
    "a-": "a-",
    "word ": "word ",
    "://": "://",
    "https://u:": "https://u:",
    "password=": "password=",
    "password: ": "password: ",
    "password is ": "password is ",
    "hasło to ": "hasło to ",
    "token": "token",
    "key=": "key=",
    "secret_": "secret_",
    "sk-": "sk-",
    "sk-a": "sk-a",
    "eyJ": "eyJ",
    "eyJa.": "eyJaaaaaaaaa.",
    "AKIA": "AKIA",
    "ghp_": "ghp_",
    "xox": "xox",
    "SG.": "SG.",
    "00": "00",
    "-----BEGIN RSA PRIVATE KEY-----\n": "-----BEGIN RSA PRIVATE KEY-----\n",
    "PEM body": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
    "--password ": "--password ",
    "-p ": "-p ",
    "-u a:": "-u a:",
    "Bearer ": "Bearer ",
    "Basic ": "Basic ",
    "machine a login b ": "machine a login b ",
    "kind: Secret data": "kind: Secret\ndata:\n  a: QUJD\n",
    "+1 ": "+1 ",
    "tel 1 ": "tel 1 ",
    "NIP ": "NIP ",
    "PL": "PL",
    "IBAN-ish": "PL61 1090 ",
    "?sig=": "?sig=",
    "AccountKey=": "AccountKey=",
    "Q~": "aaa8Q~",
    "polish": "zażółć gęślą jaźń ",
    "İ": "İ",
    "random printable": "",  # filled by adversarial_inputs
}


def adversarial_inputs(size: int = MB) -> dict[str, str]:
    """Name -> a text of ``size`` characters built to make a backtracking pattern slow."""
    rng = random.Random(7)
    out = {}
    for name, unit in ADVERSARIAL_UNITS.items():
        if not unit:
            printable = "".join(chr(c) for c in range(32, 127)) + "\n\t"
            out[name] = "".join(rng.choice(printable) for _ in range(size))
        else:
            out[name] = (unit * (size // len(unit) + 1))[:size]
    return out


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


CLEAN_PACKAGES = [
    "requests", "httpx", "httpcore", "pydantic", "click", "jinja2", "yaml", "urllib3", "rich",
    "litellm", "fastapi", "starlette", "anyio", "idna", "certifi", "charset_normalizer",
    "openai", "tiktoken", "uvicorn", "websockets", "pygments", "markdown_it", "attr", "attrs",
    "packaging", "pip", "setuptools", "_pytest", "pluggy", "mypy", "ruff", "aiohttp", "yarl",
    "multidict", "h11", "tokenizers", "huggingface_hub", "jsonschema", "referencing", "rpds",
    "dotenv", "regex", "tqdm", "filelock", "fsspec", "distro", "sniffio", "typing_extensions",
]  # fmt: skip
_CLEAN_SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml"}


def clean_files(
    n: int = 400, seed: int = 20261125, max_chars: int = 60_000
) -> list[tuple[str, str]]:
    """A sorted, seeded sample of real source and doc files from the installed packages.

    Files of the packages above (and of the standard library) plus each package's
    METADATA; at most ``max_chars`` each (the start of a longer file). Names are
    relative to site-packages or the stdlib directory.
    """
    candidates: list[Path] = []
    site = _site_packages()
    for pkg in CLEAN_PACKAGES:
        root = site / pkg
        if root.is_dir():
            candidates += [
                p for p in root.rglob("*") if p.suffix in _CLEAN_SUFFIXES and p.is_file()
            ]
    candidates += sorted(site.glob("*.dist-info/METADATA"))
    std = _stdlib()
    candidates += [p for p in std.glob("*.py")] + [p for p in (std / "email").glob("*.py")]
    candidates = sorted(set(candidates))
    rng = random.Random(seed)
    picked = rng.sample(candidates, min(len(candidates), n * 2))
    out: list[tuple[str, str]] = []
    for path in picked:
        try:
            text = path.read_text(encoding="utf-8")[:max_chars]
        except (OSError, UnicodeDecodeError):
            continue
        if len(text.strip()) < 200:
            continue
        base = site if path.is_relative_to(site) else std
        out.append((str(path.relative_to(base)), text))
        if len(out) == n:
            break
    return out


def ordinary_text(size: int = MB, seed: int = 5) -> str:
    """About half application logs and half Python source from the installed packages."""
    rng = random.Random(seed)
    levels = ["INFO", "DEBUG", "WARNING", "ERROR"]
    paths = ["/v1/chat/completions", "/api/users/42", "/health", "/v1/models", "/static/app.js"]
    log: list[str] = []
    n = 0
    while n < size // 2:
        line = (
            f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z {rng.choice(levels)} "
            f"[worker-{rng.randint(1, 8)}] req={rng.getrandbits(64):016x} "
            f"{rng.choice(['GET', 'POST', 'PUT'])} {rng.choice(paths)} status={rng.choice([200, 201, 404, 500])} "
            f"latency_ms={rng.randint(1, 3000)} bytes={rng.randint(100, 90000)} "
            f'client=10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)} user_agent="python-httpx/0.27"\n'
        )
        log.append(line)
        n += len(line)
    code: list[str] = []
    n = 0
    for _, text in clean_files(200, seed=seed):
        code.append(text)
        n += len(text)
        if n >= size - size // 2:
            break
    return ("".join(log) + "".join(code))[:size]


def shipped_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Every shipped rule's pattern, compiled with ``re`` exactly as in sensitive.yaml."""
    from prellm.safety.rules import default_rules

    return [(r.spec.name, re.compile(r.spec.pattern)) for r in default_rules()]


if __name__ == "__main__":  # pragma: no cover - a quick look at the inputs
    files = clean_files()
    print(len(files), "clean files,", sum(len(t) for _, t in files), "characters", file=sys.stderr)

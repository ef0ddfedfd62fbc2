"""Runtime context (opt-in): OS, Python, shell, locale, git state, available tools.

Environment variable *names* that look relevant are listed; their values never are.
"""

from __future__ import annotations

import locale
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

TOOLS = (
    "git",
    "docker",
    "podman",
    "kubectl",
    "helm",
    "terraform",
    "ansible",
    "node",
    "npm",
    "go",
    "cargo",
    "java",
    "gcloud",
    "aws",
    "az",
    "make",
    "gcc",
)
_RELEVANT_ENV = re.compile(
    r"^(KUBE|AWS_|AZURE_|GOOGLE_|GCP_|DOCKER|CI$|GITHUB_|GITLAB_|VIRTUAL_ENV|CONDA_|JAVA_HOME|GOPATH|NODE_ENV|PYTHONPATH|HTTP_PROXY|HTTPS_PROXY|OPENAI_|ANTHROPIC_|PRELLM_)"
)


def _git(args: list[str], cwd: Path) -> str | None:
    if not shutil.which("git"):
        return None
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def collect_runtime(cwd: str | Path | None = None) -> dict[str, Any]:
    cwd = Path(cwd or os.getcwd())
    info: dict[str, Any] = {
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": sys.version.split()[0],
        "shell": Path(os.environ.get("SHELL", "")).name or None,
        "locale": locale.getlocale()[0] or os.environ.get("LANG"),
        "cwd_name": cwd.name,
        "tools": [t for t in TOOLS if shutil.which(t)],
        "env_names": sorted(k for k in os.environ if _RELEVANT_ENV.match(k)),
    }
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    if branch is not None:
        status = _git(["status", "--porcelain"], cwd) or ""
        lines = status.splitlines()
        info["git"] = {
            "branch": branch,
            "modified": sum(1 for ln in lines if not ln.startswith("??")),
            "untracked": sum(1 for ln in lines if ln.startswith("??")),
        }
    return info


def runtime_text(info: dict[str, Any]) -> str:
    parts = [f"OS {info['os']}", f"Python {info['python']}"]
    if info.get("shell"):
        parts.append(f"shell {info['shell']}")
    if info.get("locale"):
        parts.append(f"locale {info['locale']}")
    if git := info.get("git"):
        parts.append(
            f"git branch {git['branch']} ({git['modified']} modified, {git['untracked']} untracked)"
        )
    if info.get("tools"):
        parts.append("tools: " + ", ".join(info["tools"]))
    if info.get("env_names"):
        parts.append("env vars set: " + ", ".join(info["env_names"]))
    return "Runtime: " + "; ".join(parts)

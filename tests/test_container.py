"""The container image, run with buildah: non-root, configured as documented, serving.

Needs a built image, so it runs only when ``PRELLM_IMAGE`` names one (``.ci/ship-checks
container`` builds it and sets that; ``PRELLM_BUILDAH_STORAGE`` picks buildah's storage
driver). buildah's chroot isolation shares the host's network, so the server in the
container is reached on 127.0.0.1 from here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

import prellm

IMAGE = os.environ.get("PRELLM_IMAGE", "")
pytestmark = pytest.mark.skipif(
    not IMAGE or shutil.which("buildah") is None,
    reason="no image to test: set PRELLM_IMAGE (see .ci/ship-checks container)",
)
MODELS = ["--small", "test/echo", "--large", "test/echo", "--strategy", "passthrough"]


def _buildah(*args: str) -> list[str]:
    storage = os.environ.get("PRELLM_BUILDAH_STORAGE")
    return ["buildah", *(["--storage-driver", storage] if storage else []), *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def config() -> dict:
    out = subprocess.run(
        _buildah("inspect", "--type", "image", IMAGE), capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)["Docker"]["config"]


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    name = subprocess.run(
        _buildah("from", IMAGE), capture_output=True, text=True, check=True
    ).stdout.strip()
    yield name
    subprocess.run(_buildah("rm", name), capture_output=True, check=False)


def run(container: str, *cmd: str, env: dict[str, str] | None = None, **kw):
    envs = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return subprocess.run(
        _buildah("run", "--isolation", "chroot", *envs, container, "--", *cmd),
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_the_image_is_configured_as_documented(config):
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["prellm"]
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PRELLM_DATA_DIR"] == "/data" and env["HOME"] == "/data"
    assert "/health/liveness" in " ".join(config["Healthcheck"]["Test"])


def test_it_runs_as_non_root_with_the_source_version(container):
    r = run(container, "sh", "-c", "id -u; prellm --version; test -w /data && echo writable")
    assert r.returncode == 0, r.stderr
    uid, version, writable = r.stdout.split("\n")[:3]
    assert uid == "10001" and version == f"prellm, version {prellm.__version__}"
    assert writable == "writable"


def test_the_postgres_driver_is_installed(container):
    r = run(container, "python3", "-c", "import psycopg, psycopg_pool")
    assert r.returncode == 0, r.stderr  # for PRELLM_DATABASE_URL (deploy/k8s/overlays/postgres)


def test_a_public_host_without_keys_is_refused(container):
    r = run(container, "prellm", "serve", "--host", "0.0.0.0", "--port", "1", *MODELS)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("prellm: error: refusing to serve on 0.0.0.0")


def test_it_serves_liveness_and_a_chat_completion(container, config):
    port = _free_port()
    proc = subprocess.Popen(
        _buildah(
            "run",
            "--isolation",
            "chroot",
            "--env=PRELLM_API_KEYS=k-container",
            container,
            "--",
            "prellm",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *MODELS,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # buildah and the server in it: one group to stop
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                live = httpx.get(f"{base}/health/liveness", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the server in the container never answered"
                time.sleep(0.3)
        assert live.status_code == 200
        body = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}
        url = f"{base}/v1/chat/completions"
        assert httpx.post(url, json=body, timeout=30).status_code == 401
        r = httpx.post(url, json=body, headers={"Authorization": "Bearer k-container"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "hi"
        # The image's HEALTHCHECK command, pointed at this port, succeeds in the container.
        check = [a.replace("8080", str(port)) for a in config["Healthcheck"]["Test"][1:]]
        assert run(container, *check).returncode == 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert "k-container" not in err and "Traceback" not in err

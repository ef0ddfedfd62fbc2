"""The request path's shape and its adapters: typed options, no cycles, the server on the
engine's own configuration, and the guard that keeps tests off real providers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
from conftest import BLOCKED

import prellm
from prellm import ConfigError, PreLLM, ProviderError, preprocess_and_execute_sync
from prellm._devtools import imports
from prellm.providers.testing import recorded_requests

# --- shape of the package -----------------------------------------------------------


def test_no_import_cycles_no_layer_violations_no_long_functions():
    g = imports.graph()
    assert imports.cycles(g) == []
    assert imports.layer_violations(g) == []
    assert list(imports.long_functions()) == []


def test_the_shape_checker_finds_a_cycle_and_a_long_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    )
    (pkg / "c.py").write_text("def f():\n" + "    x = 1\n" * 90)
    assert imports.cycles(imports.graph(pkg)) == [["pkg.a", "pkg.b"]]
    assert [f.split()[1] for f in imports.long_functions(pkg)] == ["f"]


def test_the_shape_check_runs_as_a_script():
    out = subprocess.run(
        [sys.executable, "-m", "prellm._devtools.imports"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip().endswith("0 problems")


def test_dunder_all_is_what_the_package_exports():
    public = {n for n in prellm._EXPORTS} | {"__version__"}
    assert set(prellm.__all__) == public
    assert len(prellm.__all__) == len(set(prellm.__all__))
    for name in prellm.__all__:
        assert getattr(prellm, name) is not None
    with pytest.raises(AttributeError):
        prellm.no_such_name  # noqa: B018


# --- typed options ------------------------------------------------------------------


def test_an_unknown_option_is_a_config_error_naming_it_before_any_call():
    engine = PreLLM("test/echo", "test/echo", "structure")
    with pytest.raises(ConfigError, match="no_such_option"):
        engine.run("Deploy app to prod", no_such_option=1)
    with pytest.raises(ConfigError, match="'sesion'.*did you mean 'session'"):
        engine.run("Deploy app to prod", sesion="s1")
    with pytest.raises(ConfigError, match="no_such_option"):
        preprocess_and_execute_sync("hi", "test/echo", "test/echo", no_such_option=1)
    with pytest.raises(ConfigError, match="temprature"):
        PreLLM("test/echo", "test/echo", temprature=0.2)
    assert recorded_requests() == []


def test_litellm_parameters_still_reach_the_large_model(provider, remote):
    r = PreLLM("test/echo", "openai/m", "passthrough").run(
        "hi", temperature=0.3, num_retries=0, timeout=30, seed=7, **remote
    )
    assert r.content and provider.requests[-1]["temperature"] == 0.3
    assert provider.requests[-1]["seed"] == 7


def test_the_methods_show_their_options():
    import inspect

    for method in (PreLLM.run, PreLLM.arun, PreLLM.stream, PreLLM.astream):
        params = inspect.signature(method).parameters
        assert {"session", "response_schema", "codebase_path", "llm_kwargs"} <= set(params)


# --- the server uses the engine's configuration -----------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_without_strategy_uses_prellm_yaml(tmp_path):
    (tmp_path / "prellm.yaml").write_text(
        "small: test/echo\nlarge: test/echo\nstrategy: structure\n", encoding="utf-8"
    )
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PRELLM_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prellm", "serve", "--port", str(port)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stderr.readline()]
        while "ready" not in lines[-1] and lines[-1]:
            lines.append(proc.stderr.readline())
        assert "serving" in lines[0] and "ready" in lines[-1]
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "prellm:default", "messages": [{"role": "user", "content": "Deploy"}]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        summary = r.json()["prellm"]
        assert summary["requested_strategy"] == "structure" and summary["strategy"] == "structure"
        assert summary["small_model"] == "test/echo"
        assert "small" in summary["timings_ms"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_readiness_checks_the_models_named_in_prellm_yaml(serve, tmp_path):
    cfg = tmp_path / "prellm.yaml"
    cfg.write_text("small: test/invalid\nlarge: test/echo\n", encoding="utf-8")
    url = serve(config=str(cfg))
    r = httpx.get(url.removesuffix("/v1") + "/health/readiness", timeout=30)
    assert r.status_code == 200
    checks = {c["role"]: c["model"] for c in r.json()["checks"] if "role" in c}
    assert checks == {"small": "test/invalid", "large": "test/echo"}


def test_one_engine_serves_repeated_requests_and_the_pool_is_bounded(serve):
    from prellm.server.engines import EnginePool
    from prellm.server.settings import ModelPair, ServerSettings

    pool = EnginePool(ServerSettings(small="test/echo", large="test/echo"), None, size=2)
    first = pool.get(ModelPair(small="test/echo", large="test/echo"))
    assert pool.get(ModelPair(small="test/echo", large="test/echo")) is first
    pool.get(ModelPair(small="test/echo", large="test/a"))
    pool.get(ModelPair(small="test/echo", large="test/b"))
    assert len(pool._engines) == 2
    assert pool.get(ModelPair(small="test/echo", large="test/echo")) is not first


def test_an_empty_model_field_uses_the_servers_large_model(serve):
    url = serve(small="test/echo", large="test/echo", strategy="passthrough")
    r = httpx.post(
        f"{url}/chat/completions",
        json={"model": "", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["prellm"]["large_model"] == "test/echo"


# --- the guard against real providers ----------------------------------------------


def test_tests_cannot_reach_a_real_remote_provider():
    BLOCKED.clear()
    t0 = time.monotonic()
    with pytest.raises(ProviderError):
        preprocess_and_execute_sync(
            "hi",
            "test/echo",
            "openai/gpt-4o-mini",
            strategy="passthrough",
            api_key="sk-test-not-a-real-key-0000",
            num_retries=0,
            timeout=20,
        )
    assert any("openai.com" in host for host in BLOCKED)
    assert time.monotonic() - t0 < 60  # refused at once, not a network time-out


def test_clarification_and_pipelines_still_compose(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """\
            rules:
              - name: deploy
                keywords: [deploy]
                require:
                  - name: environment
                    keywords: [staging, production]
                policy: ask
            """
        ),
        encoding="utf-8",
    )
    cfg = tmp_path / "prellm.yaml"
    cfg.write_text(f"rules: {rules}\n", encoding="utf-8")
    r = PreLLM("test/echo", "test/echo", "classify", config=cfg).run("deploy the app")
    assert r.needs_clarification and r.finish_reason == "clarification"
    assert [s.role for s in r.stages] == ["small"]

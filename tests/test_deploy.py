"""The compose file and container image cannot run here (no Docker engine): check them as files."""

from __future__ import annotations

from pathlib import Path

import yaml

from mesh.config import GatewayConfig
from tests.conftest import ROOT


def test_compose_file_parses_and_points_at_real_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mesh = compose["services"]["mesh"]
    assert (ROOT / mesh["build"]["context"] / mesh["build"]["dockerfile"]).is_file()
    source, target, _ = mesh["volumes"][0].split(":")
    assert (ROOT / source).is_file()
    assert target == "/etc/mesh/mesh.yaml"
    for broker in ("kafka", "mosquitto"):
        assert mesh["depends_on"][broker]["condition"] == "service_healthy"
        assert broker in compose["services"]
    mosquitto_conf = compose["services"]["mosquitto"]["volumes"][0].split(":")[0]
    assert (ROOT / mosquitto_conf).is_file()


def test_container_config_is_valid_and_serves_the_shipped_examples() -> None:
    config = GatewayConfig.model_validate(yaml.safe_load((ROOT / "deploy/mesh.yaml").read_text()))
    for entry in config.specs:
        shipped = Path(str(entry.path).replace("/app/", "", 1))
        assert (ROOT / shipped).is_file()
    assert config.servers["*"].host == "kafka:9092"
    assert config.servers["broker"].host == "mosquitto:1883"


def test_dockerfile_installs_the_package_and_runs_mesh() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    assert 'ENTRYPOINT ["mesh"]' in dockerfile
    assert "USER mesh" in dockerfile

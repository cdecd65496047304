"""cluster.yaml passes the Ray cluster launcher's own validation (it cannot launch here)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CONFIG = Path(__file__).resolve().parents[2] / "cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_cluster_yaml_is_valid() -> None:
    config = prepare_config(load())  # fills the launcher's AWS defaults, as `ray up` does
    validate_config(config)  # JSON schema + node-type checks
    head = config["available_node_types"][config["head_node_type"]]
    workers = [t for name, t in config["available_node_types"].items() if name != config["head_node_type"]]
    assert head["node_config"]["InstanceType"].startswith(("m", "c", "r"))  # a CPU head
    assert all(t["node_config"]["InstanceType"].startswith(("g", "p")) for t in workers)  # GPU workers
    assert all(t["min_workers"] == 0 and t["max_workers"] > 0 for t in workers)  # autoscaling from zero
    assert all("IamInstanceProfile" in t["node_config"] for t in config["available_node_types"].values())
    setup = " ".join(config["setup_commands"])
    assert "download.pytorch.org/whl/cu" in setup and "diarize[jobs]" in setup


def test_validation_catches_mistakes() -> None:
    broken = copy.deepcopy(load())
    broken["available_node_types"]["worker-gpu"]["min_workers"] = "zero"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))
    broken = copy.deepcopy(load())
    broken["head_node_type"] = "nope"
    with pytest.raises((ValueError, KeyError)):
        validate_config(prepare_config(broken))

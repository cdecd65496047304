"""cluster.yaml passes the Ray cluster launcher's own validation (it cannot launch here), declares its GPU
workers' resources, and puts the models where the README's ``ray job submit`` says they are."""

from __future__ import annotations

import argparse
import copy
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from jobs.cli import add_run_command

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "cluster.yaml"


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


def test_gpu_workers_declare_their_resources() -> None:
    config = prepare_config(load())
    for name, node in config["available_node_types"].items():
        if name == config["head_node_type"]:
            continue
        assert node["resources"]["GPU"] >= 1 and node["resources"]["CPU"] >= 1  # known before any node starts


def submitted_run(text: str) -> argparse.Namespace:
    """The ``python -m jobs run`` arguments of the first ``ray job submit`` command in ``text``."""
    joined = re.sub(r"\\\n#?\s*", " ", text)
    [line] = [line for line in joined.splitlines() if "ray job submit" in line][:1]
    words = shlex.split(line.lstrip("# "), comments=True)
    command = words[words.index("--", words.index("submit")) + 1:]
    assert command[:4] == ["python", "-m", "jobs", "run"]
    parser = argparse.ArgumentParser()
    add_run_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(command[3:])


def test_models_are_where_the_submitted_job_looks() -> None:
    [download] = [c for c in load()["setup_commands"] if c.startswith("diarize models download")]
    dest = shlex.split(download)[shlex.split(download).index("--dest") + 1]
    assert dest.startswith("/")  # the job's working directory is a copy elsewhere
    assert submitted_run((REPO / "README.md").read_text()).models == dest
    assert submitted_run(CONFIG.read_text()).models == dest

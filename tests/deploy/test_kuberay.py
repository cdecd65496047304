"""deploy/kuberay: every manifest validates (Kubernetes schemas, KubeRay CRD schemas), wrong fields are
rejected, and the pieces agree with each other and with this project (the nightly command line parses
with the real CLI, models path, credentials, schedules, Ray versions)."""

from __future__ import annotations

import argparse
import copy
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.cli import add_report_command, add_run_command, options_from_args
from jobs.dates import PLACEHOLDER, resolve_run_date

from .kube_schemas import crd_errors, crd_folder, definition_errors, have_crds, kubernetes_errors

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "deploy" / "kuberay"
POD_TEMPLATE = "io.k8s.api.core.v1.PodTemplateSpec"
needs_crds = pytest.mark.skipif(not have_crds(), reason=f"KubeRay CRD files not found in {crd_folder()} "
                                                        "(see tests/deploy/README.md)")


def documents() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in sorted(KUBERAY.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    [doc] = [doc for _, doc in documents() if doc["kind"] == kind]
    return doc


def is_kuberay(doc: dict[str, Any]) -> bool:
    return doc["apiVersion"].startswith("ray.io/")


def pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates inside a RayCluster spec (head and every worker group)."""
    spec = doc["spec"]
    return [spec["headGroupSpec"]["template"], *(group["template"] for group in spec.get("workerGroupSpecs", []))]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for t in pod_templates(doc) for c in t["spec"].get("initContainers", []) + t["spec"]["containers"]]


def test_every_kind_is_there() -> None:
    kinds = sorted(doc["kind"] for _, doc in documents())
    assert kinds == ["CronJob", "PersistentVolumeClaim", "RayCluster", "RayCronJob", "RayJob", "Role",
                     "RoleBinding", "ServiceAccount", "ServiceAccount"]


@pytest.mark.parametrize("name,doc", [d for d in documents() if not is_kuberay(d[1])],
                         ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_plain_objects_validate_against_the_kubernetes_schemas(name: str, doc: dict[str, Any]) -> None:
    assert kubernetes_errors(doc) == []


def test_pod_templates_and_metadata_of_kuberay_objects_validate_against_kubernetes() -> None:
    cluster = one("RayCluster")
    for template in pod_templates(cluster):
        assert definition_errors(template, POD_TEMPLATE) == []
    for kind in ("RayCluster", "RayJob", "RayCronJob"):
        assert definition_errors(one(kind)["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") == []


@needs_crds
@pytest.mark.parametrize("kind", ["RayCluster", "RayJob", "RayCronJob"])
def test_kuberay_objects_validate_against_the_crds(kind: str) -> None:
    assert crd_errors(one(kind)) == []


def test_wrong_fields_are_rejected_by_the_kubernetes_schemas() -> None:
    cron = copy.deepcopy(one("CronJob"))
    cron["spec"]["schedul"] = cron["spec"].pop("schedule")
    assert any("schedul" in e for e in kubernetes_errors(cron))
    cron = copy.deepcopy(one("CronJob"))
    cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "three"
    assert kubernetes_errors(cron)
    template = copy.deepcopy(pod_templates(one("RayCluster"))[1])
    template["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    assert any("imagePullPolcy" in e for e in definition_errors(template, POD_TEMPLATE))


@needs_crds
def test_wrong_fields_are_rejected_by_the_crds() -> None:
    cluster = copy.deepcopy(one("RayCluster"))
    cluster["spec"]["workerGroupSpecs"][0]["minReplica"] = 0
    assert any("minReplica" in e for e in crd_errors(cluster))
    cluster = copy.deepcopy(one("RayCluster"))
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"][0]["valu"] = "x"
    assert any("valu" in e for e in crd_errors(cluster))
    job = copy.deepcopy(one("RayJob"))
    job["spec"]["entrypoint"] = ["python", "-m", "jobs"]
    assert crd_errors(job)
    cron = copy.deepcopy(one("RayCronJob"))
    cron["spec"]["timeZone"] = ""
    assert crd_errors(cron)


def nightly_commands() -> list[list[str]]:
    """The ``python -m jobs`` commands of the RayJob's shell entrypoint, as argument lists."""
    entrypoint = one("RayJob")["spec"]["entrypoint"]
    commands = [shlex.split(part) for part in entrypoint.split(";")]
    return [c[3:] for c in commands if c[:3] == ["python", "-m", "jobs"]]


def test_nightly_command_line_parses_with_the_real_cli() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    add_run_command(commands)
    add_report_command(commands)
    run, report = (parser.parse_args(argv) for argv in nightly_commands())
    assert run.command == "run" and report.command == "report"
    yesterday = resolve_run_date("yesterday")
    assert PLACEHOLDER in run.manifest and run.device == "cuda" and run.run_date == yesterday
    assert run.wait_for_gpus >= 600  # GPU workers scale from zero: without it the job fails at once
    options = options_from_args(run)
    assert options.manifest == run.manifest.replace(PLACEHOLDER, yesterday) and options.run_date == yesterday
    assert report.output == run.output and report.run_date == yesterday and PLACEHOLDER in report.html
    assert run.output.startswith("s3://") and report.html.startswith(run.output + "/_reports/")


def test_schedules_run_the_same_job() -> None:
    job, cron_job, cron = one("RayJob"), one("RayCronJob"), one("CronJob")
    assert cron_job["spec"]["jobTemplate"] == job["spec"]
    assert cron_job["spec"]["schedule"] == cron["spec"]["schedule"]
    assert cron_job["spec"]["timeZone"] == cron["spec"]["timeZone"] == "Etc/UTC"  # "yesterday" is a UTC day
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": one("RayCluster")["metadata"]["name"]}
    assert "generateName" in job["metadata"] and "name" not in job["metadata"]  # a new RayJob every night


def test_plain_cronjob_may_create_rayjobs_and_nothing_else() -> None:
    pod = one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [mount] = container["volumeMounts"]
    [volume] = pod["volumes"]
    assert container["command"] == ["kubectl", "create", "-f", f"{mount['mountPath']}/rayjob.yaml"]
    assert volume["name"] == mount["name"]
    config_map = volume["configMap"]["name"]
    assert f"create configmap {config_map} --from-file=rayjob.yaml=deploy/kuberay/rayjob.yaml" in \
        (KUBERAY / "README.md").read_text()
    role, binding = one("Role"), one("RoleBinding")
    assert role["rules"] == [{"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get", "list"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                                    "namespace": one("CronJob")["metadata"]["namespace"]}]


def test_gpu_workers_scale_from_zero_under_a_cpu_head() -> None:
    cluster = one("RayCluster")
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    [group] = cluster["spec"]["workerGroupSpecs"]
    assert group["minReplicas"] == group["replicas"] == 0 and group["maxReplicas"] > 0
    [worker] = group["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert all("nvidia.com/gpu" not in c["resources"]["limits"] for c in head)


def test_models_volume_and_credentials() -> None:
    cluster = one("RayCluster")
    claim = one("PersistentVolumeClaim")
    account = [doc for _, doc in documents() if doc["kind"] == "ServiceAccount" and doc["metadata"]["name"] == "diarize"]
    assert account and "eks.amazonaws.com/role-arn" in account[0]["metadata"]["annotations"]  # IRSA
    for template in pod_templates(cluster):
        spec = template["spec"]
        assert spec["serviceAccountName"] == "diarize"
        [volume] = spec["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        for container in spec["containers"]:
            env = {e["name"]: e for e in container["env"]}
            [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
            assert env["DIARIZATION_MODELS"]["value"] == mount["mountPath"] and mount["readOnly"] is True
    [init] = cluster["spec"]["headGroupSpec"]["template"]["spec"]["initContainers"]
    assert "diarize models download --dest /models" in init["command"][-1]
    assert init["volumeMounts"][0]["mountPath"] == "/models" and not init["volumeMounts"][0].get("readOnly")
    secret_like = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)
    for container in containers(cluster):
        for variable in container.get("env", []):
            if secret_like.search(variable["name"]):
                assert "value" not in variable and variable["valueFrom"]["secretKeyRef"]["optional"] is True


def test_one_ray_version_everywhere() -> None:
    rayjob_image = {c["image"] for c in containers(one("RayCluster"))}
    assert len(rayjob_image) == 1
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    [base] = re.findall(r"^FROM rayproject/ray:(\d+\.\d+\.\d+)-py311-gpu$", dockerfile, re.MULTILINE)
    cluster_yaml = yaml.safe_load((REPO / "cluster.yaml").read_text())
    [pinned] = re.findall(r'"ray\[default\]==([\d.]+)"', " ".join(cluster_yaml["setup_commands"]))
    assert one("RayCluster")["spec"]["rayVersion"] == base == pinned

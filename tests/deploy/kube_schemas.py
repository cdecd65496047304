"""Schema validation of Kubernetes manifests, as strict as the API server's field validation.

Plain objects (CronJob, ServiceAccount, Role, ...) and every pod template or object metadata embedded in
a custom resource: the official Kubernetes JSON schemas shipped by the ``kubernetes-validate`` package
(strict: unknown fields are errors). Custom resources (RayCluster, RayJob, RayCronJob): the
``openAPIV3Schema`` of KubeRay's CRD files, made strict the way the API server treats them (an object
schema with ``properties`` and no ``x-kubernetes-preserve-unknown-fields`` refuses unknown fields).
CEL rules (``x-kubernetes-validations``) are not evaluated. Where the CRD files come from: README.md.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

from tests.conftest import SHARED

KUBERNETES = "1.33"
KUBERAY = "v1.7.0"
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml",
             "RayCronJob": "ray.io_raycronjobs.yaml"}
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"


def crd_folder() -> Path:
    """``$KUBERAY_CRDS``, else ``SHARED/kuberay/v1.7.0``: KubeRay's ``ray-operator/config/crd/bases`` files."""
    return Path(os.environ.get("KUBERAY_CRDS", SHARED / "kuberay" / KUBERAY))


def have_crds() -> bool:
    return all((crd_folder() / name).is_file() for name in CRD_FILES.values())


def kubernetes_errors(document: dict[str, Any]) -> list[str]:
    """Errors of a plain Kubernetes object against the official strict schema ([] when valid)."""
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


@cache
def _definitions_registry() -> Registry:
    folder = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBERNETES}.0-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def definition_errors(value: Any, name: str) -> list[str]:
    """Errors of ``value`` against one Kubernetes definition, e.g. ``io.k8s.api.core.v1.PodTemplateSpec``."""
    validator = jsonschema.Draft202012Validator({"$ref": f"{DEFINITIONS}#/$defs/{name}"},
                                                registry=_definitions_registry())
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(value)]


def strict(schema: Any) -> Any:
    """A CRD schema in which every object with declared properties refuses undeclared ones."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (out.get("type") == "object" and isinstance(out.get("properties"), dict)
            and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def crd_validator(kind: str, version: str = "v1") -> jsonschema.Draft202012Validator:
    """A validator of ``kind`` from its KubeRay CRD file (the served ``version``), made strict."""
    crd = yaml.safe_load((crd_folder() / CRD_FILES[kind]).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return jsonschema.Draft202012Validator(strict(served["schema"]["openAPIV3Schema"]))


def crd_errors(document: dict[str, Any]) -> list[str]:
    """Errors of a KubeRay object against its CRD schema, plus its metadata against ObjectMeta."""
    version = document["apiVersion"].split("/")[1]
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}"
              for e in crd_validator(document["kind"], version).iter_errors(document)]
    return errors + definition_errors(document.get("metadata", {}), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")

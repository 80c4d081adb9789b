"""The CloudShell CRD: identity, printer columns, a structural schema that agrees with ours."""

import subprocess
import sys

import jsonschema
import pytest
import yaml

from jupyter_cloudtty.cloudshell.crd import crd, crd_yaml, spec_schema
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.spec import DEFAULT_EXPOSURE, SPEC_FIELDS, validate_spec
from tests.harness.objects import FULL_SPEC


@pytest.mark.slow
def test_jupyter_cloudtty_crd_prints_it():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_cloudtty", "crd"], capture_output=True, text=True, check=True
    ).stdout
    assert out == crd_yaml()
    assert yaml.safe_load(out)["kind"] == "CustomResourceDefinition"


def test_identity_matches_upstream():
    definition = crd()
    assert definition["metadata"]["name"] == "cloudshells.cloudshell.cloudtty.io"
    spec = definition["spec"]
    assert spec["group"] == "cloudshell.cloudtty.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "CloudShell",
        "listKind": "CloudShellList",
        "plural": "cloudshells",
        "singular": "cloudshell",
    }
    assert "shortNames" not in spec["names"]  # `cs` would collide with other CRDs
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns_as_kubectl_shows_them():
    columns = [(c["name"], c["jsonPath"]) for c in crd()["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == [
        ("User", ".spec.runAsUser"),
        ("Command", ".spec.commandAction"),
        ("Type", ".spec.exposureMode"),
        ("URL", ".status.accessUrl"),
        ("Phase", ".status.phase"),
        ("Age", ".metadata.creationTimestamp"),
        ("Start", ".status.start"),  # -o wide only (priority 1): CloudTTY's columns stay as they were
    ]


def structural_violations(node, path="openAPIV3Schema"):
    """Kubernetes requires a type on every node, except where unknown fields are preserved."""
    problems = []
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    for name, child in node.get("properties", {}).items():
        problems += structural_violations(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += structural_violations(node[key], f"{path}.{key}")
    return problems


def test_the_schema_is_structural():
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_violations(schema) == []


def test_defaults_the_api_server_writes_back():
    properties = spec_schema()["properties"]
    assert properties["commandAction"]["default"] == "bash"
    assert properties["exposureMode"]["default"] == DEFAULT_EXPOSURE == "ClusterIP"  # never a NodePort unasked


def test_the_crd_and_our_validator_know_the_same_fields():
    properties = spec_schema()["properties"]
    assert set(properties) == set(SPEC_FIELDS)
    for nested in ("secretRef", "ingressConfig", "virtualServiceConfig"):
        validator_fields = set()
        for key in properties[nested]["properties"]:
            validate_spec({nested: {key: {} if key == "annotations" else "a"}})  # accepted by ours
            validator_fields.add(key)
        with pytest.raises(InvalidShell, match="unknown field"):
            validate_spec({nested: {"surely-not-a-field": "a"}})
        assert validator_fields == set(properties[nested]["properties"])
    assert set(properties["env"]["items"]["properties"]) == {"name", "value", "valueFrom"}


def test_a_full_spec_is_valid_for_the_api_server_too():
    jsonschema.validate(FULL_SPEC, spec_schema())


@pytest.mark.parametrize(
    "spec",
    [
        {"ttl": -1},
        {"ttl": 0},
        {"ttlSecondsAfterStarted": "60"},
        {"once": "yes"},
        {"commandAction": ""},
        {"runAsUser": "nobody"},
        {"exposureMode": "LoadBalancer"},
        {"secretRef": {}},
        {"pathPrefix": "/a b"},
        {"env": [{"value": "x"}]},
        {"env": [{"name": "1=2"}]},
        {"ttydClientOptions": {"fontSize": 20}},
        {"ttydClientOptions": {"a": "b|c"}},
    ],
)
def test_what_we_refuse_the_api_server_refuses(spec):
    with pytest.raises(InvalidShell):
        validate_spec(spec)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, spec_schema())

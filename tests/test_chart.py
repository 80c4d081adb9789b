"""The Helm chart, linted and rendered by Helm's own engine (helm-python-sdk, no binary),
every rendered object validated against the Kubernetes schemas (kubernetes-validate, strict)
or, for kinds the chart defines itself, against its own CRDs."""


import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from jupyter_cloudtty.cloudshell.crd import crd_yaml
from jupyter_cloudtty.operator.settings import Settings
from tests.harness.chart import CHART, MANIFESTS, render

KUBERNETES = ["1.29", "1.33"]

VALUE_SETS = {
    "defaults": {},
    "cluster-wide, 2 replicas": {"clusterWide": True, "replicas": 2},
    "more namespaces, peering": {"replicas": 3, "namespaces": ["team-a", "team-b"]},
    "everything set": {
        "shell": {
            "image": "corp/shell:7",
            "kubeconfigKey": "kubeconfig",
            "role": {"kind": "ClusterRole", "name": "edit"},
            "ttlSecondsAfterFinished": 60,
            "jobTemplate": {"spec": {"template": {"spec": {"nodeSelector": {"pool": "shells"}}}}},
        },
        "featureGates": {"AllowSecretStoreKubeconfig": True},
        "gateway": {"name": "gw", "namespace": "infra", "sectionName": "https", "hostname": "h.example", "https": True},
        "resources": {"limits": {"memory": "256Mi"}},
        "jupyterServers": {"serviceAccounts": [{"name": "cloudtty-user", "namespace": "jhub"}], "serviceProxy": True},
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "system", "operator": "Exists"}],
    },
}


def validate(obj: dict, version: str, chart_crds: dict[tuple[str, str], dict]) -> None:
    group = obj["apiVersion"].split("/")[0]
    schema = chart_crds.get((group, obj["kind"]))
    if schema is not None:
        jsonschema.validate({k: v for k, v in obj.items() if k != "metadata"}, schema)
    else:
        kubernetes_validate.validate(obj, version, strict=True)  # unknown kinds raise: none slip by


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_lint_is_clean(values):
    report = helm.lint(str(CHART), values, strict=True)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid(values, version):
    objects = render(values)
    chart_crds = {
        (o["spec"]["group"], o["spec"]["names"]["kind"]): o["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for o in objects
        if o["kind"] == "CustomResourceDefinition"
    }
    for obj in objects:
        validate(obj, version, chart_crds)


def test_the_chart_ships_the_crd_the_package_prints():
    assert (CHART / "crds" / "cloudshells.yaml").read_text() == crd_yaml()


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_operator_config_parses_as_settings(values):
    (configmap,) = [o for o in render(values) if o["kind"] == "ConfigMap"]
    settings = Settings.from_config(yaml.safe_load(configmap["data"]["config.yaml"]))
    shell = {**VALUE_SETS["defaults"], **values}.get("shell", {})
    assert settings.image == shell.get("image", "jupyter-cloudtty/cloudshell:latest")
    assert settings.shell_role == tuple(shell.get("role", {"kind": "ClusterRole", "name": "view"}).values())


def test_least_privilege_by_default():
    objects = render({})
    cluster_roles = [o for o in objects if o["kind"] == "ClusterRole"]
    # Namespaced by default: the only cluster-wide right is listing nodes (for NodePort URLs).
    assert [r["rules"] for r in cluster_roles] == [
        [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}]
    ]
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "shells"
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        if "secrets" in rule["resources"]:  # creates each shell's own Secret, never reads one
            assert rule == {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
        assert "configmaps" not in rule["resources"]
    bind = [r for r in role["rules"] if r["verbs"] == ["bind"]]
    assert bind == [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                     "resourceNames": ["view"], "verbs": ["bind"]}]  # fmt: skip
    assert "cluster-admin" not in yaml.safe_dump(objects)


def test_the_deployment_runs_the_operator_as_configured():
    (deployment,) = [o for o in render({}) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "jupyter-cloudtty/operator:0.1.0"
    assert container["args"] == [
        "operator", "--config=/etc/cloudtty/config.yaml", "--liveness=http://0.0.0.0:8080/healthz",
        "--namespace=shells", "--standalone",
    ]  # fmt: skip
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    (wide,) = [o for o in render(VALUE_SETS["cluster-wide, 2 replicas"]) if o["kind"] == "Deployment"]
    args = wide["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args and "--peering=rel-operator" in args


def test_plain_manifests_are_the_chart_rendered_with_defaults():
    expected = yaml.safe_dump_all(render({}), sort_keys=False)
    assert MANIFESTS.read_text() == expected, "regenerate: python deploy/render_manifests.py"


JUPYTER = {"jupyterServers": {"serviceAccounts": [{"name": "cloudtty-user", "namespace": "jhub"}]}}


def test_jupyter_servers_may_manage_cloudshells_and_nothing_else():
    objects = render({**JUPYTER, "namespaces": ["team-a"]})
    (role,) = [o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "rel-operator-jupyter"]
    assert role["rules"] == [{"apiGroups": ["cloudshell.cloudtty.io"], "resources": ["cloudshells"],
                              "verbs": ["get", "list", "watch", "create", "delete"]}]  # fmt: skip
    bindings = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "rel-operator-jupyter"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["shells", "team-a"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == "rel-operator-jupyter"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cloudtty-user", "namespace": "jhub"}]
    wide = render(
        {**JUPYTER, "clusterWide": True, "jupyterServers": {**JUPYTER["jupyterServers"], "serviceProxy": True}}
    )
    (binding,) = [
        o for o in wide if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "rel-operator-jupyter"
    ]
    (role,) = [o for o in wide if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "rel-operator-jupyter"]
    assert role["rules"][1] == {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create"]}
    assert not [o for o in render({}) if o["metadata"]["name"].endswith("-jupyter")]  # none unless asked


def _granted(objects: list[dict]) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> the verbs the operator's Roles and ClusterRoles grant, all together."""
    granted: dict[tuple[str, str], set[str]] = {}
    for role in (o for o in objects if o["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_the_chart_lets_every_watch_of_the_operator_run():
    """Every kind kopf lists and watches for the operator (its indexes, events, the daemon) is granted
    list + watch: a kind without them never fills its index, and no shell is ever reconciled."""
    from unittest.mock import MagicMock

    from jupyter_cloudtty.operator.handlers import make_registry

    registry = make_registry(Settings.from_config({}), MagicMock())
    watched = {
        (h.selector.group, h.selector.plural or h.selector.any_name)
        for handlers in (registry._indexing, registry._watching, registry._spawning, registry._changing)
        for h in handlers.get_all_handlers()
    }
    assert ("batch", "jobs") in watched and ("", "nodes") in watched  # the registry is read as meant
    granted = _granted(render({}))
    missing = sorted(f"{g or 'core'}/{r}" for g, r in watched if not {"list", "watch"} <= granted.get((g, r), set()))
    assert missing == []

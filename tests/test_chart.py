"""The Helm chart, linted and rendered by Helm's own engine (helm-python-sdk, no binary),
every rendered object validated against the Kubernetes schemas (kubernetes-validate, strict)
or, for kinds the chart defines itself, against its own CRDs."""

import fnmatch
import json
import re

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from jupyter_cloudtty.cloudshell.crd import crd_yaml
from jupyter_cloudtty.operator.settings import Settings
from tests.harness.chart import CHART, MANIFESTS, render

KUBERNETES = ["1.30", "1.33"]  # 1.30: ValidatingAdmissionPolicy v1, which the chart ships

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
            "recording": {"mode": "required", "claimName": "audit", "recordInput": True},
        },
        "featureGates": {"AllowSecretStoreKubeconfig": True},
        "gateway": {"name": "gw", "namespace": "infra", "sectionName": "https", "hostname": "h.example", "https": True},
        "resources": {"limits": {"memory": "256Mi"}},
        "jupyterServers": {"serviceAccounts": [{"name": "cloudtty-user", "namespace": "jhub"}], "serviceProxy": True},
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "system", "operator": "Exists"}],
    },
    "multi-user": {
        "clusterWide": True,
        "jupyterServers": {"userNamespaces": {"enabled": True}},
        "policy": {
            "allowedImages": ["registry.example/shells/*", "corp/shell:?"],
            "allowRoot": True,
            "kubeconfigSecrets": ["team-kubeconfig"],
            "kubeconfigConfigMaps": ["team-kubeconfig"],
            "allowEnvValueFrom": True,
            "exposureModes": ["ClusterIP", "Ingress"],
            "maxTtlSeconds": 3600,
            "admission": {"exemptGroups": ["system:masters", "shell-admins"], "exemptUsers": ["carol"]},
        },
    },
    "no admission policy": {"policy": {"admission": {"enabled": False}}},
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


@pytest.mark.parametrize("mode", ["optional", "required", False])  # False: `mode: off` unquoted, as YAML reads it
def test_recording_reaches_the_operator_and_lets_it_read_the_claim_only_when_on(mode):
    objects = render({"shell": {"recording": {"mode": mode, "claimName": "audit"}}})
    (configmap,) = [o for o in objects if o["kind"] == "ConfigMap"]
    recording = Settings.from_config(yaml.safe_load(configmap["data"]["config.yaml"])).recording
    assert (recording.mode, recording.claim_name) == (mode or "off", "audit")
    claims = _granted(objects).get(("", "persistentvolumeclaims"), set())
    assert claims == (set() if mode is False else {"get"})


def test_the_deployment_runs_the_operator_as_configured():
    (deployment,) = [o for o in render({}) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "jupyter-cloudtty/operator:0.1.0"
    assert container["args"] == [
        "operator", "--config=/etc/cloudtty/config.yaml", "--liveness=http://0.0.0.0:8080/healthz",
        "--metrics=:9090", "--namespace=shells", "--standalone",
    ]  # fmt: skip
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "metrics", "containerPort": 9090} in container["ports"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"]) == ("true", "9090")
    (wide,) = [o for o in render(VALUE_SETS["cluster-wide, 2 replicas"]) if o["kind"] == "Deployment"]
    args = wide["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args and "--peering=rel-operator" in args


def test_plain_manifests_are_the_chart_rendered_with_defaults():
    expected = yaml.safe_dump_all(render({}), sort_keys=False)
    assert MANIFESTS.read_text() == expected, "regenerate: python deploy/render_manifests.py"


JUPYTER = {"jupyterServers": {"serviceAccounts": [{"name": "cloudtty-user", "namespace": "jhub"}]}}
JUPYTER_RULES = [
    {"apiGroups": ["cloudshell.cloudtty.io"], "resources": ["cloudshells"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},  # each shell's token
]  # fmt: skip


def _named(objects: list[dict], kind: str, name: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]


def test_jupyter_servers_may_manage_cloudshells_and_read_their_tokens_and_nothing_else():
    objects = render({**JUPYTER, "namespaces": ["team-a"]})
    (role,) = _named(objects, "ClusterRole", "rel-operator-jupyter")
    assert role["rules"] == JUPYTER_RULES
    bindings = _named(objects, "RoleBinding", "rel-operator-jupyter")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["shells", "team-a"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == "rel-operator-jupyter"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cloudtty-user", "namespace": "jhub"}]
    wide = render(
        {**JUPYTER, "clusterWide": True, "jupyterServers": {**JUPYTER["jupyterServers"], "serviceProxy": True}}
    )
    # Never cluster-wide: an account every user's code may hold would read every Secret of the cluster.
    assert _named(wide, "ClusterRoleBinding", "rel-operator-jupyter") == []
    assert [b["metadata"]["namespace"] for b in _named(wide, "RoleBinding", "rel-operator-jupyter")] == ["shells"]
    (role,) = _named(wide, "ClusterRole", "rel-operator-jupyter")
    assert role["rules"][2] == {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create"]}
    assert not [o for o in render({}) if o["metadata"]["name"].endswith("-jupyter")]  # none unless asked


def test_with_user_namespaces_the_operator_binds_the_jupyter_role_in_each_and_the_chart_nowhere():
    objects = render(VALUE_SETS["multi-user"])
    (role,) = _named(objects, "ClusterRole", "rel-operator-jupyter")
    assert role["rules"] == JUPYTER_RULES
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    bound = [b for b in bindings if b["roleRef"]["name"] == "rel-operator-jupyter"]
    assert bound == []  # the operator binds it, in each user namespace
    (configmap,) = [o for o in objects if o["kind"] == "ConfigMap"]
    users = Settings.from_config(yaml.safe_load(configmap["data"]["config.yaml"])).user_namespaces
    assert (users.enabled, users.cluster_role, users.service_account) == (True, "rel-operator-jupyter", "default")
    granted = _granted(objects)
    assert {"list", "watch"} <= granted[("", "namespaces")]
    assert "create" in granted[("rbac.authorization.k8s.io", "rolebindings")]
    (cluster_rules,) = [o["rules"] for o in _named(objects, "ClusterRole", "rel-operator-nodes")]
    (bind,) = [r for r in cluster_rules if "bind" in r["verbs"]]
    assert bind["resourceNames"] == ["rel-operator-jupyter"]  # may grant that role, and no other
    assert ("", "namespaces") not in _granted(render({}))  # none of it unless asked


def _granted(objects: list[dict]) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> the verbs the operator's Roles and ClusterRoles grant, all together."""
    granted: dict[tuple[str, str], set[str]] = {}
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole")]
    for role in (r for r in roles if not r["metadata"]["name"].endswith("-jupyter")):  # not the servers' role
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


@pytest.mark.parametrize("values", [{}, VALUE_SETS["multi-user"]], ids=["defaults", "multi-user"])
def test_the_chart_lets_every_watch_of_the_operator_run(values):
    """Every kind kopf lists and watches for the operator (its indexes, events, the daemon) is granted
    list + watch: a kind without them never fills its index, and no shell is ever reconciled."""
    from unittest.mock import MagicMock

    from jupyter_cloudtty.operator.handlers import make_registry

    objects = render(values)
    (configmap,) = [o for o in objects if o["kind"] == "ConfigMap"]
    registry = make_registry(Settings.from_config(yaml.safe_load(configmap["data"]["config.yaml"])), MagicMock())
    watched = {
        (h.selector.group, h.selector.plural or h.selector.any_name)
        for handlers in (registry._indexing, registry._watching, registry._spawning, registry._changing)
        for h in handlers.get_all_handlers()
    }
    assert ("batch", "jobs") in watched and ("", "nodes") in watched  # the registry is read as meant
    granted = _granted(objects)
    missing = sorted(f"{g or 'core'}/{r}" for g, r in watched if not {"list", "watch"} <= granted.get((g, r), set()))
    assert missing == []


# --- the admission policy -------------------------------------------------------------------------


def _admission(values: dict) -> tuple[dict, dict]:
    (policy,) = [o for o in render(values) if o["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [o for o in render(values) if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    return policy, binding


def _refusals(policy: dict) -> str:
    """What the policy can answer: every validation's message (static, or the text of its expression)."""
    return "\n".join(v.get("messageExpression") or v["message"] for v in policy["spec"]["validations"])


def test_the_admission_policy_denies_cloudshell_writes_of_all_but_the_exempt():
    policy, binding = _admission({})
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == "rel-operator-cloudshells"
    assert policy["spec"]["failurePolicy"] == "Fail" and binding["spec"]["validationActions"] == ["Deny"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule == {"apiGroups": ["cloudshell.cloudtty.io"], "apiVersions": ["v1alpha1"], "resources": ["cloudshells"],
                    "operations": ["CREATE", "UPDATE"]}  # fmt: skip
    conditions = {c["name"]: c["expression"] for c in policy["spec"]["matchConditions"]}
    assert '["system:serviceaccount:shells:rel-operator"]' in conditions["not-exempt"]  # the operator's account
    assert '["system:masters"]' in conditions["not-exempt"]
    assert conditions["not-being-deleted"] == "!has(object.metadata.deletionTimestamp)"  # finalizers may come off
    # Only where this release's operator acts: another release's shells follow their own policy.
    (where,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert where == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shells"]}
    _policy, wide = _admission({"clusterWide": True})
    assert "matchResources" not in wide["spec"]
    multi_user, _binding = _admission(VALUE_SETS["multi-user"])
    conditions = {c["name"]: c["expression"] for c in multi_user["spec"]["matchConditions"]}
    assert '["carol","system:serviceaccount:shells:rel-operator"]' in conditions["not-exempt"]
    assert '["system:masters","shell-admins"]' in conditions["not-exempt"]
    assert not [o for o in render(VALUE_SETS["no admission policy"]) if "Admission" in o["kind"]]


def test_the_admission_policy_checks_what_the_chart_values_forbid():
    strict = _refusals(_admission({})[0])
    for refusal in ("spec.image", "spec.runAsUser", "spec.secretRef.name", "spec.configmapName", "spec.env[].valueFrom",
                    "spec.exposureMode", "spec.ingressConfig.annotations", "spec.ingressConfig.namespace",
                    "spec.virtualServiceConfig.namespace", "metadata.labels[jupyter-cloudtty.io/owner]",
                    "a shell's owner (label and annotation jupyter-cloudtty.io/owner) cannot change"):  # fmt: skip
        assert refusal in strict
    assert "policy.maxTtlSeconds" not in strict  # maxTtlSeconds 0: no limit
    # A running shell can change its TTL, and nothing else.
    for field in ("commandAction", "image", "env", "once", "idleTimeoutSeconds"):
        assert f"spec.{field}: cannot change on a running shell" in strict
    assert "spec.ttlSecondsAfterStarted: cannot change" not in strict and "spec.ttl: cannot" not in strict
    lenient = _refusals(_admission(VALUE_SETS["multi-user"])[0])
    assert "policy.allowRoot" not in lenient and "policy.allowEnvValueFrom" not in lenient  # allowed by the values
    assert "(chart value policy.maxTtlSeconds: 3600)" in lenient and "spec.ttlSecondsAfterStarted" in lenient
    assert "(chart value policy.exposureModes: [ClusterIP, Ingress])" in lenient


def test_allowed_images_are_globs_as_the_operator_reads_them():
    """The policy's regular expressions (RE2; these few constructs read the same in Python's re)
    accept exactly what fnmatch accepts of the allowedImages globs, or the operator's own image."""
    values = {
        "policy": {"allowedImages": ["registry.example/shells/*", "corp/shell:?"]},
        "shell": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "web-tty", "image": "corp/tty:2"}]}}}}},
    }  # fmt: skip
    validations = _admission(values)[0]["spec"]["validations"]
    (check,) = [v["expression"] for v in validations if "variables.image" in v["expression"]]
    own, patterns = re.search(r"variables\.image in (\[.*?\]) \|\| (\[.*?\])\.exists", check).groups()
    assert json.loads(own) == ["jupyter-cloudtty/cloudshell:latest", "corp/tty:2"]
    images = ("registry.example/shells/a:1", "registry.example/shells/", "corp/shell:7", "corp/shell:x",
              "registryXexample/shells/a", "evil/registry.example/shells/a", "corp/shell:10",
              "corp/shell:")  # fmt: skip
    for image in images:
        globbed = any(fnmatch.fnmatchcase(image, glob) for glob in values["policy"]["allowedImages"])
        assert any(re.search(p, image) for p in json.loads(patterns)) == globbed, image

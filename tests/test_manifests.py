"""Pure rendering of a CloudShell's objects: every field and exposure mode, no cluster."""

import base64
import json
import subprocess

import pytest

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.operator import manifests as m
from jupyter_cloudtty.operator.settings import GatewayRef, HomeSettings, NetworkPolicySettings, Settings, ShellPolicy
from tests.harness.objects import cloudshell, container_of, pod_of

SETTINGS = Settings(
    image="registry.example/cloudshell:1",
    gateway=GatewayRef("shared-gw", "gateways", "https", "shells.example.com", True),
)


TOKEN = "k3Y_t0ken-of-the-shell"


def env_of(job):
    return {var["name"]: var for var in container_of(job)["env"]}


def from_secret(name, key):
    """An env variable as the shell's own Secret gives it."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "cloudshell-s1", "key": key}}}


def ttyd_command(command):
    """The ttyd flags after the token's unwrapping (``sh -c <unwrap> ttyd <flags...>``)."""
    assert command[:2] == ["sh", "-c"] and command[3] == "ttyd", command
    return command[4:]


# --- names, labels, ownership ---------------------------------------------------------------


def test_every_owned_object_is_named_labelled_and_owned():
    objects = m.owned_objects(cloudshell(exposureMode="GatewayAPI"), SETTINGS, TOKEN)
    kinds = [o["kind"] for o in objects]
    # The Secret and NetworkPolicy before the Job: its pod never runs without them.
    assert kinds == ["Secret", "NetworkPolicy", "ServiceAccount", "RoleBinding", "Job", "Service", "HTTPRoute"]
    for obj in objects:
        meta = obj["metadata"]
        assert meta["name"] == "cloudshell-s1" and meta["namespace"] == "team"
        assert meta["labels"] == {"cloudshell.cloudtty.io/owner-name": "s1"}
        assert meta["ownerReferences"] == [
            {"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "name": "s1",
             "uid": "uid-123", "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip


def test_the_job_runs_one_pod_of_ttyd():
    job = m.job(cloudshell(), SETTINGS)
    assert job["apiVersion"] == "batch/v1"
    # A crashed pod is replaced (3 times at most); a deleted or evicted one always; the idle rule's end is final.
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "Ignore", "onExitCodes": {"containerName": "web-tty", "operator": "In", "values": [143]}},
        {"action": "FailJob", "onExitCodes": {"containerName": "web-tty", "operator": "In", "values": [75]}},
    ]
    assert job["spec"]["ttlSecondsAfterFinished"] == 300
    assert "activeDeadlineSeconds" not in job["spec"]
    assert job["spec"]["template"]["metadata"]["labels"] == {"cloudshell.cloudtty.io/owner-name": "s1"}
    pod = pod_of(job)
    assert pod["restartPolicy"] == "Never"
    container = container_of(job)
    assert container["name"] == "web-tty"
    assert container["image"] == "registry.example/cloudshell:1"
    assert container["ports"] == [{"name": "ttyd", "containerPort": 7681, "protocol": "TCP"}]
    assert ttyd_command(container["command"]) == ["-W", "-p", "7681", "sh", "-c", "bash"]
    # Ready only once ttyd listens (an upstream defect was Ready before).
    assert container["readinessProbe"]["tcpSocket"] == {"port": "ttyd"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "ttyd"}


def test_pod_facts_and_prompt_are_exported_into_the_shell():
    env = env_of(m.job(cloudshell(), SETTINGS))
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["CONTAINER"]["value"] == "web-tty"
    assert "$(POD_NAME)" in env["PS1"]["value"]


# --- spec fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, flags",
    [
        ({}, ["-W", "-p", "7681"]),
        ({"once": True}, ["-W", "-p", "7681", "-o"]),
        ({"urlArg": True}, ["-W", "-p", "7681", "-a"]),
        ({"ttydClientOptions": {"fontSize": "20", "cursorStyle": "bar"}},
         ["-W", "-p", "7681", "-t", "fontSize=20", "-t", 'cursorStyle="bar"']),
        ({"env": [{"name": "TTYD_PING_INTERVAL", "value": "10"}]},
         ["-W", "-p", "7681", "--ping-interval", "$(TTYD_PING_INTERVAL)"]),
        ({"env": [{"name": "TTYD_SERVER_BUFFER_SIZE", "value": "8192"}]},
         ["-W", "-p", "7681", "--srv-buf-size", "$(TTYD_SERVER_BUFFER_SIZE)"]),
    ],
)  # fmt: skip
def test_ttyd_flags(spec, flags):
    command = container_of(m.job(cloudshell(**spec), SETTINGS))["command"]
    assert ttyd_command(command) == [*flags, "sh", "-c", "bash"]


def run_unwrap(tmp_path, container, env):
    """The container's command run by sh with a ``ttyd`` that prints its arguments and environment."""
    (tmp_path / "ttyd").write_text('#!/bin/sh\nprintf "%s\\n" "$@"; echo ---; env\n')
    (tmp_path / "ttyd").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", **env}
    return subprocess.run(container["command"], env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "spec",
    [{}, {"exposureMode": "Ingress"}, {"exposureMode": "GatewayAPI", "pathPrefix": "team", "pathSuffix": "x"},
     {"exposureMode": "VirtualService", "virtualServiceConfig": {"gateway": "gw"}}],
    ids=["ClusterIP", "Ingress", "GatewayAPI", "VirtualService"],
)  # fmt: skip
def test_ttyd_serves_under_the_token_which_the_shell_never_sees(tmp_path, spec):
    shell = cloudshell(**spec)
    container = container_of(m.job(shell, SETTINGS))
    assert env_of(m.job(shell, SETTINGS))["TTYD_TOKEN"] == from_secret("TTYD_TOKEN", "token")
    ran = run_unwrap(tmp_path, container, {"TTYD_TOKEN": TOKEN})
    args, env = ran.stdout.split("---\n")
    base = names.ttyd_base_path(shell, TOKEN)  # where the Jupyter server connects
    assert base.endswith(f"/{TOKEN}") and base.startswith(names.route_path(shell) if "exposureMode" in spec else "/")
    assert args.splitlines() == ["-b", base, "-W", "-p", "7681", "sh", "-c", "bash"]
    assert TOKEN not in env and "TTYD_TOKEN" not in env  # ttyd's environment is the shell's


def test_without_its_token_ttyd_never_starts(tmp_path):
    container = container_of(m.job(cloudshell(), SETTINGS))
    for env in ({}, {"TTYD_TOKEN": ""}):
        ran = run_unwrap(tmp_path, container, env)
        assert ran.returncode != 0 and ran.stdout == "" and "TTYD_TOKEN" in ran.stderr


def test_command_action_is_one_argument_never_reparsed():
    command = container_of(m.job(cloudshell(commandAction="kubectl get pods -A; echo 'done' \"$X\""), SETTINGS))[
        "command"
    ]
    assert command[-3:] == ["sh", "-c", "kubectl get pods -A; echo 'done' \"$X\""]


def test_a_credential_never_appears_in_the_pod_spec(tmp_path):
    secret = {"name": "TTYD_CREDENTIAL", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "basic"}}}
    job = m.job(cloudshell(env=[secret]), SETTINGS)
    assert env_of(job)["TTYD_CREDENTIAL"] == secret
    ran = run_unwrap(tmp_path, container_of(job), {"TTYD_TOKEN": TOKEN, "TTYD_CREDENTIAL": "user:hunter2"})
    args, env = ran.stdout.split("---\n")
    assert args.splitlines()[:4] == ["-b", f"/{TOKEN}", "-c", "user:hunter2"]  # with the token, both
    assert "hunter2" not in env and "TTYD_CREDENTIAL" not in env  # the shell ttyd starts does not see it
    plain = m.job(cloudshell(env=[{"name": "TTYD_CREDENTIAL", "value": "user:hunter2"}]), SETTINGS)
    assert "hunter2" not in json.dumps(plain)
    assert env_of(plain)["TTYD_CREDENTIAL"] == from_secret("TTYD_CREDENTIAL", "env.TTYD_CREDENTIAL")


def test_user_env_is_honoured_and_wins_by_name_its_values_kept_in_the_shell_s_secret():
    shell = cloudshell(env=[{"name": "FOO", "value": "bar"}, {"name": "PS1", "value": "$ "},
                            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])  # fmt: skip
    job = m.job(shell, SETTINGS)
    env = env_of(job)
    assert env["FOO"] == from_secret("FOO", "env.FOO")
    assert env["PS1"] == from_secret("PS1", "env.PS1")
    assert env["NODE"] == {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert "bar" not in json.dumps(job)  # a pod spec, which any `view` account reads, shows no value
    data = m.secret(shell, TOKEN)["data"]
    assert {key: base64.b64decode(value).decode() for key, value in data.items()} == {
        "token": TOKEN, "env.FOO": "bar", "env.PS1": "$ "}  # fmt: skip


def test_the_shell_s_token_is_ttyd_s_not_the_user_s():
    env = m.container_env(cloudshell(env=[{"name": "TTYD_TOKEN", "value": "guess"}]), kubeconfig=False)
    assert [var for var in env if var["name"] == "TTYD_TOKEN"] == [from_secret("TTYD_TOKEN", "token")]


def test_the_shell_s_secret():
    secret = m.secret(cloudshell(), TOKEN)
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert secret["metadata"] == m.metadata(cloudshell(), names.secret_name(cloudshell()))
    assert secret["immutable"] is True  # the shell's token for its life: never rewritten
    assert secret["data"] == {"token": base64.b64encode(TOKEN.encode()).decode()}


def test_image_override():
    assert container_of(m.job(cloudshell(image="my/shell:2"), SETTINGS))["image"] == "my/shell:2"


RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_every_shell_pod_meets_pod_security_restricted_with_requests_and_limits():
    job = m.job(cloudshell(), SETTINGS)
    assert pod_of(job)["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container_of(job)["securityContext"] == RESTRICTED
    assert container_of(job)["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                              "limits": {"cpu": "1", "memory": "512Mi"}}  # fmt: skip
    small = Settings(resources={"limits": {"memory": "128Mi"}})
    assert container_of(m.job(cloudshell(), small))["resources"] == {"limits": {"memory": "128Mi"}}


@pytest.mark.parametrize(
    "user, context",
    [("root", {"runAsUser": 0, "runAsNonRoot": False}), ("0", {"runAsUser": 0, "runAsNonRoot": False}),
     ("1000", {"runAsUser": 1000}), (None, {})],
)  # fmt: skip
def test_run_as_user(user, context):
    spec = {"runAsUser": user} if user else {}
    assert container_of(m.job(cloudshell(**spec), SETTINGS))["securityContext"] == {**RESTRICTED, **context}


def test_an_invalid_field_is_refused_naming_it():
    # Once, where a shell enters the operator: what renders it then takes the spec as valid.
    with pytest.raises(InvalidShell, match="^spec.runAsUser: must be 'root' or a numeric UID"):
        m.validated(cloudshell(runAsUser="admin"))
    assert m.validated(cloudshell(runAsUser=None, once=True))["spec"] == {"once": True}  # null: not set


@pytest.mark.parametrize("field, value", [("ttl", 120), ("ttlSecondsAfterStarted", 120)])
def test_the_ttl_is_applied_to_the_job_itself(field, value):
    assert m.job(cloudshell(**{field: value}), SETTINGS)["spec"]["activeDeadlineSeconds"] == 120
    both = m.job(cloudshell(ttl=60, ttlSecondsAfterStarted=90), SETTINGS)
    assert both["spec"]["activeDeadlineSeconds"] == 90


# --- kubeconfig and identity ----------------------------------------------------------------------


def test_a_secret_kubeconfig_is_mounted_never_passed_on_a_command_line():
    job = m.job(cloudshell(secretRef={"name": "my-kubeconfig"}), SETTINGS)
    pod, container = pod_of(job), container_of(job)
    assert pod["volumes"] == [
        {
            "name": "kubeconfig",
            "secret": {"secretName": "my-kubeconfig", "items": [{"key": "config", "path": "config"}]},
        }
    ]
    assert container["volumeMounts"] == [
        {"name": "kubeconfig", "mountPath": "/etc/cloudshell/kubeconfig", "readOnly": True}
    ]
    assert env_of(job)["KUBECONFIG"]["value"] == "/etc/cloudshell/kubeconfig/config"
    assert "my-kubeconfig" not in json.dumps(container["command"])
    # With the user's own kubeconfig, no token of the namespace is mounted either.
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    owned = m.owned_objects(cloudshell(secretRef={"name": "k"}), SETTINGS, TOKEN)
    assert [o["kind"] for o in owned] == ["Secret", "NetworkPolicy", "Job", "Service"]


def test_the_kubeconfig_key_is_an_operator_setting():
    job = m.job(cloudshell(secretRef={"name": "k"}), Settings(kubeconfig_key="kubeconfig.yaml"))
    assert pod_of(job)["volumes"][0]["secret"]["items"] == [{"key": "kubeconfig.yaml", "path": "config"}]


def test_a_configmap_kubeconfig_and_the_feature_gate():
    job = m.job(cloudshell(configmapName="old-kc"), SETTINGS)
    assert pod_of(job)["volumes"][0]["configMap"] == {"name": "old-kc", "items": [{"key": "config", "path": "config"}]}
    # Both set: the Secret wins.
    both = m.job(cloudshell(configmapName="old-kc", secretRef={"name": "new-kc"}), SETTINGS)
    assert pod_of(both)["volumes"][0]["secret"]["secretName"] == "new-kc"
    # The gate on: the ConfigMap is ignored, with a note for the shell's condition.
    gated = Settings(allow_secret_store_kubeconfig=True)
    assert m.kubeconfig_source({"configmapName": "old-kc"}, gated) == (
        None,
        "configmapName is ignored: the AllowSecretStoreKubeconfig gate requires secretRef",
    )
    assert "volumes" not in pod_of(m.job(cloudshell(configmapName="old-kc"), gated))


def test_without_a_kubeconfig_the_shell_gets_its_own_account_bound_to_view_in_its_namespace():
    job = m.job(cloudshell(), SETTINGS)
    assert pod_of(job)["serviceAccountName"] == "cloudshell-s1"  # never the operator's token
    binding = m.role_binding(cloudshell(), SETTINGS)
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == "team"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cloudshell-s1", "namespace": "team"}]
    admin = m.role_binding(cloudshell(), Settings(shell_role=("ClusterRole", "cluster-admin")))
    assert admin["roleRef"]["name"] == "cluster-admin"


# --- the admin's job template ------------------------------------------------------------------------


def test_the_admin_job_template_is_merged_under_ours():
    template = {
        "metadata": {"labels": {"team": "platform"}},
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": {"pool": "shells"},
                    "tolerations": [{"key": "shells", "operator": "Exists"}],
                    "containers": [
                        {"name": "web-tty", "image": "corp/shell:7", "resources": {"limits": {"memory": "512Mi"}}}
                    ],
                }
            }
        },
    }
    job = m.job(cloudshell(runAsUser="1000"), Settings(job_template=template))
    assert job["metadata"]["labels"] == {"team": "platform", "cloudshell.cloudtty.io/owner-name": "s1"}
    pod = pod_of(job)
    assert pod["nodeSelector"] == {"pool": "shells"}
    assert pod["tolerations"] == [{"key": "shells", "operator": "Exists"}]
    container = container_of(job)
    assert container["image"] == "corp/shell:7"  # the template's image beats the setting...
    assert m.default_image(Settings(job_template=template)) == "corp/shell:7"
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}}  # fmt: skip
    assert ttyd_command(container["command"])[0] == "-W"
    assert container["securityContext"] == {**RESTRICTED, "runAsUser": 1000}
    user_image = m.job(cloudshell(image="mine:1"), Settings(job_template=template))
    assert container_of(user_image)["image"] == "mine:1"  # ...and the user's beats both


def test_the_admin_job_template_may_change_the_pod_security_defaults():
    # The admin's choice, over ours: e.g. more memory, a capability back, a pod-level fsGroup.
    template = {"spec": {"template": {"spec": {
        "securityContext": {"fsGroup": 100},
        "containers": [{"name": "web-tty", "resources": {"limits": {"memory": "2Gi"}},
                        "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}}],
    }}}}  # fmt: skip
    job = m.job(cloudshell(runAsUser="1000"), Settings(job_template=template))
    assert pod_of(job)["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                              "fsGroup": 100}  # fmt: skip
    container = container_of(job)
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "runAsUser": 1000,
                                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}  # fmt: skip


# --- the NetworkPolicy --------------------------------------------------------------------------------


def test_only_the_admin_s_peers_reach_the_shell_s_ttyd():
    policy = m.network_policy(cloudshell(), SETTINGS)
    assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["metadata"] == m.metadata(cloudshell())
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"cloudshell.cloudtty.io/owner-name": "s1"}},  # the shell's pod only
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"component": "singleuser-server"}}}],
                     "ports": [{"port": 7681, "protocol": "TCP"}]}],
    }  # fmt: skip
    nobody = Settings(network_policy=NetworkPolicySettings(allow_from=()))
    assert m.network_policy(cloudshell(), nobody)["spec"]["ingress"] == []  # not a rule without `from`: everyone
    off = Settings(network_policy=NetworkPolicySettings(enabled=False))
    assert "NetworkPolicy" not in [o["kind"] for o in m.owned_objects(cloudshell(), off, TOKEN)]


# --- Service, routes and URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, kind",
    [("NodePort", "NodePort"), (None, "ClusterIP"), ("ClusterIP", "ClusterIP"), ("Ingress", "ClusterIP"),
     ("GatewayAPI", "ClusterIP")],
)  # fmt: skip
def test_the_service(mode, kind):
    svc = m.service(cloudshell(**({"exposureMode": mode} if mode else {})))
    assert svc["spec"]["type"] == kind
    assert svc["spec"]["selector"] == {"cloudshell.cloudtty.io/owner-name": "s1"}
    assert svc["spec"]["ports"] == [{"name": "ttyd", "port": 7681, "targetPort": "ttyd", "protocol": "TCP"}]


@pytest.mark.parametrize(
    "prefix, suffix, path",
    [
        ("", "", "/apis/v1alpha1/cloudshell/s1"),
        ("/team/", "", "/team/apis/v1alpha1/cloudshell/s1"),
        ("team", "/tty/", "/team/apis/v1alpha1/cloudshell/s1/tty"),
        ("/", "/", "/apis/v1alpha1/cloudshell/s1"),
    ],
)
def test_route_paths_never_double_a_slash(prefix, suffix, path):
    got = names.route_path(cloudshell(pathPrefix=prefix, pathSuffix=suffix))
    assert got == path and "//" not in got + "/ws"


def test_ingress_mode():
    shell = cloudshell(
        exposureMode="Ingress", ingressConfig={"ingressClassName": "nginx", "host": "shells.example.com"}
    )
    path = m.ingress_path(shell)
    assert path == {
        "path": "/apis/v1alpha1/cloudshell/s1",
        "pathType": "Prefix",
        "backend": {"service": {"name": "cloudshell-s1", "port": {"number": 7681}}},
    }
    ingress = m.ingress(shell, [path], Settings(ingress_annotations={"a": "b"}))
    assert ingress["metadata"]["name"] == "cloudshell-ingress" and ingress["metadata"]["namespace"] == "team"
    assert ingress["metadata"]["annotations"] == {"a": "b"}  # the administrator's, never a shell's
    assert ingress["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jupyter-cloudtty-operator"
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "rules": [{"host": "shells.example.com", "http": {"paths": [path]}}],
    }
    assert m.ingress_name(cloudshell(ingressConfig={"ingressName": "mine"})) == ("team", "mine")
    with pytest.raises(InvalidShell, match="^spec.ingressConfig.namespace: an Ingress can only route"):
        m.ingress_name(cloudshell(ingressConfig={"namespace": "elsewhere"}))
    with pytest.raises(InvalidShell, match="^spec.ingressConfig.annotations: the shared Ingress's annotations are"):
        m.ingress_name(cloudshell(ingressConfig={"annotations": {"a": "b"}}))


def test_virtual_service_mode():
    shell = cloudshell(
        exposureMode="VirtualService",
        virtualServiceConfig={"namespace": "team", "export_to": ".", "gateway": "istio-system/gw"},
    )
    route = m.virtual_service_route(shell)
    assert route["match"] == [{"uri": {"prefix": "/apis/v1alpha1/cloudshell/s1"}}]
    assert route["route"] == [
        {"destination": {"host": "cloudshell-s1.team.svc.cluster.local", "port": {"number": 7681}}}
    ]
    assert "rewrite" not in route  # ttyd serves under -b: no rewrite, no `//ws`
    vs = m.virtual_service(shell, [route])
    assert vs["apiVersion"] == "networking.istio.io/v1beta1"
    assert (vs["metadata"]["namespace"], vs["metadata"]["name"]) == ("team", "cloudshell-virtualservice")
    assert vs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jupyter-cloudtty-operator"
    assert vs["spec"] == {"hosts": ["*"], "gateways": ["istio-system/gw"], "exportTo": ["."], "http": [route]}
    assert m.DEFAULT_VIRTUAL_SERVICE == m.DEFAULT_VIRTUAL_SERVICE.lower()  # upstream's was not a valid name
    with pytest.raises(InvalidShell, match="^spec.virtualServiceConfig.gateway: is required"):
        m.virtual_service_name(cloudshell(exposureMode="VirtualService"))
    with pytest.raises(InvalidShell, match="^spec.virtualServiceConfig.namespace: a shell's route stays in"):
        m.virtual_service_name(cloudshell(virtualServiceConfig={"namespace": "istio-system", "gateway": "gw"}))


def test_gateway_api_mode():
    route = m.http_route(cloudshell(exposureMode="GatewayAPI"), SETTINGS)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gateways",
                        "name": "shared-gw", "sectionName": "https"}],
        "hostnames": ["shells.example.com"],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/apis/v1alpha1/cloudshell/s1"}}],
                   "backendRefs": [{"name": "cloudshell-s1", "port": 7681}]}],
    }  # fmt: skip
    with pytest.raises(InvalidShell, match="GatewayAPI mode is not enabled"):
        m.http_route(cloudshell(exposureMode="GatewayAPI"), Settings())


PATH = "/apis/v1alpha1/cloudshell/s1"


@pytest.mark.parametrize(
    "spec, facts, url",
    [
        ({"exposureMode": "ClusterIP"}, {"cluster_ip": "10.0.0.7"}, "10.0.0.7:7681"),
        ({"exposureMode": "ClusterIP"}, {"cluster_ip": ""}, None),  # never ":7681"
        ({"exposureMode": "ClusterIP"}, {"cluster_ip": "None"}, None),
        ({"exposureMode": "NodePort"}, {"node_address": "203.0.113.5", "node_port": 31234}, "203.0.113.5:31234"),
        ({"exposureMode": "NodePort"}, {"node_port": 31234}, None),
        ({}, {"cluster_ip": "10.0.0.7"}, "10.0.0.7:7681"),  # ClusterIP, the default
        ({"exposureMode": "Ingress"}, {"host": "shells.example.com"}, f"http://shells.example.com{PATH}/"),
        (
            {"exposureMode": "Ingress"},
            {"host": "shells.example.com", "https": True},
            f"https://shells.example.com{PATH}/",
        ),
        ({"exposureMode": "Ingress"}, {}, f"{PATH}/"),
        ({"exposureMode": "VirtualService"}, {}, f"{PATH}/"),
        ({"exposureMode": "GatewayAPI"}, {"host": "g.example.com", "https": True}, f"https://g.example.com{PATH}/"),
        ({"exposureMode": "ClusterIP", "ttl": 600}, {"cluster_ip": "10.0.0.7"}, "10.0.0.7:7681?ttl=600"),
        ({"exposureMode": "VirtualService", "ttl": 5, "ttlSecondsAfterStarted": 9}, {}, f"{PATH}/?ttl=9"),
    ],
)
def test_access_url_by_mode(spec, facts, url):
    assert m.access_url(spec, PATH, **facts) == url


def node(ready, *addresses):
    return {
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "addresses": [{"type": kind, "address": address} for kind, address in addresses],
        }
    }


@pytest.mark.parametrize(
    "nodes, address",
    [
        ([node(True, ("InternalIP", "10.0.0.1"), ("ExternalIP", "203.0.113.1"))], "203.0.113.1"),
        ([node(True, ("InternalIP", "10.0.0.1"))], "10.0.0.1"),
        ([node(False, ("ExternalIP", "203.0.113.9")), node(True, ("InternalIP", "10.0.0.2"))], "10.0.0.2"),
        ([node(False, ("InternalIP", "10.0.0.3"))], None),
        ([], None),
    ],
)
def test_node_address_prefers_a_ready_nodes_external_ip(nodes, address):
    assert m.node_address(nodes) == address


def test_the_job_records_what_its_pod_holds_without_a_secret_in_it():
    shell = cloudshell(commandAction="bash", env=[{"name": "TOKEN", "value": "s3cret"}], ttlSecondsAfterStarted=60)
    job = m.job(shell, SETTINGS)
    recorded = job["metadata"]["annotations"][m.SPEC_ANNOTATION]
    assert "s3cret" not in recorded and "TOKEN" not in recorded
    assert m.changed_fields(shell, job, SETTINGS) == []
    # The TTL may change, and the operator's image written back is no change.
    later = cloudshell(commandAction="bash", env=[{"name": "TOKEN", "value": "s3cret"}], ttlSecondsAfterStarted=600,
                       image="registry.example/cloudshell:1")  # fmt: skip
    assert m.changed_fields(later, job, SETTINGS) == []
    changed = cloudshell(commandAction="zsh", env=[{"name": "TOKEN", "value": "other"}], once=True)
    assert m.changed_fields(changed, job, SETTINGS) == ["commandAction", "env", "once"]
    assert m.changed_fields(changed, {"metadata": {}}, SETTINGS) == []  # a Job from before the record


def test_ttyd_runs_under_the_supervisor_with_the_idle_rule():
    plain = container_of(m.job(cloudshell(), SETTINGS))["command"]
    assert plain[:2] == ["sh", "-c"] and "exec ttyd" not in plain[2]
    assert '"$@" & p=$!; n=0\n' in plain[2] and "exit 143" in plain[2]  # a stop from outside is no clean end
    command = container_of(m.job(cloudshell(idleTimeoutSeconds=600), SETTINGS))["command"]
    assert '"$@" & p=$!; n=600\n' in command[2] and "exit 75" in command[2]
    # The operator's default, unless the spec says otherwise (0: never).
    settings = Settings(image="registry.example/cloudshell:1", idle_timeout_seconds=900)
    assert "n=900\n" in container_of(m.job(cloudshell(), settings))["command"][2]
    assert "n=0\n" in container_of(m.job(cloudshell(idleTimeoutSeconds=0), settings))["command"][2]


def test_a_ttl_past_the_policy_s_longest_is_cut_to_it():
    settings = Settings(policy=ShellPolicy(max_ttl_seconds=3600))
    assert m.effective_ttl({"ttlSecondsAfterStarted": 7200}, settings) == 3600
    assert m.effective_ttl({"ttl": 60}, settings) == 60
    assert m.effective_ttl({}, settings) is None
    assert m.effective_ttl({"ttl": 7200}, Settings()) == 7200


def test_a_user_s_home_is_a_claim_of_their_own_mounted_in_each_of_their_shells():
    settings = Settings(home=HomeSettings(enabled=True, size="5Gi", storage_class="fast"))
    shell = cloudshell()
    shell["metadata"]["labels"] = {"jupyter-cloudtty.io/owner": "alice"}
    claim = m.home_claim(shell, settings)
    assert claim["metadata"]["name"] == "cloudshell-home-alice" and "ownerReferences" not in claim["metadata"]
    assert claim["metadata"]["labels"]["jupyter-cloudtty.io/owner"] == "alice"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
                             "storageClassName": "fast"}  # fmt: skip
    job = m.job(shell, settings)
    assert {"name": "home", "mountPath": "/home/shell"} in container_of(job)["volumeMounts"]
    assert {"name": "home", "persistentVolumeClaim": {"claimName": "cloudshell-home-alice"}} in pod_of(job)["volumes"]
    security = pod_of(job)["securityContext"]
    assert (security["fsGroup"], security["runAsNonRoot"]) == (1000, True)  # still Pod Security "restricted"
    # No owner (a shell written with kubectl), or homes off: no home.
    assert m.home_claim(cloudshell(), settings) is None and "volumes" not in pod_of(m.job(cloudshell(), settings))
    assert m.home_claim(shell, Settings()) is None


def test_home_claim_names_are_valid_and_one_per_owner():
    assert names.home_claim_name("bob") == "cloudshell-home-bob"
    odd = names.home_claim_name("Bob.Smith_2")
    assert odd.startswith("cloudshell-home-bob-smith-2-") and odd != names.home_claim_name("bob.smith_2")

"""The chart's ValidatingAdmissionPolicy on the real API server: what a user who writes CloudShells
with their own credentials is refused, in the words kubectl shows them.

The chart installed (tests/harness/installed.py) with a policy of its values; the writer is a
ServiceAccount allowed by RBAC to write CloudShells, as a user's Jupyter server is, so only the
admission policy stands between it and a CloudShell beyond the policy. The administrators
(system:masters), the exempt of the values and the operator's own account write past it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from tests.harness.controlplane import CONTROLLERS, ControlPlane, KubectlError, die_with_parent
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import enforced, kubectl_json

pytestmark = pytest.mark.slow

RELEASE = "admission"  # the release and its namespace
ALICE = "admission-alice"  # a user's namespace, labelled with its owner as KubeSpawner labels it
OWNER = "jupyter-cloudtty.io/owner"
POLICY = f"{RELEASE}-operator-cloudshells"
VALUES = {
    "clusterWide": True,  # the policy for every namespace, ALICE's too (the operator still watches RELEASE only)
    "policy": {
        "allowedImages": ["registry.example/shells/*"],
        "kubeconfigSecrets": ["team-kubeconfig"],
        "maxTtlSeconds": 600,
        "admission": {"exemptGroups": ["system:masters", "shell-admins"], "exemptUsers": ["carol"]},
    },
}
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
# kube-controller-manager's controller that type-checks a policy's expressions against the schema of
# what it matches (status.typeChecking); a cluster runs it with the others.
TYPE_CHECKER = "validatingadmissionpolicy-status-controller"


def cloudshell(name: str, namespace: str = RELEASE, labels: dict | None = None, spec: dict | None = None) -> dict:
    shell = {"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell",
             "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}  # fmt: skip
    if spec is not None:
        shell["spec"] = spec
    return shell


def refusal(cluster: ControlPlane, kubeconfig: Path, *args: str, input: str | None = None) -> str:
    """What kubectl tells the writer when the API server refuses ``args``."""
    try:
        out = cluster.kubectl(*args, kubeconfig=kubeconfig, input=input)
    except KubectlError as e:
        return e.stderr.strip()
    raise AssertionError(f"allowed: kubectl {' '.join(args)}\n{out}")


@pytest.fixture(scope="module")
def type_checker(control_plane, tmp_path_factory):
    """The controller that writes status.typeChecking, unless the control plane already runs it."""
    if TYPE_CHECKER in CONTROLLERS.split(","):
        yield
        return
    identity = control_plane.kubeconfig("type-checker", user="system:kube-controller-manager")
    log = tmp_path_factory.mktemp("type-checker") / "kube-controller-manager.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(control_plane.binary), "kube-controller-manager", f"--kubeconfig={identity}",
             f"--authentication-kubeconfig={identity}", f"--authorization-kubeconfig={identity}",
             f"--controllers={TYPE_CHECKER}", "--use-service-account-credentials", "--leader-elect=false",
             "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )  # fmt: skip
    yield
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def release(control_plane, type_checker, tmp_path_factory):
    cluster = control_plane
    cluster.create_namespace(RELEASE)
    cluster.create_namespace(ALICE)
    cluster.kubectl("label", "namespace", ALICE, f"{OWNER}=alice")
    with Installed(cluster, RELEASE, tmp_path_factory.mktemp("release"), VALUES) as installed:
        yield installed
    assert "Traceback" not in installed.log, installed.log[-3000:]
    cluster.kubectl("delete", "namespace", RELEASE, ALICE, "--wait=false")
    # Its cluster-wide objects too: this policy would otherwise judge the next tests' shells.
    kinds = "validatingadmissionpolicy,validatingadmissionpolicybinding,clusterrole,clusterrolebinding"
    cluster.kubectl("delete", kinds, "-l", f"app.kubernetes.io/instance={RELEASE}")


@pytest.fixture(scope="module")
def writers(control_plane, release) -> dict[str, Path]:
    """Kubeconfigs of those RBAC lets write CloudShells in both namespaces: a ServiceAccount (as a
    Jupyter server's), carol (an exempt user) and dave (of an exempt group)."""
    cluster = control_plane
    cluster.kubectl("create", "serviceaccount", "writer", "-n", RELEASE)
    for namespace in (RELEASE, ALICE):
        cluster.kubectl("create", "role", "writer", "-n", namespace, "--resource=cloudshells.cloudshell.cloudtty.io",
                        "--verb=get,list,create,update,patch,delete")  # fmt: skip
        cluster.kubectl("create", "rolebinding", "writer", "-n", namespace, "--role=writer",
                        f"--serviceaccount={RELEASE}:writer", "--user=carol", "--group=shell-admins")  # fmt: skip
    kubeconfigs = {
        "writer": cluster.service_account_kubeconfig(RELEASE, "writer"),
        "carol": cluster.kubeconfig("carol", user="carol"),
        "dave": cluster.kubeconfig("dave", user="dave", groups="shell-admins"),
    }
    enforced(cluster, kubeconfigs["writer"], cloudshell("probe", spec={"runAsUser": "root"}))
    return kubeconfigs


def test_the_api_server_type_checks_every_expression_without_a_warning(control_plane, release):
    cluster = control_plane
    cluster.kubectl("wait", "--for=jsonpath={.status.observedGeneration}=1", f"validatingadmissionpolicy/{POLICY}",
                    "--timeout=60s")  # fmt: skip
    status = kubectl_json(cluster, "get", "validatingadmissionpolicy", POLICY)["status"]
    assert status["typeChecking"].get("expressionWarnings", []) == []


REFUSED = {
    "own image": ({"image": "evil.example/miner:1"},
                  "spec.image: 'evil.example/miner:1' is not an allowed image (chart values policy.allowedImages: "
                  "[registry.example/shells/*]; shell.image: jupyter-cloudtty/cloudshell:latest)"),
    "look-alike image": ({"image": "registryXexample/shells/x:1"}, "spec.image: 'registryXexample/shells/x:1'"),
    "root": ({"runAsUser": "root"}, "spec.runAsUser: shells may not run as root (chart value policy.allowRoot: false)"),
    "uid 000": ({"runAsUser": "000"}, "spec.runAsUser: shells may not run as root"),
    "another Secret": ({"secretRef": {"name": "deploy-key"}},
                       "spec.secretRef.name: Secret 'deploy-key' may not be a shell's kubeconfig "
                       "(chart value policy.kubeconfigSecrets: [team-kubeconfig])"),
    "a ConfigMap": ({"configmapName": "kube-root-ca.crt"},
                    "spec.configmapName: ConfigMap 'kube-root-ca.crt' may not be a shell's kubeconfig "
                    "(chart value policy.kubeconfigConfigMaps: [])"),
    "valueFrom": ({"env": [{"name": "K", "value": "v"},
                           {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "deploy-key", "key": "k"}}}]},
                  "spec.env[].valueFrom: not allowed, it could read any Secret or ConfigMap of the namespace; "
                  "give a value (chart value policy.allowEnvValueFrom: false)"),
    "NodePort": ({"exposureMode": "NodePort"},
                 "spec.exposureMode: NodePort is not allowed (chart value policy.exposureModes: [ClusterIP])"),
    "ttl": ({"ttl": 601}, "spec.ttl: 601 is longer than allowed (chart value policy.maxTtlSeconds: 600)"),
    "ttlSecondsAfterStarted": ({"ttlSecondsAfterStarted": 86400},
                               "spec.ttlSecondsAfterStarted: 86400 is longer than allowed "
                               "(chart value policy.maxTtlSeconds: 600)"),
    "Ingress annotations": ({"ingressConfig": {"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "x"}}},
                            "spec.ingressConfig.annotations: not allowed, they would act on every shell's paths of "
                            "the shared Ingress (the administrator sets them: chart value shell.ingressAnnotations)"),
    "Ingress elsewhere": ({"ingressConfig": {"namespace": "kube-system"}},
                          "spec.ingressConfig.namespace: kube-system is not the shell's namespace (admission): "
                          "a shell's routes stay in its namespace"),
    "VirtualService elsewhere": ({"virtualServiceConfig": {"namespace": "istio-system"}},
                                "spec.virtualServiceConfig.namespace: istio-system is not the shell's namespace"),
}  # fmt: skip


@pytest.mark.parametrize("spec, told", REFUSED.values(), ids=REFUSED.keys())
def test_a_user_is_refused_a_shell_beyond_the_policy(control_plane, writers, spec, told):
    cluster = control_plane
    name = "beyond"
    said = refusal(cluster, writers["writer"], "create", "-f", "-", input=json.dumps(cloudshell(name, spec=spec)))
    assert DENIED + told in said
    stored = cluster.kubectl(
        "get", "cloudshells", "-n", RELEASE, "-o", "name", f"--field-selector=metadata.name={name}"
    )
    assert stored == ""


def test_a_user_gets_a_shell_within_the_policy(control_plane, writers):
    cluster = control_plane
    within = {"image": "registry.example/shells/tools:1", "exposureMode": "ClusterIP", "ttlSecondsAfterStarted": 600,
              "secretRef": {"name": "team-kubeconfig"}, "env": [{"name": "LANG", "value": "C.UTF-8"}],
              "ingressConfig": {"namespace": RELEASE, "annotations": {}}}  # fmt: skip
    for shell in (cloudshell("within", spec=within), cloudshell("no-spec")):  # every field's absence is read too
        cluster.kubectl("create", "-f", "-", input=json.dumps(shell), kubeconfig=writers["writer"])
    assert kubectl_json(cluster, "get", "cloudshell", "within", "-n", RELEASE)["spec"]["image"] == within["image"]


def test_a_user_cannot_update_a_shell_beyond_the_policy_nor_give_it_another_owner(control_plane, writers):
    cluster, writer = control_plane, writers["writer"]
    mine = cloudshell("mine", labels={OWNER: "alice"})
    mine["metadata"]["annotations"] = {OWNER: "alice"}
    cluster.kubectl("create", "-f", "-", input=json.dumps(mine), kubeconfig=writer)
    told = refusal(cluster, writer, "patch", "cloudshell", "mine", "-n", RELEASE, "--type=merge",
                   "-p", '{"spec": {"image": "evil.example/miner:1"}}')  # fmt: skip
    assert DENIED + "spec.image: 'evil.example/miner:1' is not an allowed image" in told
    cannot_change = DENIED + f"metadata: a shell's owner (label and annotation {OWNER}) cannot change"
    for change in (("label", f"{OWNER}=bob", "--overwrite"), ("label", f"{OWNER}-"),
                   ("annotate", f"{OWNER}=bob", "--overwrite")):  # fmt: skip
        verb, *rest = change
        assert cannot_change in refusal(cluster, writer, verb, "cloudshell", "mine", "-n", RELEASE, *rest)
    cluster.kubectl("annotate", "cloudshell", "mine", "-n", RELEASE, "note=harmless", kubeconfig=writer)
    shell = kubectl_json(cluster, "get", "cloudshell", "mine", "-n", RELEASE)
    assert shell["metadata"]["labels"][OWNER] == "alice" and shell["metadata"]["annotations"][OWNER] == "alice"


def test_in_a_user_s_namespace_only_shells_labelled_as_hers(control_plane, writers):
    cluster, writer = control_plane, writers["writer"]
    told = f"metadata.labels[{OWNER}]: must be 'alice', the owner of namespace {ALICE}"
    for labels in ({OWNER: "bob"}, {}):
        shell = cloudshell("hers", ALICE, labels, {})
        assert DENIED + told in refusal(cluster, writer, "create", "-f", "-", input=json.dumps(shell))
    cluster.kubectl("create", "-f", "-", input=json.dumps(cloudshell("hers", ALICE, {OWNER: "alice"}, {})),
                    kubeconfig=writer)  # fmt: skip
    assert DENIED + told in refusal(cluster, writer, "label", "cloudshell", "hers", "-n", ALICE, f"{OWNER}=bob",
                                    "--overwrite")  # fmt: skip


def test_the_exempt_write_beyond_the_policy(control_plane, writers):
    cluster = control_plane
    beyond = {"image": "evil.example/miner:1", "runAsUser": "root", "exposureMode": "NodePort"}
    for who, kubeconfig in (("admin", None), ("carol", writers["carol"]), ("dave", writers["dave"])):
        cluster.kubectl("create", "-f", "-", input=json.dumps(cloudshell(f"by-{who}", spec=beyond)),
                        kubeconfig=kubeconfig)  # fmt: skip
    names = cluster.kubectl("get", "cloudshells", "-n", RELEASE, "-o", "name").split()
    assert {"cloudshell.cloudshell.cloudtty.io/by-" + who for who in ("admin", "carol", "dave")} <= set(names)


def watch_until(cluster: ControlPlane, name: str, since: str, done: Callable[[list[dict]], bool]) -> list[dict]:
    """The shell after each write to it, as its watch from resourceVersion ``since`` shows them (what
    `kubectl get -w` shows), up to the first list of them that is ``done``."""
    path = (f"/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{RELEASE}/cloudshells?watch=1&resourceVersion={since}"
            f"&fieldSelector=metadata.name%3D{name}&timeoutSeconds=60")  # fmt: skip
    seen: list[dict] = []
    with subprocess.Popen(["kubectl", f"--kubeconfig={cluster.admin}", "get", "--raw", path], stdout=subprocess.PIPE,
                          text=True) as watch:  # fmt: skip
        assert watch.stdout is not None
        for line in watch.stdout:
            seen.append(json.loads(line)["object"])
            if done(seen):
                watch.kill()
                return seen
    raise AssertionError(f"{name}: not seen within the watch's 60 s: {[s.get('metadata') for s in seen]}")


def test_the_operator_tends_an_administrator_s_shell_beyond_the_policy(control_plane, release):
    """The operator's own writes to such a shell (its finalizer on and off: updates of the whole
    object, which the policy would refuse) go through, and it marks the shell Failed itself."""
    cluster = control_plane
    _, mark = cluster.audit()
    shell = cloudshell("admins", spec={"runAsUser": "root", "exposureMode": "NodePort"})
    created = json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(shell)))

    def finalized_then_failed(seen: list[dict]) -> bool:
        return (
            any(s["metadata"].get("finalizers") for s in seen) and seen[-1].get("status", {}).get("phase") == "Failed"
        )

    seen = watch_until(cluster, "admins", created["metadata"]["resourceVersion"], finalized_then_failed)
    assert seen[-1]["status"]["conditions"][-1]["reason"] == "InvalidSpec"  # the operator's own line
    cluster.kubectl("delete", "cloudshell", "admins", "-n", RELEASE, "--timeout=60s")
    events, _ = cluster.audit(mark)
    by_operator = [e for e in events if e["user"]["username"] == release.operator_user and e.get("stage") ==
                   "ResponseComplete" and (e.get("objectRef") or {}).get("name") == "admins"]  # fmt: skip
    assert by_operator and not [e for e in by_operator if "denied request" in e["responseStatus"].get("message", "")]


def test_a_shell_beyond_the_policy_is_still_deleted_in_the_foreground(control_plane, writers):
    """The garbage collector takes its finalizer off a shell deleted in the foreground (an update of
    the whole object, by an account no value exempts): a shell on its way out is not judged."""
    cluster = control_plane
    cluster.kubectl("create", "-f", "-", input=json.dumps(cloudshell("leaving", spec={"runAsUser": "root"})))
    cluster.kubectl("delete", "cloudshell", "leaving", "-n", RELEASE, "--cascade=foreground", "--timeout=60s",
                    kubeconfig=writers["writer"])  # fmt: skip

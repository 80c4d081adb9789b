"""The real control plane enforces what kmock's emulator never did: RBAC, Pod Security admission,
the CRD's structural schema, the Job controller and garbage collection by ownerReference.

Each check is made as the cluster's users would meet it, with kubectl and a ServiceAccount's token.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow


def eventually(check, timeout: float = 30, what: str = "condition"):
    """Poll a blocking ``check`` (kubectl calls) until it returns something truthy: for what no watch
    shows (the API server's authorizer taking a new RoleBinding in); ``kubectl wait`` for the rest."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g}s")
        time.sleep(0.1)
    return result


def refused(cluster, *args: str, **kwargs) -> str:
    with pytest.raises(subprocess.CalledProcessError) as e:
        cluster.kubectl(*args, **kwargs)
    return e.value.stderr


def shell(name: str, **spec) -> str:
    return json.dumps({
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell",
        "metadata": {"name": name}, "spec": spec,
    })  # fmt: skip


def test_a_service_account_has_only_the_rights_rbac_gives_it(control_plane, namespace):
    cluster = control_plane
    cluster.kubectl("create", "serviceaccount", "bob", "-n", namespace)
    token = cluster.kubectl("create", "token", "bob", "-n", namespace).strip()
    bob = cluster.kubeconfig("bob", user="bob", token=token)
    message = refused(cluster, "get", "cloudshells", "-n", namespace, kubeconfig=bob)
    assert f'User "system:serviceaccount:{namespace}:bob" cannot list resource "cloudshells"' in message

    cluster.kubectl("create", "role", "shells", "--verb=get,list", "--resource=cloudshells", "-n", namespace)
    cluster.kubectl(
        "create", "rolebinding", "bob", "--role=shells", f"--serviceaccount={namespace}:bob", "-n", namespace
    )
    eventually(lambda: "No resources found" in _stderr(cluster, "get", "cloudshells", "-n", namespace, kubeconfig=bob),
               what="bob may list cloudshells")  # fmt: skip
    assert "cannot create resource" in refused(
        cluster, "apply", "-n", namespace, "-f", "-", input=shell("s1"), kubeconfig=bob
    )


def _stderr(cluster, *args: str, **kwargs) -> str:
    done = subprocess.run(["kubectl", f"--kubeconfig={kwargs.get('kubeconfig') or cluster.admin}", *args],
                          capture_output=True, text=True)  # fmt: skip
    return done.stderr


def test_the_crd_schema_defaults_and_prunes(control_plane, namespace):
    cluster = control_plane
    written = shell("s1", ttl=60, notAField="x")
    assert 'unknown field "spec.notAField"' in refused(cluster, "apply", "-n", namespace, "-f", "-", input=written)
    cluster.kubectl("apply", "--validate=false", "-n", namespace, "-f", "-", input=written)  # pruned instead
    stored = json.loads(cluster.kubectl("get", "cloudshell", "s1", "-n", namespace, "-o", "json"))
    assert stored["spec"] == {"commandAction": "bash", "exposureMode": "ClusterIP", "ttl": 60}
    message = refused(cluster, "apply", "-n", namespace, "-f", "-", input=shell("s2", ttl="soon"))
    assert "spec.ttl" in message and "integer" in message


def test_pod_security_restricted_refuses_a_root_pod(control_plane, namespace):
    cluster = control_plane
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"runAsUser": 0}}]},
    }  # fmt: skip
    message = refused(cluster, "apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    assert 'violates PodSecurity "restricted:latest"' in message and "runAsUser=0" in message


def test_a_job_gets_its_pod_and_goes_with_its_owner(control_plane, namespace):
    cluster = control_plane
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=shell("s1"))
    owner = json.loads(cluster.kubectl("get", "cloudshell", "s1", "-n", namespace, "-o", "json"))["metadata"]
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "cloudshell-s1", "ownerReferences": [{
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "name": "s1",
            "uid": owner["uid"], "controller": True, "blockOwnerDeletion": True,
        }]},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}},
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job))

    pods = ("pods", "-l", "job-name=cloudshell-s1", "-n", namespace, "--timeout=30s")
    cluster.kubectl("wait", "--for=create", *pods)  # the Job controller's pod (a watch)
    cluster.kubectl("delete", "cloudshell", "s1", "-n", namespace, "--wait=false")
    cluster.kubectl("wait", "--for=delete", "job/cloudshell-s1", "-n", namespace, "--timeout=30s")  # collected
    cluster.kubectl("wait", "--for=delete", *pods)

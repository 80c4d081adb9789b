"""CloudShells as pure tests handle them (no cluster): a spec with every field, an object, a Job's parts.

An operator test on the emulator creates its shells with tests/harness/controllers.py's ``cloudshell``
instead (as a user creates one: the CRD's defaults, no uid yet).
"""

# Every field of the CRD set: what the validator, the CRD's schema and the fuzzer all accept.
FULL_SPEC = {
    "commandAction": "kubectl get pods -w",
    "image": "ghcr.io/cloudtty/cloudshell:v0.8.0",
    "secretRef": {"name": "my-kubeconfig"},
    "configmapName": "old-kubeconfig",
    "runAsUser": "1000",
    "once": True,
    "urlArg": False,
    "ttlSecondsAfterStarted": 600,
    "ttl": 300,
    "cleanup": True,
    "exposureMode": "Ingress",
    "ingressConfig": {
        "ingressName": "cloudshell-ingress",
        "namespace": "team",  # cloudshell()'s: the operator refuses routes in another namespace
        "ingressClassName": "nginx",
        "annotations": {"a": "b"},  # valid to the schema; the operator refuses it (the admin sets them)
        "host": "shell.example.com",
    },
    "virtualServiceConfig": {"virtualServiceName": "vs", "namespace": "team", "export_to": ".", "gateway": "gw"},
    "pathPrefix": "/prefix",
    "pathSuffix": "suffix",
    "env": [
        {"name": "FOO", "value": "bar"},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ],
    "ttydClientOptions": {"fontSize": "20", "rendererType": "canvas"},
}


def cloudshell(name="s1", namespace="team", **spec):
    """A CloudShell as the API server hands it to the operator: a uid, the spec exactly as given."""
    return {
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-123"},
        "spec": spec,
    }


def pod_of(job):
    """The pod spec of a rendered Job."""
    return job["spec"]["template"]["spec"]


def container_of(job):
    """The one container of a rendered Job."""
    (container,) = pod_of(job)["containers"]
    return container
